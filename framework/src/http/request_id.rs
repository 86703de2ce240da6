//! The id of a traced request: the client's `x-request-id` when it sent a usable one, else one
//! made here. It is on the request's span, in the request's headers (where the handler, and a
//! socket's or stream's span, read it) and echoed on the response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries it.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the client's, when it is 1 to 128 visible ASCII characters, else a new
/// one, which is added to `headers`.
pub(crate) fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(X_REQUEST_ID) {
        if (1..=128).contains(&id.len()) && id.as_bytes().iter().all(|b| b.is_ascii_graphic()) {
            return id.clone();
        }
    }
    let id = make();
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

/// A new id: this process's random 64-bit prefix (from the operating system's generator, so
/// that two instances do not make the same ids), and a count.
fn make() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // (Without the generator, ids are still unique within the process.)
        let _ = getrandom::fill(&mut bytes);
        u64::from_le_bytes(bytes)
    });
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::try_from(format!("{prefix:016x}-{n:x}")).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use crate::http::request_id::*;

    #[test]
    fn keeps_a_usable_id_and_replaces_a_bad_one() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut headers), "abc-123");

        let mut headers = HeaderMap::new();
        let made = request_id(&mut headers);
        assert_eq!(headers.get(X_REQUEST_ID), Some(&made));
        assert_ne!(request_id(&mut HeaderMap::new()), made);

        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&mut headers), "has space");
        headers.insert(X_REQUEST_ID, HeaderValue::try_from("x".repeat(129)).unwrap());
        let made = request_id(&mut headers);
        let (prefix, count) = made.to_str().unwrap().split_once('-').unwrap();
        assert_eq!(prefix.len(), 16);
        assert!(u64::from_str_radix(count, 16).is_ok());
    }
}
