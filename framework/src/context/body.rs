//! Whole request bodies, buffered up to the app's limit: bytes, text, JSON.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};

use super::Context;
use crate::error::{Error, Result};

impl Context {
    /// The whole request body, at most the app's body limit (413 over it), read within the
    /// app's [`body_timeout`](crate::app::Config::body_timeout) (408 past it).
    pub async fn body(&self) -> Result<Bytes> {
        let config = &self.app().config;
        let limit = config.max_body;
        let too_large =
            || Error::payload_too_large(format!("the request body is larger than the {limit}-byte limit"));
        let declared = self.header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let within = config.body_timeout;
        tokio::time::timeout(within, self.read_body(limit, too_large)).await.unwrap_or_else(|_| {
            Err(Error::request_timeout(format!(
                "the request body did not arrive within {} s",
                within.as_secs_f64()
            )))
        })
    }

    /// The body, read whole (at most `limit` bytes).
    async fn read_body(&self, limit: usize, too_large: impl Fn() -> Error) -> Result<Bytes> {
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.recv().await? {
            let chunk = chunk.into_bytes();
            let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + chunk.len();
            if len > limit {
                return Err(too_large());
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                prev => {
                    if let Some(prev) = prev {
                        buf.extend_from_slice(&prev);
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    }

    /// The whole request body as UTF-8 text (400 when it is not).
    pub async fn text(&self) -> Result<String> {
        let body = self.body().await?;
        String::from_utf8(body.into()).map_err(|_| Error::bad_request("the request body is not valid UTF-8"))
    }

    /// The request body parsed as JSON: 415 unless the content type is JSON, 413 over the
    /// body limit, 400 with serde's line and column when malformed, 422 naming the field when
    /// it parses but does not fit `T` (a missing field, a wrong type).
    pub async fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let ct = self.header(CONTENT_TYPE).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !(media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")) {
            return Err(Error::unsupported_media_type(if ct.is_empty() {
                "expected a JSON body: set `content-type: application/json`"
            } else {
                "expected a JSON body: the content type is not `application/json`"
            }));
        }
        let body = self.body().await?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// The request body as an HTML form (`application/x-www-form-urlencoded`), deserialized
    /// into `T`: a field given several times (`tag=a&tag=b`) fills a `Vec`. 415 for another
    /// content type, 413 over the body limit, 400 naming the field that does not fit.
    ///
    /// ```ignore
    /// #[derive(serde::Deserialize)]
    /// struct Search { q: String, tag: Vec<String> }
    /// let search: Search = ctx.form().await?;
    /// ```
    pub async fn form<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let ct = self.header(CONTENT_TYPE).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(Error::unsupported_media_type(
                "expected a form: set `content-type: application/x-www-form-urlencoded`",
            ));
        }
        let body = self.body().await?;
        serde_html_form::from_bytes(&body).map_err(|e| {
            Error::bad_request(format!("invalid form: {}", crate::error::excerpt(&e.to_string())))
                .with_source(e)
        })
    }
}
