//! A panic in a handler or middleware is a 500 for that request only.

use fratello::prelude::*;
use fratello::test::TestClient;

#[get("/boom")]
async fn boom(_ctx: Context) -> &'static str {
    panic!("handler exploded")
}

#[get("/boom-later")]
async fn boom_later(_ctx: Context) -> &'static str {
    tokio::task::yield_now().await;
    let v: Vec<u8> = Vec::new();
    #[allow(clippy::indexing_slicing)]
    let _ = v[3];
    "unreachable"
}

#[middleware(path = "/mw-boom")]
async fn exploding(_ctx: Context) -> Result<()> {
    panic!("middleware exploded")
}

#[get("/mw-boom")]
async fn behind_exploding(_ctx: Context) -> &'static str {
    "unreachable"
}

#[get("/ok")]
async fn ok(_ctx: Context) -> &'static str {
    "fine"
}

#[tokio::test]
async fn panics_become_500_and_the_server_goes_on() {
    let c = TestClient::start(App::only(module_path!())).await;
    for path in ["/boom", "/boom-later", "/mw-boom"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(res.text(), "internal server error", "the panic message must not leak");
    }
    // The same keep-alive pool and fresh connections keep working, concurrently too.
    let oks = (0..20).map(|i| {
        let c = &c;
        async move {
            let path = if i % 4 == 0 { "/boom" } else { "/ok" };
            (path, c.get(path).send().await.status())
        }
    });
    for (path, status) in futures_util::future::join_all(oks).await {
        let want = if path == "/boom" { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        assert_eq!(status, want);
    }
    c.shutdown().await;
}
