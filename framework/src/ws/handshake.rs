//! The WebSocket handshake: checking an upgrade request before middleware runs, and the 101
//! that accepts it.

use http::{header, HeaderValue, StatusCode, Version};

use super::origin::{allowed, host};
use crate::config::WsConfig;
use crate::context::Context;
use crate::error::Error;
use crate::response::{IntoResponse, Response};

/// Checks that a request is a valid upgrade (before middleware runs): the rejection is the
/// response to send.
#[allow(clippy::result_large_err)] // the rejection is the response itself, built once per bad request
pub(crate) fn check(
    head: &http::request::Parts,
    config: &WsConfig,
) -> std::result::Result<HeaderValue, Response> {
    if head.version != Version::HTTP_11 {
        return Err(Error::bad_request(
            "WebSocket routes need an HTTP/1.1 upgrade; WebSocket over HTTP/2 is not supported",
        )
        .into_response());
    }
    let has_token = |name: header::HeaderName, token: &str| {
        head.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(Error::bad_request(
            "this is a WebSocket endpoint: connect with a WebSocket client \
             (`Connection: Upgrade` and `Upgrade: websocket` are missing)",
        )
        .into_response());
    }
    let text = |name| head.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let version = text(header::SEC_WEBSOCKET_VERSION);
    if version != Some("13") {
        let mut res = Error::new(
            StatusCode::UPGRADE_REQUIRED,
            if version.is_none() {
                "missing `Sec-WebSocket-Version`: this server speaks version 13"
            } else {
                "unsupported WebSocket version: this server speaks version 13"
            },
        )
        .into_response();
        res.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(res);
    }
    let key = text(header::SEC_WEBSOCKET_KEY).unwrap_or("");
    let key_ok = key.len() == 24
        && key.ends_with("==")
        && key[..22].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !key_ok {
        return Err(Error::bad_request(
            "missing or malformed `Sec-WebSocket-Key` (16 random bytes in base64)",
        )
        .into_response());
    }
    if let Some(origin) = head.headers.get(header::ORIGIN) {
        if !allowed(&config.origins, origin.as_bytes(), host(head)) {
            tracing::debug!(?origin, "refused a WebSocket from an origin that is not allowed");
            return Err(Error::forbidden(
                "a page of another origin may not open a WebSocket here; the server allows it with \
                 `WsConfig::allowed_origins([..])` or `WsConfig::any_origin()`",
            )
            .into_response());
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    Ok(HeaderValue::from_str(&accept).expect("base64 is a valid header value"))
}

/// The 101 response for a checked upgrade (after-middleware still runs on it).
pub(crate) fn accept(ctx: &Context, config: &WsConfig, accept: HeaderValue) -> Response {
    let mut res = http::Response::new(crate::response::Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    let offered = ctx.protocols();
    let chosen = ctx
        .ws_io()
        .and_then(|io| io.lock().protocol)
        .map(usize::from)
        .or_else(|| config.protocols.iter().find_map(|p| offered.iter().position(|o| *o == p.as_str())));
    if let Some((place, p)) =
        chosen.and_then(|place| Some((u16::try_from(place).ok()?, *offered.get(place)?)))
    {
        if let Ok(v) = HeaderValue::from_str(p) {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
        if let Some(io) = ctx.ws_io() {
            io.lock().protocol = Some(place);
        }
    }
    res
}
