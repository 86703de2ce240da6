//! The load generator: WebSocket and SSE clients for the benchmark scenarios.
//!
//! ```text
//! loadgen idle --addr 127.0.0.1:8080 --conns 10000 --sources 127.1.0.1,127.1.0.2 --hold-secs 60
//! loadgen echo --addr 127.0.0.1:8080 --conns 100 --secs 5
//! loadgen echo --addr 127.0.0.1:8080 --conns 100 --rounds 200      # exactly 200 round trips each
//! loadgen http --addr 127.0.0.1:8080 --conns 16 --requests 20000 --path /plaintext
//! loadgen room --addr 127.0.0.1:8080 --receivers 1000 --messages 200
//! loadgen sse  --addr 127.0.0.1:8080 --receivers 10000 --events 20
//! ```
//!
//! `echo --rounds` and `http` do an exact number of operations, with no warm-up, for instruction
//! counts (`bench/callgrind.sh` runs each twice and takes the difference).
//!
//! Each prints one line `RESULT key=value ...` (idle prints it once every socket is open, then
//! holds them for `--hold-secs` or until killed). Every loop is bounded in count and time.
//! Connections are spread round-robin over `--sources` (loopback addresses), so that more
//! sockets fit than one source address has ephemeral ports. Runs on one thread unless
//! `--threads N`. The protocols are spoken by real clients: tungstenite for WebSocket (idle
//! sockets with a 256-byte read buffer), hyper for the SSE streams and the publisher.
//! With `LOADGEN_PAUSE_MS=N`, `room` waits N ms before its measured phase and says so on
//! stderr, so that a profiler (or a CPU-time reading) can cover that phase alone.
//! With `--server-pid PID`, `echo`, `room` and `sse` also report the CPU time the server used
//! during the measured phase (`server_cpu_ns`, and of it in user space `server_user_ns`), read
//! from `/proc` at its start and its end.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;
use tungstenite::Message;

use fratello_bench::clients::{connect, idle_ws, open_many, ws, Ws};

struct Args {
    cmd: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Args {
        let mut it = std::env::args().skip(1);
        let cmd = it.next().unwrap_or_default();
        let mut opts = HashMap::new();
        while let Some(k) = it.next() {
            let k = k.trim_start_matches("--").to_owned();
            let v = it.next().unwrap_or_else(|| die(&format!("--{k} needs a value")));
            opts.insert(k, v);
        }
        Args { cmd, opts }
    }
    fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        match self.opts.get(k) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("bad value for --{k}: {v}"))),
            None => default,
        }
    }
    fn addr(&self) -> SocketAddr {
        self.get("addr", "127.0.0.1:8080".parse().expect("addr"))
    }
    /// The server's process, if `--server-pid` was given.
    fn server_pid(&self) -> Option<u32> {
        self.opts.get("server-pid")?.parse().ok()
    }
    /// The server's CPU time so far, if `--server-pid` was given.
    fn server_cpu(&self) -> Option<fratello_bench::CpuTime> {
        fratello_bench::cpu_time(self.server_pid()?)
    }
    fn sources(&self) -> Vec<IpAddr> {
        self.opts
            .get("sources")
            .map(|s| s.split(',').map(|a| a.parse().unwrap_or_else(|_| die("bad --sources"))).collect())
            .unwrap_or_else(|| vec!["127.0.0.1".parse().expect("ip")])
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

async fn idle(a: &Args) {
    let addr = a.addr();
    let n: usize = a.get("conns", 1000);
    let path: String = a.get("path", "/echo".to_owned());
    let hold = Duration::from_secs_f64(a.get("hold-secs", 30.0));
    let start = Instant::now();
    let path = Arc::new(path);
    let (socks, failed, err) =
        open_many(n, a.get("parallel", 128), &a.sources(), Duration::from_secs(20), |_, src| {
            let path = path.clone();
            async move { idle_ws(src, addr, &path).await }
        })
        .await;
    println!(
        "RESULT connected={} failed={failed} secs={:.2}{}",
        socks.len(),
        start.elapsed().as_secs_f64(),
        if failed > 0 { format!(" error=\"{err}\"") } else { String::new() }
    );
    tokio::time::sleep(hold).await;
    drop(socks);
}

async fn echo(a: &Args) {
    let addr = a.addr();
    let n: usize = a.get("conns", 100);
    let secs: f64 = a.get("secs", 5.0);
    let warm: f64 = a.get("warmup-secs", 1.0);
    let size: usize = a.get("size", 32);
    let (socks, failed, err) =
        open_many(n, 64, &a.sources(), Duration::from_secs(20), |_, src| ws(src, addr, "/echo")).await;
    if failed > 0 {
        println!("RESULT error=\"{failed} connections failed: {err}\"");
        return;
    }
    let payload: String = "x".repeat(size);
    if let Some(rounds) = a.opts.get("rounds").map(|_| a.get::<usize>("rounds", 0)) {
        return echo_rounds(socks, payload, rounds).await;
    }
    let t0 = Instant::now();
    let measure_from = t0 + Duration::from_secs_f64(warm);
    let end = measure_from + Duration::from_secs_f64(secs);
    // The server's CPU time at the start and the end of the measured phase.
    let cpu = {
        let pid = a.server_pid();
        tokio::spawn(async move {
            let read = || fratello_bench::cpu_time(pid?);
            tokio::time::sleep_until(measure_from.into()).await;
            let from = read();
            tokio::time::sleep_until(end.into()).await;
            (from, read())
        })
    };
    let mut set = JoinSet::new();
    for mut ws in socks {
        let payload = payload.clone();
        set.spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 14);
            let mut errors = 0usize;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if ws.send(Message::text(payload.clone())).await.is_err() {
                    errors += 1;
                    break;
                }
                let got = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(_) | Message::Binary(_))) => return true,
                            Some(Ok(_)) => continue,
                            _ => return false,
                        }
                    }
                })
                .await;
                if got != Ok(true) {
                    errors += 1;
                    break;
                }
                if now >= measure_from {
                    lat.push(now.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            let _ = ws.close(None).await;
            (lat, errors)
        });
    }
    let mut all: Vec<u32> = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        if let Ok((lat, e)) = r {
            all.extend(lat);
            errors += e;
        }
    }
    let (from, to) = cpu.await.unwrap_or((None, None));
    let cpu = cpu_used(from, to);
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    println!(
        "RESULT rate={:.0} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} count={} errors={errors}{cpu}",
        all.len() as f64 / secs,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        all.last().copied().unwrap_or(0),
        all.len()
    );
}

/// Exactly `rounds` round trips on every socket, then a clean close (for instruction counts).
async fn echo_rounds(socks: Vec<Ws>, payload: String, rounds: usize) {
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for mut ws in socks {
        let payload = payload.clone();
        set.spawn(async move {
            for _ in 0..rounds {
                ws.send(Message::text(payload.clone())).await.map_err(|e| e.to_string())?;
                let got = tokio::time::timeout(Duration::from_secs(60), async {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(_) | Message::Binary(_))) => return Ok(()),
                            Some(Ok(_)) => continue,
                            Some(Err(e)) => return Err(e.to_string()),
                            None => return Err("closed".to_owned()),
                        }
                    }
                })
                .await;
                got.map_err(|_| "no echo in 60 s".to_owned())??;
            }
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
            Ok::<usize, String>(rounds)
        });
    }
    let (mut done, mut errors, mut last) = (0, 0, String::new());
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(n)) => done += n,
            Ok(Err(e)) => {
                errors += 1;
                last = e;
            }
            Err(e) => {
                errors += 1;
                last = e.to_string();
            }
        }
    }
    let err = if errors > 0 { format!(" error=\"{last}\"") } else { String::new() };
    println!("RESULT count={done} errors={errors} secs={:.2}{err}", t0.elapsed().as_secs_f64());
}

/// Exactly `--requests` GETs of `--path`, spread over `--conns` keep-alive HTTP/1.1
/// connections (hyper's client), then the connections close (for instruction counts).
async fn http(a: &Args) {
    let addr = a.addr();
    let conns: usize = a.get("conns", 16);
    let total: usize = a.get("requests", 10_000);
    let path: String = a.get("path", "/plaintext".to_owned());
    let sources = a.sources();
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..conns {
        let (src, path) = (sources[i % sources.len()], path.clone());
        let share = total / conns + usize::from(i < total % conns);
        set.spawn(async move {
            let mut client = http_client(src, addr).await?;
            for _ in 0..share {
                client.ready().await.map_err(|e| e.to_string())?;
                let req = http::Request::get(path.as_str())
                    .header(http::header::HOST, addr.to_string())
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let res = client.send_request(req).await.map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("status {}", res.status()));
                }
                res.into_body().collect().await.map_err(|e| e.to_string())?;
            }
            Ok::<usize, String>(share)
        });
    }
    let (mut done, mut errors, mut last) = (0, 0, String::new());
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(n)) => done += n,
            Ok(Err(e)) => {
                errors += 1;
                last = e;
            }
            Err(e) => {
                errors += 1;
                last = e.to_string();
            }
        }
    }
    let err = if errors > 0 { format!(" error=\"{last}\"") } else { String::new() };
    println!("RESULT count={done} errors={errors} secs={:.2}{err}", t0.elapsed().as_secs_f64());
}

/// Shared progress of fan-out receivers.
#[derive(Default)]
struct Progress {
    warm: AtomicUsize,
    done: AtomicUsize,
}

async fn room(a: &Args) {
    let addr = a.addr();
    let n: usize = a.get("receivers", 1000);
    let m: usize = a.get("messages", 200);
    let size: usize = a.get("size", 32);
    let sources = a.sources();
    let (socks, failed, err) =
        open_many(n, 128, &sources, Duration::from_secs(20), |_, src| ws(src, addr, "/room")).await;
    if failed > 0 {
        println!("RESULT error=\"{failed} receivers failed: {err}\"");
        return;
    }
    let progress = Arc::new(Progress::default());
    let mut set = JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for mut ws in socks {
        let progress = progress.clone();
        set.spawn(async move {
            let (mut warm, mut got) = (false, 0usize);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
                if let Message::Text(t) = msg {
                    if t.starts_with('w') && !warm {
                        warm = true;
                        progress.warm.fetch_add(1, Ordering::Relaxed);
                    } else if t.starts_with('m') {
                        got += 1;
                        if got == m {
                            progress.done.fetch_add(1, Ordering::Relaxed);
                            return Some(Instant::now());
                        }
                    }
                }
            }
            None
        });
    }
    // The sender is a member too; its own copies are drained and ignored.
    let sender = match ws(sources[0], addr, "/room").await {
        Ok(s) => s,
        Err(e) => {
            println!("RESULT error=\"sender: {e}\"");
            return;
        }
    };
    let (mut tx, mut rx) = sender.split();
    let drain = tokio::spawn(async move {
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline.into(), rx.next()).await {}
    });
    // Warm-up: until every receiver has seen a message, so all are subscribed.
    let warm_until = Instant::now() + Duration::from_secs(20);
    // (How many: each reaches the receivers then in the room, which the instruction counts
    // of bench/callgrind.sh take into account.)
    let mut warm_sent = 0;
    while progress.warm.load(Ordering::Relaxed) < n && Instant::now() < warm_until {
        let _ = tx.send(Message::text("w")).await;
        warm_sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = progress.warm.load(Ordering::Relaxed);
    if warm < n {
        println!("RESULT error=\"only {warm} of {n} receivers joined\"");
        return;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    pause_for_profiler().await;
    let pad = "m".repeat(size.saturating_sub(8));
    let cpu0 = a.server_cpu();
    let t0 = Instant::now();
    for i in 0..m {
        if tx.send(Message::text(format!("m{i:07}{pad}"))).await.is_err() {
            break;
        }
    }
    let mut last: Option<Instant> = None;
    let mut complete = 0;
    while let Some(r) = set.join_next().await {
        if let Ok(Some(t)) = r {
            complete += 1;
            last = Some(last.map_or(t, |l: Instant| l.max(t)));
        }
    }
    let cpu = cpu_used(cpu0, a.server_cpu());
    drain.abort();
    let secs = last.map_or(0.0, |l| l.duration_since(t0).as_secs_f64());
    let delivered = complete * m;
    println!(
        "RESULT deliveries_per_s={:.0} last_ms={:.1} complete={complete} receivers={n} messages={m} warm={warm_sent}{cpu}",
        delivered as f64 / secs.max(1e-9),
        secs * 1000.0
    );
}

/// Counts `needle` in a byte stream read in pieces (`tail` carries the last bytes over).
fn count(tail: &mut Vec<u8>, chunk: &[u8], needle: &[u8]) -> usize {
    tail.extend_from_slice(chunk);
    let c = tail.windows(needle.len()).filter(|w| *w == needle).count();
    let keep = needle.len() - 1;
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    c
}

type Http = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// An HTTP/1.1 client connection (hyper) from `src` to `addr`.
async fn http_client(src: IpAddr, addr: SocketAddr) -> Result<Http, String> {
    let stream = connect(src, addr).await.map_err(|e| e.to_string())?;
    let (tx, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(tx)
}

async fn publish(client: &mut Http, addr: SocketAddr, body: &str) -> Result<(), String> {
    client.ready().await.map_err(|e| e.to_string())?;
    let req = http::Request::post("/publish")
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let res = client.send_request(req).await.map_err(|e| e.to_string())?;
    res.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn sse(a: &Args) {
    let addr = a.addr();
    let n: usize = a.get("receivers", 1000);
    let m: usize = a.get("events", 20);
    let size: usize = a.get("size", 32);
    let sources = a.sources();
    let (socks, failed, err) = open_many(n, 128, &sources, Duration::from_secs(20), |_, src| async move {
        let mut client = http_client(src, addr).await?;
        let req = http::Request::get("/sse")
            .header(http::header::HOST, addr.to_string())
            .header(http::header::ACCEPT, "text/event-stream")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let res = client.send_request(req).await.map_err(|e| e.to_string())?;
        Ok((client, res.into_body()))
    })
    .await;
    if failed > 0 {
        println!("RESULT error=\"{failed} receivers failed: {err}\"");
        return;
    }
    let progress = Arc::new(Progress::default());
    let mut set = JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (_client, mut body) in socks {
        let progress = progress.clone();
        set.spawn(async move {
            let _client = _client; // keeps the connection's request side open
            let (mut warm, mut got) = (false, 0usize);
            let (mut tail_w, mut tail_m) = (Vec::new(), Vec::new());
            while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline.into(), body.frame()).await {
                let Some(chunk) = frame.data_ref() else { continue };
                if !warm && count(&mut tail_w, chunk, b"data: w") > 0 {
                    warm = true;
                    progress.warm.fetch_add(1, Ordering::Relaxed);
                }
                got += count(&mut tail_m, chunk, b"data: m");
                if got >= m {
                    progress.done.fetch_add(1, Ordering::Relaxed);
                    return Some(Instant::now());
                }
            }
            if std::env::var_os("LOADGEN_DEBUG").is_some() {
                eprintln!("sse receiver ended with {got} of {m} events (warm: {warm})");
            }
            None
        });
    }
    let mut publisher = match http_client(sources[0], addr).await {
        Ok(p) => p,
        Err(e) => {
            println!("RESULT error=\"publisher: {e}\"");
            return;
        }
    };
    let warm_until = Instant::now() + Duration::from_secs(20);
    while progress.warm.load(Ordering::Relaxed) < n && Instant::now() < warm_until {
        if let Err(e) = publish(&mut publisher, addr, "w").await {
            println!("RESULT error=\"publish: {e}\"");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = progress.warm.load(Ordering::Relaxed);
    if warm < n {
        println!("RESULT error=\"only {warm} of {n} receivers subscribed\"");
        return;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    pause_for_profiler().await;
    let pad = "m".repeat(size.saturating_sub(8));
    let cpu0 = a.server_cpu();
    let t0 = Instant::now();
    for i in 0..m {
        if let Err(e) = publish(&mut publisher, addr, &format!("m{i:07}{pad}")).await {
            println!("RESULT error=\"publish: {e}\"");
            return;
        }
    }
    let mut last: Option<Instant> = None;
    let mut complete = 0;
    while let Some(r) = set.join_next().await {
        if let Ok(Some(t)) = r {
            complete += 1;
            last = Some(last.map_or(t, |l: Instant| l.max(t)));
        }
    }
    let cpu = cpu_used(cpu0, a.server_cpu());
    let secs = last.map_or(0.0, |l| l.duration_since(t0).as_secs_f64());
    println!(
        "RESULT deliveries_per_s={:.0} last_ms={:.1} complete={complete} receivers={n} events={m}{cpu}",
        (complete * m) as f64 / secs.max(1e-9),
        secs * 1000.0
    );
}

fn main() {
    let a = Args::parse();
    let threads: usize = a.get("threads", 1);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .expect("runtime");
    rt.block_on(async {
        match a.cmd.as_str() {
            "idle" => idle(&a).await,
            "echo" => echo(&a).await,
            "http" => http(&a).await,
            "room" => room(&a).await,
            "sse" => sse(&a).await,
            _ => die(
                "usage: loadgen idle|echo|http|room|sse [--addr IP:PORT] [options]; see the source's docs",
            ),
        }
    });
}

/// ` server_cpu_ns=N server_user_ns=M` for a RESULT line, when both readings exist.
fn cpu_used(from: Option<fratello_bench::CpuTime>, to: Option<fratello_bench::CpuTime>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => {
            let used = b.since(a);
            format!(" server_cpu_ns={} server_user_ns={}", used.total_ns, used.user_ns)
        }
        _ => String::new(),
    }
}

/// Investigation knob: with `LOADGEN_PAUSE_MS=N` set, waits N ms before the measured phase and
/// says so on stderr, so that a profiler can be attached to the server for that phase only.
async fn pause_for_profiler() {
    if let Some(ms) = std::env::var("LOADGEN_PAUSE_MS").ok().and_then(|v| v.parse().ok()) {
        eprintln!("loadgen: measured phase starts in {ms} ms");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
