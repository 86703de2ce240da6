//! Chat: REST login, one auth middleware for the REST routes and the socket, rooms, presence,
//! messages fanned out through the hub. Open the printed address in two browser tabs.
//!
//! ```text
//! cargo run --example chat          # then open http://127.0.0.1:8080
//! ```
//! Set `ADDR` to listen elsewhere, and `CHAT_SECURE_COOKIES=1` when the app is served over
//! TLS by a proxy in front of it, so that the session cookie is marked `Secure`; or serve TLS
//! itself with `cargo run --example chat -- --tls cert.pem key.pem` (the cookie is then
//! `Secure` too).

mod app;

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let tls = tls_from_args()?; // (before binding: a bad certificate stops it, naming the file)
    let listener = fratello::server::bind(&addr).await?;
    let local = listener.local_addr()?;
    let shutdown = fratello::server::shutdown_signal();
    match tls {
        // Served over TLS here: the session cookie is `Secure`.
        Some(tls) => {
            let (_, server) = app::app(true).bind_tls_with(listener, tls, shutdown)?;
            println!("chat example listening on https://{local}");
            server.await
        }
        None => {
            let secure = std::env::var("CHAT_SECURE_COOKIES").is_ok_and(|v| v == "1");
            let (_, server) = app::app(secure).bind_with(listener, shutdown)?;
            println!("chat example listening on http://{local}");
            server.await
        }
    }
}

/// `--tls CERT KEY`: serve HTTPS and `wss://` with this certificate chain and key (PEM files),
/// read again whenever they change.
fn tls_from_args() -> Result<Option<fratello::tls::TlsConfig>, fratello::StartupError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, cert, key] if flag == "--tls" => Ok(Some(fratello::tls::TlsConfig::reloading(cert, key)?)),
        _ => {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: chat [--tls CERT.pem KEY.pem]")
                .into())
        }
    }
}
