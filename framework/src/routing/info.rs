//! [`RouteInfo`]: a route as the app lists it.

use std::fmt;

use super::registry::RouteKind;

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
    /// The middleware that runs for it, in order (before, then after).
    pub middleware: Vec<&'static str>,
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {:<12} {:<32} ", self.kind.as_str(), self.methods.join(","), self.path)?;
        match self.module_path {
            "" => write!(f, "{}", self.name)?,
            module => write!(f, "{module}::{}", self.name)?,
        }
        if !self.middleware.is_empty() {
            write!(f, " [{}]", self.middleware.join(" → "))?;
        }
        Ok(())
    }
}
