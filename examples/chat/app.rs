//! The chat app's routes, shared by `main.rs` and the end-to-end test (tests/chat_example.rs).
//!
//! Written to be copied: sessions are random 256-bit tokens from the operating system's
//! generator that expire and are capped in number, logins are rate-limited per address, the
//! session cookie is `HttpOnly`, `SameSite=Strict` and (behind TLS) `Secure`, every
//! state-changing request takes JSON (which a cross-site form cannot send), names are unique
//! in a room, and presence goes out as changes, not as the whole member list each time.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fratello::cookie::{self, Cookie, SameSite};
use fratello::prelude::*;
use fratello::ws::WsConfig;
use serde::{Deserialize, Serialize};
use tower_http::services::ServeDir;

const COOKIE: &str = "fratello_chat";
/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions held at once (each is a few dozen bytes; the cap keeps a login flood bounded).
const MAX_SESSIONS: usize = 10_000;
/// Logins per client address per minute.
const LOGINS_PER_MINUTE: u32 = 10;
/// Longest message, in characters.
const MAX_TEXT: usize = 2_000;

/// Who is logged in, who is in which room, and who logged in lately.
pub struct Chat {
    sessions: Mutex<HashMap<String, Session>>,
    /// Room → member name → the member's session and how many sockets it has in the room.
    rooms: Mutex<HashMap<String, BTreeMap<String, Presence>>>,
    logins: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Mark the session cookie `Secure` (the app is served over TLS, here or at a proxy).
    secure_cookies: bool,
}

struct Session {
    name: String,
    expires: Instant,
}

struct Presence {
    token: String,
    sockets: usize,
}

impl Chat {
    /// Empty, with session cookies marked `Secure` or not.
    pub fn new(secure_cookies: bool) -> Self {
        Chat { sessions: Mutex::default(), rooms: Mutex::default(), logins: Mutex::default(), secure_cookies }
    }

    /// Counts a login from `ip`: an error once it has made too many this minute.
    fn allow_login(&self, ip: IpAddr) -> Result<()> {
        let mut logins = self.logins.lock().unwrap();
        let now = Instant::now();
        if logins.len() >= MAX_SESSIONS {
            logins.retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(60));
        }
        let (since, count) = logins.entry(ip).or_insert((now, 0));
        if now.duration_since(*since) >= Duration::from_secs(60) {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        if *count > LOGINS_PER_MINUTE {
            return Err(Error::too_many_requests("too many logins from this address: try again in a minute"));
        }
        Ok(())
    }

    /// A new session for `name`: its token.
    fn open_session(&self, name: String) -> Result<String> {
        let mut sessions = self.sessions.lock().unwrap();
        if sessions.len() >= MAX_SESSIONS {
            let now = Instant::now();
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                return Err(Error::unavailable("too many people are logged in: try again later"));
            }
        }
        let token = new_token()?;
        sessions.insert(token.clone(), Session { name, expires: Instant::now() + SESSION_TTL });
        Ok(token)
    }

    /// The name of the session `token`, if it exists and has not expired.
    fn session(&self, token: &str) -> Option<String> {
        let mut sessions = self.sessions.lock().unwrap();
        match sessions.get(token) {
            Some(s) if s.expires > Instant::now() => Some(s.name.clone()),
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }

    /// Who is in `room`.
    fn online(&self, room: &str) -> Vec<String> {
        self.rooms.lock().unwrap().get(room).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// Enters `room` as `user`: whether this is the member's first socket there. A name that
    /// another session uses in the room is refused.
    fn enter(&self, room: &str, user: &User) -> Result<bool> {
        let mut rooms = self.rooms.lock().unwrap();
        let members = rooms.entry(room.to_owned()).or_default();
        let member =
            members.entry(user.name.clone()).or_insert(Presence { token: user.token.clone(), sockets: 0 });
        if member.token != user.token {
            return Err(Error::conflict(format!("the name {} is taken in this room", user.name)));
        }
        member.sockets += 1;
        Ok(member.sockets == 1)
    }

    /// Leaves `room`: whether that was the member's last socket there.
    fn leave(&self, room: &str, name: &str) -> bool {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(members) = rooms.get_mut(room) else { return false };
        let last = match members.get_mut(name) {
            Some(m) => {
                m.sockets -= 1;
                m.sockets == 0
            }
            None => false,
        };
        if last {
            members.remove(name);
        }
        if members.is_empty() {
            rooms.remove(room);
        }
        last
    }
}

/// The logged-in user, put in the Context by `auth`.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    token: String,
}

/// What goes through a room, as JSON. A member first gets `members` (who is there), then
/// every change: messages, joins and leaves.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Post {
    Members { online: Vec<String> },
    Message { from: String, text: String },
    Join { name: String },
    Leave { name: String },
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

#[derive(Deserialize)]
struct NewMessage {
    text: String,
}

/// A session token nobody can guess: 256 bits from the operating system's random generator.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::unavailable("no randomness for a session").with_source(e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A message's text, trimmed: 1 to [`MAX_TEXT`] characters.
fn checked_text(text: &str) -> Result<&str> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        return Err(Error::unprocessable(format!("a message is 1 to {MAX_TEXT} characters")));
    }
    Ok(text)
}

#[post("/login")]
async fn login(ctx: Context) -> Result<Json<LoggedIn>> {
    let chat = ctx.state::<Chat>()?;
    chat.allow_login(ctx.peer_addr().ip())?;
    let Login { name } = ctx.json().await?;
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(Error::unprocessable("a name is 1 to 32 printable characters"));
    }
    let token = chat.open_session(name.clone())?;
    // Browsers cannot set headers on a WebSocket handshake: the cookie carries the token there.
    ctx.set_cookie(
        Cookie::build((COOKIE, token.clone()))
            .path("/")
            .max_age(cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(chat.secure_cookies),
    );
    Ok(Json(LoggedIn { token, name }))
}

/// Guards the REST routes and the socket alike: a bearer token, or the login cookie.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    let bearer = ctx.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::to_owned);
    let cookie = ctx.cookie(COOKIE).map(|c| c.value().to_owned());
    let token = bearer.or(cookie).ok_or_else(|| Error::unauthorized("log in first (POST /login)"))?;
    let name = ctx.state::<Chat>()?.session(&token);
    let name = name.ok_or_else(|| Error::unauthorized("unknown or expired session: log in again"))?;
    ctx.set(User { name, token });
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

/// Posts to a room over REST (e.g. from a script): `{"text": "..."}`, the same fan-out as the
/// socket.
#[post("/api/rooms/{room}/messages")]
async fn post_message(ctx: Context) -> Result<StatusCode> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let NewMessage { text } = ctx.json().await?;
    let text = checked_text(&text)?.to_owned();
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

    // Subscribed before joining, so that this member hears everything from its own join on.
    let feed = hub.subscribe(&key).forward(ctx.clone());
    let first = chat.enter(&room, &user)?;
    let outcome = async {
        ctx.send(Json(Post::Members { online: chat.online(&room) })).await?;
        if first {
            hub.publish(&key, Json(Post::Join { name: user.name.clone() }))?;
        }
        let read = async {
            while let Some(msg) = ctx.recv().await? {
                let Ok(text) = checked_text(msg.as_text()?) else { continue };
                hub.publish(&key, Json(Post::Message { from: user.name.clone(), text: text.to_owned() }))?;
            }
            Ok(())
        };
        // Ends when the member leaves, or when the hub drops a member too slow to keep up.
        tokio::select! {
            r = read => r,
            r = feed => r,
        }
    }
    .await;

    if chat.leave(&room, &user.name) {
        hub.publish(&key, Json(Post::Leave { name: user.name.clone() }))?;
    }
    outcome
}

/// The chat app: its routes (this module), state, and its page (the `public` folder beside
/// this file, served for every path no route answers). Its sockets open only from pages of
/// this server, as every fratello socket by default. `secure_cookies` marks the session
/// cookie `Secure`, for an app served over TLS.
pub fn app(secure_cookies: bool) -> App {
    App::only(module_path!())
        .state(Chat::new(secure_cookies))
        .ws_config(WsConfig::default().max_message_size(16 * 1024))
        .mount("/", ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat/public")))
}
