//! [`RedisConfig`]: where Redis is, how rooms are named there, and how much may wait for it.

use std::time::Duration;

/// Who decides the order in which a room's messages reach its receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A publish reaches this instance's receivers at once, and the other instances through
    /// Redis. Each publisher's messages arrive in the order it published them everywhere, and
    /// the local receivers never wait for Redis (nor lose anything when it is away); two
    /// instances publishing to one room at the same moment may be seen interleaved
    /// differently on each. The default.
    Local,
    /// A publish reaches every receiver, this instance's included, only when Redis sends it
    /// back: every instance sees the one order Redis gave a room's messages, at the cost of a
    /// round trip to Redis for local receivers too, and of nothing delivered at all while
    /// Redis is away.
    Global,
}

/// Where Redis is and how the backend uses it. [`RedisConfig::new`] has the defaults.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) publish_buffer: usize,
    pub(crate) delivery: Delivery,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) start_without_redis: bool,
    pub(crate) reconnect_delay: (Duration, Duration),
    pub(crate) presence_prefix: String,
    pub(crate) presence_timeout: Duration,
    /// Each room's log in Redis: about this many entries, kept this long after the last.
    pub(crate) log: Option<(usize, Duration)>,
}

impl RedisConfig {
    /// The defaults, for the Redis at `url` (`redis://host:port/db`, `rediss://` for TLS is
    /// not enabled in this build):
    ///
    /// | setting | default | why |
    /// |---|---|---|
    /// | [`prefix`](Self::prefix) | `fratello:room:` | a room `r` is the channel `fratello:room:r`; other apps on the same Redis keep theirs |
    /// | [`publish_buffer`](Self::publish_buffer) | 4096 messages | publishes wait here while Redis is slow; past it they are dropped and counted, never waited for |
    /// | [`delivery`](Self::delivery) | [`Delivery::Local`] | local receivers never wait for Redis |
    /// | [`connect_timeout`](Self::connect_timeout) | 5 s | startup fails soon with a clear error when Redis is not there |
    /// | [`command_timeout`](Self::command_timeout) | 2 s | a stalled Redis fails the publishes in flight, which are counted, instead of holding them |
    /// | [`start_without_redis`](Self::start_without_redis) | off | a Redis that is down at startup is an error, not a silent single-instance app |
    /// | [`reconnect_delay`](Self::reconnect_delay) | 100 ms doubling to 5 s | back off from a Redis that is down, come back soon after it is up |
    /// | [`presence_prefix`](Self::presence_prefix) | `fratello:presence:` | where the rooms' members are kept, apart from the rooms' channels |
    /// | [`presence_timeout`](Self::presence_timeout) | 10 s | an instance that stops answering loses its members within 4/3 of it; each instance refreshes its own every third of it |
    /// | [`resumable`](Self::resumable) | off | a log per room costs Redis memory and a round trip per local delivery; a cursor resumes on its own instance without it |
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "fratello:room:".to_owned(),
            publish_buffer: 4096,
            delivery: Delivery::Local,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(2),
            start_without_redis: false,
            reconnect_delay: (Duration::from_millis(100), Duration::from_secs(5)),
            log: None,
            presence_prefix: "fratello:presence:".to_owned(),
            presence_timeout: Duration::from_secs(10),
        }
    }

    /// The channel name of a room is this prefix followed by the room's name.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Publishes that may wait for Redis; more are dropped (and counted as lag on the other
    /// instances' receivers).
    pub fn publish_buffer(mut self, messages: usize) -> Self {
        self.publish_buffer = messages.max(1);
        self
    }

    /// Who orders a room's messages ([`Delivery`]).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// How long [`RedisBackend::connect_with`](crate::RedisBackend::connect_with) tries to
    /// reach Redis before it fails.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a publish sent to Redis may wait for its answer before it counts as failed.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// When Redis cannot be reached at startup, start anyway: the app serves its own
    /// receivers alone (publishes to Redis are dropped and counted) and joins the others as
    /// soon as Redis answers.
    pub fn start_without_redis(mut self, yes: bool) -> Self {
        self.start_without_redis = yes;
        self
    }

    /// The wait before the first reconnection attempt, doubled after each failure up to `max`.
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_delay = (min, max.max(min));
        self
    }

    /// Keeps a log of each room in Redis (a stream of about `entries` messages, removed
    /// `keep_for` after its last one), so that a client resumes on any instance:
    /// [`Hub::subscribe_from`](fratello::Hub::subscribe_from) with the cursor it had on another
    /// instance (an SSE `Last-Event-ID`) gets what it missed from the log, or a reset when the
    /// log no longer holds all of it. Each message then carries its place in the log, which
    /// Redis gives when the message is published: so every message, local receivers' too,
    /// arrives through Redis ([`Delivery::Global`], which this sets).
    pub fn resumable(mut self, entries: usize, keep_for: Duration) -> Self {
        self.log = Some((entries.max(1), keep_for.max(Duration::from_millis(1))));
        self.delivery = Delivery::Global;
        self
    }

    /// Where presence is kept in Redis: a hash and a channel per room (the prefix, `m:` and
    /// the room's name), and a key per instance (the prefix, `i:` and its origin tag). It must
    /// not begin with the rooms' [`prefix`](Self::prefix), nor the rooms' with it.
    pub fn presence_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.presence_prefix = prefix.into();
        self
    }

    /// How long an instance that stops answering (it crashed, or lost Redis) keeps its
    /// members: the other instances remove them within 4/3 of this, and every instance
    /// refreshes its own every third of it. At least 300 ms.
    pub fn presence_timeout(mut self, timeout: Duration) -> Self {
        self.presence_timeout = timeout.max(Duration::from_millis(300));
        self
    }

    /// The hash of a room's members, and the channel of their changes.
    pub(crate) fn roster(&self, room: &str) -> String {
        format!("{}m:{room}", self.presence_prefix)
    }

    /// What an instance's alive key begins with.
    pub(crate) fn alive_prefix(&self) -> String {
        format!("{}i:", self.presence_prefix)
    }

    /// The key that says the instance `origin` is alive.
    pub(crate) fn alive(&self, origin: u64) -> String {
        format!("{}{}", self.alive_prefix(), crate::roster::origin_tag(origin))
    }

    pub(crate) fn channel(&self, room: &str) -> String {
        format!("{}{room}", self.prefix)
    }
}
