//! A request to a mounted tower service ([`App::mount`](crate::App::mount)): after the
//! middleware that covers its path, the request goes to the service with the mount's prefix
//! taken off its path, and the service's response is the answer. The service lives in its
//! own path space: a redirect it makes to one of its paths (`ServeDir`'s from `/docs` to
//! `/docs/`) gets the prefix back in front.

use tower::ServiceExt;

use crate::context::Context;
use crate::future::ReusableFuture;
use crate::mount::strip_prefix;
use crate::response::{Answered, Body, Response};

/// The handler of a mount's endpoint: calls the mounted service whose pattern is the route
/// of `ctx` (in the box of the `spent` future, when it fits).
pub(crate) fn forward(ctx: Context, spent: Option<ReusableFuture<Answered>>) -> ReusableFuture<Answered> {
    let forwarding = async move {
        let app = ctx.app().clone();
        // (No two mounts of an app have one prefix.)
        let route = ctx.route();
        let Some(mount) = app.mounts.iter().find(|m| route == Some(*m.pattern)) else {
            return Ok(crate::response::IntoResponse::into_response(crate::error::Error::internal(
                "a mount's request reached no mounted service",
            )));
        };
        let body = match ctx.http_io() {
            Some(io) => io.take_body().await.map(|b| b.into_body()).unwrap_or_else(Body::empty),
            None => Body::empty(),
        };
        let head = &ctx.inner.head;
        let path = strip_prefix(mount.prefix, head.uri.path());
        let path_and_query = match head.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let mut req = http::Request::new(body);
        *req.method_mut() = head.method.clone();
        *req.version_mut() = head.version;
        *req.headers_mut() = head.headers.map().clone();
        // (The rest of a valid path is a valid path.)
        *req.uri_mut() = path_and_query.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
        let mut res = match mount.service.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        if res.status().is_redirection() && mount.prefix != "/" {
            relocate(&mut res, mount.prefix);
        }
        Ok(res)
    };
    ReusableFuture::refill(spent, forwarding)
}

/// Puts `prefix` in front of a redirect's `Location` that is a path of the service's own
/// (`/x`, not `//host/x` nor a full URL).
fn relocate(res: &mut Response, prefix: &str) {
    let Some(location) = res.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if !location.starts_with('/') || location.starts_with("//") {
        return;
    }
    if let Ok(v) = http::HeaderValue::from_str(&format!("{prefix}{location}")) {
        res.headers_mut().insert(http::header::LOCATION, v);
    }
}
