//! [`Shared`]: what every connection and Context of one app shares.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::sessions::SessionRegistry;
use crate::broadcast::Hub;
use crate::config::{Config, WsConfig};
use crate::layer::LayerFn;
use crate::matcher::Matcher;
use crate::mount::Mount;

/// The app as it serves: its route table, state, limits, sessions and hub.
pub(crate) struct Shared {
    pub(crate) matcher: Matcher,
    pub(crate) states: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    pub(crate) config: Config,
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) ws_default: Arc<WsConfig>,
    /// Per-route WebSocket settings, by the route's pattern.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) ws_routes: HashMap<String, Arc<WsConfig>>,
    /// Open WebSocket sessions and SSE streams, which shutdown ends and waits for.
    pub(crate) sessions: Arc<SessionRegistry>,
    /// A permit for each connection [`Config::max_connections`](crate::config::Config) lets
    /// in: each open connection holds one (see `Conn`); shutdown takes them all back to know
    /// that none is open.
    pub(crate) connections: tokio::sync::Semaphore,
    pub(crate) hub: Hub,
    /// The key of signed and private cookies.
    pub(crate) cookie_key: Option<cookie::Key>,
    /// The tower layers around the app, innermost first.
    pub(crate) layers: Vec<LayerFn>,
    /// The mounted tower services; mount `i` is route number `catalog().len() + i`.
    pub(crate) mounts: Vec<Mount>,
}

impl Shared {
    /// The WebSocket settings of the route with pattern `route`.
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn ws_config(&self, route: &str) -> Arc<WsConfig> {
        self.ws_routes.get(route).unwrap_or(&self.ws_default).clone()
    }

    /// The app state of type `T`, if there is one.
    pub(crate) fn state<T: 'static>(&self) -> Option<&T> {
        self.states.get(&TypeId::of::<T>()).and_then(|b| b.downcast_ref())
    }
}
