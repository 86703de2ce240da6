//! A Context's request headers: hyper's map for an HTTP request, [`PackedHeaders`] for a
//! socket or a stream, which keeps them compactly for its lifetime.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

/// The request headers a Context keeps.
pub(crate) enum Headers {
    /// An HTTP request's: hyper's, for its short life.
    Map(HeaderMap),
    /// A socket's or stream's (see `protocol::detach`).
    Packed(PackedHeaders),
}

impl Headers {
    /// A header as text; `None` when it is absent or not valid visible ASCII.
    pub(crate) fn get(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        match self {
            Headers::Map(map) => map.get(name)?.to_str().ok(),
            Headers::Packed(packed) => packed.get(name),
        }
    }

    /// Every value of a header, as text (those that are visible ASCII).
    pub(crate) fn get_all(&self, name: &HeaderName) -> Vec<&str> {
        match self {
            Headers::Map(map) => map.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect(),
            Headers::Packed(packed) => packed.get_all(name),
        }
    }

    /// All of them, as a map (made on first use for packed headers).
    pub(crate) fn map(&self) -> &HeaderMap {
        match self {
            Headers::Map(map) => map,
            Headers::Packed(packed) => packed.map(),
        }
    }
}

/// A long-lived session's request headers in one allocation: for each header, the lengths of
/// its name and value (2 bytes each) and then their bytes. (A header whose name or value is
/// longer than 64 KiB is not kept: no session's budget holds one.) A `HeaderMap` is built only if the
/// handler asks for all headers at once.
pub(crate) struct PackedHeaders {
    bytes: Box<[u8]>,
    map: std::sync::OnceLock<Box<HeaderMap>>,
}

impl PackedHeaders {
    pub(crate) fn pack<'a>(headers: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>) -> Self {
        let mut bytes = Vec::new();
        for (name, value) in headers {
            let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
            let (Ok(n), Ok(v)) = (u16::try_from(name.len()), u16::try_from(value.len())) else { continue };
            bytes.extend_from_slice(&n.to_le_bytes());
            bytes.extend_from_slice(&v.to_le_bytes());
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(value);
        }
        PackedHeaders { bytes: bytes.into_boxed_slice(), map: std::sync::OnceLock::new() }
    }

    /// Each header's name, and where its value is in `bytes`.
    fn entries(&self) -> impl Iterator<Item = (&[u8], std::ops::Range<usize>)> {
        let b = &*self.bytes;
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = |i: usize| -> Option<usize> {
                Some(usize::from(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?)))
            };
            let (n, v) = (len(at)?, len(at + 2)?);
            let name = &b[at + 4..at + 4 + n];
            let value = at + 4 + n..at + 4 + n + v;
            at = value.end;
            Some((name, value))
        })
    }

    /// Every value of a header, as text (those that are visible ASCII).
    pub(crate) fn get_all(&self, name: &HeaderName) -> Vec<&str> {
        self.entries()
            .filter(|(n, _)| *n == name.as_str().as_bytes())
            .filter_map(|(_, value)| visible(&self.bytes[value]))
            .collect()
    }

    /// A header as text. The names are matched by a small map made for the call (the name
    /// type is `http`'s and can only be compared by a `HeaderMap`), which is dropped after.
    pub(crate) fn get(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        let mut index = http::HeaderMap::<std::ops::Range<usize>>::with_capacity(8);
        for (n, value) in self.entries() {
            index.append(HeaderName::from_bytes(n).ok()?, value);
        }
        visible(&self.bytes[index.get(name)?.clone()])
    }

    pub(crate) fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (n, value) in self.entries() {
                if let (Ok(n), Ok(v)) =
                    (HeaderName::from_bytes(n), HeaderValue::from_bytes(&self.bytes[value]))
                {
                    map.append(n, v);
                }
            }
            Box::new(map)
        })
    }
}

/// A header value as text, if it is visible ASCII (as `HeaderValue::to_str`).
fn visible(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&c| c == b'\t' || (32..127).contains(&c)) {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}
