//! Before-middleware on one keep-alive connection, whose requests share one Context made again
//! for each: chains of different lengths and routes follow each other, a path-scoped step runs
//! for some requests of a route and not others, a step refuses or panics, a step's future is
//! large; every request runs exactly its own chain, in order, sees only the attributes its own
//! steps set, and what a finished step held is dropped.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use fratello::prelude::*;
use fratello::test::TestClient;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// The steps that ran for a request, in order.
#[derive(Clone, Default)]
struct Trail(Vec<&'static str>);

fn step(ctx: &Context, name: &'static str) {
    let mut trail = ctx.get::<Trail>().unwrap_or_default();
    trail.0.push(name);
    ctx.set(trail);
}

/// A value that records its drop, by the name it was given.
struct Guard(String);

static DROPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Drop for Guard {
    fn drop(&mut self) {
        DROPPED.lock().unwrap().push(std::mem::take(&mut self.0));
    }
}

/// Runs for every request under `/mw`, and holds a drop-recorded value across an await.
#[middleware(path = "/mw", order = 1)]
async fn small(ctx: Context) -> Result<()> {
    let _guard = ctx.header("x-guard").map(|g| Guard(g.to_owned()));
    tokio::task::yield_now().await;
    step(&ctx, "small");
    Ok(())
}

/// Runs under `/mw/big` only (for the route `/mw/{name}`: for some of its requests), with a
/// large future.
#[middleware(path = "/mw/big", order = 2)]
async fn big(ctx: Context) -> Result<()> {
    let buf = std::hint::black_box([1u8; 4096]);
    tokio::task::yield_now().await;
    step(&ctx, if buf.iter().all(|b| *b == 1) { "big" } else { "corrupt" });
    Ok(())
}

/// Refuses or panics when the request asks for it.
#[middleware(route)]
async fn gate(ctx: Context) -> Result<()> {
    if ctx.header("x-panic").is_some() {
        panic!("a middleware that panics, on purpose");
    }
    if ctx.header("x-refuse").is_some() {
        return Err(Error::forbidden("refused, as asked"));
    }
    step(&ctx, "gate");
    Ok(())
}

fn trail(ctx: &Context) -> String {
    ctx.get::<Trail>().unwrap_or_default().0.join(",")
}

#[get("/mw/{name}")]
async fn named(ctx: Context) -> String {
    trail(&ctx)
}

#[get("/mw/gated/x", with(gate))]
async fn gated(ctx: Context) -> String {
    trail(&ctx)
}

#[get("/plain")]
async fn plain(ctx: Context) -> String {
    trail(&ctx)
}

#[get("/dropped/{name}")]
async fn dropped(ctx: Context) -> String {
    let name = ctx.param("name").unwrap_or_default();
    DROPPED.lock().unwrap().iter().any(|n| n == name).to_string()
}

/// One connection to `c`, for requests one after the other.
async fn connect(c: &TestClient) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    send
}

/// `GET uri` on `send`'s connection with `header` (name, value): its status and body.
async fn get(send: &mut SendRequest<Full<Bytes>>, uri: &str, header: Option<(&str, &str)>) -> (u16, String) {
    let mut req = http::Request::builder().uri(uri).header("host", "x");
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let res =
        tokio::time::timeout(Duration::from_secs(5), send.send_request(req.body(Full::default()).unwrap()))
            .await
            .expect("answered within 5 s")
            .expect("answered on the same connection");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn each_request_of_a_connection_runs_its_own_chain() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;
    let ok = |body: &str| (200, body.to_owned());
    for _round in 0..2 {
        assert_eq!(get(&mut send, "/mw/other", None).await, ok("small"));
        assert_eq!(get(&mut send, "/mw/other", None).await, ok("small"));
        // The same route, and a step more for this path.
        assert_eq!(get(&mut send, "/mw/big", None).await, ok("small,big"));
        assert_eq!(get(&mut send, "/mw/big", None).await, ok("small,big"));
        assert_eq!(get(&mut send, "/mw/other", None).await, ok("small"));
        // Another route's chain at the same steps, then no chain at all.
        assert_eq!(get(&mut send, "/mw/gated/x", None).await, ok("small,gate"));
        assert_eq!(get(&mut send, "/plain", None).await, ok(""));
        // A step that refuses, one that panics: the handler does not run, and the next
        // request of the connection runs its chain whole.
        let refused = get(&mut send, "/mw/gated/x", Some(("x-refuse", "1"))).await;
        assert_eq!(refused.0, 403);
        assert!(refused.1.contains("refused, as asked"), "{}", refused.1);
        assert_eq!(get(&mut send, "/mw/gated/x", Some(("x-panic", "1"))).await.0, 500);
        assert_eq!(get(&mut send, "/mw/gated/x", None).await, ok("small,gate"));
        assert_eq!(get(&mut send, "/mw/big", None).await, ok("small,big"));
    }
}

#[tokio::test]
async fn what_a_finished_step_held_is_dropped() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;
    for name in ["first-guard", "second-guard"] {
        assert_eq!(get(&mut send, "/mw/other", Some(("x-guard", name))).await.1, "small");
        assert_eq!(get(&mut send, "/mw/other", Some(("x-guard", name))).await.1, "small");
        // Asked on another connection while the first one is idle.
        let mut other = connect(&c).await;
        let (_, dropped) = get(&mut other, &format!("/dropped/{name}"), None).await;
        assert_eq!(dropped, "true", "a finished middleware's local outlived it");
    }
}
