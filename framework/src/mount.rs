//! A tower service mounted under a path ([`App::mount`](crate::App::mount)): what the app
//! keeps of it, and the rules of its prefix and of the paths the service sees.

use std::convert::Infallible;

use bytes::Bytes;
use tower::util::BoxCloneSyncService;
use tower::Service;

use crate::layer::AppService;
use crate::response::{Body, BoxError, Response};

/// A tower service mounted under a path, as the app keeps it.
pub(crate) type MountService = BoxCloneSyncService<http::Request<Body>, Response, Infallible>;

/// Erases `service` for [`App::mount`](crate::App::mount).
pub(crate) fn mount_service<S, B>(service: S) -> MountService
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    AppService::new(service).into_inner()
}

/// A tower service mounted under a path prefix ([`App::mount`](crate::App::mount)), as the
/// app keeps it.
pub(crate) struct Mount {
    /// The prefix, `/` or `/a/b` (never with a trailing slash but for `/`).
    pub(crate) prefix: &'static str,
    /// The pattern its requests report as their route: `{prefix}/{*rest}`.
    pub(crate) pattern: &'static &'static str,
    /// The number of its endpoint (its middleware chain, and the handler that forwards to
    /// the service) in the program's catalog.
    pub(crate) endpoint: u32,
    pub(crate) service: MountService,
}

/// A mounted service as the app is given it: the prefix (checked), the service, and where
/// `App::mount` was called (for clash messages).
pub(crate) struct MountDef {
    pub(crate) prefix: &'static str,
    /// `{prefix}/{*rest}`, kept for the program's life as the route pattern of its requests.
    pub(crate) pattern: &'static &'static str,
    /// See [`Mount::endpoint`].
    pub(crate) endpoint: u32,
    pub(crate) service: MountService,
    pub(crate) location: String,
}

/// The pattern a mount at `prefix` serves, besides `prefix` itself.
pub(crate) fn mount_pattern(prefix: &str) -> String {
    format!("{}/{{*rest}}", prefix.trim_end_matches('/'))
}

/// What is wrong with `prefix` as a mount point, if anything: it starts with `/`, has no
/// trailing slash (but for `/` itself), no empty segment, no pattern syntax.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    let problem = if !prefix.starts_with('/') {
        "it must start with `/`"
    } else if prefix.len() > 1 && prefix.ends_with('/') {
        "it must not end with `/`"
    } else if prefix.contains("//") {
        "it has an empty segment"
    } else if prefix.contains(['{', '}', '*', '?', '#']) {
        "it must be a plain path: no `{param}`, `*`, `?` or `#`"
    } else {
        return Ok(());
    };
    Err(format!("App::mount({prefix:?}): {problem}"))
}

/// The path a mounted service sees for `path` under its `prefix`: the rest, from `/`.
pub(crate) fn strip_prefix<'a>(prefix: &str, path: &'a str) -> &'a str {
    if prefix == "/" {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") | None => "/",
        Some(rest) => rest,
    }
}

#[cfg(test)]
mod tests {
    use crate::mount::*;

    #[test]
    fn prefixes() {
        assert!(check_prefix("/").is_ok());
        assert!(check_prefix("/static").is_ok());
        assert!(check_prefix("/a/b").is_ok());
        assert!(check_prefix("static").is_err());
        assert!(check_prefix("/static/").is_err());
        assert!(check_prefix("/a//b").is_err());
        assert!(check_prefix("/{x}").is_err());
        assert_eq!(mount_pattern("/"), "/{*rest}");
        assert_eq!(mount_pattern("/static"), "/static/{*rest}");
        assert_eq!(strip_prefix("/static", "/static/a/b.css"), "/a/b.css");
        assert_eq!(strip_prefix("/static", "/static"), "/");
        assert_eq!(strip_prefix("/", "/x"), "/x");
    }
}
