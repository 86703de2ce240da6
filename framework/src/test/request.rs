//! [`TestRequest`] and [`TestResponse`]: an HTTP request to the app under test, and its whole
//! response.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};

use crate::Body;

/// A request being built; [`send`](Self::send) it.
pub struct TestRequest<'a> {
    clients: &'a Clients,
    builder: http::request::Builder,
    body: Body,
    /// `GET /path`, for messages.
    what: String,
    timeout: Duration,
    #[cfg(feature = "http2")]
    http2: bool,
}

/// The HTTP clients of a [`TestClient`](super::TestClient): HTTP/1.1, and HTTP/2 with prior
/// knowledge (or, over TLS, chosen by ALPN).
pub(crate) struct Clients {
    pub(crate) h1: Client<HttpConnector, Body>,
    #[cfg(feature = "http2")]
    pub(crate) h2: Client<HttpConnector, Body>,
    /// The clients that speak TLS, to an app started with `TestClient::start_tls`.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::tls::TlsClients>,
}

impl<'a> TestRequest<'a> {
    pub(crate) fn new(
        clients: &'a Clients,
        method: &Method,
        path: &str,
        url: String,
        timeout: Duration,
    ) -> Self {
        TestRequest {
            clients,
            builder: http::Request::builder().method(method.clone()).uri(url),
            body: Body::empty(),
            what: format!("{method} {path}"),
            timeout,
            #[cfg(feature = "http2")]
            http2: false,
        }
    }
}

impl TestRequest<'_> {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.builder = self.builder.header(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("the test value serializes as JSON");
        self.header(http::header::CONTENT_TYPE, "application/json").body(body)
    }

    /// Sends over HTTP/2 instead of HTTP/1.1: with prior knowledge (h2c), or over TLS as
    /// chosen by ALPN (`h2`).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// How long [`send`](Self::send) waits for the whole response (the client's
    /// [`timeout`](super::TestClient::timeout) by default), e.g. for a long upload.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request and reads the whole response. Panics if the request cannot be sent
    /// (the server is down), or when the response is not all there within the timeout: in a
    /// test that is the failure to report.
    pub async fn send(self) -> TestResponse {
        let (what, timeout) = (self.what.clone(), self.timeout);
        match tokio::time::timeout(timeout, self.try_send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("`{what}` failed: {e}"),
            Err(_) => panic!(
                "no whole response to `{what}` within {timeout:?} (the test client's timeout: raise it with \
                 `TestClient::timeout` or `TestRequest::timeout`)"
            ),
        }
    }

    /// What the request is (`GET /path`) and its timeout, for the SSE client's messages.
    #[cfg(feature = "sse")]
    pub(crate) fn describe(&self) -> (String, Duration) {
        (self.what.clone(), self.timeout)
    }

    pub(crate) async fn start(
        self,
    ) -> Result<http::Response<hyper::body::Incoming>, Box<dyn std::error::Error + Send + Sync>> {
        let req = self.builder.body(self.body)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.clients.tls {
            #[cfg(feature = "http2")]
            if self.http2 {
                return Ok(tls.h2.request(req).await?);
            }
            return Ok(tls.h1.request(req).await?);
        }
        #[cfg(feature = "http2")]
        if self.http2 {
            return Ok(self.clients.h2.request(req).await?);
        }
        let client = &self.clients.h1;
        Ok(client.request(req).await?)
    }

    /// Sends the request and reads the whole response, returning transport errors.
    pub async fn try_send(self) -> Result<TestResponse, Box<dyn std::error::Error + Send + Sync>> {
        let res = self.start().await?;
        let (head, body) = res.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(TestResponse { status: head.status, version: head.version, headers: head.headers, body })
    }
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.version
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON; panics with the body when it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the response is not the expected JSON ({e}): {}", self.text()))
    }
}
