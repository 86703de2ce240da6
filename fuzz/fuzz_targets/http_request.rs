//! Raw bytes as an HTTP/1.1 connection to an app with a few routes (a plain one, one with a
//! path parameter, a catch-all, one reading the query, one reading a JSON body, one reading a
//! form, one behind a middleware), served as the server serves a connection, over an
//! in-memory stream. The client sends the input and reads until the server closes or all is
//! quiet; the runtime's clock is paused, so every timeout of the server fires as soon as
//! nothing else can happen, and a connection left open ends after a while of that clock.
//!
//! Checks:
//! - nothing panics: not the server, not the handlers, not the middleware;
//! - what the server writes back is nothing, or starts with `HTTP/1.1 ` and a 3-digit
//!   status (`HTTP/1.0 ` when the input has an HTTP/1.0 request, which hyper answers in
//!   kind).
#![no_main]

use std::time::Duration;

use fratello::fuzzing::Harness;
use fratello::prelude::*;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
    #[serde(default)]
    tags: Vec<String>,
    pinned: Option<bool>,
}

#[derive(Deserialize)]
struct Search {
    q: String,
    page: Option<u32>,
}

#[get("/")]
async fn index(_ctx: Context) -> &'static str {
    "hello\n"
}

#[get("/users/{id}")]
async fn user(ctx: Context) -> Result<String> {
    let id: u32 = ctx.param_as("id")?;
    Ok(format!("user {id}\n"))
}

#[get("/files/{*rest}")]
async fn file(ctx: Context) -> String {
    format!("{}\n", ctx.param("rest").unwrap_or_default())
}

#[get("/search")]
async fn search(ctx: Context) -> Result<String> {
    let s: Search = ctx.query()?;
    Ok(format!("{} {:?}\n", s.q, s.page))
}

#[post("/notes")]
async fn create_note(ctx: Context) -> Result<(StatusCode, Json<Note>)> {
    let note: Note = ctx.json().await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[post("/form")]
async fn form(ctx: Context) -> Result<String> {
    let s: Search = ctx.form().await?;
    Ok(format!("{} {:?}\n", s.q, s.page))
}

#[post("/api/echo")]
async fn echo(ctx: Context) -> Result<Bytes> {
    ctx.body().await
}

/// Requests under /api need `authorization: Bearer NAME`.
#[middleware(path = "/api")]
async fn auth(ctx: Context) -> Result<()> {
    match ctx.header("authorization").and_then(|h| h.strip_prefix("Bearer ")) {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err(Error::unauthorized("expected `Bearer NAME`")),
    }
}

/// How long, on the paused clock, a connection may stay open.
const CONNECTION_LIFE: Duration = Duration::from_secs(600);

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    static APP: Harness = Harness::new(App::new()).expect("the app starts");
}

/// What the server writes back to a client that sends `data`.
async fn exchange(app: &Harness, data: &[u8]) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(data.len().max(64 * 1024) * 2);
    let mut out = Vec::new();
    let talk = async {
        client.write_all(data).await.expect("the duplex has room for the whole input");
        let mut buf = [0u8; 16 * 1024];
        loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let serve = async {
        // (An error is the client's doing: a malformed request, a connection cut short.)
        let _ = app.serve_http1(server).await;
    };
    let _ = tokio::time::timeout(CONNECTION_LIFE, async { tokio::join!(serve, talk) }).await;
    out
}

fuzz_target!(|data: &[u8]| {
    let out = RUNTIME.with(|rt| APP.with(|app| rt.block_on(exchange(app, data))));
    if out.is_empty() {
        return;
    }
    // hyper answers an HTTP/1.0 request in kind.
    let http10 = data.windows(8).any(|w| w == b"HTTP/1.0");
    let head = &out[..out.len().min(12)];
    let version_ok = head.starts_with(b"HTTP/1.1 ") || (http10 && head.starts_with(b"HTTP/1.0 "));
    assert!(
        version_ok && head.len() == 12 && head[9..].iter().all(u8::is_ascii_digit),
        "the answer starts with {:?}",
        String::from_utf8_lossy(&out[..out.len().min(64)])
    );
});
