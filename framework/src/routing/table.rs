//! One app's route table: the routes it selects from the catalog, in a path table, with the
//! listing [`App::routes`](crate::App::routes) shows. Clashes are found here, naming both
//! declarations.

use std::any::TypeId;

use super::catalog::{catalog, location, Endpoint};
use super::info::RouteInfo;
use super::registry::{RouteKind, StateNeed};
use crate::matcher::{Clash, Matcher, RouteId};
use crate::mount::MountDef;

/// The methods a mounted service answers (what a route at the same path answers is left to
/// the route).
/// (`HEAD` goes where `GET` does.)
const MOUNT_METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// Builds the path table and the listing of the routes whose module is under `only` (every
/// route when `None`) and of the `mounts`, or says why the app cannot start: two routes for
/// one path and method, a state a route or its middleware declares that the app lacks
/// (`has_state`), no route at all. Mount `i` is numbered `catalog().len() + i` in the table.
pub(crate) fn build(
    only: Option<&str>,
    mounts: &[MountDef],
    has_state: &dyn Fn(TypeId) -> bool,
) -> Result<(Matcher, Vec<RouteInfo>), String> {
    let catalog = catalog();
    let chosen: Vec<_> =
        catalog.iter().filter(|(_, e)| only.is_none_or(|p| module_under(p, e.def.module_path))).collect();
    if chosen.is_empty() && mounts.is_empty() {
        return Err(match only {
            None => "fratello: no routes are registered, so every request would get 404. \
                     Mark handlers with #[get(\"/path\")] (or #[post], #[ws], #[sse], ...); if they \
                     live in a library crate, make sure the binary uses an item of that crate so it \
                     is linked in."
                .to_owned(),
            Some(p) => {
                let mut modules: Vec<&str> = catalog.iter().map(|(_, e)| e.def.module_path).collect();
                modules.sort_unstable();
                modules.dedup();
                format!(
                    "fratello: App::only({p:?}) selects no routes; modules with routes: {}",
                    if modules.is_empty() { "none".to_owned() } else { modules.join(", ") }
                )
            }
        });
    }
    let mut matcher = Matcher::default();
    let mut infos = Vec::with_capacity(chosen.len());
    for &(_, endpoint) in &chosen {
        check_states(endpoint, has_state)?;
    }
    for &(id, endpoint) in &chosen {
        let def = endpoint.def;
        matcher.insert(def.path, def.methods, id).map_err(|clash| {
            let here = location(def.file, def.line);
            match clash {
                Clash::Pattern { with, detail } => {
                    let other = with
                        .map(|w| catalog.endpoint(w).def)
                        .map(|o| format!(" and `{}` at {}", o.path, location(o.file, o.line)))
                        .unwrap_or_default();
                    format!("route `{}` at {here} cannot be added{other}: {detail}", def.path)
                }
                Clash::Method { method, with } => {
                    let o = catalog.endpoint(with).def;
                    format!(
                        "two routes answer {method} {}: `{}::{}` at {} and `{}::{}` at {here}; \
                         remove one, or give them different paths or methods",
                        def.path,
                        o.module_path,
                        o.name,
                        location(o.file, o.line),
                        def.module_path,
                        def.name,
                    )
                }
                Clash::InvalidMethod(m) => format!("route `{}` at {here}: invalid method `{m}`", def.path),
            }
        })?;
        infos.push(RouteInfo {
            kind: def.kind,
            methods: def.methods.to_vec(),
            path: def.path,
            name: def.name,
            module_path: def.module_path,
            location: location(def.file, def.line),
            middleware: endpoint.chain.listing(),
        });
    }
    for (i, mount) in mounts.iter().enumerate() {
        if let Some(first) = mounts[..i].iter().find(|m| m.prefix == mount.prefix) {
            return Err(format!(
                "App::mount({:?}) at {} and at {}: one prefix cannot serve two services",
                mount.prefix, first.location, mount.location
            ));
        }
        let id = (catalog.len() + i) as RouteId;
        let pattern = *mount.pattern;
        for path in [mount.prefix, pattern] {
            for method in MOUNT_METHODS {
                match matcher.insert(path, &[method], id) {
                    // A route at the same path answers its own methods: the mount the others.
                    Ok(()) | Err(Clash::Method { .. }) => {}
                    Err(Clash::Pattern { with, detail }) => {
                        let other = with
                            .filter(|&w| (w as usize) < catalog.len())
                            .map(|w| catalog.endpoint(w).def)
                            .map(|o| format!(" with route `{}` at {}", o.path, location(o.file, o.line)))
                            .unwrap_or_default();
                        return Err(format!(
                            "App::mount({:?}) at {} clashes{other}: {detail}",
                            mount.prefix, mount.location
                        ));
                    }
                    Err(Clash::InvalidMethod(m)) => unreachable!("{m} is a valid method"),
                }
            }
        }
        let endpoint = catalog.mount(mount.endpoint);
        check_states(endpoint, has_state)?;
        let chain = &endpoint.chain;
        infos.push(RouteInfo {
            kind: RouteKind::Mount,
            methods: vec!["*"],
            path: pattern,
            name: catalog.mount(mount.endpoint).def.name,
            module_path: "",
            location: mount.location.clone(),
            middleware: chain.listing(),
        });
    }
    matcher.finish();
    infos.sort_by(|a, b| (a.path, &a.methods).cmp(&(b.path, &b.methods)));
    Ok((matcher, infos))
}

/// Whether the app has every state that `endpoint`'s route and middleware declare.
fn check_states(endpoint: &Endpoint, has_state: &dyn Fn(TypeId) -> bool) -> Result<(), String> {
    let def = endpoint.def;
    let route = format!("route `{} {}` ({})", def.methods.join(","), def.path, location(def.file, def.line));
    let missing = |need: &StateNeed| !has_state((need.type_id)());
    if let Some(need) = def.states.iter().find(|n| missing(n)) {
        return Err(format!(
            "{route} declares `state({name})`, but the app has no `{name}`: add one with `App::state(..)`",
            name = need.name
        ));
    }
    for step in endpoint.chain.before.iter().chain(endpoint.chain.after.iter()) {
        let mw = step.mw;
        if let Some(need) = mw.states.iter().find(|n| missing(n)) {
            return Err(format!(
                "middleware `{}` ({}) declares `state({name})` and runs for {route}, but the app has \
                 no `{name}`: add one with `App::state(..)`",
                mw.name,
                location(mw.file, mw.line),
                name = need.name
            ));
        }
    }
    Ok(())
}

/// `a::b` is under `a` and `a::b`, not under `a::bc`.
fn module_under(prefix: &str, module: &str) -> bool {
    module.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}
