//! Idle WebSocket memory: the server's resident memory per open, silent socket.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{parse_result, rss_kib, Runner, Server};
use crate::rows::{Bar, Row};

/// Repeats of the idle-memory scenarios at most: their figures agree closely from repeat to
/// repeat, and each takes tens of seconds.
pub const IDLE_REPEATS: usize = 2;

impl Runner {
    /// Scenario `key` (`idle10k`, `idle19k`, `idle50k`): KiB per idle socket for each server.
    pub fn idle_row(&mut self, key: &'static str, servers: &[&Server], with_axum_default_50k: bool) -> Row {
        let (conns, instances, per_client) = match (key, self.smoke) {
            ("idle10k", false) => (10_000, 1, 10_000),
            ("idle19k", false) => (19_500, 1, 9_750),
            ("idle50k", false) => (50_000, 3, 16_667),
            ("idle10k", true) => (200, 1, 200),
            ("idle19k", true) => (390, 1, 195),
            _ => (600, 3, 200),
        };
        let label = if instances == 1 {
            format!("idle WebSocket, KiB/conn, {conns} conns, 1 instance")
        } else {
            format!("idle WebSocket, KiB/conn, {conns} conns, {instances} instances")
        };
        let mut r = Row::new(key, label, Bar::Memory);
        for s in servers {
            if key == "idle50k" && s.name == "axum" && !with_axum_default_50k && !self.smoke {
                r.errors.push(
                    "axum (default buffers) skipped at 50k: several GB of buffers; see 10k/19.5k".to_owned(),
                );
                continue;
            }
            for _ in 0..self.repeats.min(IDLE_REPEATS) {
                eprintln!("  {key} · {}", s.name);
                match self.idle(s, conns, instances, per_client) {
                    Ok(v) => r.push(s.name, v),
                    Err(e) => r.errors.push(format!("{}: {e}", s.name)),
                }
            }
        }
        r
    }

    /// KiB per idle socket of `s`: `conns` sockets spread over `instances` fresh servers, held
    /// by client processes of at most `per_client` sockets each.
    pub fn idle(
        &mut self,
        s: &Server,
        conns: usize,
        instances: usize,
        per_client: usize,
    ) -> Result<f64, String> {
        let mut servers = Vec::new();
        let result = (|| {
            for _ in 0..instances {
                servers.push(self.start(s)?);
            }
            // Warm-up: runtime threads, allocator arenas and lazy statics are not per socket.
            for (_, addr) in &servers {
                let src = self.sources(1);
                let args = ["idle", "--addr", addr, "--conns", "200", "--hold-secs", "0", "--sources", &src];
                self.loadgen(&args.map(String::from), Duration::from_secs(60))?;
            }
            std::thread::sleep(Duration::from_millis(500));
            let before: f64 = servers.iter().map(|(c, _)| rss_kib(c.id())).sum();
            // Clients: spread each instance's share over processes of ≤ per_client sockets.
            let mut clients = Vec::new();
            let (tx, rx) = mpsc::channel::<Result<usize, String>>();
            for (i, (_, addr)) in servers.iter().enumerate() {
                let share = conns / instances + usize::from(i < conns % instances);
                let procs = share.div_ceil(per_client);
                for p in 0..procs {
                    let n = share / procs + usize::from(p < share % procs);
                    let src = self.sources(n.div_ceil(10_000));
                    let mut child = Command::new(self.bin("loadgen"))
                        .args(["idle", "--addr", addr, "--conns", &n.to_string(), "--hold-secs", "120"])
                        .args(["--sources", &src])
                        .stdout(Stdio::piped())
                        .stderr(Stdio::inherit())
                        .spawn()
                        .map_err(|e| e.to_string())?;
                    let out = child.stdout.take().expect("piped");
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let line = BufReader::new(out)
                            .lines()
                            .map_while(Result::ok)
                            .find(|l| l.starts_with("RESULT"));
                        let r = match line.as_deref().and_then(parse_result) {
                            Some(m) if m.get("failed").map(String::as_str) == Some("0") => {
                                Ok(m.get("connected").and_then(|c| c.parse().ok()).unwrap_or(0))
                            }
                            Some(m) => Err(format!(
                                "{} of {n} sockets failed: {}",
                                m.get("failed").cloned().unwrap_or_default(),
                                m.get("error").cloned().unwrap_or_default()
                            )),
                            None => Err("idle client ended without a result".to_owned()),
                        };
                        let _ = tx.send(r);
                    });
                    clients.push(child);
                }
            }
            drop(tx);
            let mut connected = 0;
            let mut err = None;
            for _ in 0..clients.len() {
                match rx.recv_timeout(Duration::from_secs(150)) {
                    Ok(Ok(n)) => connected += n,
                    Ok(Err(e)) => err = Some(e),
                    Err(_) => err = Some("idle clients timed out".to_owned()),
                }
            }
            // Let the sessions settle (handshake buffers freed, tasks parked).
            std::thread::sleep(Duration::from_millis(if self.smoke { 300 } else { 1500 }));
            let after: f64 = servers.iter().map(|(c, _)| rss_kib(c.id())).sum();
            for mut c in clients {
                let _ = c.kill();
                let _ = c.wait();
            }
            if let Some(e) = err {
                return Err(e);
            }
            Ok((after - before) / connected.max(1) as f64)
        })();
        for (mut c, _) in servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        result
    }
}
