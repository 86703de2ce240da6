//! A room's log in Redis, for clients that resume on any instance
//! ([`RedisConfig::resumable`](crate::RedisConfig::resumable)): a stream per room, written in
//! the same step as the publish, so that the message carries its entry id everywhere.

use bytes::Bytes;
use fratello::broadcast::{wire, History, LogId};
use fred::clients::Client;
use fred::interfaces::{LuaInterface, PubsubInterface};
use fred::types::Value;

/// Adds the message to the room's stream (trimmed to about `ARGV[2]` entries, kept `ARGV[3]`
/// ms after the last one) and publishes `ID|message` on the room's channel: one step in
/// Redis, so the stream's order is the channel's.
pub(crate) const PUBLISH: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'm', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[1], id .. '|' .. ARGV[1])
return id
";

/// The room's entries after `ARGV[1]` (at most `ARGV[2]`), and the last id the stream has
/// dropped (so that a caller can tell whether any after `ARGV[1]` are gone); `{'gone'}`
/// without a stream.
const SINCE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local deleted = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
return {deleted, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
";

/// What stands before a mark on a resumable room's channel, in the place of an entry id:
/// a mark is not in the log.
pub(crate) const NO_PLACE: &[u8] = b"-|";

/// Splits a message from a resumable room's channel: its entry id, and the message.
pub(crate) fn split(payload: &Bytes) -> Option<(LogId, Bytes)> {
    let bar = payload.iter().position(|b| *b == b'|')?;
    let id = std::str::from_utf8(&payload[..bar]).ok()?.parse().ok()?;
    Some((id, payload.slice(bar + 1..)))
}

/// What the log of `channel` holds after `after`: listening to the channel first (so that
/// whatever is published while the log is read arrives there too), then reading at most
/// `limit` entries. [`History::Gone`] when some are trimmed or expired, when there are more
/// than `limit`, or when Redis does not answer.
pub(crate) async fn since(
    subscriber: Client,
    publisher: Client,
    channel: String,
    after: LogId,
    limit: usize,
) -> History {
    if let Err(e) = subscriber.subscribe(channel.clone()).await {
        tracing::debug!(channel, error = %e, "cannot listen to the room: no history");
        return History::Gone;
    }
    let answer: Value = match publisher
        .eval(SINCE, vec![channel.clone()], vec![after.to_string(), (limit + 1).to_string()])
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(channel, error = %e, "cannot read the room's log");
            return History::Gone;
        }
    };
    read(answer, after, limit).unwrap_or(History::Gone)
}

fn read(answer: Value, after: LogId, limit: usize) -> Option<History> {
    let Value::Array(parts) = answer else { return None };
    let [deleted, entries] = <[Value; 2]>::try_from(parts).ok()?;
    let deleted: LogId = text(&deleted)?.parse().ok()?;
    if deleted > after {
        return Some(History::Gone);
    }
    let Value::Array(entries) = entries else { return None };
    if entries.len() > limit {
        return Some(History::Gone);
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(entry) = entry else { return None };
        let [id, fields] = <[Value; 2]>::try_from(entry).ok()?;
        let id: LogId = text(&id)?.parse().ok()?;
        let Value::Array(fields) = fields else { return None };
        let payload = fields.into_iter().nth(1)?.into_bytes()?;
        out.push((id, wire::decode(payload).ok()?.message));
    }
    Some(History::Since(out))
}

fn text(v: &Value) -> Option<String> {
    v.as_bytes().and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_message_splits_into_its_id_and_itself() {
        let (id, rest) = split(&Bytes::from_static(b"1733380000000-7|\x01\x00|x")).unwrap();
        assert_eq!((id.major, id.minor, &rest[..]), (1_733_380_000_000, 7, &b"\x01\x00|x"[..]));
        assert!(split(&Bytes::from_static(b"no bar")).is_none());
        assert!(split(&Bytes::from_static(b"x-1|m")).is_none());
    }
}
