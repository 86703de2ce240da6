//! Starting the servers and the clients: free ports and source addresses, a server's start and
//! readiness, `loadgen` and `wrk` runs and their results.

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server binary under the name its column has.
pub struct Server {
    /// The column's name.
    pub name: &'static str,
    /// The binary, beside the runner's own.
    pub bin: &'static str,
    /// Environment variables it runs with.
    pub env: &'static [(&'static str, &'static str)],
}

/// Every server, in the order of the table's columns (and of each turn of repeats).
pub const SERVERS: &[Server] = &[
    Server { name: "hyper", bin: "srv_hyper", env: &[] },
    Server { name: "axum", bin: "srv_axum", env: &[] },
    Server { name: "axum-4k", bin: "srv_axum", env: &[("AXUM_WS_BUF", "4096")] },
    Server { name: "actix", bin: "srv_actix", env: &[] },
    Server { name: "hyperlane", bin: "srv_hyperlane", env: &[] },
    Server { name: "fratello", bin: "srv_fratello", env: &[] },
];

/// What a run is set to, and the ports and addresses it has handed out so far.
pub struct Runner {
    /// Where the binaries are (the runner's own directory).
    pub dir: PathBuf,
    /// Every scenario once, at a tiny size.
    pub smoke: bool,
    /// `--repeats`.
    pub repeats: usize,
    next_port: u16,
    next_ip: u32,
}

/// The `key=value` pairs of the first `RESULT ` line of `out`.
pub fn parse_result(out: &str) -> Option<HashMap<String, String>> {
    let line = out.lines().find(|l| l.starts_with("RESULT "))?;
    parse_tail(&line[7..], HashMap::new())
}

/// `key=value` pairs separated by spaces; a value may be `"quoted with spaces"`.
fn parse_tail(rest: &str, mut map: HashMap<String, String>) -> Option<HashMap<String, String>> {
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        let after = &s[eq + 1..];
        let (val, rem) = if let Some(q) = after.strip_prefix('"') {
            let close = q.find('"').unwrap_or(q.len());
            (q[..close].to_owned(), q.get(close + 1..).unwrap_or(""))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        map.insert(key, val);
        s = rem.trim_start();
    }
    Some(map)
}

/// The resident memory of process `pid`, in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits for `child` at most `limit`; kills it past that. Returns its stdout.
pub fn wait_output(mut child: Child, limit: Duration) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut out);
    }
    Ok(out)
}

impl Runner {
    /// A run of the binaries in `dir`.
    pub fn new(dir: PathBuf, smoke: bool, repeats: usize) -> Runner {
        Runner { dir, smoke, repeats, next_port: 20_000, next_ip: 0 }
    }

    /// The path of binary `name`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A loopback port no server of this run has listened on.
    fn port(&mut self) -> u16 {
        self.next_port += 1;
        self.next_port
    }

    /// `k` loopback source addresses never used before in this run (ports of closed
    /// connections stay in TIME_WAIT for a minute, so each run takes fresh ones).
    pub fn sources(&mut self, k: usize) -> String {
        (0..k)
            .map(|_| {
                self.next_ip += 1;
                let n = self.next_ip;
                format!("127.{}.{}.{}", 1 + (n >> 16) % 254, (n >> 8) & 255, 1 + (n & 255) % 254)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts `s` on a fresh port with 2 worker threads and waits until it accepts
    /// connections. Returns the process and its address.
    pub fn start(&mut self, s: &Server) -> Result<(Child, String), String> {
        let port = self.port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(self.bin(s.bin));
        cmd.arg(&addr)
            .env("WORKERS", "2")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in s.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", s.bin))?;
        let start = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            if start.elapsed() > Duration::from_secs(10) || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                return Err(format!("{} did not start listening on {addr}", s.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok((child, addr))
    }

    /// Runs `loadgen` with `args` for at most `limit`, and returns its `RESULT` (an `error=` in
    /// it is an error).
    pub fn loadgen(&mut self, args: &[String], limit: Duration) -> Result<HashMap<String, String>, String> {
        let child = Command::new(self.bin("loadgen"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = wait_output(child, limit)?;
        let map = parse_result(&out).ok_or_else(|| format!("no RESULT from loadgen: {out}"))?;
        if let Some(e) = map.get("error") {
            return Err(e.clone());
        }
        Ok(map)
    }

    /// `--repeats`, raised to `n` for a scenario whose single repeats scatter (not in a smoke
    /// run, which measures each scenario once).
    pub fn repeats_at_least(&self, n: usize) -> usize {
        if self.smoke {
            self.repeats
        } else {
            self.repeats.max(n)
        }
    }

    /// Requests per second, and requests in all.
    pub fn wrk(&mut self, url: &str, secs: u32) -> Result<(f64, f64), String> {
        let child = Command::new("wrk")
            .args(["-t1", "-c64", &format!("-d{secs}s"), url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("wrk: {e} (bench/run.sh installs it)"))?;
        let out = wait_output(child, Duration::from_secs(u64::from(secs) + 20))?;
        if out.contains("Non-2xx") || out.contains("Socket errors") {
            return Err(format!("wrk saw errors: {}", out.replace('\n', " ")));
        }
        let rate =
            out.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok());
        // "  532211 requests in 4.00s, 64.97MB read"
        let count = out
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok());
        rate.zip(count).ok_or_else(|| format!("cannot read wrk output: {out}"))
    }
}
