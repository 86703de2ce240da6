//! The publisher task: sends local publishes to Redis in order, several to a round trip, and
//! marks for those that did not go out.

use std::sync::Arc;
use std::time::Duration;

use fratello::broadcast::wire;
use fred::clients::Client;
use fred::interfaces::{ClientLike, LuaInterface, PubsubInterface};
use fred::types::Value;
use tokio::sync::mpsc;

use crate::backend::{lock, Outgoing, Shared};
use crate::stats::Counters;

/// Publishes sent in one pipeline at most: enough to fill a round trip under load, few
/// enough that one failure loses little.
const MAX_BATCH: usize = 256;

/// How often marks that could not be sent are tried again while nothing is published.
const MARKS_RETRY: Duration = Duration::from_secs(1);

/// Sends what the hub publishes to Redis until the backend is dropped. A publish Redis does
/// not take (an error, a timeout, a stalled server) is counted as failed, never retried here:
/// the receivers on other instances see the gap in its numbering as lag, at the publisher's
/// next message to the room or at the mark sent for it once Redis takes publishes again.
pub(crate) async fn run(client: Client, mut queue: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let counters = &shared.counters;
    // A bound of our own beside the client's, so that no publish is held longer.
    let deadline = shared.config.command_timeout * 2;
    let mut retry = tokio::time::interval(MARKS_RETRY);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, MAX_BATCH) => if n == 0 { return },
            _ = retry.tick() => {
                send_marks(&client, &shared).await;
                continue;
            }
        }
        let n = batch.len() as u64;
        let sent = tokio::time::timeout(deadline, send(&client, &batch, shared.config.log)).await;
        let lost: Vec<usize> = match sent {
            Ok(Ok(())) => Vec::new(),
            Ok(Err((lost, why))) => {
                failed(counters, lost.len() as u64, &why);
                lost
            }
            Err(_) => {
                failed(counters, n, "no answer in time");
                (0..batch.len()).collect()
            }
        };
        Counters::add(&counters.published, n - lost.len() as u64);
        if lost.is_empty() {
            send_marks(&client, &shared).await;
        } else {
            let mut marks = lock(&shared.marks);
            for i in lost {
                marks.note(&batch[i].channel, batch[i].sequence);
            }
        }
        batch.clear();
    }
}

/// Publishes the batch: plainly, or (with a log of each room) through the script that adds
/// each message to its room's stream and publishes it with its entry id. On failure: which of
/// the batch were lost, and why.
async fn send(
    client: &Client,
    batch: &[Outgoing],
    log: Option<(usize, std::time::Duration)>,
) -> Result<(), (Vec<usize>, String)> {
    let all = || (0..batch.len()).collect::<Vec<_>>();
    if let Some((entries, keep)) = log {
        let args = |m: &Outgoing| {
            vec![
                Value::Bytes(m.payload.clone()),
                Value::from(entries as i64),
                Value::from(keep.as_millis() as i64),
            ]
        };
        // One script call each (a pipeline takes no scripts); issued together, so the client
        // writes them back to back, in this order, and waits once.
        let calls = batch
            .iter()
            .map(|m| client.eval::<Value, _, _, _>(crate::log::PUBLISH, vec![m.channel.clone()], args(m)));
        let answers = futures_util::future::join_all(calls).await;
        let lost: Vec<usize> =
            answers.iter().enumerate().filter(|(_, a)| a.is_err()).map(|(i, _)| i).collect();
        return match answers.into_iter().find_map(Result::err) {
            Some(e) => Err((lost, e.to_string())),
            None => Ok(()),
        };
    }
    if let [one] = batch {
        let sent = client.publish::<i64, _, _>(one.channel.clone(), one.payload.clone()).await;
        return sent.map(drop).map_err(|e| (all(), e.to_string()));
    }
    let pipeline = client.pipeline();
    for m in batch {
        // Queued in the pipeline: nothing is sent until `all`.
        let _: () = pipeline
            .publish(m.channel.clone(), m.payload.clone())
            .await
            .map_err(|e| (all(), e.to_string()))?;
    }
    pipeline.all::<Vec<i64>>().await.map(drop).map_err(|e| (all(), e.to_string()))
}

/// Sends the marks of messages that did not go out, when Redis is there to take them; those
/// it does not take wait for the next try.
async fn send_marks(client: &Client, shared: &Shared) {
    if lock(&shared.marks).is_empty() || !client.is_connected() {
        return;
    }
    let marks = lock(&shared.marks).take();
    for (channel, sequence) in marks {
        let mark = wire::encode_mark(shared.origin, sequence);
        // A room with a log carries its place in it before every message: a mark has none.
        let payload = match shared.config.log {
            Some(_) => [crate::log::NO_PLACE, &mark[..]].concat().into(),
            None => mark,
        };
        if let Err(e) = client.publish::<i64, _, _>(channel.as_str(), payload).await {
            tracing::debug!(channel, error = %e, "a mark did not go out: tried again later");
            lock(&shared.marks).note(&channel, sequence);
        }
    }
}

fn failed(counters: &Counters, n: u64, why: &str) {
    let total = Counters::add(&counters.failed, n);
    // The first failure of a run of them, then one in a thousand.
    if total == n || total / 1000 != (total - n) / 1000 {
        tracing::warn!(failed = total, why, "Redis did not take publishes: the other instances miss them");
    }
}
