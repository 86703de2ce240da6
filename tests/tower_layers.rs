//! tower-http layers around a fratello app, through a real client: CORS (a preflight answered
//! by the layer, a socket that still opens), compression (a big JSON body gzipped, an SSE
//! stream left alone and delivered event by event), a layer that refuses a socket before it
//! opens, request ids, body limits and timeouts.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::{header, HeaderValue, Method};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

#[get("/layers/items")]
async fn items(_ctx: Context) -> &'static str {
    "items"
}

#[get("/layers/big")]
async fn big(_ctx: Context) -> Json<Vec<String>> {
    Json((0..2_000).map(|i| format!("item number {i}")).collect())
}

#[post("/layers/echo")]
async fn echo(ctx: Context) -> Result<Bytes> {
    ctx.body().await
}

#[get("/layers/slow")]
async fn slow(_ctx: Context) -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

#[get("/layers/request-id")]
async fn request_id(ctx: Context) -> String {
    ctx.header("x-request-id").unwrap_or("none").to_owned()
}

static SOCKETS_OPENED: AtomicUsize = AtomicUsize::new(0);

#[ws("/layers/ws")]
async fn socket(ctx: Context) -> Result<()> {
    SOCKETS_OPENED.fetch_add(1, Ordering::SeqCst);
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

/// Lets the SSE route send its second event once the client has the first.
static NEXT_EVENT: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[sse("/layers/sse")]
async fn events(ctx: Context) -> Result<()> {
    ctx.send(Event::new().data("one")).await?;
    NEXT_EVENT.notified().await;
    ctx.send(Event::new().data("two")).await
}

fn app() -> App {
    App::only(module_path!())
}

#[tokio::test]
async fn cors_answers_a_preflight_and_marks_responses_while_sockets_still_open() {
    let cors = CorsLayer::new()
        .allow_origin([
            "https://app.example".parse::<HeaderValue>().unwrap(),
            "https://admin.app.example".parse::<HeaderValue>().unwrap(),
        ])
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE]);
    // (The page's origin may open the socket too.)
    let ws = fratello::ws::WsConfig::default().allowed_origins(["https://app.example"]);
    let c = TestClient::start(app().ws_config(ws).layer(cors)).await;

    // The route answers GET only; the preflight is the layer's.
    let res = c
        .options("/layers/items")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("access-control-allow-origin"), Some("https://app.example"));
    assert!(res.header("access-control-allow-methods").unwrap().contains("POST"));

    let res = c.get("/layers/items").header("origin", "https://app.example").send().await;
    assert_eq!(res.text(), "items");
    assert_eq!(res.header("access-control-allow-origin"), Some("https://app.example"));
    // Another origin is not allowed: no allow-origin header for it.
    let res = c.get("/layers/items").header("origin", "https://evil.example").send().await;
    assert_eq!(res.header("access-control-allow-origin"), None);

    let mut ws = c.ws("/layers/ws").header("origin", "https://app.example").connect().await;
    ws.send_text("through cors").await;
    assert_eq!(ws.recv_text().await, "through cors");
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a valid gzip stream");
    out
}

#[tokio::test]
async fn compression_gzips_a_big_body_and_leaves_streams_and_sockets_alone() {
    let c = TestClient::start(app().layer(CompressionLayer::new())).await;
    let plain = c.get("/layers/big").send().await;
    assert_eq!(plain.header("content-encoding"), None);

    let res = c.get("/layers/big").header("accept-encoding", "gzip").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert!(res.bytes().len() < plain.bytes().len() / 4, "{} bytes gzipped", res.bytes().len());
    assert_eq!(gunzip(res.bytes()), plain.bytes().to_vec());

    // An event stream is not compressed, and each event arrives as it is sent: the second is
    // sent only once the client has the first.
    let mut sse = c.sse("/layers/sse").header("accept-encoding", "gzip").connect().await;
    assert_eq!(sse.status(), StatusCode::OK);
    assert_eq!(sse.header("content-encoding"), None);
    let first = tokio::time::timeout(Duration::from_secs(10), sse.next_event()).await;
    assert_eq!(first.expect("the first event arrives on its own").unwrap().data.as_deref(), Some("one"));
    NEXT_EVENT.notify_one();
    let second = tokio::time::timeout(Duration::from_secs(10), sse.next_event()).await.unwrap();
    assert_eq!(second.unwrap().data.as_deref(), Some("two"));

    let mut ws = c.ws("/layers/ws").header("accept-encoding", "gzip").connect().await;
    ws.send_text("plain frames").await;
    assert_eq!(ws.recv_text().await, "plain frames");
}

#[tokio::test]
async fn a_layer_that_refuses_an_upgrade_keeps_the_socket_closed() {
    // (The refusal is the response itself, as the layer's API has it.)
    #[allow(clippy::result_large_err)]
    let guard = ValidateRequestHeaderLayer::custom(|req: &mut http::Request<fratello::Body>| {
        if req.headers().get("authorization").is_some_and(|v| v == "Bearer let-me-in") {
            Ok(())
        } else {
            Err(http::Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(fratello::Body::empty())
                .unwrap())
        }
    });
    let c = TestClient::start(app().layer(guard)).await;
    let before = SOCKETS_OPENED.load(Ordering::SeqCst);
    let refused = c.ws("/layers/ws").try_connect().await.err().expect("refused without the token");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // Refused before routing: the handler never ran.
    assert_eq!(SOCKETS_OPENED.load(Ordering::SeqCst), before);

    let mut ws = c.ws("/layers/ws").header("authorization", "Bearer let-me-in").connect().await;
    ws.send_text("in").await;
    assert_eq!(ws.recv_text().await, "in");
    assert_eq!(c.get("/layers/items").send().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn request_ids_are_made_seen_by_the_handler_and_echoed() {
    let c = TestClient::start(
        app()
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
    )
    .await;
    let res = c.get("/layers/request-id").send().await;
    let id = res.header("x-request-id").expect("an id is echoed").to_owned();
    assert_eq!(res.text(), id, "the handler sees the id the client gets");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = c.get("/layers/request-id").send().await;
    assert_ne!(other.header("x-request-id"), Some(id.as_str()));
    // A client's own id is kept.
    let res = c.get("/layers/request-id").header("x-request-id", "abc-123").send().await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    assert_eq!(res.text(), "abc-123");
}

#[tokio::test]
async fn a_body_limit_layer_refuses_a_big_body_declared_or_streamed() {
    let c = TestClient::start(app().layer(RequestBodyLimitLayer::new(1024))).await;
    assert_eq!(c.post("/layers/echo").body(vec![b'a'; 512]).send().await.text().len(), 512);
    // Declared by its length: the layer answers.
    let res = c.post("/layers/echo").body(vec![b'a'; 4096]).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed without a length: the handler's read fails with 413 too.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(vec![b'b'; 512])))),
    );
    let body = fratello::Body::new(http_body_util::StreamBody::new(chunks));
    let res = c.post("/layers/echo").body(body).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{}", res.text());
}

#[tokio::test]
async fn a_timeout_layer_answers_a_slow_handler() {
    let layer = TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_millis(200));
    let c = TestClient::start(app().layer(layer)).await;
    let res = tokio::time::timeout(Duration::from_secs(10), c.get("/layers/slow").send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.get("/layers/items").send().await.text(), "items");
}

#[tokio::test]
async fn tracing_layer_wraps_requests_and_sockets() {
    let c = TestClient::start(app().layer(tower_http::trace::TraceLayer::new_for_http())).await;
    assert_eq!(c.get("/layers/items").send().await.text(), "items");
    let mut ws = c.ws("/layers/ws").connect().await;
    ws.send_text("traced").await;
    assert_eq!(ws.recv_text().await, "traced");
}
