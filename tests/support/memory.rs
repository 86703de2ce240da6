//! The test process's resident memory, where the server under test runs too.

/// Resident set size in KiB, from `/proc/self/statm` (Linux).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4
}
