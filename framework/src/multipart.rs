//! `multipart/form-data` bodies, read field by field and chunk by chunk as they arrive (with
//! `multer`): a large file upload goes to disk without sitting in memory.
//!
//! ```ignore
//! #[post("/upload")]
//! async fn upload(ctx: Context) -> Result<String> {
//!     let mut parts = ctx.multipart()?;
//!     let mut stored = 0;
//!     while let Some(mut field) = parts.next_field().await? {
//!         if field.file_name().is_some() {
//!             let mut file = tokio::fs::File::create(temp_path()).await?;
//!             while let Some(chunk) = field.chunk().await? {
//!                 tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await?;
//!                 stored += chunk.len();
//!             }
//!         } else {
//!             let value = field.text().await?; // a small text field, read whole
//!         }
//!     }
//!     Ok(format!("stored {stored} bytes"))
//! }
//! ```
//!
//! Limits ([`MultipartConfig`]): the number of fields, the size
//! of a field read whole with [`Field::bytes`] or [`Field::text`], and optionally the whole
//! body; past one, a 413 that names it. A body that is not well-formed multipart (no
//! boundary, a part cut short, malformed part headers) is a 400 that says what was wrong.

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;

use crate::config::MultipartConfig;
use crate::context::Context;
use crate::error::{Error, Result};

impl Context {
    /// The request's `multipart/form-data` body, as fields in order: 415 when the request is
    /// not multipart, 400 when it has no boundary.
    pub fn multipart(&self) -> Result<Multipart> {
        let content_type = self.header(CONTENT_TYPE).unwrap_or("");
        let boundary = multer::parse_boundary(content_type).map_err(|e| match e {
            multer::Error::NoBoundary => {
                Error::bad_request("the multipart body has no boundary in its `content-type`")
            }
            _ => Error::unsupported_media_type(
                "expected a multipart body: set `content-type: multipart/form-data; boundary=...`",
            ),
        })?;
        let config = self.app().config.multipart.clone();
        let mut constraints = multer::Constraints::new();
        if let Some(max) = config.max_bytes {
            constraints = constraints.size_limit(multer::SizeLimit::new().whole_stream(max));
        }
        // The body, chunk by chunk, as `recv` reads it (with its timeout between chunks).
        let body = futures_util::stream::unfold(Some(self.clone()), |ctx| async move {
            let ctx = ctx?;
            match ctx.recv().await {
                Ok(Some(chunk)) => Some((Ok(chunk.into_bytes()), Some(ctx))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Multipart {
            inner: multer::Multipart::with_constraints(body, boundary, constraints),
            fields: 0,
            config,
        })
    }
}

/// A `multipart/form-data` body being read: [`next_field`](Self::next_field) until `None`.
pub struct Multipart {
    inner: multer::Multipart<'static>,
    fields: usize,
    config: MultipartConfig,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart").field("fields", &self.fields).finish_non_exhaustive()
    }
}

impl Multipart {
    /// The next field, once its headers have arrived; `None` after the last one. Read it (or
    /// drop it) before asking for the next.
    pub async fn next_field(&mut self) -> Result<Option<Field>> {
        let Some(inner) = self.inner.next_field().await.map_err(error)? else { return Ok(None) };
        self.fields += 1;
        if self.fields > self.config.max_fields {
            let max = self.config.max_fields;
            return Err(Error::payload_too_large(format!("the multipart body has more than {max} fields")));
        }
        Ok(Some(Field { inner, max_bytes: self.config.max_field_bytes }))
    }
}

/// One field of a multipart body: its name, file name and content type, then its content,
/// chunk by chunk.
pub struct Field {
    inner: multer::Field<'static>,
    max_bytes: usize,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field").field("name", &self.name()).field("file_name", &self.file_name()).finish()
    }
}

impl Field {
    /// The field's name (`name` in its `Content-Disposition`).
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The name of the file this field carries, if it is a file (as the client says: use it
    /// for display, never as a path).
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The field's content type, as the client says (`text/plain`, `image/png`, ...).
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.essence_str())
    }

    /// The field's headers.
    pub fn headers(&self) -> &http::HeaderMap {
        self.inner.headers()
    }

    /// The next chunk of the field's content, as it arrives; `None` at its end. Not limited
    /// in size: a chunk is as large as the network hands it.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        self.inner.chunk().await.map_err(error)
    }

    /// The whole content, at most [`max_field_bytes`](crate::config::MultipartConfig) (413
    /// past it).
    pub async fn bytes(mut self) -> Result<Bytes> {
        let max = self.max_bytes;
        let mut all = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            if all.len() + chunk.len() > max {
                let name = self.name().unwrap_or("");
                return Err(Error::payload_too_large(format!(
                    "the multipart field `{name}` is larger than the {max}-byte limit"
                )));
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    /// The whole content as UTF-8 text (400 when it is not), at most
    /// [`max_field_bytes`](crate::config::MultipartConfig).
    pub async fn text(self) -> Result<String> {
        let name = self.name().unwrap_or("").to_owned();
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into())
            .map_err(|_| Error::bad_request(format!("the multipart field `{name}` is not valid UTF-8 text")))
    }
}

/// What a multer error means for the client: its own mistake (400), a limit (413), or the
/// body's read failing (the error that failed it, a 408 when it stalled).
fn error(e: multer::Error) -> Error {
    use multer::Error as E;
    match e {
        E::StreamSizeExceeded { limit } => {
            Error::payload_too_large(format!("the multipart body is larger than the {limit}-byte limit"))
        }
        E::FieldSizeExceeded { limit, field_name } => Error::payload_too_large(format!(
            "the multipart field `{}` is larger than the {limit}-byte limit",
            field_name.unwrap_or_default()
        )),
        E::StreamReadFailed(source) => match source.downcast::<Error>() {
            Ok(e) => *e,
            Err(source) => Error::bad_request("the multipart body could not be read").with_source(source),
        },
        other => Error::bad_request(format!("malformed multipart body: {other}")),
    }
}
