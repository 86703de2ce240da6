//! A real `redis-server` for the tests: started on a free loopback port, killed, restarted on
//! the same port, paused and resumed, stopped when dropped. Without `redis-server` on the
//! machine the tests say loudly that they were skipped, and fail under `CI=true`.

#![allow(dead_code)] // each test file uses part of it

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Redis {
    /// Starts one on a free port, or `None` (with a loud message) when the machine has none.
    pub fn start() -> Option<Redis> {
        if !Redis::installed() {
            return None;
        }
        let mut redis = Redis::at_port(free_port());
        redis.restart();
        Some(redis)
    }

    /// Whether `redis-server` is on this machine; says loudly that the test is skipped when
    /// it is not, and fails under `CI=true`.
    pub fn installed() -> bool {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_ok() {
            return true;
        }
        let msg = "SKIPPED: `redis-server` is not installed (apt-get install redis-server); \
                   the Redis backend's tests did not run";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}, and under CI=true a skip is a failure");
        }
        eprintln!("\n\n*** {msg} ***\n");
        false
    }

    /// One for `port`, not started yet ([`restart`](Self::restart) starts it).
    pub fn at_port(port: u16) -> Redis {
        let dir = std::env::temp_dir().join(format!("fratello-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for redis-server");
        Redis { port, child: None, dir }
    }

    /// A port where nothing listens (for "Redis is down").
    pub fn unused_port() -> u16 {
        free_port()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again) on its port and waits until it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL: no goodbye to the clients) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pauses it (SIGSTOP): connections stay open and nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Resumes it after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().expect("kill runs").success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Runs `redis-cli` against it; its answer, trimmed, or `None` if it did not answer.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !text.is_empty() && !text.starts_with("Could not connect")).then_some(text)
    }

    /// How many connections are subscribed to `channel` (PUBSUB NUMSUB).
    pub fn subscribers(&self, channel: &str) -> usize {
        self.cli(&["PUBSUB", "NUMSUB", channel])
            .and_then(|out| out.lines().nth(1).and_then(|n| n.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// Waits (up to 20 s) until `channel` has `n` subscribers.
    pub async fn wait_for_subscribers(&self, channel: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.subscribers(channel);
            if seen == n {
                return;
            }
            assert!(Instant::now() < deadline, "{channel} has {seen} subscribers, not {n}, after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill(); // SIGKILL ends a paused server too
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().unwrap().port()
}
