//! A socket's or stream's request headers, packed into one allocation for its lifetime,
//! against the `HeaderMap` they came from. The input is text: a first line `KIND BUDGET`
//! (`ws`, `sse`, `http` or `pack`, and a number of bytes), a second line with the request
//! target, then one header a line (`name: value`; lines that are no header are skipped).
//!
//! Checks:
//! - packing every header (`pack`) and reading them back gives what the `HeaderMap` gives:
//!   the same map, and for each name the same first value and the same values as text;
//! - what a socket (`ws`) or a stream (`sse`) keeps is what the rule says: in the order
//!   received, each header that fits in what is left of the byte budget (name and value),
//!   without the headers only the WebSocket handshake reads; read back as above, and never
//!   more bytes than the budget;
//! - the head keeps no headers of its own then, and its target reads the same;
//! - a plain HTTP route (`http`) keeps nothing apart and leaves the head as it was.
#![no_main]

use fratello::fuzzing::Packed;
use fratello::routing::RouteKind;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;

/// The headers only the WebSocket handshake reads.
const HANDSHAKE: [HeaderName; 5] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// `packed` reads back as `want`.
fn same(packed: &Packed, want: &HeaderMap, names: &[HeaderName]) {
    assert_eq!(packed.map(), want);
    for name in names {
        let text = want.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(packed.get(name), text, "{name}");
        let all: Vec<&str> = want.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        assert_eq!(packed.get_all(name), all, "{name}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (kind, budget) = first.split_once(' ').unwrap_or((&first, ""));
    let budget: usize = budget.trim().parse().unwrap_or(4096);
    let Ok(uri) = Uri::try_from(lines.next().unwrap_or_default()) else { return };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let names: Vec<HeaderName> = headers.keys().cloned().collect();

    let kind = match kind {
        "pack" => return same(&Packed::pack(&headers), &headers, &names),
        "ws" => RouteKind::Ws,
        "sse" => RouteKind::Sse,
        _ => RouteKind::Http,
    };
    let (packed, uri_after, left) = Packed::detach(kind, uri.clone(), headers.clone(), budget);
    let Some(packed) = packed else {
        assert_eq!(kind, RouteKind::Http);
        assert_eq!(left, headers);
        assert_eq!(uri_after, uri);
        return;
    };
    assert!(left.is_empty(), "the head kept {left:?}");
    assert_eq!(uri_after, uri);

    let mut want = HeaderMap::new();
    let mut room = budget;
    for (name, value) in &headers {
        if kind == RouteKind::Ws && HANDSHAKE.contains(name) {
            continue;
        }
        let size = name.as_str().len() + value.len();
        if size <= room {
            room -= size;
            want.append(name.clone(), value.clone());
        }
    }
    same(&packed, &want, &names);
    let kept: usize = packed.map().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    assert!(kept <= budget, "{kept} bytes kept, over the budget of {budget}");
});
