//! A collaborative kanban board: log in, open a board with others, and every card added,
//! moved, renamed or deleted appears on everyone's screen at once, with who is here and what
//! each has selected. Boards are kept in SQLite (or Postgres); a page that loses its network
//! catches up when it is back.
//!
//! ```text
//! cargo run --example board                      # then open http://127.0.0.1:8082
//! cargo run --example board -- --port 9000 --database sqlite://my-boards.db
//! cargo run --example board -- --database postgres://user:pass@localhost/boards
//! cargo run --example board -- --tls cert.pem key.pem
//! cargo run --example board -- --port 8082 --database postgres://.. --redis redis://127.0.0.1:6379/
//! ```
//!
//! Several instances share one Postgres (versions, logins) and, with `--redis`, one hub: a
//! change made on one instance reaches the pages open on every instance at once, and who is
//! here is one list across them (the hub's presence).
//!
//! `ADDR` sets the whole address to listen on (`--port` only the port, on 127.0.0.1). The
//! database defaults to `target/board.db` under the working directory. `BOARD_COOKIE_KEY`
//! (128 hex digits) keeps logins valid across restarts and instances; without it a key is
//! made at start. `BOARD_SECURE_COOKIES=1` marks the cookie `Secure` behind a TLS proxy.

mod app;

use std::io::{Error as IoError, ErrorKind};

use fratello::cookie::Key;

const USAGE: &str = "usage: board [--port PORT] [--database URL] [--redis URL] [--tls CERT.pem KEY.pem]";

/// The command line.
struct Args {
    addr: String,
    database: String,
    tls: Option<(String, String)>,
    redis: Option<String>,
}

fn args() -> Result<Args, IoError> {
    let bad = |why: String| IoError::new(ErrorKind::InvalidInput, format!("{why}\n{USAGE}"));
    let mut out = Args {
        addr: std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8082".to_owned()),
        database: "sqlite://target/board.db".to_owned(),
        tls: None,
        redis: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| bad(format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => {
                let port: u16 = value()?.parse().map_err(|e| bad(format!("--port: {e}")))?;
                out.addr = format!("127.0.0.1:{port}");
            }
            "--database" => out.database = value()?,
            "--tls" => out.tls = Some((value()?, value()?)),
            "--redis" => out.redis = Some(value()?),
            _ => return Err(bad(format!("unknown argument `{flag}`"))),
        }
    }
    Ok(out)
}

/// `BOARD_COOKIE_KEY` as a key, or a new one.
fn cookie_key() -> Result<Key, IoError> {
    let Ok(hex) = std::env::var("BOARD_COOKIE_KEY") else { return Ok(Key::generate()) };
    let bad = || IoError::new(ErrorKind::InvalidInput, "BOARD_COOKIE_KEY: 128 hex digits (64 bytes)");
    if hex.len() != 128 || !hex.is_ascii() {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..64).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)).collect();
    Key::try_from(bytes.map_err(|_| bad())?.as_slice()).map_err(|_| bad())
}

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = args()?;
    let tls = match &args.tls {
        Some((cert, key)) => Some(fratello::tls::TlsConfig::reloading(cert, key)?),
        None => None,
    };
    if args.database == "sqlite://target/board.db" {
        std::fs::create_dir_all("target")?;
    }
    let store = app::store::Store::open(&args.database)
        .await
        .map_err(|e| IoError::other(format!("database {}: {e}", args.database)))?;
    let boards = app::boards::Boards::new(store.clone()).await.map_err(|e| IoError::other(e.to_string()))?;
    let secure_cookies = tls.is_some() || std::env::var("BOARD_SECURE_COOKIES").is_ok_and(|v| v == "1");
    let mut app = app::app(boards, app::Options { cookie_key: cookie_key()?, secure_cookies });
    if let Some(url) = &args.redis {
        // Before binding: an unreachable Redis stops it, naming the URL.
        let redis = fratello_redis::RedisBackend::connect(url).await?;
        app = app.with_hub(fratello::Hub::with_backend(fratello::broadcast::HubConfig::default(), redis));
        println!("boards shared live with the other instances through {url}");
    }

    let listener = fratello::server::bind(&args.addr).await?;
    let local = listener.local_addr()?;
    let shutdown = fratello::server::shutdown_signal();
    match tls {
        Some(tls) => {
            let (_, server) = app.bind_tls_with(listener, tls, shutdown)?;
            println!("board example listening on https://{local}");
            server.await?;
        }
        None => {
            let (_, server) = app.bind_with(listener, shutdown)?;
            println!("board example listening on http://{local}");
            server.await?;
        }
    }
    store.close().await;
    Ok(())
}
