//! Request paths as the router and the path-scoped middleware read them: percent-decoding,
//! normalizing, comparing segment-wise, and hashing for the exact-path table.

use std::hash::Hasher;

/// A request's path as the path-scoped middleware compare it: as received, and normalized
/// (made only when a step asks, and only once per request).
pub(crate) struct RequestPath<'a> {
    raw: &'a str,
    normalized: std::sync::OnceLock<Option<String>>,
}

impl<'a> RequestPath<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        RequestPath { raw, normalized: std::sync::OnceLock::new() }
    }

    /// Whether the path, as received or normalized, is under `prefix` (segment-wise).
    pub(crate) fn is_under(&self, prefix: &str) -> bool {
        under(prefix, self.raw)
            || self
                .normalized
                .get_or_init(|| normalize(self.raw))
                .as_deref()
                .is_some_and(|p| under(prefix, p))
    }
}

/// The path percent-decoded, with empty, `.` and `..` segments resolved (`None` when it reads
/// the same as received).
fn normalize(raw: &str) -> Option<String> {
    let plain = !raw.contains('%') && !raw.contains("//") && !raw.contains("/.") && !raw.contains('\\');
    if plain {
        return None;
    }
    // (Escapes that are not UTF-8 are left as they are.)
    let decoded = percent_decode(raw).map(String::from).unwrap_or_else(|| raw.to_owned());
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for seg in segments {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Segment-wise prefix match: `/api` covers `/api` and `/api/x`, not `/apix`. The prefix may
/// be a pattern: `{name}` stands for any one segment, `{*name}` for the rest of the path
/// (`/polls/{id}/vote` covers `/polls/7/vote` and `/polls/7/vote/x`).
pub(crate) fn under(prefix: &str, path: &str) -> bool {
    if prefix.contains('{') {
        return under_pattern(prefix, path);
    }
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn under_pattern(pattern: &str, path: &str) -> bool {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    for want in pattern.split('/').filter(|s| !s.is_empty()) {
        if want.starts_with("{*") {
            return true;
        }
        match segments.next() {
            Some(have) if want.starts_with('{') || want == have => {}
            _ => return false,
        }
    }
    true
}

/// `/users/{id}/{*rest}` → `/users/{}/{*}`: two routes clash when their shapes are equal.
/// `{{` and `}}` stand for a brace (as matchit and the route macros read them): text, kept as
/// it is, not a parameter.
pub(crate) fn shape(path: &str) -> (String, Vec<&str>) {
    let mut out = String::with_capacity(path.len());
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find(['{', '}']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        // `{{`, `}}` or a `}` alone: text.
        let text = match tail.as_bytes() {
            [b'{', b'{', ..] | [b'}', b'}', ..] => 2,
            [b'}', ..] => 1,
            _ => 0,
        };
        if text > 0 {
            out.push_str(&tail[..text]);
            rest = &tail[text..];
            continue;
        }
        let end = tail.find('}').unwrap_or(tail.len());
        let name = &tail[1..end];
        if let Some(name) = name.strip_prefix('*') {
            out.push_str("{*}");
            names.push(name);
        } else {
            out.push_str("{}");
            names.push(name);
        }
        rest = tail.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    (out, names)
}

/// A hash of a path's length and its first and last eight bytes (four, or the first, middle
/// and last byte, in a shorter path): route paths are few and the app's own, so a hash that
/// resists flooding (std's SipHash) buys nothing, and one that reads every byte (FNV) costs a
/// multiplication per byte of every request's path. Paths that differ only in their middle hash
/// alike; the table then tells them apart by comparing them.
#[derive(Default)]
pub(crate) struct PathHasher(u64);

impl Hasher for PathHasher {
    fn finish(&self) -> u64 {
        // Spreads the bits both ways: the table picks a bucket by the low bits and tags
        // entries with the high ones.
        let h = (self.0 ^ (self.0 >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("eight bytes"));
        let half = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().expect("four bytes")));
        // (Short paths are read in two overlapping pieces too, not byte by byte.)
        let v = match n {
            8.. => word(&bytes[..8]) ^ word(&bytes[n - 8..]).rotate_left(32),
            4..=7 => half(&bytes[..4]) | (half(&bytes[n - 4..]) << 32),
            1..=3 => u64::from(bytes[0]) | (u64::from(bytes[n / 2]) << 8) | (u64::from(bytes[n - 1]) << 16),
            0 => 0,
        };
        self.0 = (self.0 ^ v ^ ((n as u64) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u8(&mut self, b: u8) {
        // `str`'s `Hash` ends with one: nothing to mix for it.
        self.0 ^= u64::from(b);
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is malformed.
pub(crate) fn percent_decode(raw: &str) -> Option<Box<str>> {
    if !raw.contains('%') {
        return Some(raw.into());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // (`from_str_radix` alone would take a sign: `%+e`.)
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(String::into_boxed_str)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    use crate::matcher::path::*;

    #[test]
    fn shapes() {
        assert_eq!(shape("/u/{id}/f/{*rest}"), ("/u/{}/f/{*}".to_owned(), vec!["id", "rest"]));
        assert_eq!(shape("/plain"), ("/plain".to_owned(), vec![]));
    }

    #[test]
    fn escaped_braces_are_text_in_a_shape() {
        // (Found by the route_pattern fuzz target: `{{lit}}` was read as a parameter named
        // `{lit`, so the route's parameters were named one off, and two routes that differ
        // only in escaped text had one shape.)
        assert_eq!(shape("/{{lit}}/{id}"), ("/{{lit}}/{}".to_owned(), vec!["id"]));
        assert_ne!(shape("/a/{{x").0, shape("/a/{{y").0);
        assert_eq!(shape("/{{{id}}}"), ("/{{{}}}".to_owned(), vec!["id"]));
        assert_eq!(shape("/a}b"), ("/a}b".to_owned(), vec![]));
    }

    #[test]
    fn prefixes() {
        assert!(under("/api", "/api"));
        assert!(under("/api/", "/api/x"));
        assert!(!under("/api", "/apix"));
        assert!(under("/", "/anything"));
    }

    #[test]
    fn paths_alike_but_in_the_middle_are_still_told_apart() {
        fn hash(p: &str) -> u64 {
            use std::hash::BuildHasher;
            BuildHasherDefault::<PathHasher>::default().hash_one(p)
        }
        assert_eq!(hash("/static/a/files/x"), hash("/static/b/files/x"));
        assert_ne!(hash("/plaintext"), hash("/plaintexu"));
        assert_ne!(hash("/a"), hash("/b"));
        let short = ["/", "/a", "/b", "/ab", "/ba", "/abc", "/acb", "/api", "/json", "/jsoN", "/users"];
        for (i, a) in short.iter().enumerate() {
            for b in &short[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a} and {b}");
            }
        }
        let mut exact: HashMap<&str, usize, BuildHasherDefault<PathHasher>> = HashMap::default();
        exact.insert("/static/a/files/x", 1);
        exact.insert("/static/b/files/x", 2);
        assert_eq!(exact.get("/static/a/files/x"), Some(&1));
        assert_eq!(exact.get("/static/b/files/x"), Some(&2));
        assert_eq!(exact.get("/static/c/files/x"), None);
    }

    #[test]
    fn normalized_paths() {
        assert_eq!(normalize("/api/x"), None);
        assert_eq!(normalize("/%61pi/x").as_deref(), Some("/api/x"));
        assert_eq!(normalize("//api//x").as_deref(), Some("/api/x"));
        assert_eq!(normalize("/static/../api/x").as_deref(), Some("/api/x"));
        assert_eq!(normalize("/static/%2e%2e/api").as_deref(), Some("/api"));
        assert_eq!(normalize("/a\\..\\api").as_deref(), Some("/api"));
        assert_eq!(normalize("/../..").as_deref(), Some("/"));
        assert!(RequestPath::new("/x/../api/y").is_under("/api"));
        assert!(!RequestPath::new("/apix").is_under("/api"));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%2"), None);
        // (Found by the route_pattern fuzz target: `%+e` was read as the byte 0x0e.)
        assert_eq!(percent_decode("%+e"), None);
        assert_eq!(percent_decode("a%+1b"), None);
    }

    #[test]
    fn prefixes_and_patterns() {
        assert!(under("/api", "/api") && under("/api", "/api/x") && !under("/api", "/apix"));
        assert!(under("/polls/{id}/vote", "/polls/7/vote"));
        assert!(under("/polls/{id}/vote", "/polls/7/vote/again"));
        assert!(!under("/polls/{id}/vote", "/polls/7"));
        assert!(!under("/polls/{id}/vote", "/polls/7/results"));
        assert!(!under("/polls/{id}/vote", "/polls//vote"));
        assert!(under("/files/{*rest}", "/files") && under("/files/{*rest}", "/files/a/b"));
    }
}
