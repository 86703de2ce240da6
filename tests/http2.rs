//! HTTP/2 with prior knowledge (h2c) and HTTP/1.1 keep-alive on the same port.

use std::future::Future;

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

/// A client connection whose first write stops after a few bytes, and whose next write waits
/// a while: HTTP/2's preface arrives in two pieces.
struct Trickle {
    tcp: tokio::net::TcpStream,
    written: usize,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Trickle {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.written == 0 {
            let n = std::task::ready!(
                std::pin::Pin::new(&mut self.tcp).poll_write(cx, &buf[..buf.len().min(9)])
            )?;
            self.written = n;
            self.pause = Some(Box::pin(tokio::time::sleep(std::time::Duration::from_millis(60))));
            return std::task::Poll::Ready(Ok(n));
        }
        if let Some(pause) = self.pause.as_mut() {
            std::task::ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_preface_that_arrives_in_pieces_is_still_http2() {
    use http_body_util::BodyExt;

    let c = TestClient::start(App::only(module_path!())).await;
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(Trickle { tcp, written: 0, pause: None });
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(c.url("/version")).body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let res = send.send_request(req).await.expect("an HTTP/2 answer");
    assert_eq!(res.version(), http::Version::HTTP_2);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "HTTP/2.0");
}
