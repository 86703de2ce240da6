//! A 100 MiB upload streamed through `ctx.recv()` while the process's peak memory stays
//! bounded. This file is its own test binary with one test, so the peak (VmHWM) is this
//! upload's, not another test's.

use std::sync::atomic::{AtomicU64, Ordering};

use fratello::prelude::*;
use fratello::test::TestClient;

const CHUNK: usize = 64 * 1024;
const TOTAL: u64 = 100 * 1024 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Bytes the handler has seen but not yet dropped; its peak is the server-side buffering.
static HELD: AtomicU64 = AtomicU64::new(0);
static PEAK_HELD: AtomicU64 = AtomicU64::new(0);

#[post("/upload")]
async fn upload(ctx: Context) -> Result<String> {
    let mut total = 0u64;
    let mut checksum = 0u64;
    while let Some(chunk) = ctx.recv().await? {
        let held = HELD.fetch_add(chunk.len() as u64, Ordering::SeqCst) + chunk.len() as u64;
        PEAK_HELD.fetch_max(held, Ordering::SeqCst);
        total += chunk.len() as u64;
        checksum = checksum.wrapping_add(chunk.as_bytes().iter().map(|&b| b as u64).sum::<u64>());
        HELD.fetch_sub(chunk.len() as u64, Ordering::SeqCst);
    }
    Ok(format!("{total} {checksum}"))
}

/// Peak resident set size of this process so far, in KiB.
fn vm_hwm_kib() -> u64 {
    let status =
        std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable on Linux");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM is reported");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_upload_streams_with_bounded_memory() {
    let client = TestClient::start(App::only(module_path!())).await;
    // Warm up (allocator arenas, connection) so the baseline includes the steady state.
    let warm = client.post("/upload").body(&ZEROS[..]).send().await;
    assert_eq!(warm.text(), format!("{CHUNK} 0"));
    let before = vm_hwm_kib();

    let chunks = (0..TOTAL / CHUNK as u64).map(|i| {
        // A varying first byte makes the checksum prove every chunk arrived.
        if i % 1024 == 0 {
            let mut v = vec![0u8; CHUNK];
            v[0] = 1;
            bytes::Bytes::from(v)
        } else {
            bytes::Bytes::from_static(&ZEROS)
        }
    });
    let res = client.post("/upload").body(fratello::Body::chunks(chunks)).send().await;
    assert_eq!(res.status(), StatusCode::OK);
    let marked = (TOTAL / CHUNK as u64).div_ceil(1024);
    assert_eq!(res.text(), format!("{TOTAL} {marked}"));

    let grown_kib = vm_hwm_kib().saturating_sub(before);
    let peak_held = PEAK_HELD.load(Ordering::SeqCst);
    eprintln!(
        "peak RSS growth during a {} MiB upload: {} KiB; peak bytes held by the handler: {}",
        TOTAL >> 20,
        grown_kib,
        peak_held
    );
    assert!(grown_kib < 16 * 1024, "peak RSS grew by {grown_kib} KiB during the upload");
    assert!(peak_held <= 1024 * 1024, "the handler held {peak_held} bytes at once");
}
