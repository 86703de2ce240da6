//! HTTP/2 with prior knowledge (h2c) and HTTP/1.1 keep-alive on the same port.

use fratello::prelude::*;
use fratello::test::TestClient;

#[get("/version")]
async fn version(ctx: Context) -> String {
    format!("{:?}", ctx.version())
}

#[post("/echo")]
async fn echo(ctx: Context) -> Result<Bytes> {
    ctx.body().await
}

#[get("/stream")]
async fn stream(ctx: Context) -> Result<()> {
    for i in 0..3 {
        ctx.send(format!("{i}")).await?;
    }
    Ok(())
}

#[tokio::test]
async fn h2c_and_http1_on_one_port() {
    let c = TestClient::start(App::only(module_path!())).await;
    let res = c.get("/version").http2().send().await;
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.text(), "HTTP/2.0");
    let res = c.post("/echo").http2().body("over h2").send().await;
    assert_eq!(res.text(), "over h2");
    assert_eq!(c.get("/stream").http2().send().await.text(), "012");
    let res = c.get("/version").send().await;
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(res.text(), "HTTP/1.1");
    assert_eq!(c.get("/nope").http2().send().await.status(), StatusCode::NOT_FOUND);
}
