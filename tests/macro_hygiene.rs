//! The attribute macros expand to code that compiles wherever a user puts a handler, next
//! to whatever names the user defines, without a single warning.

#![deny(warnings)]

use fratello::prelude::*;
use fratello::routing::RouteKind;

/// Every name the generated code could collide with, shadowed.
mod shadowed {
    #![allow(dead_code, non_snake_case, non_camel_case_types, non_upper_case_globals)]

    // `::fratello` because the local `mod fratello` below shadows the crate.
    use ::fratello::prelude::*;

    pub struct Result;
    pub struct Option;
    pub struct Box;
    pub struct Vec;
    pub struct String;
    pub struct Pin;
    pub fn Ok() {}
    pub fn Some() {}
    pub fn None() {}
    pub fn Err() {}
    pub mod core {}
    pub mod std {}
    pub mod inventory {}
    pub mod fratello {}
    pub const ctx: u8 = 0;
    pub const __FRATELLO_HANDLER: u8 = 0;

    // Handlers named like things a framework might generate or import.
    #[get("/shadowed/config")]
    pub async fn config(_ctx: Context) -> &'static str {
        "config"
    }

    #[get("/shadowed/app")]
    pub async fn app(_ctx: Context) -> ::fratello::Result<&'static str> {
        ::core::result::Result::Ok("app")
    }

    #[middleware(path = "/shadowed", order = -5)]
    pub async fn guard(_ctx: Context) -> ::fratello::Result<()> {
        ::core::result::Result::Ok(())
    }

    #[ws("/shadowed/ws")]
    pub async fn socket(_ctx: Context) {}

    #[sse("/shadowed/sse")]
    pub async fn events(_ctx: Context) -> ::fratello::Result<()> {
        ::core::result::Result::Ok(())
    }
}

// The same fn name in two modules, at different paths.
mod first {
    use fratello::prelude::*;

    /// The line of `index`'s attribute, to check the registered location.
    pub const INDEX_LINE: u32 = line!() + 1;
    #[get("/first")]
    pub async fn index(_ctx: Context) -> &'static str {
        "first"
    }
}

mod second {
    use fratello::prelude::*;

    #[get("/second")]
    pub async fn index(_ctx: Context) -> &'static str {
        "second"
    }
}

// Middleware declared in one module, imported with `use` and named in `with(...)` elsewhere.
mod guards {
    use fratello::prelude::*;

    /// Documented as a fn would be: the docs go to the value `with(..)` names.
    #[middleware(route)]
    pub async fn auth(_ctx: Context) -> Result<()> {
        Ok(())
    }

    #[middleware(route, after)]
    pub(crate) async fn stamp(_ctx: Context) {}
}

mod protected {
    use crate::guards::auth;
    use fratello::prelude::*;

    #[route("/protected", method = ["GET", "POST"], with(auth, crate::guards::stamp))]
    pub async fn protected(_ctx: Context) -> &'static str {
        "protected"
    }
}

// A route declared by a `macro_rules!` macro, and one declared inside a fn body.
macro_rules! greeting {
    ($name:ident, $path:literal, $text:literal) => {
        #[get($path)]
        async fn $name(ctx: Context) -> String {
            format!("{} {}", $text, ctx.param("who").unwrap_or("you"))
        }
    };
}

greeting!(hello, "/hello/{who}", "hello");

macro_rules! prefix_guard {
    ($name:ident, $prefix:literal, $order:expr) => {
        #[middleware(path = $prefix, order = $order)]
        async fn $name(_ctx: Context) {}
    };
}

prefix_guard!(hello_guard, "/hello", -2);
greeting!(bye, "/bye/{who}", "bye");

#[allow(dead_code)]
fn declares_a_local_route() {
    #[delete("/local/{*rest}")]
    async fn local(_: Context) -> StatusCode {
        StatusCode::NO_CONTENT
    }
}

#[allow(non_snake_case)]
#[put("/raw")]
async fn r#type(_ctx: Context) {}

#[tokio::test]
async fn every_route_is_registered_once_with_its_declaration() {
    let app = App::only(module_path!());
    app.check().unwrap();
    let routes = app.routes().unwrap();

    let mut paths: Vec<&str> = routes.iter().map(|route| route.path).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/bye/{who}",
            "/first",
            "/hello/{who}",
            "/local/{*rest}",
            "/protected",
            "/raw",
            "/second",
            "/shadowed/app",
            "/shadowed/config",
            "/shadowed/sse",
            "/shadowed/ws",
        ]
    );

    let find = |path: &str| routes.iter().find(|route| route.path == path).expect(path);

    let first = find("/first");
    assert_eq!((first.name, first.module_path), ("index", "macro_hygiene::first"));
    assert_eq!(first.location, format!("{}:{}", file!(), first::INDEX_LINE));
    assert_eq!(find("/second").module_path, "macro_hygiene::second");

    let protected = find("/protected");
    assert_eq!(protected.methods, ["GET", "POST"]);
    assert_eq!(protected.middleware_names(), ["auth", "stamp"]);

    assert_eq!(find("/shadowed/ws").kind, RouteKind::Ws);
    assert_eq!(find("/shadowed/sse").kind, RouteKind::Sse);
    assert_eq!(find("/shadowed/config").middleware_names(), ["guard"]);
    assert_eq!(find("/hello/{who}").middleware_names(), ["hello_guard"]);
    assert!(find("/bye/{who}").middleware.is_empty());
    assert!(find("/first").middleware.is_empty(), "a route-only middleware runs only where named");
    assert_eq!(find("/raw").name, "type");
    assert_eq!(find("/raw").methods, ["PUT"]);
    assert_eq!(find("/local/{*rest}").methods, ["DELETE"]);
}
