//! What a run ran on: the machine, its load, and the versions of the servers' crates.

/// The versions of crate `name` in the workspace's `Cargo.lock` (`?` when it is not there).
pub fn lock_version(name: &str) -> String {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{name}\"\nversion = \"");
    let versions: Vec<&str> = lock
        .match_indices(&needle)
        .map(|(i, _)| {
            let rest = &lock[i + needle.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .collect();
    if versions.is_empty() {
        "?".to_owned()
    } else {
        versions.join(" and ")
    }
}

/// The machine: cores, CPU model, memory, kernel; and how client and server share it.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0) / 1048576.0)
        })
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "Machine: {cores} cores ({cpu}), {mem:.0} GiB, Linux {kernel}. Client and server share this machine \
         (loopback only); every server runs 2 worker threads."
    )
}

/// The load average over the last minute (`?` where it cannot be read): callgrind's counts do
/// not depend on it, but rates do.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The versions of every server's framework.
pub fn versions() -> String {
    format!(
        "Peers: hyper {}, axum {} (ws: tokio-tungstenite {}; hyper and fratello use the newer one), actix-web {} + \
         actix-ws {}, hyperlane {}; fratello {} (tungstenite {}).",
        lock_version("hyper"),
        lock_version("axum"),
        lock_version("tokio-tungstenite"),
        lock_version("actix-web"),
        lock_version("actix-ws"),
        lock_version("hyperlane"),
        lock_version("fratello"),
        lock_version("tungstenite"),
    )
}
