//! [`TestClient`]: runs an [`App`] on an ephemeral loopback port and talks to it over real
//! sockets, with a real HTTP client (hyper), so tests exercise exactly what a user gets.
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
mod sse;
mod ws;

pub use self::client::TestClient;
pub use self::request::{TestRequest, TestResponse};
pub use self::sse::{SseClient, SseEvent, SseRequest};
pub use self::ws::{WsClient, WsRefused, WsRequest};

/// The WebSocket library under [`WsClient`], for raw messages and frames in tests.
pub use tungstenite;
