//! An app built on fratello without its default features (no WebSocket, no SSE, no HTTP/2):
//! it compiles, and `tests/serve.rs` serves it. `tests/ui/` holds the compile errors of the
//! route attributes whose protocol is left out.

use fratello::prelude::*;

/// A plain HTTP route.
#[get("/minimal/hello")]
pub async fn hello(_ctx: Context) -> &'static str {
    "hello without the default features"
}

/// The app of this crate's routes.
pub fn app() -> App {
    App::only(module_path!())
}
