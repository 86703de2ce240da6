#![doc = include_str!("docs/overview.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod app;
pub mod broadcast;
pub mod config;
pub mod context;
pub mod error;
pub mod event;
pub mod layer;
pub mod message;
pub mod middleware;
pub mod multipart;
pub mod response;
pub mod routing;
pub mod server;
pub mod sse;
mod startup;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod ws;

mod future;
mod http;
mod matcher;
mod mount;
mod panic;
mod protocol;
mod runtime;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "__bench")]
#[doc(hidden)]
pub mod __bench;

pub use app::App;
pub use broadcast::{Hub, Subscription};
pub use context::Context;
pub use error::{Error, Result};
pub use event::Event;
pub use message::{Json, Message, Outbound};
pub use response::{Body, IntoResponse, Response};
pub use routing::RouteInfo;
pub use startup::StartupError;

pub use ::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
/// The `cookie` crate, whose [`Cookie`](cookie::Cookie) and [`Key`](cookie::Key) the
/// Context's cookie methods take and give.
pub use cookie;

pub use bytes::Bytes;

pub use fratello_macros::{delete, get, head, middleware, options, patch, post, put, route, sse, ws};

/// Everything a handler file needs: `use fratello::prelude::*;`.
pub mod prelude {
    pub use crate::{
        delete, get, head, middleware, options, patch, post, put, route, sse, ws, App, Bytes, Context, Error,
        Event, IntoResponse, Json, Message, Result, StartupError, StatusCode,
    };
}

/// Compiles the README's quick start as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(doctest)]
pub mod guide;
