//! [`Error`]: an HTTP status, a message for the client and an optional source for the logs.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// `Result<T, fratello::Error>`, the return type of fallible handlers and middleware.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error that answers the request.
///
/// It carries the status to answer with, a message, and optionally the underlying error
/// (logged, never sent). As a response it renders as `text/plain` (with
/// `x-content-type-options: nosniff`), or as `{"error": {"status": 404, "message": "..."}}`
/// when the request's `Accept` header prefers JSON. On a WebSocket it closes the socket with
/// code 1011 and the message as the reason; on an SSE stream it ends the stream. A client
/// error's (4xx) message is sent to the client; a server error's (5xx) is only logged, and the
/// client hears the status's reason ([`public_message`](Error::public_message)).
///
/// ```
/// use fratello::{Error, StatusCode};
///
/// let e = Error::not_found("no note 42");
/// assert_eq!(e.status(), StatusCode::NOT_FOUND);
/// assert_eq!(e.message(), "no note 42");
///
/// let e = Error::new(StatusCode::IM_A_TEAPOT, "short and stout");
/// assert_eq!(e.to_string(), "418 I'm a teapot: short and stout");
/// ```
pub struct Error {
    status: StatusCode,
    message: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(message: impl Into<Cow<'static, str>>) -> Self {
            Self::new(StatusCode::$status, message)
        }
    )*};
}

impl Error {
    /// An error with any status and message.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, message: message.into(), source: None }
    }

    constructors! {
        /// 400 Bad Request: the request is malformed.
        bad_request => BAD_REQUEST;
        /// 401 Unauthorized: credentials are missing or invalid.
        unauthorized => UNAUTHORIZED;
        /// 403 Forbidden: the credentials do not allow this.
        forbidden => FORBIDDEN;
        /// 404 Not Found.
        not_found => NOT_FOUND;
        /// 405 Method Not Allowed.
        method_not_allowed => METHOD_NOT_ALLOWED;
        /// 408 Request Timeout.
        request_timeout => REQUEST_TIMEOUT;
        /// 409 Conflict.
        conflict => CONFLICT;
        /// 413 Payload Too Large: the body is over the limit.
        payload_too_large => PAYLOAD_TOO_LARGE;
        /// 415 Unsupported Media Type: e.g. `json()` on a body that is not `application/json`.
        unsupported_media_type => UNSUPPORTED_MEDIA_TYPE;
        /// 422 Unprocessable Entity: well-formed but semantically wrong.
        unprocessable => UNPROCESSABLE_ENTITY;
        /// 429 Too Many Requests.
        too_many_requests => TOO_MANY_REQUESTS;
        /// 500 Internal Server Error. Like every server error (5xx), the client is told only
        /// the status; the message and the source are logged.
        internal => INTERNAL_SERVER_ERROR;
        /// 503 Service Unavailable.
        unavailable => SERVICE_UNAVAILABLE;
    }

    /// Attaches the underlying error. It is logged with the response, never sent.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message: what the client is told for a client error (4xx), what is logged for a
    /// server error (5xx).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the client is told: the message for a client error (4xx), which says what to fix;
    /// for a server error (5xx) only the status's reason (`internal server error`), since the
    /// client can fix nothing and the message may name the server's internals (it is logged
    /// with the source instead).
    ///
    /// ```
    /// use fratello::Error;
    /// assert_eq!(Error::bad_request("`page` must be a number").public_message(), "`page` must be a number");
    /// assert_eq!(Error::internal("no app state of type `db::Pool`").public_message(), "internal server error");
    /// ```
    pub fn public_message(&self) -> Cow<'_, str> {
        if self.status.is_server_error() {
            Cow::Owned(self.status.canonical_reason().unwrap_or("server error").to_ascii_lowercase())
        } else {
            Cow::Borrowed(&self.message)
        }
    }

    /// Replaces the message sent to the client.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// What `send` returns once the peer has gone. 499 is nginx's "client closed request".
    pub(crate) fn peer_gone() -> Self {
        Self::new(
            StatusCode::from_u16(499).expect("499 is a valid status"),
            "the client closed the connection",
        )
    }

    /// The status and [`public_message`](Self::public_message) as a JSON document, the form
    /// used when the client asks for JSON.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "error": { "status": self.status.as_u16(), "message": &*self.public_message() } })
            .to_string()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("status", &self.status).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<StatusCode> for Error {
    fn from(status: StatusCode) -> Self {
        Self::new(status, status.canonical_reason().unwrap_or("error"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let (status, message) = match e.kind() {
            NotFound => (StatusCode::NOT_FOUND, "not found"),
            PermissionDenied => (StatusCode::FORBIDDEN, "permission denied"),
            TimedOut => (StatusCode::GATEWAY_TIMEOUT, "timed out"),
            InvalidInput | InvalidData => (StatusCode::BAD_REQUEST, "invalid data"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "I/O error"),
        };
        Self::new(status, message).with_source(e)
    }
}

impl From<serde_json::Error> for Error {
    /// A JSON error is the client's fault when it is about the input, with serde's
    /// description (it names the field, the line and the column) as the message, cut to a
    /// length that cannot echo much of the input back: 400 for JSON that does not parse
    /// (syntax, an early end), 422 Unprocessable Entity for JSON that parses but does not fit
    /// the type (a missing field, a wrong type), as axum's `Json` answers.
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let (status, what) = match e.classify() {
            Category::Io => (StatusCode::INTERNAL_SERVER_ERROR, "invalid JSON"),
            Category::Syntax | Category::Eof => (StatusCode::BAD_REQUEST, "invalid JSON"),
            Category::Data => (StatusCode::UNPROCESSABLE_ENTITY, "JSON that does not fit"),
        };
        Self::new(status, format!("{what}: {}", excerpt(&e.to_string()))).with_source(e)
    }
}

impl From<serde::de::value::Error> for Error {
    /// What a query string or a form could not be read into (`serde_html_form`'s, and
    /// `serde_urlencoded`'s, error): 400, with serde's description (it names the field).
    fn from(e: serde::de::value::Error) -> Self {
        Self::bad_request(format!("invalid data: {}", excerpt(&e.to_string()))).with_source(e)
    }
}

/// At most 160 characters of a parser's message (which may quote the input), cut at a
/// character boundary.
pub(crate) fn excerpt(message: &str) -> Cow<'_, str> {
    const MAX: usize = 160;
    match message.char_indices().nth(MAX) {
        None => Cow::Borrowed(message),
        Some((end, _)) => Cow::Owned(format!("{}...", &message[..end])),
    }
}

impl From<std::str::Utf8Error> for Error {
    fn from(e: std::str::Utf8Error) -> Self {
        Self::bad_request("invalid UTF-8").with_source(e)
    }
}

impl From<std::string::FromUtf8Error> for Error {
    fn from(e: std::string::FromUtf8Error) -> Self {
        Self::bad_request("invalid UTF-8").with_source(e)
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Self::bad_request(format!("invalid integer: {e}")).with_source(e)
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Self {
        Self::bad_request(format!("invalid number: {e}")).with_source(e)
    }
}

impl From<http::Error> for Error {
    fn from(e: http::Error) -> Self {
        Self::internal("could not build the response").with_source(e)
    }
}

impl From<hyper::Error> for Error {
    fn from(e: hyper::Error) -> Self {
        Self::bad_request("the connection failed while reading the request").with_source(e)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync + 'static>> for Error {
    fn from(e: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        match e.downcast::<Error>() {
            Ok(e) => *e,
            Err(e) => Self::internal("internal error").with_source(e),
        }
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
