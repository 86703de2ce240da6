//! [`HubConfig`]: the sizes of a hub's rooms and its policy for slow receivers.

/// Sizes of a hub's rooms and its policy for slow receivers.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub(crate) capacity: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_lag: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig { capacity: 256, max_bytes: 256 * 1024, max_lag: 1024 }
    }
}

impl HubConfig {
    /// Messages a room keeps for its receivers. Default 256.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages.max(1);
        self
    }

    /// Bytes a room keeps for its receivers (the payloads, as encoded), and so the largest
    /// message it accepts: [`Hub::publish`](super::Hub::publish) refuses a larger one with 413. Default 256 KiB.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Total messages a receiver may lose before it is dropped. Default 1024.
    pub fn max_lag(mut self, messages: u64) -> Self {
        self.max_lag = messages;
        self
    }
}
