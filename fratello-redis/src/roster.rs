//! A room's members in Redis, for presence: where they are kept, the scripts that change
//! them, and the events that tell the other instances.
//!
//! - `{presence prefix}m:{room}`: a hash with a field per member per instance, `ORIGIN KEY`
//!   (the instance's origin tag as 16 hex digits, then the member's key) → the member's meta.
//!   It expires unless an instance with members in it refreshes it.
//! - `{presence prefix}i:{ORIGIN}`: the instance is alive; it expires unless the instance
//!   refreshes it, and a member of an instance without it is gone.
//! - the channel `{presence prefix}m:{room}` carries the changes: `j{meta length}:{meta}{field}`
//!   for a join, `l{field}` for a leave.

use bytes::Bytes;
use fratello::broadcast::Member;
use fred::types::Value;

/// Joins: the instance is alive, the field is set, the hash kept, the change published.
pub(crate) const JOIN: &str = r"
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[1], 'j' .. #ARGV[2] .. ':' .. ARGV[2] .. ARGV[1])
return 1
";

/// Leaves: the field is removed and, if it was there, the change published.
pub(crate) const LEAVE: &str = r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[1], 'l' .. ARGV[1])
end
return 1
";

/// The room's members whose instance is alive (field, meta, field, meta, ...); the others
/// are removed, and their leaving published.
pub(crate) const SWEEP: &str = r"
local all = redis.call('HGETALL', KEYS[1])
local live, alive = {}, {}
for i = 1, #all, 2 do
  local origin = string.sub(all[i], 1, 16)
  if alive[origin] == nil then alive[origin] = redis.call('EXISTS', ARGV[1] .. origin) == 1 end
  if alive[origin] then
    live[#live + 1] = all[i]
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('PUBLISH', KEYS[1], 'l' .. all[i])
  end
end
return live
";

/// Refreshes the instance's alive key (`KEYS[1]`) and the hashes it has members in: whether
/// the alive key was still there (if not, the others may have removed its members).
pub(crate) const HEARTBEAT: &str = r"
local was = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return was
";

/// Makes the instance's fields in the room (origin `ARGV[1]`) exactly the pairs from
/// `ARGV[3]` on (field, meta, ...), publishing what that changes.
pub(crate) const SYNC: &str = r"
local mine = {}
for i = 3, #ARGV, 2 do mine[ARGV[i]] = ARGV[i + 1] end
local had = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 16) == ARGV[1] then
    if mine[f] == nil then
      redis.call('HDEL', KEYS[1], f)
      redis.call('PUBLISH', KEYS[1], 'l' .. f)
    else
      had[f] = true
    end
  end
end
for f, meta in pairs(mine) do
  if not had[f] then
    redis.call('HSET', KEYS[1], f, meta)
    redis.call('PUBLISH', KEYS[1], 'j' .. #meta .. ':' .. meta .. f)
  end
end
if next(mine) ~= nil then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// An instance's origin tag as it appears in Redis.
pub(crate) fn origin_tag(origin: u64) -> String {
    format!("{origin:016x}")
}

/// A member's field in a room's hash.
pub(crate) fn field(origin: u64, key: &str) -> String {
    format!("{}{key}", origin_tag(origin))
}

/// Splits a field into its instance and the member's key.
fn split_field(field: &[u8]) -> Option<(u64, String)> {
    let origin = u64::from_str_radix(std::str::from_utf8(field.get(..16)?).ok()?, 16).ok()?;
    Some((origin, String::from_utf8(field[16..].to_vec()).ok()?))
}

/// A change of a room's members, as published.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Joined { origin: u64, member: Member },
    Left { origin: u64, key: String },
}

/// Reads a change from its channel; `None` for anything else.
pub(crate) fn decode(payload: &[u8]) -> Option<Change> {
    match payload.split_first()? {
        (b'j', rest) => {
            let colon = rest.iter().position(|b| *b == b':')?;
            let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
            let rest = &rest[colon + 1..];
            let meta = String::from_utf8(rest.get(..len)?.to_vec()).ok()?;
            let (origin, key) = split_field(&rest[len..])?;
            Some(Change::Joined { origin, member: Member { key, meta } })
        }
        (b'l', rest) => split_field(rest).map(|(origin, key)| Change::Left { origin, key }),
        _ => None,
    }
}

/// The members [`SWEEP`] answered, by origin.
pub(crate) fn members(answer: Value) -> Vec<(u64, Member)> {
    let Value::Array(parts) = answer else { return Vec::new() };
    let mut out = Vec::with_capacity(parts.len() / 2);
    let mut parts = parts.into_iter();
    while let (Some(field), Some(meta)) = (parts.next(), parts.next()) {
        let (Some(field), Some(meta)) = (field.into_bytes(), meta.into_bytes()) else { continue };
        let (Some((origin, key)), Ok(meta)) = (split_field(&field), String::from_utf8(meta.to_vec())) else {
            continue;
        };
        out.push((origin, Member { key, meta }));
    }
    out
}

/// The arguments of [`SYNC`] for the instance's members of a room.
pub(crate) fn sync_args(origin: u64, hash_ttl_ms: u64, members: &[(String, String)]) -> Vec<Value> {
    let mut args = vec![Value::from(origin_tag(origin)), Value::from(hash_ttl_ms as i64)];
    for (key, meta) in members {
        args.push(Value::from(field(origin, key)));
        args.push(Value::Bytes(Bytes::from(meta.clone())));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_back_as_published() {
        let f = field(0xab, "ann:1\n");
        let join = format!("j{}:{}{f}", "méta".len(), "méta");
        assert_eq!(
            decode(join.as_bytes()),
            Some(Change::Joined {
                origin: 0xab,
                member: Member { key: "ann:1\n".into(), meta: "méta".into() }
            })
        );
        assert_eq!(
            decode(format!("l{f}").as_bytes()),
            Some(Change::Left { origin: 0xab, key: "ann:1\n".into() })
        );
        for bad in ["", "x", "j9:short", "lnothex0000000000k", "j1:m0123"] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
