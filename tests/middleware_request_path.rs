//! A path-scoped middleware guards every request under its prefix, whatever route answers
//! it: parameter routes, catch-alls and socket routes whose pattern does not spell the prefix,
//! and percent-encoded or dot-segment forms of the path. And the trailing-slash redirect
//! never sends a browser to another host.

use fratello::prelude::*;
use fratello::test::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Everything under /api needs a token.
#[middleware(path = "/api")]
async fn api_guard(ctx: Context) -> Result<()> {
    ctx.header("authorization").map(drop).ok_or_else(|| Error::unauthorized("token required"))
}

/// Marks responses under /api.
#[middleware(after, path = "/api")]
async fn api_mark(ctx: Context) -> Result<()> {
    ctx.set_header("x-api", "yes");
    Ok(())
}

mod params {
    use fratello::prelude::*;

    #[get("/{section}/{page}")]
    async fn page(ctx: Context) -> String {
        format!("{}/{}", ctx.param("section").unwrap_or(""), ctx.param("page").unwrap_or(""))
    }

    #[get("/docs/guide/intro/")]
    async fn guide(_ctx: Context) -> &'static str {
        "guide"
    }
}

mod fallback {
    use fratello::prelude::*;

    /// An SPA fallback, or a proxy: anything not routed elsewhere.
    #[get("/{*rest}")]
    async fn spa(ctx: Context) -> String {
        format!("spa {}", ctx.param("rest").unwrap_or(""))
    }
}

mod sockets {
    use fratello::prelude::*;

    #[ws("/{area}/live")]
    async fn live(ctx: Context) -> Result<()> {
        ctx.send("live").await
    }
}

async fn start(module: &str) -> TestClient {
    TestClient::start(App::only(format!("{}::{module}", module_path!()))).await
}

#[tokio::test]
async fn a_parameter_route_serving_a_guarded_path_runs_the_guard() {
    let c = start("params").await;
    for path in ["/api/secret", "/%61pi/secret", "/api/%73ecret"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let res = c.get(path).header("authorization", "t").send().await;
        assert_eq!(res.text(), "api/secret", "{path}");
        assert_eq!(res.header("x-api"), Some("yes"), "{path}");
    }
    // Not under /api: no guard, no mark.
    let res = c.get("/apix/page").send().await;
    assert_eq!(res.text(), "apix/page");
    assert_eq!(res.header("x-api"), None);
}

#[tokio::test]
async fn a_catch_all_serving_a_guarded_path_runs_the_guard() {
    let c = start("fallback").await;
    for path in ["/api", "/api/users/7", "/x/../api/users", "//api//users", "/static/%2e%2e/api/x"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let res = c.get("/about/team").send().await;
    assert_eq!(res.text(), "spa about/team");
}

#[tokio::test]
async fn a_socket_route_serving_a_guarded_path_runs_the_guard() {
    let c = start("sockets").await;
    let refused = c.ws("/api/live").try_connect().await.err().expect("refused");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let mut ws = c.ws("/api/live").header("authorization", "t").connect().await;
    assert_eq!(ws.recv_text().await, "live");
    let mut ws = c.ws("/public/live").connect().await;
    assert_eq!(ws.recv_text().await, "live");
}

/// The status line and the `location` header, if any, of a raw request for `target`.
async fn raw_get(c: &TestClient, target: &str) -> (String, Option<String>) {
    let mut stream = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut res = Vec::new();
    stream.read_to_end(&mut res).await.unwrap();
    let res = String::from_utf8_lossy(&res).into_owned();
    let status = res.lines().next().unwrap_or("").to_owned();
    let location = res
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("location:").map(|_| l[9..].trim().to_owned()));
    (status, location)
}

#[tokio::test]
async fn the_trailing_slash_redirect_never_leaves_the_site() {
    let c = start("params").await;
    // The ordinary case still redirects, within the site.
    let (status, location) = raw_get(&c, "/docs/guide/intro").await;
    assert!(status.contains("308"), "{status}");
    assert_eq!(location.as_deref(), Some("/docs/guide/intro/"));
    // Paths that a browser reads as another host are not redirected.
    for target in ["//evil.com/", "/\\evil.com/x/", "//evil.com/x/"] {
        let (status, location) = raw_get(&c, target).await;
        assert_eq!(location, None, "{target}: {status}");
        assert!(status.contains("404") || status.contains("400"), "{target}: {status}");
    }
}
