//! A socket's deadlines: how often the sessions' clock looks at a socket, and the deadlines a
//! socket rarely has (its close, a message that is taking long, a client that stopped
//! reading), with the one timer of its own a socket has only while it closes.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::WsConfig;

/// How often the sessions' clock must look at a socket with these settings (the shortest of
/// its timeouts): a deadline is noticed within twice its length.
pub(crate) fn tick(config: &WsConfig) -> Duration {
    let far = Duration::from_secs(86_400 * 365);
    config
        .ping_interval
        .unwrap_or(far)
        .min(config.idle_timeout.unwrap_or(far))
        .min(config.message_timeout)
        .min(config.write_timeout)
        .max(Duration::from_millis(1))
}

/// A socket's deadlines, which most sockets never have: boxed, and made the first time one is
/// set (then kept: a socket that had one is likely to have one again).
#[derive(Default)]
pub(crate) struct Marks(Option<Box<Deadlines>>);

#[derive(Default)]
pub(crate) struct Deadlines {
    /// Set once our close frame is out: from then on we only wait for the peer's, until then.
    pub(crate) closing_until: Option<Instant>,
    /// Since when bytes of a message have been read that do not make a whole message yet
    /// (its deadline is [`WsConfig::message_timeout`]). Control frames in between do not
    /// clear it; a message does, and so does a moment with no such bytes.
    pub(crate) message_since: Option<Instant>,
    /// Since when bytes have been waiting for the client without it taking any
    /// ([`WsConfig::write_timeout`]).
    pub(crate) stalled_since: Option<Instant>,
    /// A deadline sooner than the clock's next tick (the close timeout): the socket's own
    /// timer, from when it is set until it fires.
    alarm: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Marks {
    /// The deadlines, made if there were none.
    pub(crate) fn get(&mut self) -> &mut Deadlines {
        self.0.get_or_insert_with(Default::default)
    }

    pub(crate) fn closing_until(&self) -> Option<Instant> {
        self.0.as_ref()?.closing_until
    }

    pub(crate) fn closing(&self) -> bool {
        self.closing_until().is_some()
    }

    pub(crate) fn message_since(&self) -> Option<Instant> {
        self.0.as_ref()?.message_since
    }

    pub(crate) fn stalled_since(&self) -> Option<Instant> {
        self.0.as_ref()?.stalled_since
    }

    /// Sets the socket's own timer to fire at `at` (the task's next poll after it waits on it).
    pub(crate) fn alarm(&mut self, at: Instant) {
        match &mut self.get().alarm {
            Some(alarm) => alarm.as_mut().reset(at),
            none => *none = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// Whether the socket's own timer fired (once: it is then unset). Waits on it otherwise.
    pub(crate) fn poll_alarm(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let Some(alarm) = self.0.as_mut().and_then(|d| d.alarm.as_mut()) else { return false };
        if alarm.as_mut().poll(cx).is_pending() {
            return false;
        }
        if let Some(d) = &mut self.0 {
            d.alarm = None;
        }
        true
    }

    pub(crate) fn clear_message(&mut self) {
        if let Some(d) = &mut self.0 {
            d.message_since = None;
        }
    }

    pub(crate) fn clear_stalled(&mut self) {
        if let Some(d) = &mut self.0 {
            d.stalled_since = None;
        }
    }
}
