//! Logging in, and the one middleware that guards the REST routes and the socket alike.
//!
//! A login makes a session: a 256-bit id from the operating system's random generator, kept
//! in the database with an expiry (a restart logs nobody out, and every instance knows it), and handed to the browser in a *private* cookie (encrypted
//! with the app's key: the browser can neither read nor forge it), `HttpOnly`,
//! `SameSite=Strict`, and `Secure` behind TLS. Browsers cannot put headers on a WebSocket
//! handshake, so the cookie is what authenticates the socket; scripts may log in the same way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fratello::cookie::{self, Cookie, SameSite};
use fratello::prelude::*;
use serde::{Deserialize, Serialize};

use super::store::Store;
use super::token;

/// The session cookie's name.
pub const COOKIE: &str = "board_session";
/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions held at once.
const MAX_SESSIONS: usize = 10_000;
/// Logins per client address per minute.
const LOGINS_PER_MINUTE: u32 = 30;
/// Colors given to people, by their member id.
const COLORS: [&str; 8] =
    ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#c2255c", "#5f3dc4"];

/// The logged-in person, put in the Context by [`auth`] for every `/api` request and socket.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    /// Public id, shown to others (the session id never is).
    pub id: String,
    /// The name they gave.
    pub name: String,
    /// Their color.
    pub color: String,
}

/// Logins: the sessions themselves are in the database (see `store.rs`); this keeps who
/// logged in lately, to slow down a login flood.
pub struct Sessions {
    store: Store,
    logins: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Mark the cookie `Secure` (the app is served over TLS, here or at a proxy).
    secure: bool,
}

/// Now, in seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn db_error(e: sqlx::Error) -> Error {
    Error::unavailable("the database failed").with_source(e)
}

impl Sessions {
    /// Sessions kept in `store`; cookies marked `Secure` or not.
    pub fn new(store: Store, secure: bool) -> Self {
        Sessions { store, logins: Mutex::default(), secure }
    }

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

    async fn open(&self, name: String) -> Result<(String, User)> {
        let id = token(8)?;
        let color = COLORS[usize::from(id.as_bytes()[0]) % COLORS.len()].to_owned();
        let user = User { id, name, color };
        let session = token(32)?;
        let now = unix_now();
        let valid = (now, now + SESSION_TTL.as_secs() as i64);
        if !self.store.open_session(&session, &user, valid, MAX_SESSIONS).await.map_err(db_error)? {
            return Err(Error::unavailable("too many people are logged in: try again later"));
        }
        Ok((session, user))
    }

    async fn user(&self, session: &str) -> Result<Option<User>> {
        self.store.session(session, unix_now()).await.map_err(db_error)
    }

    async fn close(&self, session: &str) -> Result<()> {
        self.store.close_session(session).await.map_err(db_error)
    }
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

/// `{"name": ".."}`: a session in a private cookie, and who you are.
#[post("/login")]
async fn login(ctx: Context) -> Result<Json<User>> {
    let sessions = ctx.state::<Sessions>()?;
    sessions.allow_login(ctx.peer_addr().ip())?;
    let Login { name } = ctx.json().await?;
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
        return Err(Error::unprocessable("a name is 1 to 32 printable characters"));
    }
    let (session, user) = sessions.open(name).await?;
    ctx.set_private_cookie(
        Cookie::build((COOKIE, session))
            .path("/")
            .max_age(cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(sessions.secure),
    );
    Ok(Json(user))
}

/// Ends the session and removes the cookie.
#[post("/logout")]
async fn logout(ctx: Context) -> Result<StatusCode> {
    if let Some(session) = ctx.private_cookie(COOKIE) {
        ctx.state::<Sessions>()?.close(session.value()).await?;
    }
    ctx.remove_cookie(COOKIE);
    Ok(StatusCode::NO_CONTENT)
}

/// The person whose session cookie this request carries, if it decrypts with the app's key
/// and names a live session.
async fn current_user(ctx: &Context) -> Result<Option<User>> {
    let Some(session) = ctx.private_cookie(COOKIE) else { return Ok(None) };
    ctx.state::<Sessions>()?.user(session.value()).await
}

/// Guards every `/api` route, the board's socket included: no live session, no entry. The
/// person goes into the Context.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    let user = current_user(&ctx).await?.ok_or_else(|| Error::unauthorized("log in first (POST /login)"))?;
    ctx.set(user);
    Ok(())
}

/// Who you are (`null` if nobody): the page asks at load, to skip the login form. Outside
/// `/api`, so that asking is no error.
#[get("/session")]
async fn session(ctx: Context) -> Result<Json<Option<User>>> {
    Ok(Json(current_user(&ctx).await?))
}

/// Who you are.
#[get("/api/me")]
async fn me(ctx: Context) -> Result<Json<User>> {
    Ok(Json(ctx.get::<User>().ok_or_else(|| Error::unauthorized("no user"))?))
}
