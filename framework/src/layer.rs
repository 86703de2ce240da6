//! tower layers around the whole app ([`App::layer`](crate::App::layer)), and tower services
//! under a path ([`App::mount`](crate::App::mount)): the `tower-http` middleware that axum
//! users rely on (CORS, compression, request ids, timeouts, tracing, body limits) and its
//! services (`ServeDir`, `ServeFile`) work with fratello unchanged.
//!
//! A layer wraps everything the app serves: HTTP routes, WebSocket upgrades and SSE streams
//! alike (a layer that answers an upgrade request itself keeps the socket from opening), and
//! the mounted services. It runs before routing and fratello's own middleware, which run
//! inside it. An app with no layer serves without this machinery: nothing is boxed for it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::Map;
use futures_util::FutureExt;
use tower::util::BoxCloneSyncService;
use tower::Service;

use crate::response::{Body, BoxError, Response};

/// The app as a tower service, the one every [`App::layer`](crate::App::layer) wraps: it
/// takes a request with any body (a layer may have wrapped the body, as
/// `RequestBodyLimitLayer` does) and answers with fratello's [`Body`].
#[derive(Clone)]
pub struct AppService(BoxCloneSyncService<http::Request<Body>, Response, Infallible>);

impl std::fmt::Debug for AppService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppService")
    }
}

impl AppService {
    /// Erases `service` into an `AppService`: its response body becomes a [`Body`], and an
    /// error it returns a logged 500 (a layer that refuses a request answers with its own
    /// status instead, as tower-http's do).
    pub(crate) fn new<S, B>(service: S) -> AppService
    where
        S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        AppService(BoxCloneSyncService::new(Answering { inner: service, unready: None }))
    }

    /// The boxed service inside.
    pub(crate) fn into_inner(self) -> BoxCloneSyncService<http::Request<Body>, Response, Infallible> {
        self.0
    }
}

impl<B> Service<http::Request<B>> for AppService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.0.call(req.map(Body::new))
    }
}

/// A service whose errors become answers: a logged 500 (an error from `poll_ready` answers
/// the request it was readied for).
struct Answering<S> {
    inner: S,
    unready: Option<BoxError>,
}

impl<S: Clone> Clone for Answering<S> {
    fn clone(&self) -> Self {
        // (A clone is readied on its own.)
        Answering { inner: self.inner.clone(), unready: None }
    }
}

/// What the service's outcome answers.
fn answer<B, E>(outcome: Result<http::Response<B>, E>) -> Result<Response, Infallible>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    E: Into<BoxError>,
{
    Ok(match outcome {
        Ok(res) => res.map(Body::new),
        Err(e) => {
            let e: BoxError = e.into();
            tracing::error!(error = %e, "a tower layer or service failed");
            let err = crate::error::Error::internal("a tower layer or service failed").with_source(e);
            crate::response::IntoResponse::into_response(err)
        }
    })
}

type Answered<F, B, E> =
    futures_util::future::Either<std::future::Ready<Result<Response, Infallible>>, Map<F, Outcome<B, E>>>;
type Outcome<B, E> = fn(Result<http::Response<B>, E>) -> Result<Response, Infallible>;

impl<S, B> Service<http::Request<Body>> for Answering<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answered<S::Future, B, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if let Err(e) = std::task::ready!(self.inner.poll_ready(cx)) {
            self.unready = Some(e.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        use futures_util::future::Either;
        match self.unready.take() {
            Some(e) => Either::Left(std::future::ready(answer::<B, BoxError>(Err(e)))),
            None => Either::Right(self.inner.call(req).map(answer::<B, S::Error> as Outcome<B, S::Error>)),
        }
    }
}

/// One layer of the app, as `App` keeps it: what it makes of the service inside it.
pub(crate) type LayerFn = std::sync::Arc<dyn Fn(AppService) -> AppService + Send + Sync>;
