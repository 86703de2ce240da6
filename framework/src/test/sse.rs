//! [`SseRequest`] and [`SseClient`]: a Server-Sent-Events stream from the app under test.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use tokio::time::error::Elapsed;

use super::request::TestRequest;

/// An SSE request being built.
pub struct SseRequest<'a> {
    req: TestRequest<'a>,
}

impl<'a> SseRequest<'a> {
    pub(crate) fn new(req: TestRequest<'a>) -> Self {
        SseRequest { req }
    }
}

impl SseRequest<'_> {
    /// Adds a header (as [`TestRequest::header`]).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.req = self.req.header(name, value);
        self
    }

    /// Opens the stream over HTTP/2 (with prior knowledge, or `h2` by ALPN over TLS) instead
    /// of HTTP/1.1.
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self) -> Self {
        self.req = self.req.http2();
        self
    }

    /// Connects and returns the stream once the response head has arrived (whatever its
    /// status: a refused request has its status and an empty stream). Fails the test when the
    /// head does not come within the client's timeout.
    pub async fn connect(self) -> SseClient {
        let (what, timeout) = self.req.describe();
        let res = match tokio::time::timeout(timeout, self.req.start()).await {
            Ok(res) => res.unwrap_or_else(|e| panic!("`{what}` failed: {e}")),
            Err(_) => panic!("no response head to the SSE request `{what}` within {timeout:?}"),
        };
        let (head, body) = res.into_parts();
        SseClient { status: head.status, headers: head.headers, body, buf: String::new(), what, timeout }
    }
}

/// One block of an SSE stream (the lines up to a blank line), parsed per the HTML spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:`
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`; `None` when the block had none.
    pub data: Option<String>,
    /// `id:`
    pub id: Option<String>,
    /// `retry:` in milliseconds.
    pub retry: Option<u64>,
    /// Comment lines (`: text`), without the colon and the space after it.
    pub comments: Vec<String>,
}

/// The client side of an SSE stream.
pub struct SseClient {
    status: StatusCode,
    headers: HeaderMap,
    body: hyper::body::Incoming,
    buf: String,
    /// `GET /path`, for messages.
    what: String,
    timeout: Duration,
}

impl SseClient {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next block, comments included; `None` when the stream ends. Fails the test when
    /// none comes within the client's timeout.
    pub async fn next_block(&mut self) -> Option<SseEvent> {
        let timeout = self.timeout;
        match self.next_block_timeout(timeout).await {
            Ok(block) => block,
            Err(_) => panic!("no SSE block on `{}` within {timeout:?}", self.what),
        }
    }

    /// The next block within `timeout`, or `Err` when none came (comments included; `Ok(None)`
    /// when the stream ends).
    pub async fn next_block_timeout(&mut self, timeout: Duration) -> Result<Option<SseEvent>, Elapsed> {
        tokio::time::timeout(timeout, self.read_block()).await
    }

    async fn read_block(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                return Some(parse_block(&block));
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
                // Normalise line ends so that only "\n" separates lines.
                if self.buf.contains('\r') {
                    self.buf = self.buf.replace("\r\n", "\n").replace('\r', "\n");
                }
            }
        }
    }

    /// The next event with data (comment-only and retry-only blocks are skipped, as a browser
    /// does); `None` when the stream ends. Fails the test when none comes within the client's
    /// timeout.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        let timeout = self.timeout;
        match self.next_event_timeout(timeout).await {
            Ok(event) => event,
            Err(_) => panic!("no SSE event on `{}` within {timeout:?}", self.what),
        }
    }

    /// The next event with data within `timeout`, or `Err` when none came (`Ok(None)` when the
    /// stream ends): to check that nothing arrives.
    pub async fn next_event_timeout(&mut self, timeout: Duration) -> Result<Option<SseEvent>, Elapsed> {
        tokio::time::timeout(timeout, async {
            loop {
                let block = self.read_block().await?;
                if block.data.is_some() {
                    return Some(block);
                }
            }
        })
        .await
    }
}

fn parse_block(block: &str) -> SseEvent {
    let mut ev = SseEvent::default();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            ev.comments.push(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => ev.event = Some(value.to_owned()),
            "id" => ev.id = Some(value.to_owned()),
            "retry" => ev.retry = value.parse().ok(),
            "data" => match &mut ev.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => ev.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    ev
}
