//! The presence task: tells Redis of this instance's members, keeps the instance alive
//! there, and tells the hub of the other instances' members (what it follows).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fratello::broadcast::Inbox;
use fred::clients::Client;
use fred::interfaces::{ClientLike, EventInterface, LuaInterface, PubsubInterface};
use fred::types::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::backend::Shared;
use crate::roster::{self, Change};

/// What the hub said about presence, in its order.
pub(crate) enum PresenceChange {
    Watch(String),
    Unwatch(String),
    Join { room: String, key: String, meta: String },
    Leave { room: String, key: String },
}

/// The task's own record: this instance's members by room (what Redis must have), and the
/// rooms it follows.
struct State {
    local: BTreeMap<String, BTreeMap<String, String>>,
    watched: BTreeSet<String>,
    /// Rooms whose fields in Redis may not match `local` (a command failed): set right at the
    /// next heartbeat.
    unsure: BTreeSet<String>,
}

/// Runs until the backend is dropped or the hub is gone.
pub(crate) async fn run(
    publisher: Client,
    subscriber: Client,
    mut changes: mpsc::UnboundedReceiver<PresenceChange>,
    inbox: Inbox,
    shared: Arc<Shared>,
) {
    let mut state = State { local: BTreeMap::new(), watched: BTreeSet::new(), unsure: BTreeSet::new() };
    let mut reconnected = subscriber.reconnect_rx();
    let mut beat = tokio::time::interval(shared.config.presence_timeout / 3);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let redis = Redis { publisher: &publisher, shared: &shared };
    // Whether a heartbeat has been answered yet, and when the rooms may be swept again.
    let (mut beaten, mut settled_at) = (false, tokio::time::Instant::now());
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(change) = change else { return };
                match change {
                    PresenceChange::Watch(room) => {
                        state.watched.insert(room.clone());
                        if let Err(e) = subscriber.subscribe(shared.config.roster(&room)).await {
                            tracing::debug!(room, error = %e, "cannot listen to a room's members yet");
                        }
                        if let Some(members) = redis.sweep(&room).await {
                            inbox.members_are(&room, others(members, shared.origin));
                        }
                    }
                    PresenceChange::Unwatch(room) => {
                        state.watched.remove(&room);
                        let _ = subscriber.unsubscribe(shared.config.roster(&room)).await;
                    }
                    PresenceChange::Join { room, key, meta } => {
                        state.local.entry(room.clone()).or_default().insert(key.clone(), meta.clone());
                        if !redis.join(&room, &key, &meta).await {
                            state.unsure.insert(room);
                        }
                    }
                    PresenceChange::Leave { room, key } => {
                        if let Some(members) = state.local.get_mut(&room) {
                            members.remove(&key);
                            if members.is_empty() {
                                state.local.remove(&room);
                            }
                        }
                        if !redis.leave(&room, &key).await {
                            state.unsure.insert(room);
                        }
                    }
                }
            }
            _ = beat.tick() => {
                match redis.heartbeat(state.local.keys()).await {
                    // Redis lost the instance (restarted, or the instance stalled past the
                    // timeout and the others removed its members): every room is unsure.
                    Some(false) => {
                        state.unsure.extend(state.local.keys().cloned());
                        // If Redis lost everything, the other live instances put their members
                        // back within a heartbeat of reconnecting: until they had the time, a
                        // member missing from Redis is not taken for gone (no leave and join
                        // again for each of them).
                        if beaten {
                            settled_at = tokio::time::Instant::now() + shared.config.presence_timeout;
                        }
                    }
                    Some(true) => {}
                    None => continue,
                }
                beaten = true;
                let unsure = std::mem::take(&mut state.unsure);
                for room in unsure {
                    let mine: Vec<(String, String)> =
                        state.local.get(&room).map(|m| m.clone().into_iter().collect()).unwrap_or_default();
                    if !redis.sync(&room, &mine).await {
                        state.unsure.insert(room);
                    }
                }
                // Members of instances that stopped answering go; what was missed is caught up.
                if tokio::time::Instant::now() < settled_at {
                    continue;
                }
                for room in &state.watched {
                    if let Some(members) = redis.sweep(room).await {
                        inbox.members_are(room, others(members, shared.origin));
                    }
                }
            }
            event = reconnected.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let channels: Vec<String> = state.watched.iter().map(|r| shared.config.roster(r)).collect();
                    if !channels.is_empty() {
                        if let Err(e) = subscriber.subscribe(channels).await {
                            tracing::warn!(error = %e, "following the rooms' members again after a reconnection failed");
                        }
                    }
                    // Checked and caught up at the next heartbeat.
                    state.unsure.extend(state.local.keys().cloned());
                }
                Err(RecvError::Closed) => return,
            },
        }
        if inbox.is_closed() {
            return;
        }
    }
}

/// A change published on a room's members channel: to the hub, unless it is this instance's.
pub(crate) fn receive(inbox: &Inbox, shared: &Shared, room: &str, payload: &[u8]) {
    match roster::decode(payload) {
        Some(Change::Joined { origin, member }) if origin != shared.origin => {
            inbox.present(room, origin, &member.key, &member.meta)
        }
        Some(Change::Left { origin, key }) if origin != shared.origin => inbox.absent(room, origin, &key),
        Some(_) => {}
        None => tracing::debug!(room, "a message on a room's members channel is not a change of members"),
    }
}

/// The members of other instances than `origin`.
fn others(
    members: Vec<(u64, fratello::broadcast::Member)>,
    origin: u64,
) -> Vec<(u64, fratello::broadcast::Member)> {
    members.into_iter().filter(|(o, _)| *o != origin).collect()
}

/// The scripts, called for this instance.
struct Redis<'a> {
    publisher: &'a Client,
    shared: &'a Shared,
}

impl Redis<'_> {
    fn ttl_ms(&self) -> u64 {
        self.shared.config.presence_timeout.as_millis() as u64
    }

    /// How long a room's hash outlives the last heartbeat of its instances.
    fn hash_ttl_ms(&self) -> u64 {
        self.ttl_ms() * 3
    }

    async fn eval(&self, script: &str, keys: Vec<String>, args: Vec<Value>) -> Option<Value> {
        // While Redis is away, changes are not queued one timeout after another: the rooms are
        // set right in one step once it is back (the caller marks them unsure).
        if !self.publisher.is_connected() {
            return None;
        }
        match self.publisher.eval::<Value, _, _, _>(script, keys, args).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "a presence command failed: retried at the next heartbeat");
                None
            }
        }
    }

    async fn join(&self, room: &str, key: &str, meta: &str) -> bool {
        let config = &self.shared.config;
        let keys = vec![config.roster(room), config.alive(self.shared.origin)];
        let args = vec![
            Value::from(roster::field(self.shared.origin, key)),
            Value::Bytes(meta.to_owned().into()),
            Value::from(self.ttl_ms() as i64),
            Value::from(self.hash_ttl_ms() as i64),
        ];
        self.eval(roster::JOIN, keys, args).await.is_some()
    }

    async fn leave(&self, room: &str, key: &str) -> bool {
        let args = vec![Value::from(roster::field(self.shared.origin, key))];
        self.eval(roster::LEAVE, vec![self.shared.config.roster(room)], args).await.is_some()
    }

    async fn sync(&self, room: &str, mine: &[(String, String)]) -> bool {
        let args = roster::sync_args(self.shared.origin, self.hash_ttl_ms(), mine);
        self.eval(roster::SYNC, vec![self.shared.config.roster(room)], args).await.is_some()
    }

    async fn sweep(&self, room: &str) -> Option<Vec<(u64, fratello::broadcast::Member)>> {
        let args = vec![Value::from(self.shared.config.alive_prefix())];
        let answer = self.eval(roster::SWEEP, vec![self.shared.config.roster(room)], args).await?;
        Some(roster::members(answer))
    }

    /// Whether Redis still had the instance alive (`None`: no answer).
    async fn heartbeat(&self, rooms: impl Iterator<Item = &String>) -> Option<bool> {
        let config = &self.shared.config;
        let keys: Vec<String> = std::iter::once(config.alive(self.shared.origin))
            .chain(rooms.map(|r| config.roster(r)))
            .collect();
        let args = vec![Value::from(self.ttl_ms() as i64), Value::from(self.hash_ttl_ms() as i64)];
        let was = self.eval(roster::HEARTBEAT, keys, args).await?;
        Some(was.as_i64() == Some(1))
    }
}

/// The other instances' members of a room nobody here follows, read once.
pub(crate) async fn members_once(
    publisher: Client,
    shared: Arc<Shared>,
    room: String,
) -> Vec<fratello::broadcast::Member> {
    let redis = Redis { publisher: &publisher, shared: &shared };
    redis.sweep(&room).await.map(|m| m.into_iter().map(|(_, m)| m).collect()).unwrap_or_default()
}
