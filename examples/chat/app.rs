//! The chat app's routes, shared by `main.rs` and the end-to-end test (tests/chat_example.rs).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;

use fratello::prelude::*;
use fratello::ws::WsConfig;
use serde::{Deserialize, Serialize};

const COOKIE: &str = "fratello_chat";

/// Who is logged in (token → name) and who is in which room.
#[derive(Default)]
pub struct Chat {
    sessions: Mutex<HashMap<String, String>>,
    presence: Mutex<BTreeMap<String, BTreeMap<String, usize>>>,
}

impl Chat {
    fn online(&self, room: &str) -> Vec<String> {
        self.presence.lock().unwrap().get(room).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    fn enter(&self, room: &str, name: &str) {
        *self
            .presence
            .lock()
            .unwrap()
            .entry(room.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default() += 1;
    }

    fn leave(&self, room: &str, name: &str) {
        let mut presence = self.presence.lock().unwrap();
        if let Some(members) = presence.get_mut(room) {
            if let Some(n) = members.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    members.remove(name);
                }
            }
            if members.is_empty() {
                presence.remove(room);
            }
        }
    }
}

/// The logged-in user, put in the Context by `auth`.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
}

/// What goes through a room, as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Post {
    Message { from: String, text: String },
    Join { name: String, online: Vec<String> },
    Leave { name: String, online: Vec<String> },
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

#[derive(Serialize)]
struct LoggedIn {
    token: String,
    name: String,
}

/// A token nobody can guess: 128 bits from the standard library's randomly keyed hasher.
fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
                as u64,
        );
        h.finish()
    };
    format!("{:016x}{:016x}", half(), half())
}

#[get("/")]
async fn index(ctx: Context) -> &'static str {
    ctx.set_header("content-type", "text/html; charset=utf-8");
    include_str!("index.html")
}

#[post("/login")]
async fn login(ctx: Context) -> Result<Json<LoggedIn>> {
    let Login { name } = ctx.json().await?;
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 32 || name.chars().any(char::is_control) {
        return Err(Error::unprocessable("a name is 1 to 32 printable characters"));
    }
    let token = new_token();
    ctx.state::<Chat>()?.sessions.lock().unwrap().insert(token.clone(), name.clone());
    // Browsers cannot set headers on a WebSocket handshake: the cookie carries the token there.
    ctx.set_header("set-cookie", format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"));
    Ok(Json(LoggedIn { token, name }))
}

/// Guards the REST routes and the socket alike: a bearer token, or the login cookie.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    let bearer = ctx.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    let cookie = ctx.header("cookie").and_then(|c| {
        c.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v)
    });
    let token = bearer.or(cookie).ok_or_else(|| Error::unauthorized("log in first (POST /login)"))?;
    let name = ctx.state::<Chat>()?.sessions.lock().unwrap().get(token).cloned();
    let name = name.ok_or_else(|| Error::unauthorized("unknown or expired token: log in again"))?;
    ctx.set(User { name });
    Ok(())
}

#[get("/api/me")]
async fn me(ctx: Context) -> Result<String> {
    Ok(ctx.get::<User>().ok_or_else(|| Error::unauthorized("no user"))?.name)
}

#[get("/api/rooms/{room}/members")]
async fn members(ctx: Context) -> Result<Json<Vec<String>>> {
    Ok(Json(ctx.state::<Chat>()?.online(ctx.param("room").unwrap_or_default())))
}

/// Posts to a room over REST (e.g. from a script): the same fan-out as the socket.
#[post("/api/rooms/{room}/messages")]
async fn post_message(ctx: Context) -> Result<StatusCode> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let text = ctx.text().await?;
    ctx.hub().publish(&room_key(&ctx), Json(Post::Message { from: user.name, text }))?;
    Ok(StatusCode::ACCEPTED)
}

fn room_key(ctx: &Context) -> String {
    format!("chat:{}", ctx.param("room").unwrap_or("lobby"))
}

#[ws("/api/rooms/{room}/ws")]
async fn room(ctx: Context) -> Result<()> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let room = ctx.param("room").unwrap_or("lobby").to_owned();
    let key = room_key(&ctx);
    let chat = ctx.state::<Chat>()?;
    let hub = ctx.hub();

    // Subscribe before announcing, so this member sees its own join.
    let feed = hub.subscribe(&key).forward(ctx.clone());
    chat.enter(&room, &user.name);
    hub.publish(&key, Json(Post::Join { name: user.name.clone(), online: chat.online(&room) }))?;

    let read = async {
        while let Some(msg) = ctx.recv().await? {
            let text = msg.as_text()?.trim();
            if !text.is_empty() {
                hub.publish(&key, Json(Post::Message { from: user.name.clone(), text: text.to_owned() }))?;
            }
        }
        Ok(())
    };
    // Ends when the member leaves, or when the hub drops a member too slow to keep up.
    let outcome = tokio::select! {
        r = read => r,
        r = feed => r,
    };

    chat.leave(&room, &user.name);
    hub.publish(&key, Json(Post::Leave { name: user.name.clone(), online: chat.online(&room) }))?;
    outcome
}

/// The chat app: its routes (this module), state, and sockets limited to pages of this server.
pub fn app(local: SocketAddr) -> App {
    let origins = [format!("http://{local}"), format!("http://localhost:{}", local.port())];
    App::only(module_path!())
        .state(Chat::default())
        .ws_config(WsConfig::default().max_message_size(64 * 1024).allowed_origins(origins))
}
