//! Which pages may open a socket: the `Origin` of a handshake against the app's policy (its
//! own origin by default, see [`WsConfig::allowed_origins`](crate::ws::WsConfig::allowed_origins)).

use http::header;

use crate::config::Origins;

/// The host (and port) the request was sent to: its `Host` header, else its URI's authority.
pub(crate) fn host(head: &http::request::Parts) -> Option<&str> {
    head.headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| head.uri.authority().map(|a| a.as_str()))
}

/// Whether a page of `origin` may open a socket on a request sent to `host` under `policy`.
pub(crate) fn allowed(policy: &Origins, origin: &[u8], host: Option<&str>) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else { return false };
    let origin = origin.trim_end_matches('/');
    match policy {
        Origins::Any => true,
        Origins::Listed(list) => list.iter().any(|a| a.eq_ignore_ascii_case(origin)),
        Origins::Same => host.is_some_and(|host| same_origin(origin, host)),
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (`host[:port]`), a default port
/// written or not. `null` (a sandboxed page, a file) is no origin.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return false,
    };
    let without_default = |a: &str| a.strip_suffix(default_port).unwrap_or(a).to_ascii_lowercase();
    !authority.is_empty() && without_default(authority) == without_default(host)
}

#[cfg(test)]
mod tests {
    use crate::ws::origin::*;

    #[test]
    fn same_origin_by_default() {
        let same = |origin: &str, host| allowed(&Origins::Same, origin.as_bytes(), Some(host));
        assert!(same("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same("https://App.Example", "app.example"));
        assert!(same("https://app.example", "app.example:443"));
        assert!(same("http://app.example:80/", "app.example"));
        assert!(same("http://[::1]:3000", "[::1]:3000"));
        assert!(!same("https://evil.example", "app.example"));
        assert!(!same("http://app.example:8080", "app.example"));
        assert!(!same("https://app.example", "app.example:80"));
        assert!(!same("https://app.example.evil", "app.example"));
        assert!(!same("null", "app.example"));
        assert!(!same("file://", ""));
        assert!(!allowed(&Origins::Same, b"https://app.example", None));
        assert!(!allowed(&Origins::Same, b"\xff", Some("app.example")));
    }

    #[test]
    fn listed_or_any() {
        let listed = Origins::Listed(vec!["https://good.example".into()]);
        assert!(allowed(&listed, b"https://GOOD.example/", Some("x")));
        assert!(!allowed(&listed, b"https://x", Some("x")));
        assert!(allowed(&Origins::Any, b"https://anything", None));
    }
}
