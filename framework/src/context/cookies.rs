//! Cookies: read from the request's `Cookie` headers, set with `Set-Cookie` on the response
//! (the 101 of a socket and the head of a stream too, when a middleware sets them), and signed
//! or private (encrypted) ones with the app's key ([`App::cookie_key`](crate::App::cookie_key)).

use cookie::{Cookie, CookieJar, Key};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, StatusCode};

use super::Context;

impl Context {
    /// Every cookie the client sent (percent-decoded). A malformed pair is skipped, never an
    /// error: a client's broken cookie cannot fail a request.
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse_encoded)
            .filter_map(|c| c.ok().map(Cookie::into_owned))
            .collect()
    }

    /// The cookie named `name` the client sent, if any (the first, if it sent several).
    ///
    /// ```ignore
    /// let theme = ctx.cookie("theme").map(|c| c.value().to_owned()).unwrap_or("light".into());
    /// ```
    pub fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.cookies().into_iter().find(|c| c.name() == name)
    }

    /// Sets `cookie` on the client: one `Set-Cookie` header of the response. Several calls set
    /// several cookies. Called in a before-middleware of a `#[ws]` or `#[sse]` route, it reaches
    /// the socket's 101 or the stream's head.
    ///
    /// ```ignore
    /// use fratello::cookie::{Cookie, SameSite};
    /// ctx.set_cookie(Cookie::build(("theme", "dark")).path("/").http_only(true).same_site(SameSite::Lax));
    /// ```
    pub fn set_cookie(&self, cookie: impl Into<Cookie<'static>>) {
        let cookie = cookie.into();
        match HeaderValue::try_from(cookie.encoded().to_string()) {
            Ok(value) => {
                self.response().headers.append(SET_COOKIE, value);
            }
            Err(_) => {
                tracing::error!(name = cookie.name(), "a cookie that is not a valid header value");
                self.response().status = Some(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }

    /// Removes the cookie `name` from the client: a `Set-Cookie` with an empty value that
    /// expired long ago, for path `/`. (For a cookie set with another path or a domain, pass
    /// a [`Cookie`] with them: `ctx.remove_cookie(Cookie::build("id").path("/app"))`.)
    pub fn remove_cookie(&self, cookie: impl Into<Cookie<'static>>) {
        let mut cookie = cookie.into();
        if cookie.path().is_none() {
            cookie.set_path("/");
        }
        cookie.make_removal();
        self.set_cookie(cookie);
    }

    /// The signed cookie `name`, if the client sent it and its signature (made with the app's
    /// key) holds: a tampered or foreign one reads as absent (and is logged at debug).
    pub fn signed_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        let key = self.cookie_key()?;
        let sent = self.cookie(name)?;
        let mut jar = CookieJar::new();
        jar.add_original(sent);
        let verified = jar.signed(key).get(name);
        if verified.is_none() {
            tracing::debug!(name, "a signed cookie whose signature does not hold: read as absent");
        }
        verified
    }

    /// Sets `cookie` signed with the app's key: the client can read it, but not change it.
    pub fn set_signed_cookie(&self, cookie: impl Into<Cookie<'static>>) {
        let cookie = cookie.into();
        let Some(key) = self.cookie_key() else { return };
        let mut jar = CookieJar::new();
        let name = cookie.name().to_owned();
        jar.signed_mut(key).add(cookie);
        if let Some(signed) = jar.get(&name) {
            self.set_cookie(signed.clone());
        }
    }

    /// The private cookie `name`, if the client sent it and it decrypts with the app's key: a
    /// tampered or foreign one reads as absent (and is logged at debug).
    pub fn private_cookie(&self, name: &str) -> Option<Cookie<'static>> {
        let key = self.cookie_key()?;
        let sent = self.cookie(name)?;
        let mut jar = CookieJar::new();
        jar.add_original(sent);
        let decrypted = jar.private(key).get(name);
        if decrypted.is_none() {
            tracing::debug!(name, "a private cookie that does not decrypt: read as absent");
        }
        decrypted
    }

    /// Sets `cookie` encrypted with the app's key: the client can neither read nor change it.
    pub fn set_private_cookie(&self, cookie: impl Into<Cookie<'static>>) {
        let cookie = cookie.into();
        let Some(key) = self.cookie_key() else { return };
        let mut jar = CookieJar::new();
        let name = cookie.name().to_owned();
        jar.private_mut(key).add(cookie);
        if let Some(private) = jar.get(&name) {
            self.set_cookie(private.clone());
        }
    }

    /// The app's cookie key. Without one, signed and private cookies cannot work: that is the
    /// server's mistake, so the response is a 500 and the log says what to do.
    fn cookie_key(&self) -> Option<&Key> {
        let key = self.app().cookie_key.as_ref();
        if key.is_none() {
            tracing::error!("signed and private cookies need a key: App::new().cookie_key(Key::generate())");
            self.response().status = Some(StatusCode::INTERNAL_SERVER_ERROR);
        }
        key
    }
}
