//! [`SseRequest`] and [`SseClient`]: a Server-Sent-Events stream from the app under test.

use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

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
    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.req = self.req.header(name, value);
        self
    }

    /// Connects and returns the stream once the response head has arrived (whatever its
    /// status: a refused request has its status and an empty stream).
    pub async fn connect(self) -> SseClient {
        let res = self.req.start().await.expect("the SSE request is sent");
        let (head, body) = res.into_parts();
        SseClient { status: head.status, headers: head.headers, body, buf: String::new() }
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

    /// The next block, comments included; `None` when the stream ends.
    pub async fn next_block(&mut self) -> Option<SseEvent> {
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
    /// does); `None` when the stream ends.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let block = self.next_block().await?;
            if block.data.is_some() {
                return Some(block);
            }
        }
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
