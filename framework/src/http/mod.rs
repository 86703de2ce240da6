//! HTTP requests: each request's channel (its body in, a streamed response out), the dispatch
//! from hyper's service call to a route, the pipeline that runs middleware and handler, and
//! the Context a connection keeps from one request to the next.

pub(crate) mod channel;
pub(crate) mod dispatch;
pub(crate) mod forward;
pub(crate) mod pipeline;
pub(crate) mod request_id;
pub(crate) mod service;
pub(crate) mod spare;
