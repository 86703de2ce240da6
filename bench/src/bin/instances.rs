//! Fan-out across instances: receivers spread over one or more servers (`--addrs`), one
//! sender on the first. Two measured phases over the same sockets:
//!
//! - a burst: `--messages` as fast as the sender can write them; deliveries per second until
//!   the last receiver has the last message;
//! - a paced run: `--paced` messages, one every `--interval-ms`; for each message, the time from
//!   its send until the last receiver has it, as p50 and p99.
//!
//! ```text
//! instances --addrs 127.0.0.1:8080,127.0.0.1:8081 --receivers 10000 --messages 200 --paced 200
//! ```
//!
//! Prints one line `RESULT key=value ...`. Every loop is bounded in count and time.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fratello_bench::clients::{open_many, ws};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tungstenite::Message;

fn opt<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == &format!("--{name}")) {
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| die(&format!("bad --{name}")))
        }
        None => default,
    }
}

fn die(msg: &str) -> ! {
    eprintln!("instances: {msg}");
    std::process::exit(2)
}

/// When the last receiver got each message (ns since the start), and how many receivers got
/// everything.
struct Arrivals {
    last: Vec<AtomicU64>,
    done: AtomicUsize,
    warm: AtomicUsize,
}

fn main() {
    let addrs: Vec<SocketAddr> = opt::<String>("addrs", "127.0.0.1:8080".into())
        .split(',')
        .map(|a| a.parse().unwrap_or_else(|_| die("bad --addrs")))
        .collect();
    let sources: Vec<IpAddr> = opt::<String>("sources", "127.0.0.1".into())
        .split(',')
        .map(|a| a.parse().unwrap_or_else(|_| die("bad --sources")))
        .collect();
    let (n, burst, paced) = (opt("receivers", 1000usize), opt("messages", 200usize), opt("paced", 200usize));
    let interval = Duration::from_millis(opt("interval-ms", 10u64));
    let size: usize = opt("size", 32);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(opt("threads", 1)).enable_all().build();
    rt.expect("a runtime").block_on(run(addrs, sources, n, burst, paced, interval, size));
}

async fn run(
    addrs: Vec<SocketAddr>,
    sources: Vec<IpAddr>,
    n: usize,
    burst: usize,
    paced: usize,
    interval: Duration,
    size: usize,
) {
    let total = burst + paced;
    let per_addr = addrs.clone();
    let (socks, failed, err) = open_many(n, 128, &sources, Duration::from_secs(20), move |i, src| {
        ws(src, per_addr[i % per_addr.len()], "/room")
    })
    .await;
    if failed > 0 {
        println!("RESULT error=\"{failed} receivers failed: {err}\"");
        return;
    }
    let arrivals = Arc::new(Arrivals {
        last: (0..total).map(|_| AtomicU64::new(0)).collect(),
        done: AtomicUsize::new(0),
        warm: AtomicUsize::new(0),
    });
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(120);
    let mut set = JoinSet::new();
    for mut sock in socks {
        let arrivals = arrivals.clone();
        set.spawn(async move {
            let (mut warm, mut got) = (false, 0);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), sock.next()).await {
                let Message::Text(t) = msg else { continue };
                if t.starts_with('w') {
                    if !warm {
                        warm = true;
                        arrivals.warm.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let Some(i) = t.get(1..8).and_then(|d| d.parse::<usize>().ok()) else { continue };
                let now = t0.elapsed().as_nanos() as u64;
                arrivals.last[i.min(total - 1)].fetch_max(now, Ordering::Relaxed);
                got += 1;
                if got == total {
                    arrivals.done.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        });
    }
    // The sender is a member too (on the first server); its own copies are drained.
    let Ok(sender) = ws(sources[0], addrs[0], "/room").await else {
        println!("RESULT error=\"the sender could not connect\"");
        return;
    };
    let (mut tx, mut rx) = sender.split();
    let drain = tokio::spawn(async move {
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline.into(), rx.next()).await {}
    });
    let warm_until = Instant::now() + Duration::from_secs(30);
    while arrivals.warm.load(Ordering::Relaxed) < n && Instant::now() < warm_until {
        let _ = tx.send(Message::text("w")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if arrivals.warm.load(Ordering::Relaxed) < n {
        println!("RESULT error=\"only {} of {n} receivers joined\"", arrivals.warm.load(Ordering::Relaxed));
        return;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pad = "m".repeat(size.saturating_sub(8));
    let message = |i: usize| Message::text(format!("m{i:07}{pad}"));

    // The burst.
    let burst_start = t0.elapsed().as_nanos() as u64;
    for i in 0..burst {
        if tx.send(message(i)).await.is_err() {
            break;
        }
    }
    let settle = Instant::now() + Duration::from_secs(60);
    while burst > 0 && arrivals.last[burst - 1].load(Ordering::Relaxed) == 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // (The last receiver of the last burst message; give stragglers a moment to be counted.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let burst_end = (0..burst).map(|i| arrivals.last[i].load(Ordering::Relaxed)).max().unwrap_or(burst_start);
    let burst_secs = (burst_end.saturating_sub(burst_start)) as f64 / 1e9;

    // The paced run.
    let mut sent = Vec::with_capacity(paced);
    for i in burst..total {
        sent.push(t0.elapsed().as_nanos() as u64);
        if tx.send(message(i)).await.is_err() {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(30), set.join_next()).await {}
    drain.abort();
    let mut latencies: Vec<u64> = sent
        .iter()
        .enumerate()
        .map(|(k, &s)| arrivals.last[burst + k].load(Ordering::Relaxed).saturating_sub(s))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |v: Option<&u64>| v.map_or(f64::NAN, |v| *v as f64 / 1e6);
    println!(
        "RESULT deliveries_per_s={:.0} burst_last_ms={:.1} p50_ms={:.2} p99_ms={:.2} complete={} receivers={n} servers={}",
        (burst * n) as f64 / burst_secs.max(1e-9),
        burst_secs * 1000.0,
        ms(pct(0.50)),
        ms(pct(0.99)),
        arrivals.done.load(Ordering::Relaxed),
        addrs.len(),
    );
}
