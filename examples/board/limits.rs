//! How much one socket may send. The framework bounds each message's size
//! ([`WsConfig::max_message_size`](fratello::ws::WsConfig::max_message_size): over it, close
//! 1009) and its time to arrive; this bounds the rate, per connection, with a token bucket: a
//! burst of [`BURST`] messages, refilled at [`PER_SECOND`]. A message that cannot be used
//! (not JSON, an unknown type) costs [`BAD_COST`]. A socket that runs dry is closed, told why,
//! and nobody else notices: its messages never reached the board's lock.

use std::time::Instant;

/// Messages a socket may send at once.
pub const BURST: f64 = 60.0;
/// Messages per second a socket may keep sending.
pub const PER_SECOND: f64 = 20.0;
/// What a message that cannot be used costs.
pub const BAD_COST: f64 = 5.0;

/// One socket's budget.
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket { tokens: BURST, last: Instant::now() }
    }
}

impl Bucket {
    /// Spends `cost`: false if the budget is exhausted.
    pub fn take(&mut self, cost: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * PER_SECOND;
        self.tokens = (self.tokens + refill).min(BURST);
        self.last = now;
        if self.tokens < cost {
            return false;
        }
        self.tokens -= cost;
        true
    }
}

/// What a socket that ran dry is told, as it is closed.
pub fn too_many() -> String {
    format!("too many messages: at most {PER_SECOND} per second (bursts of {BURST})")
}
