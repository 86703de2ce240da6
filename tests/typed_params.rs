//! Path parameters checked by the route macros: names read from the handler's `Context` must
//! be in the pattern (compile errors are in tests/ui/params/), and a typed parameter
//! (`{id: u32}`) must parse for the route to match.

use fratello::prelude::*;
use fratello::test::TestClient;

mod typed {
    //! Routes with typed parameters.

    use fratello::prelude::*;

    #[get("/typed/users/{id: u32}/files/{*path}")]
    pub(super) async fn user_file(ctx: Context) -> Result<String> {
        // Cannot fail: the route matched only because `id` parses.
        let id: u32 = ctx.param_as("id")?;
        Ok(format!("{id} {}", ctx.param("path").unwrap_or_default()))
    }

    #[get("/typed/me")]
    pub(super) async fn me(_ctx: Context) -> &'static str {
        "me"
    }

    #[get("/typed/{slug: String}")]
    pub(super) async fn by_slug(ctx: Context) -> String {
        format!("slug {}", ctx.param("slug").unwrap_or_default())
    }

    #[get("/typed/v{major: u8}/info")]
    pub(super) async fn version(ctx: Context) -> Result<String> {
        Ok(format!("v{}", ctx.param_as::<u8>("major")?))
    }

    #[ws("/typed/rooms/{room: std::num::NonZeroU16}")]
    pub(super) async fn room(ctx: Context) -> Result<()> {
        let room = ctx.param("room").unwrap_or_default().to_owned();
        ctx.send(room).await
    }
}

fn app() -> App {
    App::only(format!("{}::typed", module_path!()))
}

#[tokio::test]
async fn a_typed_parameter_that_parses_matches() {
    let c = TestClient::start(app()).await;
    assert_eq!(c.get("/typed/users/42/files/a/b.txt").send().await.text(), "42 a/b.txt");
    assert_eq!(c.get("/typed/v3/info").send().await.text(), "v3");
    let mut ws = c.ws("/typed/rooms/7").connect().await;
    assert_eq!(ws.recv_text().await, "7");
}

#[tokio::test]
async fn one_that_does_not_parse_is_404_before_the_handler() {
    let c = TestClient::start(app()).await;
    for path in ["/typed/users/abc/files/x", "/typed/users/-1/files/x", "/typed/users/4294967296/files/x"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.text().contains("`id` is not a valid `u32`"), "{path}: {}", res.text());
    }
    assert_eq!(c.get("/typed/v300/info").send().await.status(), StatusCode::NOT_FOUND);
    let refused = c.ws("/typed/rooms/0").try_connect().await.err().expect("no socket for room 0");
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    // Percent-decoded first: `%34%32` is 42.
    assert_eq!(c.get("/typed/users/%34%32/files/x").send().await.text(), "42 x");
    // A static route next to a typed one is matched first, as always.
    assert_eq!(c.get("/typed/me").send().await.text(), "me");
    assert_eq!(c.get("/typed/other").send().await.text(), "slug other");
}

mod helpers_closures_and_macros {
    //! Valid handlers that read parameters in every way the name check must accept.

    use fratello::prelude::*;

    fn id_of(ctx: &Context) -> Option<&str> {
        ctx.param("not_checked_in_a_helper")
    }

    #[get("/checked/{id}/{name}")]
    pub(super) async fn many_ways(ctx: Context) -> Result<String> {
        let by_helper = id_of(&ctx).unwrap_or("-").to_owned();
        let read = |key: &str| ctx.param(key).unwrap_or_default().to_owned();
        let shadowing = |ctx: &[&str]| ctx.first().map(|s| s.len());
        let nested = {
            let alias = ctx.clone();
            if alias.param("id").is_some() {
                alias.param_as::<String>("name")?
            } else {
                String::new()
            }
        };
        let name = "name";
        let dynamic = ctx.param(name).unwrap_or_default();
        fn inner(ctx: &Context) -> String {
            ctx.param("whatever").unwrap_or_default().to_owned()
        }
        assert!(ctx.param("id").is_some(), "{}", ctx.param("name").unwrap_or_default());
        Ok(format!("{by_helper} {} {nested} {dynamic} {} {:?}", read("id"), inner(&ctx), shadowing(&[])))
    }
}

#[tokio::test]
async fn valid_reads_compile_and_run() {
    let c = TestClient::start(App::only(format!("{}::helpers_closures_and_macros", module_path!()))).await;
    assert_eq!(c.get("/checked/7/ada").send().await.text(), "- 7 ada ada  None");
}

mod clash {
    use fratello::prelude::*;

    #[get("/clash/{id: u32}")]
    pub(super) async fn by_number(_ctx: Context) -> &'static str {
        "number"
    }

    #[get("/clash/{id: String}")]
    pub(super) async fn by_text(_ctx: Context) -> &'static str {
        "text"
    }
}

#[test]
fn two_routes_that_differ_only_in_a_type_clash_at_startup() {
    let err = App::only(format!("{}::clash", module_path!())).check().unwrap_err().to_string();
    assert!(err.contains("/clash/{id}"), "{err}");
    assert!(err.contains("typed_params.rs"), "{err}");
}
