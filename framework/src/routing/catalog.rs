//! The catalog of every route registered in the program, each with its middleware chain, made
//! once: the chains depend on the registered routes and middleware alone, which are the same
//! for every app in the program (`App::only` selects routes, never middleware).

use std::sync::OnceLock;

use parking_lot::RwLock;

use super::chain::{chain, Chain};
use super::registry::{Handler, MiddlewareDef, MiddlewareRegistration, RouteDef, RouteKind, Scope};
use crate::matcher::RouteId;

/// A route ready to serve: its descriptor and the middleware that runs for it.
pub(crate) struct Endpoint {
    pub(crate) def: &'static RouteDef,
    pub(crate) chain: Chain,
}

/// Every registered route, numbered, with its chain.
pub(crate) struct Catalog {
    endpoints: Vec<Endpoint>,
    /// The global and path middleware, sorted by `(order, name)`.
    global: Vec<&'static MiddlewareDef>,
    /// The endpoints of mounted services (made when first asked, kept for the program's
    /// life: as many as its `App::mount` calls).
    mounts: RwLock<Vec<&'static Endpoint>>,
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
        // A route middleware runs where a route names it, and only there.
        let mut global: Vec<&'static MiddlewareDef> =
            middleware.iter().copied().filter(|m| m.scope != Scope::Route).collect();
        // Sorted so that the order never depends on link order.
        global.sort_by(|a, b| (a.order, a.name, a.module_path).cmp(&(b.order, b.name, b.module_path)));
        let endpoints = routes
            .into_iter()
            .map(|def| Endpoint { def, chain: chain(def.path, def.middleware, &global) })
            .collect();
        Catalog { endpoints, global, mounts: RwLock::default() }
    }

    /// How many routes there are (route numbers past it are the app's mounts).
    pub(crate) fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// The number of the endpoint of service `name` mounted to serve `pattern` by the
    /// `App::mount` call at `place` (file, line): the global and path-scoped middleware that
    /// cover its paths, and `forward`, the handler that hands its requests to the service.
    /// Made once per call site, pattern and service type (see [`mount`](Self::mount)).
    pub(crate) fn mount_id(
        &self,
        pattern: &'static str,
        name: &'static str,
        place: (&'static str, u32),
        forward: Handler,
    ) -> u32 {
        let (file, line) = place;
        let mut mounts = self.mounts.write();
        let same =
            |e: &&Endpoint| (e.def.path, e.def.name, e.def.file, e.def.line) == (pattern, name, file, line);
        if let Some(i) = mounts.iter().position(same) {
            return i as u32;
        }
        let def = Box::leak(Box::new(RouteDef {
            kind: RouteKind::Mount,
            methods: &[],
            path: pattern,
            param_types: &[],
            handler: forward,
            middleware: &[],
            states: &[],
            name,
            module_path: "",
            file,
            line,
        }));
        mounts.push(Box::leak(Box::new(Endpoint { def, chain: chain(pattern, &[], &self.global) })));
        (mounts.len() - 1) as u32
    }

    /// The mount endpoint numbered `id` by [`mount_id`](Self::mount_id).
    pub(crate) fn mount(&self, id: u32) -> &'static Endpoint {
        self.mounts.read()[id as usize]
    }

    /// Route `id`.
    pub(crate) fn endpoint(&self, id: RouteId) -> &Endpoint {
        &self.endpoints[id as usize]
    }

    /// Every route, with its number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (RouteId, &Endpoint)> {
        self.endpoints.iter().enumerate().map(|(i, e)| (i as RouteId, e))
    }
}
