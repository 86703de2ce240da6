//! The hostile battery: raw bytes over real sockets to a real app, one case per way a client
//! can misbehave. Each case asserts what the server answered (a status, a close code, a closed
//! connection) and that it still serves everyone else afterwards.
//!
//! `scripts/hostile.sh` runs the battery and prints it as one table; `HOSTILE_FULL=1` runs the
//! churn and shutdown cases at their full size.

mod churn;
mod flood;
mod http1;
mod http2;
mod probe;
mod process;
mod ws_frames;

use fratello::prelude::*;

#[get("/hostile/ping")]
async fn ping(_ctx: Context) -> &'static str {
    "pong"
}

#[post("/hostile/json")]
async fn json(ctx: Context) -> Result<String> {
    let v: serde_json::Value = ctx.json().await?;
    Ok(format!("{}", v.is_object()))
}

#[post("/hostile/upload")]
async fn upload(ctx: Context) -> Result<String> {
    let mut total = 0usize;
    while let Some(chunk) = ctx.recv().await? {
        total += chunk.len();
    }
    Ok(total.to_string())
}

#[get("/hostile/never")]
async fn never(_ctx: Context) -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

#[ws("/hostile/ws")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

#[sse("/hostile/sse")]
async fn ticks(ctx: Context) -> Result<()> {
    loop {
        ctx.send("tick").await?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The app every case runs against.
fn app() -> App {
    App::only(module_path!())
}

/// Whether the full-size churn and shutdown runs were asked for.
fn full() -> bool {
    std::env::var_os("HOSTILE_FULL").is_some()
}
