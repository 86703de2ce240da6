//! The app built without fratello's default features answers over HTTP/1.1 (hyper's client,
//! over a real socket). (Under `cargo test --workspace` the features of every member are
//! unified; `cargo test -p fratello-minimal` builds it alone, as CI does.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http_is_served_without_the_default_features() {
    let listener = fratello::server::bind("127.0.0.1:0").await.unwrap();
    let (addr, server) = fratello_minimal::app().bind_with(listener, std::future::pending()).unwrap();
    let server = tokio::spawn(server);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /minimal/hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut res = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut res)).await.unwrap().unwrap();
    let res = String::from_utf8_lossy(&res);
    assert!(res.starts_with("HTTP/1.1 200 OK"), "{res}");
    assert!(res.ends_with("hello without the default features"), "{res}");
    server.abort();
}
