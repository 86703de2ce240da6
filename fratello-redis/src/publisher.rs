//! The publisher task: sends local publishes to Redis in order, several to a round trip.

use std::sync::Arc;

use fred::clients::Client;
use fred::interfaces::PubsubInterface;
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
        let sent = tokio::time::timeout(deadline, send(&client, &mut batch)).await;
        batch.clear();
        match sent {
            Ok(Ok(())) => {
                Counters::add(&counters.published, n);
            }
            Ok(Err(why)) => failed(counters, n, &why),
            Err(_) => failed(counters, n, "no answer in time"),
        }
    }
}

async fn send(client: &Client, batch: &mut Vec<Outgoing>) -> Result<(), String> {
    if let [one] = batch.as_mut_slice() {
        let payload = std::mem::take(&mut one.payload);
        let channel = std::mem::take(&mut one.channel);
        return client.publish::<i64, _, _>(channel, payload).await.map(drop).map_err(|e| e.to_string());
    }
    let pipeline = client.pipeline();
    for m in batch.drain(..) {
        // Queued in the pipeline: nothing is sent until `all`.
        let _: () = pipeline.publish(m.channel, m.payload).await.map_err(|e| e.to_string())?;
    }
    pipeline.all::<Vec<i64>>().await.map(drop).map_err(|e| e.to_string())
}

fn failed(counters: &Counters, n: u64, why: &str) {
    let total = Counters::add(&counters.failed, n);
    // The first failure of a run of them, then one in a thousand.
    if total == n || total / 1000 != (total - n) / 1000 {
        tracing::warn!(failed = total, why, "Redis did not take publishes: the other instances miss them");
    }
}
