//! Micro-benchmarks of fratello's hot paths, through its public API only.
//!
//! - `outbound/*`: encoding a value for `ctx.send` / `Hub::publish` (text, JSON, SSE event,
//!   a received message sent back);
//! - `hub/*`: publishing to a room with and without subscribers;
//! - `request/*`: one request through the whole server over a loopback keep-alive
//!   connection: a static route, a parameter route among 100 routes, a route behind 5
//!   middleware, and the same request answered by a bare hyper service (the floor; the
//!   difference is fratello's per-request cost, routing and middleware included).
//!
//! - `hot/*`: routing alone (a parameter route among 102), Context creation, and a chain of 5
//!   middleware, through fratello's `#[doc(hidden)] __bench` hooks, without a connection.
//!
//! `cargo bench -p fratello-bench --bench micro`

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use fratello::broadcast::Hub;
use fratello::prelude::*;
use fratello::Outbound;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;

#[get("/plaintext")]
async fn plaintext(_ctx: Context) -> &'static str {
    "Hello, World!"
}

#[get("/mw/plaintext")]
async fn mw_plaintext(_ctx: Context) -> &'static str {
    "Hello, World!"
}

#[get("/r0/{id}")]
async fn r0(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r1/{id}")]
async fn r1(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r2/{id}")]
async fn r2(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r3/{id}")]
async fn r3(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r4/{id}")]
async fn r4(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r5/{id}")]
async fn r5(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r6/{id}")]
async fn r6(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r7/{id}")]
async fn r7(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r8/{id}")]
async fn r8(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r9/{id}")]
async fn r9(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r10/{id}")]
async fn r10(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r11/{id}")]
async fn r11(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r12/{id}")]
async fn r12(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r13/{id}")]
async fn r13(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r14/{id}")]
async fn r14(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r15/{id}")]
async fn r15(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r16/{id}")]
async fn r16(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r17/{id}")]
async fn r17(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r18/{id}")]
async fn r18(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r19/{id}")]
async fn r19(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r20/{id}")]
async fn r20(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r21/{id}")]
async fn r21(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r22/{id}")]
async fn r22(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r23/{id}")]
async fn r23(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r24/{id}")]
async fn r24(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r25/{id}")]
async fn r25(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r26/{id}")]
async fn r26(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r27/{id}")]
async fn r27(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r28/{id}")]
async fn r28(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r29/{id}")]
async fn r29(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r30/{id}")]
async fn r30(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r31/{id}")]
async fn r31(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r32/{id}")]
async fn r32(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r33/{id}")]
async fn r33(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r34/{id}")]
async fn r34(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r35/{id}")]
async fn r35(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r36/{id}")]
async fn r36(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r37/{id}")]
async fn r37(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r38/{id}")]
async fn r38(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r39/{id}")]
async fn r39(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r40/{id}")]
async fn r40(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r41/{id}")]
async fn r41(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r42/{id}")]
async fn r42(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r43/{id}")]
async fn r43(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r44/{id}")]
async fn r44(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r45/{id}")]
async fn r45(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r46/{id}")]
async fn r46(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r47/{id}")]
async fn r47(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r48/{id}")]
async fn r48(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r49/{id}")]
async fn r49(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r50/{id}")]
async fn r50(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r51/{id}")]
async fn r51(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r52/{id}")]
async fn r52(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r53/{id}")]
async fn r53(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r54/{id}")]
async fn r54(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r55/{id}")]
async fn r55(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r56/{id}")]
async fn r56(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r57/{id}")]
async fn r57(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r58/{id}")]
async fn r58(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r59/{id}")]
async fn r59(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r60/{id}")]
async fn r60(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r61/{id}")]
async fn r61(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r62/{id}")]
async fn r62(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r63/{id}")]
async fn r63(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r64/{id}")]
async fn r64(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r65/{id}")]
async fn r65(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r66/{id}")]
async fn r66(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r67/{id}")]
async fn r67(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r68/{id}")]
async fn r68(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r69/{id}")]
async fn r69(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r70/{id}")]
async fn r70(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r71/{id}")]
async fn r71(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r72/{id}")]
async fn r72(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r73/{id}")]
async fn r73(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r74/{id}")]
async fn r74(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r75/{id}")]
async fn r75(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r76/{id}")]
async fn r76(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r77/{id}")]
async fn r77(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r78/{id}")]
async fn r78(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r79/{id}")]
async fn r79(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r80/{id}")]
async fn r80(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r81/{id}")]
async fn r81(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r82/{id}")]
async fn r82(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r83/{id}")]
async fn r83(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r84/{id}")]
async fn r84(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r85/{id}")]
async fn r85(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r86/{id}")]
async fn r86(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r87/{id}")]
async fn r87(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r88/{id}")]
async fn r88(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r89/{id}")]
async fn r89(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r90/{id}")]
async fn r90(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r91/{id}")]
async fn r91(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r92/{id}")]
async fn r92(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r93/{id}")]
async fn r93(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r94/{id}")]
async fn r94(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r95/{id}")]
async fn r95(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r96/{id}")]
async fn r96(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r97/{id}")]
async fn r97(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r98/{id}")]
async fn r98(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[get("/r99/{id}")]
async fn r99(ctx: Context) -> String {
    ctx.param("id").unwrap_or("").to_owned()
}

#[middleware(path = "/mw", order = 0)]
async fn mw0(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/mw", order = 1)]
async fn mw1(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/mw", order = 2)]
async fn mw2(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/mw", order = 3)]
async fn mw3(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/mw", order = 4)]
async fn mw4(_ctx: Context) -> Result<()> {
    Ok(())
}

/// A keep-alive HTTP/1.1 client connection to `addr`.
async fn client(addr: std::net::SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    tx
}

async fn get(tx: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>, path: &str) -> usize {
    tx.ready().await.expect("ready");
    let req = http::Request::get(path).header("host", "bench").body(Empty::new()).expect("request");
    let res = tx.send_request(req).await.expect("response");
    res.into_body().collect().await.expect("body").to_bytes().len()
}

async fn hyper_floor(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .header("content-type", "text/plain; charset=utf-8")
                        .body(Full::new(Bytes::from_static(b"Hello, World!")))
                        .expect("response"),
                )
            });
            let _ =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn outbound(c: &mut Criterion) {
    let mut g = c.benchmark_group("outbound");
    let text = "x".repeat(32);
    g.bench_function("text_32B", |b| b.iter(|| Outbound::from(std::hint::black_box(text.as_str()))));
    g.bench_function("json", |b| {
        b.iter(|| Outbound::from(Json(serde_json::json!({"message": "Hello, World!", "n": 42}))))
    });
    g.bench_function("sse_event_32B", |b| {
        b.iter(|| {
            Outbound::from(Event::new().event("tick").id("7").data(std::hint::black_box(text.as_str())))
        })
    });
    let msg = Message::text(text.clone());
    g.bench_function("message_echoed_32B", |b| b.iter(|| Outbound::from(std::hint::black_box(msg.clone()))));
    g.finish();
}

fn hub(c: &mut Criterion) {
    let mut g = c.benchmark_group("hub");
    let hub = Hub::new();
    g.bench_function("publish_no_subscriber", |b| b.iter(|| hub.publish("empty", "x".repeat(32))));
    let subs: Vec<_> = (0..1000).map(|_| hub.subscribe("room")).collect();
    // The ring is bounded (256 by default): publishing never waits for the receivers.
    g.bench_function("publish_1000_subscribers", |b| b.iter(|| hub.publish("room", "x".repeat(32))));
    drop(subs);
    g.finish();
}

fn request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let (fratello_addr, hyper_addr) = rt.block_on(async {
        let listener = fratello::server::bind("127.0.0.1:0").await.expect("bind");
        let (addr, server) = App::only(module_path!())
            .bind_with(listener, std::future::pending::<()>())
            .expect("valid routes");
        tokio::spawn(server);
        let hl = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let haddr = hl.local_addr().expect("addr");
        tokio::spawn(hyper_floor(hl));
        (addr, haddr)
    });
    let mut g = c.benchmark_group("request");
    g.measurement_time(Duration::from_secs(4));
    let mut tx = rt.block_on(client(hyper_addr));
    g.bench_function("hyper_floor", |b| b.iter(|| rt.block_on(get(&mut tx, "/plaintext"))));
    let mut tx = rt.block_on(client(fratello_addr));
    g.bench_function("static_route", |b| b.iter(|| rt.block_on(get(&mut tx, "/plaintext"))));
    g.bench_function("param_route_of_100", |b| b.iter(|| rt.block_on(get(&mut tx, "/r99/12345"))));
    g.bench_function("behind_5_middleware", |b| b.iter(|| rt.block_on(get(&mut tx, "/mw/plaintext"))));
    g.finish();
}

fn hot(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let built = fratello::__bench::build(App::only(module_path!()));
    let mut g = c.benchmark_group("hot");
    let get = http::Method::GET;
    g.bench_function("routing_lookup_of_100", |b| {
        b.iter(|| built.lookup(&get, std::hint::black_box("/r57/12345")))
    });
    // A path without parameters: found whole in the router's table of exact paths.
    g.bench_function("routing_lookup_static_of_100", |b| {
        b.iter(|| built.lookup(&get, std::hint::black_box("/plaintext")))
    });
    g.bench_function("context_create", |b| b.iter(|| built.context(std::hint::black_box("/r57/12345"))));
    let ctx = built.context("/mw/plaintext");
    g.bench_function("middleware_chain_of_5", |b| {
        b.iter(|| rt.block_on(fratello::__bench::run_middleware(&ctx)).expect("the chain passes"))
    });
    g.finish();
}

criterion_group!(benches, outbound, hub, hot, request);
criterion_main!(benches);
