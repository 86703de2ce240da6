//! Route patterns and the route table's lookups. The input is text: one route a line
//! (`METHOD pattern`, or a pattern alone for GET), an empty line, then one lookup a line
//! (`METHOD path`, or a path alone for GET).
//!
//! Checks:
//! - any pattern and method is added to the table or refused with a message, never a panic;
//!   a table with a refused route is not used further (the app would not start);
//! - a pattern without braces is found, for its method, at exactly its own text, with no
//!   parameters; one whose only braces are `{{`/`}}` escapes, at the text they stand for;
//! - a lookup that finds a route gives that route's parameters, named as in its pattern and
//!   in its order, and each value is what the path holds where the pattern has the
//!   parameter: the whole segment (percent-decoded) for `{name}`, a part of the segment for
//!   `{name}` with text around it, the rest of the path after the text before it (percent-
//!   decoded) for `{*name}`;
//! - a parameter that cannot be decoded is only reported for a path with a `%`;
//! - a 405's `Allow` does not list the method that was refused;
//! - a redirect goes to the path with or without its trailing slash, never to one that a
//!   browser reads as another host (`//...`, `\`), and the route table answers there.
#![no_main]

use fratello::fuzzing::{Lookup, Router};
use fratello::Method;
use libfuzzer_sys::fuzz_target;

/// Most routes and lookups read from one input.
const MAX_ROUTES: usize = 8;
const MAX_LOOKUPS: usize = 16;

/// `METHOD rest` (or `rest` alone, for GET).
fn split(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((method, rest)) => (method, rest),
        None => ("GET", line),
    }
}

/// Percent-decoding as RFC 3986 reads it (two hex digits after each `%`), or `None`.
fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The parameters of `pattern` in order, read as the route macros read a pattern (`{{` and
/// `}}` stand for braces): each one's segment index, segment, name, and whether it is a
/// catch-all. `None` for a pattern the macros refuse (unbalanced braces, a name that is not
/// an identifier).
fn parameters(pattern: &str) -> Option<Vec<(usize, &str, &str, bool)>> {
    let identifier = |name: &str| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut out = Vec::new();
    for (at, segment) in pattern.split('/').enumerate() {
        let bytes = segment.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1)) {
                (b'{', Some(b'{')) | (b'}', Some(b'}')) => i += 2,
                (b'}', _) => return None,
                (b'{', _) => {
                    let close = i + 1 + segment[i + 1..].find(['{', '}'])?;
                    if bytes[close] != b'}' {
                        return None;
                    }
                    let inner = &segment[i + 1..close];
                    let (name, catch_all) = match inner.strip_prefix('*') {
                        Some(name) => (name, true),
                        None => (inner, false),
                    };
                    if !identifier(name) {
                        return None;
                    }
                    out.push((at, segment, name, catch_all));
                    i = close + 1;
                }
                _ => i += 1,
            }
        }
    }
    Some(out)
}

fn check_found(pattern: &str, path: &str, params: &[(String, String)]) {
    // Checked for patterns as the route macros take them; the table is given others too, and
    // must not panic on them.
    let Some(declared) = parameters(pattern) else { return };
    let names: Vec<&str> = declared.iter().map(|p| p.2).collect();
    let got: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(got, names, "the parameters of `{pattern}` (lookup of `{path}`)");
    let segments: Vec<&str> = path.split('/').collect();
    for (&(at, segment, name, catch_all), (_, value)) in declared.iter().zip(params) {
        let Some(&have) = segments.get(at) else {
            panic!("`{path}` has no segment {at} for `{name}` of `{pattern}`");
        };
        if catch_all {
            let rest = segments[at..].join("/");
            assert!(!value.is_empty(), "empty `{{*{name}}}` of `{pattern}` at `{path}`");
            if segment == format!("{{*{name}}}") {
                assert_eq!(Some(value), decode(&rest).as_ref(), "`{{*{name}}}` of `{pattern}` at `{path}`");
            } else if !path.contains('%') {
                // (The table takes a catch-all after text in its segment, `/a{*rest}`, too.)
                assert!(rest.ends_with(value.as_str()), "`{name}` = `{value}` of `{pattern}` at `{path}`");
            }
        } else if segment == format!("{{{name}}}") {
            assert_eq!(Some(value), decode(have).as_ref(), "`{{{name}}}` of `{pattern}` at `{path}`");
        } else if !path.contains('%') {
            assert!(have.contains(value.as_str()), "`{name}` = `{value}` of `{pattern}` at `{path}`");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (routes, lookups) = text.split_once("\n\n").unwrap_or((&text, ""));
    let routes: Vec<(&str, &str)> = routes.lines().take(MAX_ROUTES).map(split).collect();
    let mut router = Router::new();
    for (id, &(method, pattern)) in routes.iter().enumerate() {
        if let Err(why) = router.insert(pattern, &[method], id as u32) {
            assert!(!why.is_empty());
            return;
        }
    }
    router.finish();

    for (id, &(method, pattern)) in routes.iter().enumerate() {
        let method = Method::from_bytes(method.as_bytes()).expect("the table took it");
        let found = |path: &str| router.lookup(&method, path);
        let this = Lookup::Found { route: id as u32, params: Vec::new() };
        if !pattern.contains(['{', '}']) {
            assert_eq!(found(pattern), this, "{method} `{pattern}`");
        }
        if parameters(pattern).is_some_and(|p| p.is_empty()) {
            let path = pattern.replace("{{", "{").replace("}}", "}");
            assert_eq!(found(&path), this, "{method} `{pattern}` at `{path}`");
        }
    }

    for (method, path) in lookups.lines().take(MAX_LOOKUPS).map(split) {
        let Ok(method) = Method::from_bytes(method.as_bytes()) else { continue };
        match router.lookup(&method, path) {
            Lookup::Found { route, params } => {
                let Some(&(_, pattern)) = routes.get(route as usize) else {
                    panic!("route {route} was never added (lookup of `{path}`)");
                };
                check_found(pattern, path, &params);
            }
            Lookup::BadParam(name) => assert!(path.contains('%'), "bad `{name}` in `{path}`"),
            Lookup::MethodNotAllowed(allow) => {
                let listed = |m: &str| allow.split(", ").any(|a| a == m);
                assert!(!listed(method.as_str()), "{method} `{path}` refused, yet allowed: `{allow}`");
                assert!(method != Method::HEAD || !listed("GET"), "HEAD `{path}` refused: `{allow}`");
            }
            Lookup::Redirect(to) => {
                assert!(!to.starts_with("//") && !to.contains('\\'), "`{path}` redirected to `{to}`");
                assert!(to == format!("{path}/") || format!("{to}/") == path, "`{path}` -> `{to}`");
                match router.lookup(&method, &to) {
                    Lookup::Found { .. } | Lookup::BadParam(_) => {}
                    other => panic!("{method} `{path}` redirected to `{to}`, which gives {other:?}"),
                }
            }
            Lookup::NotFound => {}
        }
    }
});
