//! Each route's middleware chain: which middleware run for it, in what order, and which of
//! them only for some of its requests (a path-scoped middleware on a route with parameters).

use super::info::MiddlewareInfo;
use super::registry::{MiddlewareDef, Scope};
use crate::matcher::path::RequestPath;

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

/// How a path-scoped middleware relates to a route: every path the route matches is under the
/// middleware's path, none is, or it depends on the request.
#[derive(Debug, PartialEq, Eq)]
enum Cover {
    Always,
    Never,
    Sometimes,
}

/// Whether the paths that `pattern` matches are under `scope` (a prefix like `/api`, or a
/// pattern like `/polls/{id}/vote`), segment by segment: always, never, or sometimes (a
/// route parameter stands where the scope has a literal, as `/{a}/{b}` or `/{*rest}` for
/// `/api`, or a segment mixes text and a parameter: such requests are checked one by one).
fn cover(scope: &str, pattern: &str) -> Cover {
    let mut route = pattern.split('/').filter(|s| !s.is_empty());
    for want in scope.split('/').filter(|s| !s.is_empty()) {
        if want.starts_with("{*") {
            return Cover::Always;
        }
        let Some(have) = route.next() else {
            return Cover::Never; // the route's paths end before the scope does
        };
        let have_param = have.contains('{');
        match (want.starts_with('{'), have_param) {
            (_, true) if have.starts_with("{*") => return Cover::Sometimes,
            (true, _) => {} // any one segment
            (false, true) => return Cover::Sometimes,
            (false, false) if want == have => {}
            (false, false) => return Cover::Never,
        }
    }
    Cover::Always
}

/// A route's (or a mount's) middleware: what runs before its handler, and after it.
pub(crate) struct Chain {
    pub(crate) before: Box<[Step]>,
    pub(crate) after: Box<[Step]>,
}

impl Chain {
    /// The chain as [`App::routes`](crate::App::routes) lists it.
    pub(crate) fn listing(&self) -> Vec<MiddlewareInfo> {
        let info = |s: &Step| MiddlewareInfo { name: s.mw.name, scope: s.mw.scope, after: s.mw.after };
        self.before.iter().chain(self.after.iter()).map(info).collect()
    }
}

/// The chain of the paths `pattern` matches: the global and path middleware (`global`,
/// sorted by `(order, name)`) that cover them, then the route's own `with(..)` middleware in
/// the order written, split into those that run before the handler and those that run after
/// it (each keeping that order).
pub(crate) fn chain(
    pattern: &str,
    with: &[&'static MiddlewareDef],
    global: &[&'static MiddlewareDef],
) -> Chain {
    let mut chain: Vec<Step> = global
        .iter()
        .filter_map(|&mw| match mw.scope {
            Scope::Path(path) => match cover(path, pattern) {
                Cover::Always => Some(Step { mw, only_under: None }),
                Cover::Sometimes => Some(Step { mw, only_under: Some(path) }),
                Cover::Never => None,
            },
            _ => Some(Step { mw, only_under: None }),
        })
        .collect();
    for &mw in with {
        if !chain.iter().any(|s| s.mw.same_as(mw)) {
            chain.push(Step { mw, only_under: None });
        }
    }
    let (after, before): (Vec<_>, Vec<_>) = chain.into_iter().partition(|s| s.mw.after);
    Chain { before: before.into_boxed_slice(), after: after.into_boxed_slice() }
}

#[cfg(test)]
mod tests {
    use crate::routing::chain::*;

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
    fn covers_by_pattern() {
        assert_eq!(cover("/polls/{id}/vote", "/polls/{id}/vote"), Cover::Always);
        assert_eq!(cover("/polls/{id}/vote", "/polls/{poll}/vote/{choice}"), Cover::Always);
        assert_eq!(cover("/polls/{id}/vote", "/polls/7/vote"), Cover::Always);
        assert_eq!(cover("/polls/{id}/vote", "/polls/{id}"), Cover::Never);
        assert_eq!(cover("/polls/{id}/vote", "/polls/{id}/results"), Cover::Never);
        assert_eq!(cover("/polls/{id}/vote", "/polls/{*rest}"), Cover::Sometimes);
        assert_eq!(cover("/polls/{id}/vote", "/{section}/{id}/vote"), Cover::Sometimes);
        assert_eq!(cover("/files/{*path}", "/files/{a}/{b}"), Cover::Always);
        assert_eq!(cover("/files/{*path}", "/files"), Cover::Always);
    }
}
