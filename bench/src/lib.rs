//! Shared pieces of the benchmark servers and the load generator.
//!
//! Every server binary (`srv_*`) serves the same endpoints with the same semantics:
//!
//! - `GET /plaintext`: `Hello, World!` as `text/plain`;
//! - `GET /json`: `{"message":"Hello, World!"}` as `application/json`, serialized per request;
//! - `GET /echo` (WebSocket): every message comes back as it was sent;
//! - `GET /room` (WebSocket): every message a member sends goes to every member, the sender
//!   included;
//! - `GET /sse` (Server-Sent Events): every body `POST`ed to `/publish` reaches every open
//!   stream as one event, `data: BODY\n\n`.
//!
//! Each server listens on the address in its first argument (or `ADDR`, default
//! `127.0.0.1:8080`) with a backlog of 1024 and runs `WORKERS` worker threads (default 2).

use std::net::SocketAddr;

pub mod clients;
pub mod fratello_app;
pub mod hyper_peer;
#[cfg(feature = "peers")]
pub mod tls;

/// The body of `GET /plaintext`.
pub const PLAINTEXT: &str = "Hello, World!";

/// The body of `GET /json`.
#[derive(serde::Serialize)]
pub struct JsonBody {
    /// Always `Hello, World!`.
    pub message: &'static str,
}

/// The value every server serializes for `GET /json`.
pub const JSON_BODY: JsonBody = JsonBody { message: PLAINTEXT };

/// Capacity of the in-process broadcast channels of the room and the SSE stream: larger than
/// any burst the load generator sends, so no receiver lags in a run.
pub const CHANNEL_CAPACITY: usize = 16 * 1024;

/// The address to listen on: argv\[1\], else `ADDR`, else `127.0.0.1:8080`.
pub fn addr() -> SocketAddr {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
        .parse()
        .expect("the address must be IP:PORT")
}

/// Worker threads of the server's runtime: `WORKERS`, default 2.
pub fn workers() -> usize {
    std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2)
}

/// A multi-threaded tokio runtime with [`workers`] threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A listener with fratello's backlog (1024) and `SO_REUSEADDR`, so every server gets the same.
pub async fn listen(addr: SocketAddr) -> tokio::net::TcpListener {
    fratello::server::bind(addr).await.expect("bind")
}

/// The same listener as a std one (for servers that take a std listener).
pub fn std_listener(addr: SocketAddr) -> std::net::TcpListener {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let l = rt.block_on(listen(addr)).into_std().expect("into_std");
    l.set_nonblocking(true).expect("nonblocking");
    l
}

/// CPU time a process has used so far, all its threads together.
#[derive(Clone, Copy, Debug)]
pub struct CpuTime {
    /// In user space and in the kernel, in nanoseconds (from `/proc/PID/task/*/schedstat`).
    pub total_ns: u64,
    /// In user space alone, in nanoseconds (`utime` from `/proc/PID/stat`, kept by the kernel
    /// in ticks of 10 ms: over a measured phase of seconds, a resolution of a few tenths of a
    /// per cent). Most of a small request's CPU time is the kernel's (system calls, loopback
    /// TCP), and much of the run-to-run noise too; this is the part a framework controls.
    pub user_ns: u64,
}

impl CpuTime {
    /// What was used between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            total_ns: self.total_ns.saturating_sub(earlier.total_ns),
            user_ns: self.user_ns.saturating_sub(earlier.user_ns),
        }
    }
}

/// The CPU time process `pid` has used so far; `None` where that cannot be read.
pub fn cpu_time(pid: u32) -> Option<CpuTime> {
    let mut total_ns = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread that ended between the listing and the read no longer counts.
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            total_ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    // `utime` is the 14th field; the 2nd (the command) may hold spaces, and ends with ')'.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks: u64 = stat[stat.rfind(')')? + 1..].split_whitespace().nth(11)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(CpuTime { total_ns, user_ns: ticks * 10_000_000 })
}
