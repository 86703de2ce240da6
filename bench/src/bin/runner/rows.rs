//! A row of the throughput table: one figure of a scenario, every server's repeats of it, and
//! the bar it is judged by; and how figures are written.

use std::collections::HashMap;

/// The bar fratello's figure in a row is judged by.
#[derive(Clone, Copy, PartialEq)]
pub enum Bar {
    /// ≥ 0.95 × hyper and ≥ max(axum, actix).
    Http,
    /// Lower than every peer and ≤ 3 KiB.
    Memory,
    /// At least the best peer (higher is better).
    AtLeastBest,
    /// At most the best peer (lower is better).
    AtMostBest,
    /// Reported only (higher is better).
    Reported,
}

/// One figure of a scenario for every server, repeat by repeat.
pub struct Row {
    /// A short name (`echo`, `room1k-cpu`), in the list of every repeat.
    pub key: &'static str,
    /// What the table calls it.
    pub label: String,
    /// How fratello's figure is judged.
    pub bar: Bar,
    /// Server name -> its figure in each repeat, in the order of the turns.
    pub values: HashMap<&'static str, Vec<f64>>,
    /// What went wrong, or was skipped, on the way.
    pub errors: Vec<String>,
}

impl Row {
    /// A row without figures yet.
    pub fn new(key: &'static str, label: String, bar: Bar) -> Row {
        Row { key, label, bar, values: HashMap::new(), errors: Vec::new() }
    }

    /// Adds `server`'s figure of one repeat.
    pub fn push(&mut self, server: &'static str, value: f64) {
        self.values.entry(server).or_default().push(value);
    }

    /// A figure reported beside a scenario's, where lower is better: the time until the last
    /// receiver has everything, the server's CPU time per unit of work.
    pub fn reported_lower(&self) -> bool {
        self.key.ends_with("-last") || self.key.ends_with("-cpu") || self.key.ends_with("-user")
    }

    /// Each server's median.
    pub fn medians(&self) -> HashMap<&'static str, f64> {
        self.values.iter().filter_map(|(k, v)| median(v).map(|m| (*k, m))).collect()
    }
}

/// The label of a row of server CPU time per unit of work.
pub const CPU_LABEL: &str = "  … server CPU time per {what}, ns (all threads, measured phase)";

/// The label of a row of the part of that spent in user space.
pub const USER_LABEL: &str =
    "  … of it in user space, ns (what the server's own code costs; the rest is the kernel's)";

/// The median of `v`; `None` when it is empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 })
}

/// A figure with three or four significant digits (`47.4k`, `2366k`, `2.35`).
pub fn fmt(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
