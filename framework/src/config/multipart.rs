//! [`MultipartConfig`]: the limits of `multipart/form-data` bodies read with
//! [`Context::multipart`](crate::Context::multipart).

/// Limits of `multipart/form-data` bodies, for the whole app
/// ([`App::multipart_config`](crate::App::multipart_config)).
///
/// A field read chunk by chunk ([`Field::chunk`](crate::multipart::Field::chunk)) is not held
/// in memory, so its size is not limited by default (a large upload streams to disk); the
/// helpers that buffer a whole field ([`Field::bytes`](crate::multipart::Field::bytes),
/// [`Field::text`](crate::multipart::Field::text)) are limited by
/// [`max_field_bytes`](Self::max_field_bytes).
#[derive(Debug, Clone)]
pub struct MultipartConfig {
    pub(crate) max_fields: usize,
    pub(crate) max_field_bytes: usize,
    pub(crate) max_bytes: Option<u64>,
}

impl Default for MultipartConfig {
    fn default() -> Self {
        MultipartConfig { max_fields: 100, max_field_bytes: 2 * 1024 * 1024, max_bytes: None }
    }
}

impl MultipartConfig {
    /// Most fields in one body (413 past it). Default 100.
    pub fn max_fields(mut self, count: usize) -> Self {
        self.max_fields = count;
        self
    }

    /// Largest field that `Field::bytes()` and `Field::text()` read whole (413 past it).
    /// Default 2 MiB.
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field_bytes = bytes;
        self
    }

    /// Largest whole body, streamed or not (413 past it). Default: none (bodies are streamed
    /// field by field and chunk by chunk; the body read timeout bounds a slow one).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
}
