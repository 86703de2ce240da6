//! [`AcceptBackoff`]: how long the accept loop waits after a failed accept.

use std::io;

/// How long the accept loop waits after a failed accept: from a few milliseconds, doubling up
/// to a second while accepts keep failing (as they do while the process is out of file
/// descriptors), so that a full descriptor table is not retried in a busy loop. The first
/// failure of a run is logged at `warn`, the others at `debug`.
#[derive(Default)]
pub(crate) struct AcceptBackoff {
    wait: std::time::Duration,
}

impl AcceptBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(5);
    const MAX: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) fn failed(&mut self, error: &io::Error) -> std::time::Duration {
        if self.wait.is_zero() {
            tracing::warn!(%error, "accept failed; retrying with backoff");
            self.wait = Self::FIRST;
        } else {
            tracing::debug!(%error, "accept failed again");
            self.wait = (self.wait * 2).min(Self::MAX);
        }
        self.wait
    }

    pub(crate) fn reset(&mut self) {
        if !self.wait.is_zero() {
            tracing::info!("accepting again");
            self.wait = std::time::Duration::ZERO;
        }
    }
}
