//! TLS side by side: fratello (`App::serve_tls_with`), axum with axum-server, actix-web; all
//! three on rustls 0.23 with the *ring* provider, one certificate (ECDSA P-256, made here with
//! rcgen), two server threads each.
//!
//! ```text
//! cargo build --release -p fratello-bench --features peers --bins
//! target/release/tls_bench [--smoke] [--secs N] [--repeats N]
//! ```
//!
//! Two scenarios, each run against one server at a time:
//! - **handshakes/s**: 16 clients, each in a loop: connect, a full TLS 1.3 handshake (no
//!   resumption), `GET /plaintext` with `connection: close`, read to the end.
//! - **requests/s over TLS keep-alive**: `wrk -t1 -c64` on `https://localhost:PORT/plaintext`.
//!
//! The clients share the machine's cores with the server, as in the other scenarios of
//! bench/; the median of the repeats is printed, with the smallest and largest.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVERS: [&str; 3] = ["fratello", "axum", "actix"];
const HANDSHAKE_CLIENTS: usize = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value =
        |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    let smoke = flag("--smoke");
    let secs = value("--secs").unwrap_or(if smoke { 1 } else { 3 });
    let repeats = value("--repeats").unwrap_or(if smoke { 1 } else { 5 }) as usize;

    let dir = std::env::temp_dir().join(format!("fratello-tls-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let ca = certificates(&dir);
    let client = client_config(ca);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    println!("| server | TLS handshakes/s (16 clients, no resumption) | requests/s over TLS keep-alive (wrk -t1 -c64) |");
    println!("|---|---|---|");
    for name in SERVERS {
        let mut server = Server::start(name, &dir);
        let mut handshakes = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..repeats {
            handshakes.push(rt.block_on(handshake_rate(
                client.clone(),
                server.addr,
                Duration::from_secs(secs),
            )));
            requests.push(wrk(server.addr.port(), secs));
        }
        server.stop();
        println!("| {name} | {} | {} |", spread(&mut handshakes), spread(&mut requests));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// "median (min-max)" of `v`.
fn spread(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    if v.len() == 1 {
        return format!("{median:.0}");
    }
    format!("{median:.0} ({:.0}-{:.0})", v[0], v[v.len() - 1])
}

/// A CA, and a certificate for `localhost` it issued, written to `dir` as cert.pem and
/// key.pem: the CA certificate, for the clients to trust.
fn certificates(dir: &std::path::Path) -> CertificateDer<'static> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let ca = params.self_signed(&ca_key).expect("the CA");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("the certificate");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key.pem");
    ca.der().clone()
}

/// A client that trusts `ca`, offers `http/1.1`, and never resumes a session: every
/// connection is a full handshake.
fn client_config(ca: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("the CA");
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// A benchmark server process (`srv_tls_NAME`, beside this binary).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str, dir: &std::path::Path) -> Server {
        let exe =
            std::env::current_exe().expect("this binary's path").with_file_name(format!("srv_tls_{name}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(&exe)
            .arg(addr.to_string())
            .env("TLS_CERT", dir.join("cert.pem"))
            .env("TLS_KEY", dir.join("key.pem"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (cargo build --release -p fratello-bench --features peers --bins)",
                    exe.display()
                )
            });
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < until, "srv_tls_{name} does not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, addr }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Full handshakes per second: connections made, each carrying one request, by
/// [`HANDSHAKE_CLIENTS`] clients for `time`.
async fn handshake_rate(config: Arc<rustls::ClientConfig>, addr: SocketAddr, time: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let connector = tokio_rustls::TlsConnector::from(config);
    let clients: Vec<_> = (0..HANDSHAKE_CLIENTS)
        .map(|_| {
            let (connector, done, stop) = (connector.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    let _ = tcp.set_nodelay(true);
                    let name = ServerName::try_from("localhost").expect("a name");
                    let mut tls = connector.connect(name, tcp).await.expect("a handshake");
                    tls.write_all(b"GET /plaintext HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
                        .await
                        .expect("a request");
                    let mut got = 0;
                    loop {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break, // (a server may close without close_notify)
                            Ok(n) => got += n,
                        }
                    }
                    assert!(got > 0, "an answer");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(time).await;
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    counted as f64 / elapsed.as_secs_f64()
}

/// Requests per second of `wrk -t1 -c64` over TLS keep-alive (wrk does not check the
/// certificate).
fn wrk(port: u16, secs: u64) -> f64 {
    let url = format!("https://localhost:{port}/plaintext");
    let run = |secs: u64| {
        let out = Command::new("wrk")
            .args(["-t1", "-c64", &format!("-d{secs}s"), &url])
            .output()
            .expect("wrk (bench/run.sh installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let _ = run(1); // warm-up: the 64 handshakes, and the server's first allocations
    let out = run(secs);
    assert!(!out.contains("Socket errors") && !out.contains("Non-2xx"), "wrk saw errors: {out}");
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read wrk output: {out}"))
}
