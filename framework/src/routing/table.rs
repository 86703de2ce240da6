//! One app's route table: the routes it selects from the catalog, in a path table, with the
//! listing [`App::routes`](crate::App::routes) shows. Clashes are found here, naming both
//! declarations.

use super::catalog::{catalog, location};
use super::info::RouteInfo;
use crate::matcher::{Clash, Matcher};

/// Builds the path table and the listing of the routes whose module is under `only` (every
/// route when `None`), or says why the app cannot start.
pub(crate) fn build(only: Option<&str>) -> Result<(Matcher, Vec<RouteInfo>), String> {
    let catalog = catalog();
    if let Some(problem) = catalog.problem() {
        return Err(problem.to_owned());
    }
    let chosen: Vec<_> =
        catalog.iter().filter(|(_, e)| only.is_none_or(|p| module_under(p, e.def.module_path))).collect();
    if chosen.is_empty() {
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
            middleware: endpoint.before.iter().chain(endpoint.after.iter()).map(|s| s.mw.name).collect(),
        });
    }
    matcher.finish();
    infos.sort_by(|a, b| (a.path, &a.methods).cmp(&(b.path, &b.methods)));
    Ok((matcher, infos))
}

/// `a::b` is under `a` and `a::b`, not under `a::bc`.
fn module_under(prefix: &str, module: &str) -> bool {
    module.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}
