//! curl, speaking HTTPS (HTTP/1.1 and HTTP/2 by ALPN) to the hello example run with
//! `--tls CERT KEY`, trusting a CA made for the test.

// (Only the certificates of the helpers are used here.)
#[allow(dead_code)]
#[path = "support/tls.rs"]
mod support;

use support::Pki;

#[test]
fn curl_speaks_https_to_the_hello_example() {
    let _watchdog = support::watchdog();
    let Some(exe) = example("hello") else {
        return skipped("the hello example is not built: cargo build --example hello");
    };
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        return skipped("curl is not installed");
    }
    let pki = Pki::new();
    let dir = support::temp_dir("curl");
    let (cert, key) = pki.leaf("server").write_to(&dir);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--tls".as_ref(), cert.as_os_str(), key.as_os_str()])
        .env("ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = std::io::BufRead::lines(stdout)
        .map_while(std::result::Result::ok)
        .find(|l| l.contains("listening on"));
    let line = line.expect("the example prints its address");
    let port = line.rsplit_once(':').and_then(|(_, p)| p.trim().parse::<u16>().ok()).expect("a port");
    assert!(
        line.contains("https://"),
        "the example serves TLS (a stale build? cargo build --example hello): {line}"
    );
    let curl = |extra: &str| {
        let out = std::process::Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10", extra, "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), "--write-out", " %{http_version}"])
            .arg(format!("https://localhost:{port}/hello/curl"))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {extra}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let (h1, h2) = (curl("--http1.1"), curl("--http2"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(h1, "Hello, curl!\n 1.1");
    assert_eq!(h2, "Hello, curl!\n 2");
}

/// The example binary `cargo test` built beside this test (target/debug/examples/NAME).
fn example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

/// Says loudly that a test did not run; under CI (`CI=true`) that is a failure.
fn skipped(why: &str) {
    eprintln!("\n!!!!!!!! SKIPPED curl_speaks_https_to_the_hello_example: {why} !!!!!!!!\n");
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "under CI this test must run: {why}");
}
