//! Graceful shutdown lets an in-flight request finish and stops accepting new ones.

use std::time::Duration;

use fratello::prelude::*;

#[get("/slow")]
async fn slow(_ctx: Context) -> &'static str {
    tokio::time::sleep(Duration::from_millis(300)).await;
    "finished"
}

#[tokio::test]
async fn in_flight_requests_finish_then_the_server_stops() {
    let listener = fratello::server::bind("127.0.0.1:0").await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = App::only(module_path!())
        .shutdown_timeout(Duration::from_secs(5))
        .bind_with(listener, async move {
            let _ = stop_rx.await;
        })
        .unwrap();
    let server = tokio::spawn(server);

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = format!("http://{addr}/slow").parse().unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let uri = uri.clone();
        async move { client.get(uri).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).unwrap();

    let res = in_flight.await.unwrap().expect("the in-flight request completes");
    assert_eq!(res.status(), StatusCode::OK);
    use http_body_util::BodyExt;
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "finished");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the server stops").unwrap().unwrap();
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
