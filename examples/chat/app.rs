//! The chat app's routes, shared by `main.rs` and the end-to-end test (tests/chat_example.rs).
//!
//! Written to be copied: sessions are random 256-bit tokens from the operating system's
//! generator that expire and are capped in number, logins are rate-limited per address, the
//! session cookie is `HttpOnly`, `SameSite=Strict` and (behind TLS) `Secure`, every
//! state-changing request takes JSON (which a cross-site form cannot send), names are unique
//! in a room, and presence goes out as changes, not as the whole member list each time.
//! Presence is the hub's ([`Hub::join`](fratello::Hub::join)): with `--redis`, a member is in
//! a room once across every instance, and an instance that crashes loses its members within
//! seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fratello::broadcast::{Member, MemberEvent};
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

/// Who is logged in, and who logged in lately.
pub struct Chat {
    sessions: Mutex<HashMap<String, Session>>,
    logins: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Mark the session cookie `Secure` (the app is served over TLS, here or at a proxy).
    secure_cookies: bool,
}

struct Session {
    name: String,
    /// Tells this session's member from another session's with the same name, in the hub's
    /// presence (which other instances see: not the token).
    member_id: String,
    expires: Instant,
}

impl Chat {
    /// Empty, with session cookies marked `Secure` or not.
    pub fn new(secure_cookies: bool) -> Self {
        Chat { sessions: Mutex::default(), logins: Mutex::default(), secure_cookies }
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
        let session = Session { name, member_id: new_token()?, expires: Instant::now() + SESSION_TTL };
        sessions.insert(token.clone(), session);
        Ok(token)
    }

    /// The user of the session `token`, if it exists and has not expired.
    fn session(&self, token: &str) -> Option<User> {
        let mut sessions = self.sessions.lock().unwrap();
        match sessions.get(token) {
            Some(s) if s.expires > Instant::now() => {
                Some(User { name: s.name.clone(), member_id: s.member_id.clone() })
            }
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }
}

/// The logged-in user, put in the Context by `auth`.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    member_id: String,
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
    let user = ctx.state::<Chat>()?.session(&token);
    ctx.set(user.ok_or_else(|| Error::unauthorized("unknown or expired session: log in again"))?);
    Ok(())
}

#[get("/api/me")]
async fn me(ctx: Context) -> Result<String> {
    Ok(ctx.get::<User>().ok_or_else(|| Error::unauthorized("no user"))?.name)
}

#[get("/api/rooms/{room}/members")]
async fn members(ctx: Context) -> Result<Json<Vec<String>>> {
    Ok(Json(names(ctx.hub().members(&room_key(&ctx)).await)))
}

/// The members' names, in order.
fn names(members: Vec<Member>) -> Vec<String> {
    members.into_iter().map(|m| m.key).collect()
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
    let key = room_key(&ctx);
    let hub = ctx.hub();

    // Subscribed and listening before joining, so that this member hears everything from its
    // own join on.
    let feed = hub.subscribe(&key).forward(ctx.clone());
    let mut changes = hub.member_events(&key);
    let taken = hub.members(&key).await.into_iter().any(|m| m.key == user.name && m.meta != user.member_id);
    if taken {
        return Err(Error::conflict(format!("the name {} is taken in this room", user.name)));
    }
    // In the room (on every instance) until this socket ends; the member's last socket leaving
    // makes it leave.
    let _here = hub.join(&key, user.name.clone(), user.member_id.clone());
    ctx.send(Json(Post::Members { online: names(hub.members(&key).await) })).await?;
    let read = async {
        while let Some(msg) = ctx.recv().await? {
            let Ok(text) = checked_text(msg.as_text()?) else { continue };
            hub.publish(&key, Json(Post::Message { from: user.name.clone(), text: text.to_owned() }))?;
        }
        Ok(())
    };
    let presence = async {
        loop {
            let post = match changes.recv().await {
                MemberEvent::Joined(m) => Post::Join { name: m.key },
                MemberEvent::Left(m) => Post::Leave { name: m.key },
                // Too many changes at once for this member: the whole list again.
                MemberEvent::Resync => Post::Members { online: names(hub.members(&key).await) },
            };
            ctx.send(Json(post)).await?;
        }
    };
    // Ends when the member leaves, or when the hub drops a member too slow to keep up.
    tokio::select! {
        r = read => r,
        r = feed => r,
        r = presence => r,
    }
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
