//! The publisher task: sends local publishes to Redis in order, several to a round trip.

use std::sync::Arc;

use fred::clients::Client;
use fred::interfaces::{LuaInterface, PubsubInterface};
use fred::types::Value;
use tokio::sync::mpsc;

use crate::backend::{Outgoing, Shared};
use crate::stats::Counters;

/// Publishes sent in one pipeline at most: enough to fill a round trip under load, few
/// enough that one failure loses little.
const MAX_BATCH: usize = 256;

/// Sends what the hub publishes to Redis until the backend is dropped. A publish Redis does
/// not take (an error, a timeout, a stalled server) is counted as failed, never retried here:
/// the receivers on other instances see the gap in its numbering as lag.
pub(crate) async fn run(client: Client, mut queue: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let counters = &shared.counters;
    // A bound of our own beside the client's, so that no publish is held longer.
    let deadline = shared.config.command_timeout * 2;
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let n = batch.len() as u64;
        let sent = tokio::time::timeout(deadline, send(&client, &mut batch, shared.config.log)).await;
        batch.clear();
        match sent {
            Ok(Ok(())) => {
                Counters::add(&counters.published, n);
            }
            Ok(Err((lost, why))) => {
                Counters::add(&counters.published, n - lost);
                failed(counters, lost, &why);
            }
            Err(_) => failed(counters, n, "no answer in time"),
        }
    }
}

/// Publishes the batch: plainly, or (with a log of each room) through the script that adds
/// each message to its room's stream and publishes it with its entry id.
async fn send(
    client: &Client,
    batch: &mut Vec<Outgoing>,
    log: Option<(usize, std::time::Duration)>,
) -> Result<(), (u64, String)> {
    let all = batch.len() as u64;
    let args = |payload: bytes::Bytes| {
        let (entries, keep) = log.unwrap_or_default();
        vec![Value::Bytes(payload), Value::from(entries as i64), Value::from(keep.as_millis() as i64)]
    };
    if log.is_some() {
        // One script call each (a pipeline takes no scripts); issued together, so the client
        // writes them back to back, in this order, and waits once.
        let calls = batch
            .drain(..)
            .map(|m| client.eval::<Value, _, _, _>(crate::log::PUBLISH, vec![m.channel], args(m.payload)));
        let answers = futures_util::future::join_all(calls).await;
        let lost = answers.iter().filter(|a| a.is_err()).count() as u64;
        return match answers.into_iter().find_map(Result::err) {
            Some(e) => Err((lost, e.to_string())),
            None => Ok(()),
        };
    }
    if let [one] = batch.as_mut_slice() {
        let payload = std::mem::take(&mut one.payload);
        let channel = std::mem::take(&mut one.channel);
        return client.publish::<i64, _, _>(channel, payload).await.map(drop).map_err(|e| (1, e.to_string()));
    }
    let pipeline = client.pipeline();
    for m in batch.drain(..) {
        // Queued in the pipeline: nothing is sent until `all`.
        let _: () = pipeline.publish(m.channel, m.payload).await.map_err(|e| (all, e.to_string()))?;
    }
    pipeline.all::<Vec<i64>>().await.map(drop).map_err(|e| (all, e.to_string()))
}

fn failed(counters: &Counters, n: u64, why: &str) {
    let total = Counters::add(&counters.failed, n);
    // The first failure of a run of them, then one in a thousand.
    if total == n || total / 1000 != (total - n) / 1000 {
        tracing::warn!(failed = total, why, "Redis did not take publishes: the other instances miss them");
    }
}
