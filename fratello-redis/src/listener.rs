//! The listener's two tasks: one keeps the subscriptions to Redis in step with the hub's
//! rooms (and makes them again after a reconnection), the other delivers what arrives.

use std::sync::Arc;

use fratello::broadcast::wire::{self, Received};
use fratello::broadcast::Inbox;
use fred::clients::Client;
use fred::interfaces::{EventInterface, PubsubInterface};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::backend::{lock, RoomChange, Shared};
use crate::config::Delivery;
use crate::stats::Counters;

/// Subscribes to a room's channel when the room opens and unsubscribes when it closes, in
/// the order the hub said so; after each reconnection to Redis, subscribes again to every
/// room that has local subscribers then.
pub(crate) async fn rooms(
    client: Client,
    mut changes: mpsc::UnboundedReceiver<RoomChange>,
    inbox: Inbox,
    shared: Arc<Shared>,
) {
    let mut reconnected = client.reconnect_rx();
    let config = &shared.config;
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(change) = change else { return };
                let (result, room) = match change {
                    RoomChange::Open(room) => (client.subscribe(config.channel(&room)).await, room),
                    RoomChange::Close(room) => {
                        lock(&shared.gaps).forget(&room);
                        (client.unsubscribe(config.channel(&room)).await, room)
                    }
                };
                if let Err(e) = result {
                    // Redis is away: the subscriptions are made again when it is back.
                    tracing::debug!(room, error = %e, "Redis subscription change failed");
                }
            }
            event = reconnected.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    Counters::add(&shared.counters.reconnects, 1);
                    let channels: Vec<String> = inbox.rooms().iter().map(|r| config.channel(r)).collect();
                    tracing::info!(rooms = channels.len(), "connected to Redis: subscribing to the open rooms");
                    if !channels.is_empty() {
                        if let Err(e) = client.subscribe(channels).await {
                            tracing::warn!(error = %e, "subscribing again after a reconnection failed");
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            },
        }
        if inbox.is_closed() {
            return;
        }
    }
}

/// Delivers each message from Redis to the local subscribers of its room: not this
/// instance's own (with [`Delivery::Local`], they were delivered when published), and after
/// reporting as lag any of the publisher's messages that never arrived.
pub(crate) async fn messages(client: Client, inbox: Inbox, shared: Arc<Shared>) {
    let mut received = client.message_rx();
    let counters = &shared.counters;
    let skip_own = shared.config.delivery == Delivery::Local;
    let roster_prefix = shared.config.roster("");
    loop {
        let message = match received.recv().await {
            Ok(m) => m,
            // Messages dropped before this task read them show as gaps in their numbering.
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "Redis messages arrived faster than they were delivered");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if inbox.is_closed() {
            return;
        }
        if let Some(room) = message.channel.strip_prefix(roster_prefix.as_str()) {
            if let Some(bytes) = message.value.as_bytes() {
                crate::presence::receive(&inbox, &shared, room, bytes);
            }
            continue;
        }
        let Some(room) = message.channel.strip_prefix(shared.config.prefix.as_str()) else { continue };
        Counters::add(&counters.received, 1);
        let Some(bytes) = message.value.into_bytes() else {
            Counters::add(&counters.undecodable, 1);
            continue;
        };
        // With a log of each room: `ID|message`, the message's place in the room's stream
        // (and `-|mark` for a mark, which has none).
        let (id, bytes) = match shared.config.log {
            None => (None, bytes),
            Some(_) if bytes.starts_with(crate::log::NO_PLACE) => {
                (None, bytes.slice(crate::log::NO_PLACE.len()..))
            }
            Some(_) => match crate::log::split(&bytes) {
                Some((id, rest)) => (Some(id), rest),
                None => {
                    Counters::add(&counters.undecodable, 1);
                    continue;
                }
            },
        };
        let envelope = match wire::read(bytes) {
            Ok(Received::Message(e)) => e,
            Ok(Received::Mark { origin, sequence }) => {
                if !(skip_own && origin == shared.origin) {
                    let missing = lock(&shared.gaps).mark(room, origin, sequence);
                    if missing > 0 {
                        Counters::add(&counters.lost, missing);
                        tracing::debug!(room, missing, origin, "messages lost between instances (a mark)");
                        inbox.lost(room, missing);
                    }
                }
                continue;
            }
            Err(e) => {
                let total = Counters::add(&counters.undecodable, 1);
                if total % 1000 == 1 {
                    tracing::warn!(room, error = %e, total, "a message on a room's channel is not of the hub's format");
                }
                continue;
            }
        };
        if skip_own && envelope.origin == shared.origin {
            Counters::add(&counters.own_skipped, 1);
            continue;
        }
        let missing = lock(&shared.gaps).see(room, envelope.origin, envelope.sequence);
        if missing > 0 {
            Counters::add(&counters.lost, missing);
            tracing::debug!(room, missing, origin = envelope.origin, "messages lost between instances");
            inbox.lost(room, missing);
        }
        match id {
            Some(id) => inbox.deliver_at(room, id, envelope.message),
            None => inbox.deliver(room, envelope.message),
        };
    }
}
