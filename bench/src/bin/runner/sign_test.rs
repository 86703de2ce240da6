//! Whether a bar held beyond the noise: the bar is compared repeat by repeat (the i-th repeat
//! of every server ran in the same turn), and a one-sided sign test says whether the repeats
//! that held are too few for a server level with the bar.

use crate::rows::Row;

/// How often a bar held repeat by repeat: `(held, repeats)`, comparing the figures of the same
/// turn (repeats take turns across the servers, so the i-th repeat of each ran minutes apart at
/// most). `None` when some server has a different number of repeats (one failed), so that the
/// turns cannot be matched.
pub fn paired(
    row: &Row,
    names: &[&str],
    holds: impl Fn(&dyn Fn(&str) -> Option<f64>) -> bool,
) -> Option<(usize, usize)> {
    let n = row.values.get("fratello")?.len();
    if names.iter().any(|name| row.values.get(name).is_some_and(|v| v.len() != n)) {
        return None;
    }
    let held = (0..n).filter(|&i| holds(&|name: &str| row.values.get(name).map(|v| v[i]))).count();
    Some((held, n))
}

/// How often fratello's figure and `peer`'s stood in relation `holds`, repeat by repeat (see
/// [`paired`]).
pub fn paired_with(
    row: &Row,
    names: &[&str],
    peer: &str,
    holds: impl Fn(f64, f64) -> bool,
) -> Option<(usize, usize)> {
    paired(row, names, |get| matches!((get("fratello"), get(peer)), (Some(f), Some(p)) if holds(f, p)))
}

/// Whether `held` of `n` repeats says the bar is missed beyond the noise: a one-sided sign test
/// (as likely to hold as not in a repeat, if fratello and the bar were level) at 10 %.
pub fn missed_beyond_noise(held: usize, n: usize) -> bool {
    let choose = |n: usize, k: usize| (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64);
    let p: f64 = (0..=held).map(|k| choose(n, k)).sum::<f64>() / 2f64.powi(n as i32);
    p <= 0.10
}

/// A verdict, with how often the bar held repeat by repeat.
pub fn verdict(ok: bool, paired: Option<(usize, usize)>) -> String {
    let beyond = !ok && paired.is_some_and(|(k, n)| missed_beyond_noise(k, n));
    match paired {
        Some((k, n)) => format!("{} (held in {k} of {n} repeats)", word(ok, beyond)),
        None => word(ok, beyond).to_owned(),
    }
}

/// The word of a verdict: whether the bar held by the medians, and if not, whether the repeats
/// tell the miss from the noise.
pub fn word(ok: bool, beyond_noise: bool) -> &'static str {
    match (ok, beyond_noise) {
        (true, _) => "PASS",
        (false, true) => "MISS",
        (false, false) => "MISS by the medians, within the noise",
    }
}
