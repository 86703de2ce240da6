//! WebSocket echo, plus a REST route and a socket behind the same token middleware.
//!
//! ```text
//! cargo run --example echo
//! websocat ws://127.0.0.1:9001/echo                                  # open echo
//! curl -H 'authorization: Bearer ada' http://127.0.0.1:9001/api/me   # REST, guarded
//! websocat -H 'authorization: Bearer ada' ws://127.0.0.1:9001/api/ws # socket, same guard
//! ```
//! `/echo` is also the server under test for the Autobahn suite (`scripts/autobahn.sh`).
//! Set `ADDR` to listen elsewhere. `cargo run --example echo -- --tls cert.pem key.pem` serves
//! `wss://` instead, to clients that trust the certificate.

use fratello::prelude::*;
use fratello::ws::WsConfig;

#[derive(Clone)]
struct User {
    name: String,
}

/// One guard for everything under /api: the REST route and the socket's upgrade alike.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    let token = ctx.header("authorization").ok_or_else(|| Error::unauthorized("missing token"))?;
    let name = token.strip_prefix("Bearer ").ok_or_else(|| Error::unauthorized("expected `Bearer NAME`"))?;
    ctx.set(User { name: name.to_owned() });
    Ok(())
}

/// Echoes every message back as it came: text as text, binary as binary.
#[ws("/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

#[get("/api/me")]
async fn me(ctx: Context) -> Result<String> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    Ok(format!("you are {}\n", user.name))
}

/// The authenticated socket: replies carry the user that the middleware found.
#[ws("/api/ws")]
async fn api_ws(ctx: Context) -> Result<()> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    while let Some(msg) = ctx.recv().await? {
        ctx.send(format!("{}: {}", user.name, msg.as_text()?)).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:9001".to_owned());
    let tls = tls_from_args()?; // (before binding: a bad certificate stops it, naming the file)
    let listener = fratello::server::bind(&addr).await?;
    // The conformance suite sends messages of up to 16 MiB to /echo; every other socket keeps
    // the 1 MiB default.
    let conformance = WsConfig::default().max_message_size(16 << 20).max_frame_size(16 << 20);
    let app = App::only("echo").ws_route_config("/echo", conformance);
    let shutdown = fratello::server::shutdown_signal();
    match tls {
        Some(tls) => {
            let (local, server) = app.bind_tls_with(listener, tls, shutdown)?;
            println!("echo example listening on wss://{local}/echo");
            server.await
        }
        None => {
            let (local, server) = app.bind_with(listener, shutdown)?;
            println!("echo example listening on ws://{local}/echo");
            server.await
        }
    }
}

/// `--tls CERT KEY`: serve `wss://` with this certificate chain and key (PEM files), read again
/// whenever they change.
fn tls_from_args() -> Result<Option<fratello::tls::TlsConfig>, fratello::StartupError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, cert, key] if flag == "--tls" => Ok(Some(fratello::tls::TlsConfig::reloading(cert, key)?)),
        _ => {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: echo [--tls CERT.pem KEY.pem]")
                .into())
        }
    }
}
