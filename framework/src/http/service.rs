//! The service hyper calls for each request of a connection: the app itself, or the app
//! behind its tower layers ([`App::layer`](crate::App::layer)). One type for both, so that
//! hyper's connection code is made once, and an app without layers runs it as it would
//! without this choice: one branch per request, nothing boxed.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use tower::ServiceExt;

use super::dispatch::{dispatch, Answer};
use super::spare::Spare;
use crate::layer::AppService;
use crate::response::{Body, Response};
use crate::runtime::conn::Conn;

/// What a connection's requests go to.
pub(crate) enum ConnService {
    /// The app, and the Context its requests take one after the other.
    Plain(Arc<Conn>, Arc<Spare>),
    /// The app inside its layers (the last one added outermost), made once per connection.
    Layered(AppService),
}

impl ConnService {
    /// The service of `conn`'s requests.
    pub(crate) fn new(conn: &Arc<Conn>) -> ConnService {
        let layers = &conn.app.layers;
        if layers.is_empty() {
            return ConnService::Plain(conn.clone(), Arc::default());
        }
        let inner = conn.clone();
        let app = AppService::new(tower::service_fn(move |req: http::Request<Body>| {
            let (head, body) = req.into_parts();
            dispatch(&inner, None, head, body.into())
        }));
        ConnService::Layered(layers.iter().fold(app, |inner, layer| layer(inner)))
    }

    /// Where the connection keeps a Context between requests, if it does (not behind tower
    /// layers, which may hold a request past its answer).
    pub(crate) fn spare(&self) -> Option<&Arc<Spare>> {
        match self {
            ConnService::Plain(_, spare) => Some(spare),
            ConnService::Layered(_) => None,
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: http::Request<Incoming>) -> Answer {
        match self {
            ConnService::Plain(conn, spare) => {
                let (head, body) = req.into_parts();
                dispatch(conn, Some(spare), head, body.into())
            }
            ConnService::Layered(app) => Answer::layered(Box::pin(app.clone().oneshot(req))),
        }
    }
}
