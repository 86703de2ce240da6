//! Routes and middleware in a library crate, for `tests/library_routes.rs`.

use fratello::prelude::*;

/// Referenced by the test, so that this crate is linked in.
pub const NAME: &str = "fratello-test-routes";

/// A plain route.
#[get("/lib/ping")]
pub async fn ping(_ctx: Context) -> &'static str {
    "pong from a library"
}

/// A middleware from the library guarding the library's own scope.
#[middleware(path = "/lib/guarded")]
pub async fn lib_guard(ctx: Context) -> Result<()> {
    ctx.header("x-key").map(drop).ok_or_else(|| Error::unauthorized("x-key required"))
}

/// A guarded route.
#[get("/lib/guarded")]
pub async fn guarded(_ctx: Context) -> &'static str {
    "in"
}
