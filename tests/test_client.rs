//! The test client never hangs: every wait has a timeout that names the route, and an open
//! WebSocket client answers the server's close at shutdown even when the test does not read.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::ws::WsConfig;

#[ws("/client/silent")]
async fn silent_socket(ctx: Context) -> Result<()> {
    while ctx.recv().await?.is_some() {}
    Ok(())
}

#[sse("/client/quiet")]
async fn quiet_stream(ctx: Context) -> Result<()> {
    ctx.send("one").await?;
    std::future::pending::<()>().await;
    Ok(())
}

#[get("/client/stalled")]
async fn stalled(_ctx: Context) -> Result<&'static str> {
    std::future::pending::<()>().await;
    Ok("never")
}

fn app() -> App {
    App::only(module_path!())
}

#[tokio::test]
async fn shutdown_with_an_unread_socket_open_is_answered_not_waited_out() {
    // A close handshake that is not answered would hold shutdown for the whole close timeout.
    let app = app()
        .ws_config(WsConfig::default().close_timeout(Duration::from_secs(60)))
        .shutdown_timeout(Duration::from_secs(60));
    let c = TestClient::start(app).await;
    let mut ws = c.ws("/client/silent").connect().await;
    ws.send_text("hello").await;
    tokio::time::timeout(Duration::from_secs(30), c.shutdown())
        .await
        .expect("shutdown ends without waiting out the close timeout");
    assert_eq!(ws.closed().await.0, 1001, "the server went away with 1001");
}

#[tokio::test]
async fn the_timeout_variants_return_an_error_when_nothing_comes() {
    let c = TestClient::start(app()).await;
    let mut ws = c.ws("/client/silent").connect().await;
    assert!(ws.recv_timeout(Duration::from_millis(100)).await.is_err());
    let mut sse = c.sse("/client/quiet").connect().await;
    assert_eq!(sse.next_event().await.unwrap().data.as_deref(), Some("one"));
    assert!(sse.next_event_timeout(Duration::from_millis(100)).await.is_err());
    // Still open: the server did not close either.
    ws.send_text("still there").await;
}

#[tokio::test]
#[should_panic(expected = "no WebSocket message on `/client/silent` within 200ms")]
async fn a_socket_receive_that_never_comes_fails_naming_the_route() {
    let c = TestClient::start(app()).await.timeout(Duration::from_millis(200));
    let mut ws = c.ws("/client/silent").connect().await;
    ws.recv().await;
}

#[tokio::test]
#[should_panic(expected = "/client/quiet")]
async fn an_event_that_never_comes_fails_naming_the_route() {
    let c = TestClient::start(app()).await.timeout(Duration::from_millis(200));
    let mut sse = c.sse("/client/quiet").connect().await;
    sse.next_event().await;
    sse.next_event().await;
}

#[tokio::test]
#[should_panic(expected = "no whole response to `GET /client/stalled` within 200ms")]
async fn a_response_that_never_comes_fails_naming_the_request() {
    let c = TestClient::start(app()).await.timeout(Duration::from_millis(200));
    c.get("/client/stalled").send().await;
}

#[tokio::test]
#[should_panic(expected = "`GET /client/stalled` within 300ms")]
async fn one_request_may_wait_longer_than_the_client() {
    let c = TestClient::start(app()).await.timeout(Duration::from_millis(100));
    c.get("/client/stalled").timeout(Duration::from_millis(300)).send().await;
}

#[tokio::test]
async fn the_three_builders_take_headers_alike() {
    let c = TestClient::start(app()).await;
    let name = http::HeaderName::from_static("x-one");
    let _ = c.get("/client/nothing").header("x-a", "1").header(name.clone(), &b"bytes"[..]).send().await;
    let _ = c.ws("/client/silent").header("x-a", "1").header(name.clone(), &b"bytes"[..]).connect().await;
    let _ = c.sse("/client/quiet").header("x-a", "1").header(name, &b"bytes"[..]).connect().await;
}
