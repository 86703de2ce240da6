//! The dashboard's routes and price feed, shared by `main.rs` and tests/dashboard_example.rs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fratello::cookie::{Cookie, SameSite};
use fratello::prelude::*;
use fratello::Hub;
use serde::Serialize;
use tower_http::services::ServeDir;

/// The hub room that carries ticks.
pub const ROOM: &str = "prices";
const COOKIE: &str = "dashboard_viewer";

/// One price.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Quote {
    pub symbol: &'static str,
    pub price: f64,
    pub seq: u64,
}

/// The symbols the feed quotes, with their opening prices.
const SYMBOLS: [(&str, f64); 5] =
    [("ACME", 120.0), ("GLOBX", 54.5), ("INITech", 31.2), ("UMBR", 250.0), ("WAYNE", 88.8)];

/// The latest quote of every symbol: what `/api/snapshot` returns.
pub struct Market {
    quotes: Mutex<BTreeMap<&'static str, Quote>>,
}

impl Default for Market {
    /// A market at its opening prices (tick 0), so a viewer sees every symbol from the start.
    fn default() -> Self {
        let quotes = SYMBOLS.iter().map(|&(symbol, price)| (symbol, Quote { symbol, price, seq: 0 }));
        Market { quotes: Mutex::new(quotes.collect()) }
    }
}

impl Market {
    fn snapshot(&self) -> Vec<Quote> {
        self.quotes.lock().unwrap().values().cloned().collect()
    }
}

/// Publishes a tick for one symbol every `every`, forever: a random walk (made-up prices, not
/// a secret: a small generator seeded from the operating system's is plenty).
pub async fn feed(hub: Hub, market: Arc<Market>, every: Duration) {
    let mut prices: Vec<f64> = SYMBOLS.iter().map(|s| s.1).collect();
    let mut rng = getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
    let mut seq = 0u64;
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        // xorshift64: fine for a demo feed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = (rng % SYMBOLS.len() as u64) as usize;
        let step = ((rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02;
        prices[i] = (prices[i] * (1.0 + step) * 100.0).round() / 100.0;
        seq += 1;
        let quote = Quote { symbol: SYMBOLS[i].0, price: prices[i], seq };
        market.quotes.lock().unwrap().insert(quote.symbol, quote.clone());
        // Encoded once, as an SSE event with an id; WebSocket clients get its data as text.
        let event = Event::new().event("tick").id(seq).json_data(&quote).expect("a quote serializes");
        if let Err(e) = hub.publish(ROOM, event) {
            tracing::warn!(error = %e, "a tick was not published");
        }
    }
}

/// PLACEHOLDER access control for a public demo: loading the page (anything outside `/api`)
/// hands out the cookie the `/api` middleware wants, and scripts may send a fixed key. A real
/// dashboard checks a session here (see the chat example).
#[middleware]
async fn page_cookie(ctx: Context) -> Result<()> {
    if !ctx.path().starts_with("/api") && ctx.cookie(COOKIE).is_none() {
        ctx.set_cookie(Cookie::build((COOKIE, "1")).path("/").http_only(true).same_site(SameSite::Strict));
    }
    Ok(())
}

/// Guards the snapshot, the SSE stream and the socket alike.
#[middleware(path = "/api")]
async fn viewer(ctx: Context) -> Result<()> {
    let has_cookie = ctx.cookie(COOKIE).is_some_and(|c| c.value() == "1");
    let has_key = ctx.header("x-api-key") == Some("demo");
    if has_cookie || has_key {
        Ok(())
    } else {
        Err(Error::unauthorized("open the dashboard page first (or send x-api-key: demo)"))
    }
}

#[get("/api/snapshot")]
async fn snapshot(ctx: Context) -> Result<Json<Vec<Quote>>> {
    Ok(Json(ctx.state::<Arc<Market>>()?.snapshot()))
}

/// Ticks as Server-Sent Events: first the snapshot, then every tick as it happens.
#[sse("/api/prices")]
async fn prices(ctx: Context) -> Result<()> {
    let feed = ctx.hub().subscribe(ROOM);
    let snapshot = ctx.state::<Arc<Market>>()?.snapshot();
    ctx.send(Event::new().event("snapshot").json_data(&snapshot)?).await?;
    feed.forward(ctx).await
}

/// The same ticks over a WebSocket (each message is a quote as JSON).
#[ws("/api/prices/ws")]
async fn prices_ws(ctx: Context) -> Result<()> {
    let feed = ctx.hub().subscribe(ROOM);
    let snapshot = ctx.state::<Arc<Market>>()?.snapshot();
    ctx.send(Json(serde_json::json!({ "snapshot": snapshot }))).await?;
    let drain = async {
        while ctx.recv().await?.is_some() {}
        Ok(())
    };
    tokio::select! {
        r = feed.forward(ctx.clone()) => r,
        r = drain => r,
    }
}

/// The dashboard app (this module's routes, and its page: the `public` folder beside this
/// file) serving `market`, which [`feed`] updates.
pub fn app(market: Arc<Market>) -> App {
    App::only(module_path!())
        .state(market)
        .mount("/", ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dashboard/public")))
}
