//! Chat: REST login, one auth middleware for the REST routes and the socket, rooms, presence,
//! messages fanned out through the hub. Open the printed address in two browser tabs.
//!
//! ```text
//! cargo run --example chat                          # then open http://127.0.0.1:8080
//! cargo run --example chat -- --port 8081           # another port (or ADDR=host:port)
//! cargo run --example chat -- --tls cert.pem key.pem
//! ```
//! Several instances, one audience: start a Redis, then each instance with `--redis`; a
//! message posted on one reaches the members on every one.
//!
//! ```text
//! redis-server --port 6379 &
//! cargo run --example chat -- --port 8080 --redis redis://127.0.0.1:6379/ &
//! cargo run --example chat -- --port 8081 --redis redis://127.0.0.1:6379/
//! ```
//! The member list is one across the instances; logins stay per instance (log in on each). Set
//! `CHAT_SECURE_COOKIES=1` when a proxy in front serves the app over TLS, so that the session
//! cookie is marked `Secure`; with `--tls` it is `Secure` too.

mod app;

use fratello::broadcast::{Hub, HubConfig};
use fratello::StartupError;

/// What the command line asks for.
#[derive(Default)]
struct Args {
    addr: Option<String>,
    tls: Option<(String, String)>,
    redis: Option<String>,
}

const USAGE: &str = "usage: chat [--port N] [--redis redis://HOST:PORT/] [--tls CERT.pem KEY.pem]";

#[tokio::main]
async fn main() -> Result<(), StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = parse_args(std::env::args().skip(1))?;
    let addr =
        args.addr.or_else(|| std::env::var("ADDR").ok()).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    // Before binding: a bad certificate or an unreachable Redis stops it, naming the file or URL.
    let tls = match &args.tls {
        Some((cert, key)) => Some(fratello::tls::TlsConfig::reloading(cert, key)?),
        None => None,
    };
    let hub = match &args.redis {
        Some(url) => {
            Hub::with_backend(HubConfig::default(), fratello_redis::RedisBackend::connect(url).await?)
        }
        None => Hub::new(),
    };
    if let Some(url) = &args.redis {
        println!("rooms shared with the other instances through {url}");
    }
    let listener = fratello::server::bind(&addr).await?;
    let local = listener.local_addr()?;
    let shutdown = fratello::server::shutdown_signal();
    match tls {
        // Served over TLS here: the session cookie is `Secure`.
        Some(tls) => {
            let (_, server) = app::app(true).with_hub(hub).bind_tls_with(listener, tls, shutdown)?;
            println!("chat example listening on https://{local}");
            server.await
        }
        None => {
            let secure = std::env::var("CHAT_SECURE_COOKIES").is_ok_and(|v| v == "1");
            let (_, server) = app::app(secure).with_hub(hub).bind_with(listener, shutdown)?;
            println!("chat example listening on http://{local}");
            server.await
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, StartupError> {
    let usage = |why: String| {
        StartupError::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{why}\n{USAGE}")))
    };
    let mut parsed = Args::default();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| usage(format!("{name} needs a value")));
        match flag.as_str() {
            "--port" => {
                let port: u16 = value("--port")?
                    .parse()
                    .map_err(|_| usage("--port takes a number from 1 to 65535".into()))?;
                parsed.addr = Some(format!("127.0.0.1:{port}"));
            }
            "--redis" => parsed.redis = Some(value("--redis")?),
            "--tls" => parsed.tls = Some((value("--tls")?, value("--tls")?)),
            other => return Err(usage(format!("unknown argument `{other}`"))),
        }
    }
    Ok(parsed)
}
