//! [`TestClient`] (feature `test-util`): runs an [`App`](crate::App) on an ephemeral loopback
//! port and talks to it over real sockets, with a real HTTP client (hyper), so tests exercise
//! exactly what a user gets. With the `tls` feature too, `TestClient::start_tls` serves the app
//! over TLS and speaks HTTPS, `wss://` and SSE to it, trusting a test certificate.
//!
//! ```no_run
//! use fratello::prelude::*;
//! use fratello::test::TestClient;
//!
//! #[get("/hello/{name}")]
//! async fn hello(ctx: Context) -> String {
//!     format!("Hello, {}!", ctx.param("name").unwrap_or("world"))
//! }
//!
//! # async fn run() {
//! let client = TestClient::start(App::only(module_path!())).await;
//! let res = client.get("/hello/ada").send().await;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.text(), "Hello, ada!");
//! client.shutdown().await;
//! # }
//! ```

mod client;
mod request;
#[cfg(feature = "sse")]
mod sse;
mod stream;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "ws")]
mod ws;

pub use self::client::TestClient;
pub use self::request::{TestRequest, TestResponse};
#[cfg(feature = "sse")]
#[cfg_attr(docsrs, doc(cfg(feature = "sse")))]
pub use self::sse::{SseClient, SseEvent, SseRequest};
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use self::ws::{WsClient, WsRefused, WsRequest};

/// The WebSocket library under [`WsClient`], for raw messages and frames in tests.
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub use tungstenite;
