//! The route table: what the macros registered, matched by path and method.
//!
//! Paths are matched exactly, segment by segment: `{name}` matches one segment, `{*name}`
//! the rest of the path (at least one character). Static segments win over parameters.
//!
//! - **HEAD** is answered by the GET route when there is no HEAD route (without a body).
//! - A path that matches with a **wrong method** gets 405 with an `Allow` header.
//! - **Trailing slash:** `/a` and `/a/` are different paths. When only the other form is
//!   routed, the answer is a 308 redirect to it (method and body are kept), so links with a
//!   stray slash still work without two routes. A path that a browser would read as another
//!   host (one that starts with `//`, or holds a `\`) is never redirected: it gets 404.
//! - **Path-scoped middleware** (`#[middleware(path = "/api")]`) runs for every request whose
//!   path is under its prefix, whatever route answers it: a `/{section}/{page}` or `/{*rest}`
//!   route serving `/api/x` (or `/%61pi/x`) runs the `/api` guard too. For such a route the
//!   request's path is compared segment by segment, both as received and percent-decoded with
//!   `.`/`..` and empty segments resolved, and the middleware runs when either is under the
//!   prefix. Paths are case-sensitive.

mod registry;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use http::{HeaderValue, Method};

pub use registry::{Handler, MiddlewareDef, MiddlewareRegistration, RouteDef, RouteKind};

/// A route as [`App::routes`](crate::App::routes) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP, WebSocket or SSE.
    pub kind: RouteKind,
    /// The methods it answers.
    pub methods: Vec<&'static str>,
    /// The path pattern.
    pub path: &'static str,
    /// The handler fn's name.
    pub name: &'static str,
    /// The module the handler is declared in.
    pub module_path: &'static str,
    /// `file:line` of the declaration.
    pub location: String,
    /// The middleware that runs for it, in order (before, then after).
    pub middleware: Vec<&'static str>,
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<4} {:<12} {:<32} {}::{}",
            self.kind.as_str(),
            self.methods.join(","),
            self.path,
            self.module_path,
            self.name
        )?;
        if !self.middleware.is_empty() {
            write!(f, " [{}]", self.middleware.join(" → "))?;
        }
        Ok(())
    }
}

/// A route ready to serve: its descriptor and the middleware that applies to it.
pub(crate) struct Endpoint {
    pub(crate) def: &'static RouteDef,
    /// Parameter names of this route, by position (routes of the same shape may name them
    /// differently).
    pub(crate) param_names: Box<[&'static str]>,
    pub(crate) before: Box<[Step]>,
    pub(crate) after: Box<[Step]>,
}

/// One middleware of a route's chain, and whether it runs for every request of the route.
#[derive(Clone, Copy)]
pub(crate) struct Step {
    pub(crate) mw: &'static MiddlewareDef,
    /// `Some(prefix)`: runs only when the request's path is under `prefix` (a path-scoped
    /// middleware on a route with parameters, which may serve paths under it or not).
    pub(crate) only_under: Option<&'static str>,
}

impl Step {
    /// Whether this step runs for a request to `path`.
    pub(crate) fn applies(&self, path: &RequestPath<'_>) -> bool {
        self.only_under.is_none_or(|prefix| path.is_under(prefix))
    }
}

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

/// How a path-scoped middleware relates to a route: every path the route matches is under the
/// prefix, none is, or it depends on the request.
#[derive(Debug, PartialEq, Eq)]
enum Cover {
    Always,
    Never,
    Sometimes,
}

/// Whether the paths that `pattern` matches are under `prefix`: always (its literal segments
/// before the first parameter are under it), never (they lead elsewhere), or sometimes (a
/// parameter stands where the prefix goes on: `/{a}/{b}` or `/{*rest}` for `/api`, whose
/// requests are then checked one by one).
fn cover(prefix: &str, pattern: &str) -> Cover {
    if !pattern.contains('{') {
        // One fixed path: as a request for it would be compared.
        return if RequestPath::new(pattern).is_under(prefix) { Cover::Always } else { Cover::Never };
    }
    let literal = &pattern[..pattern.find('{').unwrap_or(pattern.len())];
    // The whole literal segments before the first parameter (the last one may be cut by it).
    let whole: Vec<&str> =
        literal[..literal.rfind('/').unwrap_or(0)].split('/').filter(|s| !s.is_empty()).collect();
    let wanted: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    if whole.len() >= wanted.len() && whole[..wanted.len()] == wanted[..] {
        Cover::Always
    } else if wanted.len() > whole.len() && wanted[..whole.len()] == whole[..] {
        Cover::Sometimes
    } else {
        Cover::Never
    }
}

/// Where an [`Endpoint`] is in the router: a Context keeps this rather than a reference count
/// that every request on every core would touch.
pub(crate) type EndpointId = u32;

struct PathEntry {
    methods: Vec<(Method, EndpointId)>,
    allow: HeaderValue,
}

/// The outcome of a lookup.
pub(crate) enum Lookup<'a> {
    Found { id: EndpointId, endpoint: &'a Endpoint, params: Vec<(&'static str, Box<str>)> },
    BadParam(&'static str),
    MethodNotAllowed(&'a HeaderValue),
    Redirect(String),
    NotFound,
}

/// The table built at startup.
pub(crate) struct Router {
    matcher: matchit::Router<usize>,
    /// The paths without parameters, looked up whole before `matcher` walks its tree (a static
    /// segment wins over a parameter there, so a hit here is what `matcher` would find).
    exact: HashMap<&'static str, usize, BuildHasherDefault<PathHasher>>,
    paths: Vec<PathEntry>,
    endpoints: Vec<Endpoint>,
    infos: Vec<RouteInfo>,
}

/// A hash of a path's length and its first and last eight bytes: route paths are few and the
/// app's own, so a hash that resists flooding (std's SipHash) buys nothing, and one that reads
/// every byte (FNV) costs a multiplication per byte of every request's path. Paths that differ
/// only in their middle hash alike; the table then tells them apart by comparing them.
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
        let v = if n >= 8 {
            word(&bytes[..8]) ^ word(&bytes[n - 8..]).rotate_left(32)
        } else {
            bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b))
        };
        self.0 = (self.0 ^ v ^ ((n as u64) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u8(&mut self, b: u8) {
        // `str`'s `Hash` ends with one: nothing to mix for it.
        self.0 ^= u64::from(b);
    }
}

/// Why the table could not be built.
pub(crate) type BuildError = String;

fn location(file: &str, line: u32) -> String {
    format!("{file}:{line}")
}

/// `/users/{id}/{*rest}` → `/users/{}/{*}`: two routes clash when their shapes are equal.
fn shape(path: &str) -> (String, Vec<&str>) {
    let mut out = String::with_capacity(path.len());
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let name = &rest[start + 1..end];
        if let Some(name) = name.strip_prefix('*') {
            out.push_str("{*}");
            names.push(name);
        } else {
            out.push_str("{}");
            names.push(name);
        }
        rest = rest.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    (out, names)
}

/// Segment-wise prefix match: `/api` covers `/api` and `/api/x`, not `/apix`.
fn under(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Router {
    /// Builds the table from `routes`, applying every registered middleware that covers them.
    pub(crate) fn build(
        routes: Vec<&'static RouteDef>,
        all_routes: &[&'static RouteDef],
        middleware: &[&'static MiddlewareDef],
    ) -> Result<Router, BuildError> {
        // A middleware named in some route's `with(...)` is route-only: it runs where named.
        let route_only =
            |mw: &MiddlewareDef| all_routes.iter().any(|r| r.middleware.iter().any(|m| m.same_as(mw)));
        let mut global: Vec<&'static MiddlewareDef> =
            middleware.iter().copied().filter(|m| !route_only(m)).collect();
        global.sort_by(|a, b| (a.order, a.name, a.module_path).cmp(&(b.order, b.name, b.module_path)));
        if let Some(mw) = middleware.iter().find(|m| route_only(m) && m.path.is_some()) {
            return Err(format!(
                "middleware `{}` ({}) has `path = {:?}` but is also named in a route's `with(...)`: \
                 use one or the other",
                mw.name,
                location(mw.file, mw.line),
                mw.path.unwrap_or_default()
            ));
        }

        let mut matcher = matchit::Router::new();
        let mut exact = HashMap::default();
        let mut paths: Vec<PathEntry> = Vec::new();
        let mut endpoints = Vec::with_capacity(routes.len());
        let mut by_shape: HashMap<String, (usize, &'static RouteDef)> = HashMap::new();
        let mut infos = Vec::with_capacity(routes.len());
        let mut routes = routes;
        routes.sort_by(|a, b| (a.path, a.file, a.line).cmp(&(b.path, b.file, b.line)));

        for def in routes {
            let (shape, names) = shape(def.path);
            let mut chain: Vec<Step> = global
                .iter()
                .filter_map(|&mw| match mw.path.map(|p| cover(p, def.path)) {
                    None | Some(Cover::Always) => Some(Step { mw, only_under: None }),
                    Some(Cover::Sometimes) => Some(Step { mw, only_under: mw.path }),
                    Some(Cover::Never) => None,
                })
                .collect();
            for mw in def.middleware {
                if !chain.iter().any(|s| s.mw.same_as(mw)) {
                    chain.push(Step { mw, only_under: None });
                }
            }
            chain.sort_by(|a, b| {
                (a.mw.order, a.mw.name, a.mw.module_path).cmp(&(b.mw.order, b.mw.name, b.mw.module_path))
            });
            let (after, before): (Vec<_>, Vec<_>) = chain.into_iter().partition(|s| s.mw.after);
            let id = EndpointId::try_from(endpoints.len()).map_err(|_| "too many routes".to_owned())?;
            infos.push(RouteInfo {
                kind: def.kind,
                methods: def.methods.to_vec(),
                path: def.path,
                name: def.name,
                module_path: def.module_path,
                location: location(def.file, def.line),
                middleware: before.iter().chain(after.iter()).map(|s| s.mw.name).collect(),
            });
            endpoints.push(Endpoint {
                def,
                param_names: names.into_boxed_slice(),
                before: before.into_boxed_slice(),
                after: after.into_boxed_slice(),
            });

            let index = match by_shape.get(&shape) {
                Some(&(index, _)) => index,
                None => {
                    let index = paths.len();
                    matcher.insert(def.path, index).map_err(|e| {
                        let other = by_shape
                            .values()
                            .find(|(_, r)| matches!(&e, matchit::InsertError::Conflict { with } if shape_eq(with, r.path)))
                            .map(|(_, r)| format!(" and `{}` at {}", r.path, location(r.file, r.line)))
                            .unwrap_or_default();
                        format!(
                            "route `{}` at {} cannot be added{other}: {e}",
                            def.path,
                            location(def.file, def.line)
                        )
                    })?;
                    if !def.path.contains('{') {
                        exact.insert(def.path, index);
                    }
                    by_shape.insert(shape.clone(), (index, def));
                    paths.push(PathEntry { methods: Vec::new(), allow: HeaderValue::from_static("") });
                    index
                }
            };
            let entry = &mut paths[index];
            for m in def.methods {
                let method = Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method `{m}`"))?;
                if let Some(&(_, other)) = entry.methods.iter().find(|(em, _)| *em == method) {
                    let o = endpoints[other as usize].def;
                    return Err(format!(
                        "two routes answer {method} {}: `{}::{}` at {} and `{}::{}` at {}; \
                         remove one, or give them different paths or methods",
                        def.path,
                        o.module_path,
                        o.name,
                        location(o.file, o.line),
                        def.module_path,
                        def.name,
                        location(def.file, def.line)
                    ));
                }
                entry.methods.push((method, id));
            }
        }

        for entry in &mut paths {
            let mut names: Vec<&str> = entry.methods.iter().map(|(m, _)| m.as_str()).collect();
            if names.contains(&"GET") && !names.contains(&"HEAD") {
                names.push("HEAD");
            }
            names.sort_unstable();
            entry.allow =
                HeaderValue::from_str(&names.join(", ")).expect("method names are valid header text");
        }
        infos.sort_by(|a, b| (a.path, &a.methods).cmp(&(b.path, &b.methods)));
        Ok(Router { matcher, exact, paths, endpoints, infos })
    }

    pub(crate) fn infos(&self) -> &[RouteInfo] {
        &self.infos
    }

    /// The endpoint a [`Lookup::Found`] named.
    pub(crate) fn endpoint(&self, id: EndpointId) -> &Endpoint {
        &self.endpoints[id as usize]
    }

    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        if let Some(&index) = self.exact.get(path) {
            return match self.pick(index, method) {
                Some(id) => Lookup::Found { id, endpoint: self.endpoint(id), params: Vec::new() },
                None => Lookup::MethodNotAllowed(&self.paths[index].allow),
            };
        }
        let Ok(matched) = self.matcher.at(path) else {
            return self.redirect(method, path);
        };
        let Some(id) = self.pick(*matched.value, method) else {
            return Lookup::MethodNotAllowed(&self.paths[*matched.value].allow);
        };
        let endpoint = self.endpoint(id);
        let mut params = Vec::with_capacity(endpoint.param_names.len());
        for ((_, raw), name) in matched.params.iter().zip(endpoint.param_names.iter()) {
            match percent_decode(raw) {
                Some(v) => params.push((*name, v)),
                None => return Lookup::BadParam(name),
            }
        }
        Lookup::Found { id, endpoint, params }
    }

    /// The endpoint of path `index` that answers `method` (HEAD falls back to GET).
    fn pick(&self, index: usize, method: &Method) -> Option<EndpointId> {
        let methods = &self.paths[index].methods;
        let find = |method: &Method| methods.iter().find(|(m, _)| m == method).map(|&(_, id)| id);
        find(method).or_else(|| if method == Method::HEAD { find(&Method::GET) } else { None })
    }

    fn redirect(&self, method: &Method, path: &str) -> Lookup<'_> {
        // A browser reads `//host` (and `\`, which it takes for `/`) as another site: never a
        // redirect target, so that a crafted link cannot send users elsewhere.
        if path.starts_with("//") || path.contains('\\') {
            return Lookup::NotFound;
        }
        let other = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p.to_owned(),
            Some(_) => return Lookup::NotFound,
            None => format!("{path}/"),
        };
        match self.matcher.at(&other) {
            Ok(m) if self.pick(*m.value, method).is_some() => Lookup::Redirect(other),
            _ => Lookup::NotFound,
        }
    }
}

fn shape_eq(a: &str, b: &str) -> bool {
    shape(a).0 == shape(b).0
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is malformed.
fn percent_decode(raw: &str) -> Option<Box<str>> {
    if !raw.contains('%') {
        return Some(raw.into());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
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
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(shape("/u/{id}/f/{*rest}"), ("/u/{}/f/{*}".to_owned(), vec!["id", "rest"]));
        assert_eq!(shape("/plain"), ("/plain".to_owned(), vec![]));
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
    fn covers() {
        assert_eq!(cover("/api", "/api/x"), Cover::Always);
        assert_eq!(cover("/api", "/api/{id}"), Cover::Always);
        assert_eq!(cover("/api", "/api"), Cover::Always);
        assert_eq!(cover("/api", "/public"), Cover::Never);
        assert_eq!(cover("/api", "/apix/{id}"), Cover::Never);
        assert_eq!(cover("/api", "/{a}/{b}"), Cover::Sometimes);
        assert_eq!(cover("/api", "/{*rest}"), Cover::Sometimes);
        assert_eq!(cover("/api", "/ap{x}"), Cover::Sometimes);
        assert_eq!(cover("/api", "/static/{*rest}"), Cover::Never);
        assert_eq!(cover("/api/v1", "/api/{v}"), Cover::Sometimes);
        assert_eq!(cover("/api/v1", "/api/v1/{id}"), Cover::Always);
        assert_eq!(cover("/", "/{a}"), Cover::Always);
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%2"), None);
    }
}
