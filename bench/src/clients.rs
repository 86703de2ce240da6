//! The load generators' clients: TCP connections from chosen loopback addresses, WebSocket
//! handshakes with small buffers, and many of them opened at once.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::WebSocketConfig;

/// A client's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// A TCP connection to `addr` from the loopback address `src`, without Nagle.
pub async fn connect(src: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    let s = sock.connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// The buffers of a client socket that reads and writes.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096)
}

/// A socket that will stay idle: tungstenite does the handshake, with the smallest buffers,
/// so that tens of thousands fit in one client process.
pub async fn idle_ws(src: IpAddr, addr: SocketAddr, path: &str) -> Result<Ws, String> {
    let s = connect(src, addr).await.map_err(|e| format!("connect: {e}"))?;
    let url = format!("ws://{addr}{path}");
    let config = WebSocketConfig::default().read_buffer_size(256).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), s, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// A WebSocket client of `path`, from `src`.
pub async fn ws(src: IpAddr, addr: SocketAddr, path: &str) -> Result<Ws, String> {
    let s = connect(src, addr).await.map_err(|e| format!("connect: {e}"))?;
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), s, Some(client_config()))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Opens `n` connections with at most `parallel` handshakes in flight, each within `timeout`.
pub async fn open_many<T, F, Fut>(
    n: usize,
    parallel: usize,
    sources: &[IpAddr],
    timeout: Duration,
    f: F,
) -> (Vec<T>, usize, String)
where
    T: Send + 'static,
    F: Fn(usize, IpAddr) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(n);
    let (mut failed, mut last_err) = (0, String::new());
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while out.len() + failed < n {
        while next < n && set.len() < parallel {
            let fut = f(next, sources[next % sources.len()]);
            set.spawn(async move {
                tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| Err("timed out".to_owned()))
            });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(t))) => out.push(t),
            Some(Ok(Err(e))) => {
                failed += 1;
                last_err = e;
            }
            Some(Err(e)) => {
                failed += 1;
                last_err = e.to_string();
            }
            None => break,
        }
        if Instant::now() > deadline {
            last_err = "gave up after 120 s".to_owned();
            failed += n - out.len() - failed;
            break;
        }
    }
    (out, failed, last_err)
}
