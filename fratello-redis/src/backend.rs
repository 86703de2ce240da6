//! [`RedisBackend`]: the hub's rooms shared through Redis pub/sub.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use fratello::broadcast::{wire, Backend, BackendError, History, HistoryFuture, Inbox, LogId, MembersFuture};
use fratello::Outbound;
use fred::bytes_utils::Str;
use fred::clients::Client;
use fred::interfaces::ClientLike;
use fred::types::config::{Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, UnresponsiveConfig};
use fred::types::Builder;
use tokio::sync::mpsc;

use crate::config::{Delivery, RedisConfig};
use crate::error::RedisError;
use crate::presence::{self, PresenceChange};
use crate::sequences::{GapFinder, Marks, Numbering};
use crate::stats::{Counters, RedisStats};
use crate::{listener, publisher};

/// A message on its way to Redis: the room's channel and the message in the wire format.
pub(crate) struct Outgoing {
    /// (Shared, not copied, when a batch is sent: a lost message is noted after.)
    pub(crate) channel: Str,
    pub(crate) payload: Bytes,
    /// Its number among this instance's messages to the room (for a mark, if it is lost).
    pub(crate) sequence: u64,
}

/// A room that got its first local subscriber, or lost its last one.
pub(crate) enum RoomChange {
    Open(String),
    Close(String),
}

/// What the backend's handle and its tasks share.
pub(crate) struct Shared {
    pub(crate) config: RedisConfig,
    /// This instance's tag in every message it publishes, from the OS's random source.
    pub(crate) origin: u64,
    pub(crate) counters: Counters,
    pub(crate) gaps: Mutex<GapFinder>,
    /// Messages of this instance that did not go out, to say so with marks.
    pub(crate) marks: Mutex<Marks>,
}

/// The hub's [`Backend`] on Redis: every room is a pub/sub channel (`prefix` + room name) that
/// an instance subscribes to while the room has local subscribers; every local publish goes to
/// the room's channel in the hub's [wire format](fratello::broadcast::wire), tagged with this
/// instance's origin and numbered, so that nobody receives a message twice and a message lost
/// on the way is counted as lag on each receiver that missed it.
///
/// Cheap to clone: keep a clone to read [`stats`](Self::stats) after giving one to the hub.
/// The connections close when the last clone is dropped.
///
/// ```no_run
/// use fratello::prelude::*;
/// use fratello::broadcast::{Hub, HubConfig};
/// use fratello_redis::RedisBackend;
///
/// # async fn run() -> Result<(), fratello::StartupError> {
/// let redis = RedisBackend::connect("redis://127.0.0.1:6379/").await?; // an error names the URL
/// App::new().with_hub(Hub::with_backend(HubConfig::default(), redis)).serve("127.0.0.1:8080").await
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Handle>,
}

/// The connections and tasks; dropping it (with the last clone) stops them.
struct Handle {
    shared: Arc<Shared>,
    publisher: Client,
    subscriber: Client,
    /// Numbers each local publish per room and hands it to the publisher task, both under
    /// this lock, so that the numbers reach Redis in order.
    outbox: Mutex<(Numbering, mpsc::Sender<Outgoing>)>,
    /// Taken by [`Backend::start`].
    publish_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    rooms_tx: mpsc::UnboundedSender<RoomChange>,
    rooms_rx: Mutex<Option<mpsc::UnboundedReceiver<RoomChange>>>,
    presence_tx: mpsc::UnboundedSender<PresenceChange>,
    presence_rx: Mutex<Option<mpsc::UnboundedReceiver<PresenceChange>>>,
    runtime: tokio::runtime::Handle,
    tasks: OnceLock<Vec<tokio::task::AbortHandle>>,
    connections: Vec<tokio::task::AbortHandle>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        for task in self.tasks.get().into_iter().flatten().chain(&self.connections) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.inner.shared.config.url)
            .field("origin", &format_args!("{:016x}", self.inner.shared.origin))
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RedisBackend {
    /// Connects to the Redis at `url` with the [defaults](RedisConfig::new). Fails within 5 s,
    /// naming the URL, when Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<RedisBackend, RedisError> {
        RedisBackend::connect_with(RedisConfig::new(url)).await
    }

    /// Connects as `config` says. Must be called inside a tokio runtime, which the backend's
    /// tasks then run on.
    pub async fn connect_with(config: RedisConfig) -> Result<RedisBackend, RedisError> {
        let url = config.url.clone();
        if !url.starts_with("redis://") {
            let why = "it must start with redis:// (rediss://, Redis over TLS, is not enabled in this build)";
            return Err(RedisError::url(&url, why.to_owned()));
        }
        let (rooms, presence) = (&config.prefix, &config.presence_prefix);
        if rooms.starts_with(presence.as_str()) || presence.starts_with(rooms.as_str()) {
            let why = format!("the rooms' prefix ({rooms:?}) and the presence prefix ({presence:?}) overlap: one begins with the other");
            return Err(RedisError::config(why));
        }
        let mut fred_config =
            Config::from_url(&url).map_err(|e| RedisError::url(&url, e.details().to_owned()))?;
        // Without Redis at startup, the first connection is retried like any other.
        fred_config.fail_fast = !config.start_without_redis;
        let (min, max) = config.reconnect_delay;
        let policy = ReconnectPolicy::new_exponential(0, millis(min), millis(max), 2);
        let connection = ConnectionConfig {
            connection_timeout: config.connect_timeout,
            // A stalled Redis: the connection is closed and made again, so that it does not
            // hold what was sent to it.
            unresponsive: UnresponsiveConfig {
                max_timeout: Some(config.command_timeout * 2),
                interval: config.command_timeout / 2,
            },
            // What the client itself queues while it reconnects: bounded too.
            max_command_buffer_len: config.publish_buffer,
            ..ConnectionConfig::default()
        };
        let performance = PerformanceConfig {
            default_command_timeout: config.command_timeout,
            // Messages received wait here for the listener task; a gap shows as lag.
            broadcast_channel_capacity: 16 * 1024,
            ..PerformanceConfig::default()
        };
        let build = || {
            Builder::from_config(fred_config.clone())
                .set_policy(policy.clone())
                .set_connection_config(connection.clone())
                .set_performance_config(performance.clone())
                .build()
                .map_err(|e| RedisError::url(&url, e.details().to_owned()))
        };
        let (publisher, subscriber) = (build()?, build()?);
        let mut connections = Vec::new();
        for client in [&publisher, &subscriber] {
            if config.start_without_redis {
                // Retried like any later connection until Redis answers.
                connections.push(client.connect().abort_handle());
                continue;
            }
            // (fred gives up on its own after `connection_timeout`; this bound is a backstop.)
            let limit = config.connect_timeout + std::time::Duration::from_secs(1);
            let why = match tokio::time::timeout(limit, client.init()).await {
                Ok(Ok(task)) => {
                    connections.push(task.abort_handle());
                    continue;
                }
                Ok(Err(e)) => e.details().to_owned(),
                Err(_) => format!("no answer within {:?}", config.connect_timeout),
            };
            connections.iter().for_each(tokio::task::AbortHandle::abort);
            return Err(RedisError::unreachable(&url, why));
        }
        if config.start_without_redis {
            let deadline = tokio::time::Instant::now() + config.connect_timeout;
            while !(publisher.is_connected() && subscriber.is_connected()) {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(
                        url,
                        "Redis cannot be reached: serving this instance's receivers alone until it can"
                    );
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        let mut origin = [0u8; 8];
        getrandom::fill(&mut origin)
            .map_err(|e| RedisError::unreachable(&url, format!("no random origin tag: {e}")))?;
        let (publish_tx, publish_rx) = mpsc::channel(config.publish_buffer);
        let (rooms_tx, rooms_rx) = mpsc::unbounded_channel();
        let (presence_tx, presence_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            config,
            origin: u64::from_be_bytes(origin),
            counters: Counters::default(),
            gaps: Mutex::new(GapFinder::default()),
            marks: Mutex::new(Marks::default()),
        });
        Ok(RedisBackend {
            inner: Arc::new(Handle {
                shared,
                publisher,
                subscriber,
                outbox: Mutex::new((Numbering::default(), publish_tx)),
                publish_rx: Mutex::new(Some(publish_rx)),
                rooms_tx,
                rooms_rx: Mutex::new(Some(rooms_rx)),
                presence_tx,
                presence_rx: Mutex::new(Some(presence_rx)),
                runtime: tokio::runtime::Handle::current(),
                tasks: OnceLock::new(),
                connections,
            }),
        })
    }

    /// What the backend has carried, dropped and lost so far.
    pub fn stats(&self) -> RedisStats {
        self.inner.shared.counters.snapshot()
    }

    /// Whether both connections to Redis are up now.
    pub fn is_connected(&self) -> bool {
        self.inner.publisher.is_connected() && self.inner.subscriber.is_connected()
    }

    /// This instance's origin tag, as it appears in the messages it publishes.
    pub fn origin(&self) -> u64 {
        self.inner.shared.origin
    }
}

impl Backend for RedisBackend {
    fn start(&self, inbox: Inbox) {
        let h = &self.inner;
        let taken = (lock(&h.publish_rx).take(), lock(&h.rooms_rx).take(), lock(&h.presence_rx).take());
        let (Some(publish_rx), Some(rooms_rx), Some(presence_rx)) = taken else {
            tracing::error!("a RedisBackend serves one hub: give each hub a backend of its own");
            return;
        };
        let _runtime = h.runtime.enter();
        let tasks = vec![
            tokio::spawn(publisher::run(h.publisher.clone(), publish_rx, h.shared.clone())).abort_handle(),
            tokio::spawn(listener::rooms(h.subscriber.clone(), rooms_rx, inbox.clone(), h.shared.clone()))
                .abort_handle(),
            tokio::spawn(listener::messages(h.subscriber.clone(), inbox.clone(), h.shared.clone()))
                .abort_handle(),
            tokio::spawn(presence::run(
                h.publisher.clone(),
                h.subscriber.clone(),
                presence_rx,
                inbox,
                h.shared.clone(),
            ))
            .abort_handle(),
        ];
        let _ = h.tasks.set(tasks);
    }

    fn open(&self, room: &str) {
        let _ = self.inner.rooms_tx.send(RoomChange::Open(room.to_owned()));
    }

    fn close(&self, room: &str) {
        let _ = self.inner.rooms_tx.send(RoomChange::Close(room.to_owned()));
    }

    fn publish(&self, room: &str, message: &Outbound) -> Result<(), BackendError> {
        let shared = &self.inner.shared;
        let channel = shared.config.channel(room);
        let mut outbox = lock(&self.inner.outbox);
        let (numbering, queue) = &mut *outbox;
        let sequence = numbering.next(room);
        let payload = wire::encode(shared.origin, sequence, message)
            .map_err(|e| BackendError::Rejected(e.to_string()))?;
        // A message not sent keeps its number: the other instances see the gap (at the next
        // message, or at the mark sent once Redis takes publishes again), and count it as lag
        // on each receiver of the room.
        queue.try_send(Outgoing { channel: channel.into(), payload, sequence }).map_err(|e| {
            Counters::add(&shared.counters.dropped, 1);
            lock(&shared.marks).note(&e.into_inner().channel, sequence);
            BackendError::Full
        })
    }

    fn history(&self, room: &str, after: LogId) -> HistoryFuture {
        let shared = &self.inner.shared;
        let Some((entries, _)) = shared.config.log else { return Box::pin(async { History::Gone }) };
        let (subscriber, publisher) = (self.inner.subscriber.clone(), self.inner.publisher.clone());
        Box::pin(crate::log::since(subscriber, publisher, shared.config.channel(room), after, entries))
    }

    fn delivers_own(&self) -> bool {
        self.inner.shared.config.delivery == Delivery::Global
    }

    fn watch(&self, room: &str) {
        let _ = self.inner.presence_tx.send(PresenceChange::Watch(room.to_owned()));
    }

    fn unwatch(&self, room: &str) {
        let _ = self.inner.presence_tx.send(PresenceChange::Unwatch(room.to_owned()));
    }

    fn join(&self, room: &str, key: &str, meta: &str) {
        let change =
            PresenceChange::Join { room: room.to_owned(), key: key.to_owned(), meta: meta.to_owned() };
        let _ = self.inner.presence_tx.send(change);
    }

    fn leave(&self, room: &str, key: &str) {
        let _ =
            self.inner.presence_tx.send(PresenceChange::Leave { room: room.to_owned(), key: key.to_owned() });
    }

    fn members(&self, room: &str) -> MembersFuture {
        Box::pin(presence::members_once(
            self.inner.publisher.clone(),
            self.inner.shared.clone(),
            room.to_owned(),
        ))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
