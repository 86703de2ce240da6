//! The fratello server, written as its README shows, with its defaults (WebSocket read buffer
//! 1 KiB); the hub's room capacity is raised to the peers' channel capacity so that no run
//! lags. Served by `srv_fratello`; `allocs` runs it in-process.

use fratello::broadcast::{Hub, HubConfig};
use fratello::prelude::*;

#[get("/plaintext")]
async fn plaintext(_ctx: Context) -> &'static str {
    crate::PLAINTEXT
}

#[get("/json")]
async fn json(_ctx: Context) -> Json<crate::JsonBody> {
    Json(crate::JSON_BODY)
}

#[ws("/echo")]
async fn echo(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

#[ws("/room")]
async fn room(ctx: Context) -> Result<()> {
    // The idiomatic shape (README, chat example): one task per socket, forwarding the room
    // beside the read loop.
    let feed = ctx.hub().subscribe("room").forward(ctx.clone());
    let read = async {
        while let Some(msg) = ctx.recv().await? {
            ctx.hub().publish("room", msg)?;
        }
        Ok(())
    };
    tokio::select! {
        r = feed => r,
        r = read => r,
    }
}

#[sse("/sse")]
async fn sse(ctx: Context) -> Result<()> {
    ctx.hub().subscribe("sse").forward(ctx.clone()).await
}

#[post("/publish")]
async fn publish(ctx: Context) -> Result<String> {
    let body = ctx.text().await?;
    Ok(ctx.hub().publish("sse", Event::new().data(body))?.to_string())
}

/// The rooms' sizes: the peers' channel capacity (in messages, and in bytes enough for that
/// many of the load generator's).
pub fn hub_config() -> HubConfig {
    HubConfig::default().capacity(crate::CHANNEL_CAPACITY).max_bytes(crate::CHANNEL_CAPACITY * 1024)
}

/// The app: these routes only, and the hub with the peers' channel capacity (in messages,
/// and in bytes enough for that many of the load generator's).
pub fn app() -> App {
    let app = App::only(module_path!()).with_hub(Hub::with_config(hub_config()));
    // Investigation knob: FRATELLO_SSE_QUEUE=BYTES sets the SSE stream's queue (default 256 KiB).
    match std::env::var("FRATELLO_SSE_QUEUE").ok().and_then(|q| q.parse().ok()) {
        Some(q) => app.sse_config(fratello::sse::SseConfig::default().max_send_queue(q)),
        None => app,
    }
}
