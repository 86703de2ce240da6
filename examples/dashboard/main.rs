//! Live stock dashboard: a feed task publishes ticks to the hub; the page shows them through
//! EventSource (SSE) or a WebSocket; a REST route returns the current snapshot; all behind one
//! middleware.
//!
//! ```text
//! cargo run --example dashboard     # then open http://127.0.0.1:8081
//! ```
//! Set `ADDR` to listen elsewhere.

mod app;

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let listener = fratello::server::bind(&addr).await?;
    let local = listener.local_addr()?;
    let market = std::sync::Arc::new(app::Market::default());
    let app = app::app(market.clone());
    tokio::spawn(app::feed(app.hub(), market, std::time::Duration::from_millis(500)));
    let (_, server) = app.bind_with(listener, fratello::server::shutdown_signal())?;
    println!("dashboard example listening on http://{local}");
    server.await
}
