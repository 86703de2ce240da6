//! The board app, shared by `main.rs` and the end-to-end test (tests/board_example.rs): its
//! state, its limits and its page. One concept per file beside this one:
//!
//! - `model.rs`: a board, its cards, the operations, and the conflict rule;
//! - `store.rs`: the database (SQLite or Postgres) and its migrations;
//! - `boards.rs`: the boards in play, the one path of every change, the catch-up log;
//! - `protocol.rs`: the socket's messages;
//! - `session.rs`: login, private session cookies, the one auth middleware;
//! - `presence.rs`: who is on which board (the hub's presence), and their selections;
//! - `limits.rs`: what one socket may send;
//! - `socket.rs`: the live board over a WebSocket;
//! - `rest.rs`: the same boards over REST.

#[path = "boards.rs"]
pub mod boards;
#[path = "limits.rs"]
pub mod limits;
#[path = "model.rs"]
pub mod model;
#[path = "presence.rs"]
pub mod presence;
#[path = "protocol.rs"]
pub mod protocol;
#[path = "rest.rs"]
pub mod rest;
#[path = "session.rs"]
pub mod session;
#[path = "socket.rs"]
pub mod socket;
#[path = "store.rs"]
pub mod store;

use fratello::cookie::Key;
use fratello::prelude::*;
use fratello::ws::WsConfig;
use tower_http::services::ServeDir;

use self::boards::Boards;
use self::presence::Selections;
use self::session::Sessions;

/// Largest socket message: an operation is a few hundred bytes.
pub const MAX_MESSAGE: usize = 8 * 1024;
/// Largest REST body.
pub const MAX_BODY: usize = 16 * 1024;

/// How the app is set up.
pub struct Options {
    /// The key that encrypts session cookies (the same on every instance behind one address).
    pub cookie_key: Key,
    /// Mark the session cookie `Secure` (served over TLS, here or at a proxy).
    pub secure_cookies: bool,
}

/// A random id of `bytes` bytes from the operating system's generator, in hex.
pub fn token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::unavailable("no randomness for an id").with_source(e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// 404 for a board that does not exist, before a REST handler runs or a socket opens.
#[middleware(route)]
async fn known_board(ctx: Context) -> Result<()> {
    let id = ctx.param("board").unwrap_or_default();
    if ctx.state::<Boards>()?.exists(id).await? {
        Ok(())
    } else {
        Err(Error::not_found(format!("no board `{id}`")))
    }
}

/// The board app over `boards`: this module's routes, the state they share, and the page (the
/// `public` folder beside this file, for every path no route answers).
pub fn app(boards: Boards, options: Options) -> App {
    let sessions = Sessions::new(boards.store().clone(), options.secure_cookies);
    App::only(module_path!())
        .state(boards)
        .state(Selections::default())
        .state(sessions)
        .cookie_key(options.cookie_key)
        .max_body(MAX_BODY)
        .ws_config(WsConfig::default().max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE))
        .mount("/", ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/board/public")))
}
