//! Socket lifecycle: pings, a dead peer detected by the idle timeout, shutdown with 1001.

use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use fratello::ws::WsConfig;

type Ends = tokio::sync::mpsc::UnboundedSender<&'static str>;

#[ws("/wait")]
async fn wait(ctx: Context) -> Result<()> {
    while ctx.recv().await?.is_some() {}
    ctx.state::<Ends>()?.send("recv ended").ok();
    Ok(())
}

#[tokio::test]
async fn a_silent_peer_is_pinged_then_dropped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let config = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .idle_timeout(Some(Duration::from_millis(400)));
    let c = TestClient::start(App::only(module_path!()).state(tx).ws_config(config)).await;

    // A live client answers pings (its reader does it): it stays connected past the timeout.
    let mut live = c.ws("/wait").connect().await;
    let reader = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_millis(900), live.recv()).await;
        live
    });

    // A dead one never reads, so never answers: the server gives up on it.
    let dead = c.ws("/wait").connect().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert_eq!(ended.expect("the handler's recv ends").unwrap(), "recv ended");
    let mut live = reader.await.unwrap();
    live.send_text("still alive").await; // it would fail if the server had closed it
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err(),
        "only one socket ended"
    );
    drop(dead);
}

#[tokio::test]
async fn shutdown_closes_open_sockets_with_1001() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let app = App::only(module_path!()).state(tx).shutdown_timeout(Duration::from_secs(5));
    let c = TestClient::start(app).await;
    let mut a = c.ws("/wait").connect().await;
    let mut b = c.ws("/wait").connect().await;
    let stop = tokio::spawn(c.shutdown());
    assert_eq!(a.closed().await, (1001, "server shutting down".to_owned()));
    assert_eq!(b.closed().await.0, 1001);
    tokio::time::timeout(Duration::from_secs(5), stop).await.expect("shutdown completes").unwrap();
}
