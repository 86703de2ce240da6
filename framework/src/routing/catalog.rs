//! The catalog of every route registered in the program, each with its middleware chain, made
//! once: the chains depend on the registered routes and middleware alone, which are the same
//! for every app in the program (`App::only` selects routes, never middleware).

use std::sync::OnceLock;

use super::chain::{chain, Step};
use super::registry::{MiddlewareDef, MiddlewareRegistration, RouteDef};
use crate::matcher::RouteId;

/// A route ready to serve: its descriptor and the middleware that runs for it.
pub(crate) struct Endpoint {
    pub(crate) def: &'static RouteDef,
    pub(crate) before: Box<[Step]>,
    pub(crate) after: Box<[Step]>,
}

/// Every registered route, numbered, and what is wrong with the registrations, if anything.
pub(crate) struct Catalog {
    endpoints: Vec<Endpoint>,
    problem: Option<String>,
}

/// The program's catalog (made on first use).
pub(crate) fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::collect)
}

pub(crate) fn location(file: &str, line: u32) -> String {
    format!("{file}:{line}")
}

impl Catalog {
    fn collect() -> Catalog {
        let mut routes: Vec<&'static RouteDef> = inventory::iter::<RouteDef>.into_iter().collect();
        routes.sort_by(|a, b| (a.path, a.file, a.line).cmp(&(b.path, b.file, b.line)));
        let middleware: Vec<&'static MiddlewareDef> =
            inventory::iter::<MiddlewareRegistration>.into_iter().map(|m| m.0).collect();
        // A middleware named in some route's `with(...)` is route-only: it runs where named.
        let route_only =
            |mw: &MiddlewareDef| routes.iter().any(|r| r.middleware.iter().any(|m| m.same_as(mw)));
        let mut global: Vec<&'static MiddlewareDef> =
            middleware.iter().copied().filter(|m| !route_only(m)).collect();
        // Sorted so that the order never depends on link order.
        global.sort_by(|a, b| (a.order, a.name, a.module_path).cmp(&(b.order, b.name, b.module_path)));
        let problem = middleware.iter().find(|m| route_only(m) && m.path.is_some()).map(|mw| {
            format!(
                "middleware `{}` ({}) has `path = {:?}` but is also named in a route's `with(...)`: \
                 use one or the other",
                mw.name,
                location(mw.file, mw.line),
                mw.path.unwrap_or_default()
            )
        });
        let endpoints = routes
            .into_iter()
            .map(|def| {
                let (before, after) = chain(def, &global);
                Endpoint { def, before: before.into_boxed_slice(), after: after.into_boxed_slice() }
            })
            .collect();
        Catalog { endpoints, problem }
    }

    /// Route `id`.
    pub(crate) fn endpoint(&self, id: RouteId) -> &Endpoint {
        &self.endpoints[id as usize]
    }

    /// Every route, with its number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RouteId, &Endpoint)> {
        self.endpoints.iter().enumerate().map(|(i, e)| (i as RouteId, e))
    }

    /// What makes the registrations unusable (a middleware both path-scoped and route-only).
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}
