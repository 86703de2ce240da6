//! Server-Sent-Events routes: `#[sse(PATH)]`, answered with the same `ctx.send(..)`.
//!
//! ```ignore
//! #[sse("/prices")]
//! async fn prices(ctx: Context) -> Result<()> {
//!     let mut n: u64 = ctx.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(0);
//!     loop {
//!         n += 1;
//!         ctx.send(Event::new().event("tick").id(n).data(price(n))).await?;
//!         tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!     }
//! }
//! ```
//!
//! - The response is `200`, `content-type: text/event-stream`, `cache-control: no-cache`, and
//!   `x-accel-buffering: no` (so proxies such as nginx pass events through at once). Before-
//!   middleware may refuse the request with its error, as for any route; after-middleware sees
//!   the response head.
//! - `ctx.send(x)`: a string becomes one event's data (a multi-line string becomes several
//!   `data:` lines), `Json(v)` becomes data, and an [`Event`](crate::Event) sets every field
//!   (`event`, `id`, `data`, `retry`, comment). Bytes are refused: SSE carries text.
//! - A keep-alive comment (`: keep-alive`) goes out after [`SseConfig::keep_alive`] of silence
//!   (15 s by default), so proxies and browsers keep an idle stream open.
//! - **The client leaving ends the handler:** when the connection closes, the handler's future
//!   is dropped at its next `.await`, even when it is waiting for something else than `send`
//!   (a sleep, a broadcast). Put clean-up in a `Drop` guard. `ctx.closed()` also resolves then.
//! - **Shutdown:** every open stream gets a final `retry:` hint ([`SseConfig::shutdown_retry`])
//!   and ends, so browsers reconnect (to the next instance) instead of holding this one open.
//! - **Origins:** unlike a WebSocket (which opens only from the server's own pages unless
//!   [`WsConfig::allowed_origins`](crate::ws::WsConfig::allowed_origins) says otherwise), a
//!   stream has no origin check: a browser's `EventSource` from another site sends no
//!   credentials without CORS, and cannot read the stream unless CORS allows it (see
//!   [`App::layer`](crate::App::layer) with tower-http's `CorsLayer`).

#[cfg(feature = "sse")]
pub(crate) mod channel;
#[cfg(feature = "sse")]
pub(crate) mod encode;
#[cfg(feature = "sse")]
pub(crate) mod relay;
#[cfg(feature = "sse")]
pub(crate) mod stream;

pub use crate::config::SseConfig;
