//! A handful of HTTP routes behind one auth middleware.
//!
//! The "auth" here is a placeholder that shows where a real check goes: it takes any
//! `Bearer NAME` as the user NAME, so anyone can claim to be anyone. Put your token or session
//! check in its place (the chat example has real sessions).
//!
//! ```text
//! cargo run --example hello
//! curl http://127.0.0.1:8080/hello/ada
//! curl -H 'authorization: Bearer ada' http://127.0.0.1:8080/api/me
//! curl -H 'authorization: Bearer ada' -H 'content-type: application/json' \
//!      -d '{"text":"buy milk"}' http://127.0.0.1:8080/api/notes
//! curl --http2-prior-knowledge http://127.0.0.1:8080/hello/h2
//! ```
//! Set `ADDR` to listen elsewhere (e.g. `ADDR=127.0.0.1:0` for any free port).
//!
//! Over TLS (HTTPS, HTTP/2 by ALPN; the files are read again when they change):
//!
//! ```text
//! cargo run --example hello -- --tls cert.pem key.pem
//! curl --cacert ca.pem https://localhost:8080/hello/ada
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use fratello::prelude::*;
use serde::{Deserialize, Serialize};

/// The user that `auth` hands to the handlers under /api.
#[derive(Clone, Debug)]
struct User {
    name: String,
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

#[derive(Serialize, Clone)]
struct Note {
    id: u64,
    author: String,
    text: String,
}

/// Most notes kept, and the longest note, so that the in-memory store stays bounded.
const MAX_NOTES: usize = 1_000;
const MAX_NOTE_CHARS: usize = 1_000;

/// App state: the notes, in memory.
#[derive(Default)]
struct Notes {
    next: AtomicU64,
    all: Mutex<Vec<Note>>,
}

#[get("/")]
async fn index(_ctx: Context) -> &'static str {
    "fratello says hello. Try /hello/NAME, /api/me (with `authorization: Bearer NAME`), /api/notes\n"
}

#[get("/hello/{name}")]
async fn hello(ctx: Context) -> String {
    format!("Hello, {}!\n", ctx.param("name").unwrap_or("world"))
}

/// Every route under /api needs `authorization: Bearer NAME`; the handler finds the user in ctx.
///
/// PLACEHOLDER, not authentication: any NAME is believed. Verify a token or a session here.
#[middleware(path = "/api", order = 10)]
async fn auth(ctx: Context) -> Result<()> {
    let header = ctx
        .header("authorization")
        .ok_or_else(|| Error::unauthorized("missing `authorization: Bearer NAME`"))?;
    let name = header
        .strip_prefix("Bearer ")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::unauthorized("expected `Bearer NAME`"))?;
    ctx.set(User { name: name.to_owned() });
    Ok(())
}

/// Adds a header to every response.
#[middleware(after)]
async fn powered_by(ctx: Context) -> Result<()> {
    ctx.set_header("x-powered-by", "fratello");
    Ok(())
}

#[get("/api/me")]
async fn me(ctx: Context) -> Result<String> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    Ok(format!("you are {}\n", user.name))
}

#[post("/api/notes")]
async fn create_note(ctx: Context) -> Result<(StatusCode, Json<Note>)> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let new: NewNote = ctx.json().await?;
    if new.text.chars().count() > MAX_NOTE_CHARS {
        return Err(Error::unprocessable(format!("a note is at most {MAX_NOTE_CHARS} characters")));
    }
    let notes = ctx.state::<Notes>()?;
    let mut all = notes.all.lock().unwrap();
    if all.len() >= MAX_NOTES {
        return Err(Error::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("this demo keeps at most {MAX_NOTES} notes"),
        ));
    }
    let note = Note { id: notes.next.fetch_add(1, Ordering::Relaxed) + 1, author: user.name, text: new.text };
    all.push(note.clone());
    Ok((StatusCode::CREATED, Json(note)))
}

#[get("/api/notes")]
async fn list_notes(ctx: Context) -> Result<Json<Vec<Note>>> {
    Ok(Json(ctx.state::<Notes>()?.all.lock().unwrap().clone()))
}

#[get("/api/notes/{id}")]
async fn get_note(ctx: Context) -> Result<Json<Note>> {
    let id: u64 = ctx.param_as("id")?;
    let notes = ctx.state::<Notes>()?.all.lock().unwrap();
    let note = notes.iter().find(|n| n.id == id).cloned();
    note.map(Json).ok_or_else(|| Error::not_found(format!("no note {id}")))
}

/// Streams the request body back, chunk by chunk, counting bytes: uploads never sit in memory.
#[post("/upload")]
async fn upload(ctx: Context) -> Result<String> {
    let mut bytes = 0u64;
    while let Some(chunk) = ctx.recv().await? {
        bytes += chunk.len() as u64;
    }
    Ok(format!("received {bytes} bytes\n"))
}

/// A streamed response: five lines, one every 200 ms.
#[get("/countdown")]
async fn countdown(ctx: Context) -> Result<()> {
    for i in (1..=5).rev() {
        ctx.send(format!("{i}\n")).await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ctx.send("liftoff\n").await
}

#[tokio::main]
async fn main() -> Result<(), fratello::StartupError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let app = App::new().state(Notes::default());
    for route in app.routes()? {
        println!("  {route}");
    }
    // Read before binding: a certificate that cannot be used stops the example, naming the file.
    let tls = tls_from_args()?;
    let listener = fratello::server::bind(&addr).await?;
    let shutdown = fratello::server::shutdown_signal();
    match tls {
        Some(tls) => {
            let (local, server) = app.bind_tls_with(listener, tls, shutdown)?;
            println!("hello example listening on https://{local}");
            server.await
        }
        None => {
            let (local, server) = app.bind_with(listener, shutdown)?;
            println!("hello example listening on http://{local}");
            server.await
        }
    }
}

/// `--tls CERT KEY`: serve HTTPS with this certificate chain and key (PEM files), read again
/// whenever they change.
fn tls_from_args() -> Result<Option<fratello::tls::TlsConfig>, fratello::StartupError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, cert, key] if flag == "--tls" => Ok(Some(fratello::tls::TlsConfig::reloading(cert, key)?)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "usage: hello [--tls CERT.pem KEY.pem]",
        )
        .into()),
    }
}
