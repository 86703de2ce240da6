//! [`RouteInfo`]: a route as the app lists it.

use std::fmt;

use super::registry::{RouteKind, Scope};

/// A route as [`App::routes`](crate::App::routes) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP, WebSocket or SSE.
    pub kind: RouteKind,
    /// The methods it answers.
    pub methods: Vec<&'static str>,
    /// The path pattern.
    pub path: &'static str,
    /// The handler fn's name (for a mount: the service's type).
    pub name: &'static str,
    /// The module the handler is declared in (empty for a mount).
    pub module_path: &'static str,
    /// `file:line` of the declaration.
    pub location: String,
    /// The middleware that runs for it, in order: before the handler, then after it.
    pub middleware: Vec<MiddlewareInfo>,
}

/// One middleware of a route's chain, as [`App::routes`](crate::App::routes) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddlewareInfo {
    /// The middleware fn's name.
    pub name: &'static str,
    /// Global, path-scoped, or named by the route in `with(..)`.
    pub scope: Scope,
    /// Whether it runs after the handler (on the response head).
    pub after: bool,
}

impl RouteInfo {
    /// The names of its middleware, in the order they run.
    pub fn middleware_names(&self) -> Vec<&'static str> {
        self.middleware.iter().map(|m| m.name).collect()
    }
}

impl fmt::Display for MiddlewareInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.name, self.scope)?;
        if self.after {
            f.write_str(", after")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {:<12} {:<32} ", self.kind.as_str(), self.methods.join(","), self.path)?;
        match self.module_path {
            "" => write!(f, "{}", self.name)?,
            module => write!(f, "{module}::{}", self.name)?,
        }
        if !self.middleware.is_empty() {
            let chain: Vec<String> = self.middleware.iter().map(ToString::to_string).collect();
            write!(f, " [{}]", chain.join(" → "))?;
        }
        Ok(())
    }
}
