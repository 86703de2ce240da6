//! Chat: REST login, one auth middleware for the REST routes and the socket, rooms, presence,
//! messages fanned out through the hub. Open the printed address in two browser tabs.
//!
//! ```text
//! cargo run --example chat          # then open http://127.0.0.1:8080
//! ```
//! Set `ADDR` to listen elsewhere, and `CHAT_SECURE_COOKIES=1` when the app is served over
//! TLS (by a proxy in front of it), so that the session cookie is marked `Secure`.

mod app;

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = fratello::server::bind(&addr).await?;
    let local = listener.local_addr()?;
    let secure = std::env::var("CHAT_SECURE_COOKIES").is_ok_and(|v| v == "1");
    let (_, server) = app::app(secure).bind_with(listener, fratello::server::shutdown_signal())?;
    println!("chat example listening on http://{local}");
    server.await
}
