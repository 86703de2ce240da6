//! Each route's middleware chain: which middleware run for it, in what order, and which of
//! them only for some of its requests (a path-scoped middleware on a route with parameters).

use super::registry::MiddlewareDef;
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

/// A route's (or a mount's) middleware: what runs before its handler, and after it.
pub(crate) struct Chain {
    pub(crate) before: Box<[Step]>,
    pub(crate) after: Box<[Step]>,
}

/// The chain of the paths `pattern` matches: the global and path-scoped middleware
/// (`global`, sorted) that cover them and the route's own `with(..)` middleware, sorted by
/// `(order, name)`, split into those that run before the handler and those that run after it.
pub(crate) fn chain(
    pattern: &str,
    with: &[&'static MiddlewareDef],
    global: &[&'static MiddlewareDef],
) -> Chain {
    let mut chain: Vec<Step> = global
        .iter()
        .filter_map(|&mw| match mw.path.map(|p| cover(p, pattern)) {
            None | Some(Cover::Always) => Some(Step { mw, only_under: None }),
            Some(Cover::Sometimes) => Some(Step { mw, only_under: mw.path }),
            Some(Cover::Never) => None,
        })
        .collect();
    for &mw in with {
        if !chain.iter().any(|s| s.mw.same_as(mw)) {
            chain.push(Step { mw, only_under: None });
        }
    }
    chain.sort_by(|a, b| {
        (a.mw.order, a.mw.name, a.mw.module_path).cmp(&(b.mw.order, b.mw.name, b.mw.module_path))
    });
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
}
