//! Numbering of each publisher's messages per room: [`Numbering`] on the sending side,
//! [`GapFinder`] on the receiving side, which tells how many messages went missing between.

use std::collections::HashMap;

/// Rooms whose numbers a publisher keeps before it starts again from 1 (receivers then see a
/// number lower than the last and start counting afresh, missing nothing).
const MAX_ROOMS: usize = 65_536;

/// A publisher's next number for each room it has published to.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    next: HashMap<String, u64>,
}

impl Numbering {
    /// The number of the next message to `room`, from 1.
    pub(crate) fn next(&mut self, room: &str) -> u64 {
        if let Some(n) = self.next.get_mut(room) {
            *n += 1;
            return *n;
        }
        if self.next.len() >= MAX_ROOMS {
            self.next.clear();
        }
        self.next.insert(room.to_owned(), 1);
        1
    }
}

/// The last number seen from each publisher in each room with local subscribers.
#[derive(Debug, Default)]
pub(crate) struct GapFinder {
    last: HashMap<String, HashMap<u64, u64>>,
}

impl GapFinder {
    /// Notes message `sequence` of `origin` in `room`; returns how many of that origin's
    /// messages to the room were skipped since the last one seen (0 for the first one seen,
    /// and for a publisher that started its numbering again).
    pub(crate) fn see(&mut self, room: &str, origin: u64, sequence: u64) -> u64 {
        let origins = match self.last.get_mut(room) {
            Some(o) => o,
            None => self.last.entry(room.to_owned()).or_default(),
        };
        match origins.insert(origin, sequence) {
            Some(last) if sequence > last => sequence - last - 1,
            _ => 0,
        }
    }

    /// Notes a mark of `origin` in `room`: its messages are numbered up to `sequence`. Returns
    /// how many after the last one seen never arrived (0 when one as late or later was seen,
    /// and for an origin not seen yet: where this receiver's share began is not known).
    pub(crate) fn mark(&mut self, room: &str, origin: u64, sequence: u64) -> u64 {
        let Some(last) = self.last.get_mut(room).and_then(|o| o.get_mut(&origin)) else { return 0 };
        if sequence <= *last {
            return 0;
        }
        let missing = sequence - *last;
        *last = sequence;
        missing
    }

    /// The room has no local subscribers any more: forget its numbers (when it opens again,
    /// what was published meanwhile was not for this instance).
    pub(crate) fn forget(&mut self, room: &str) {
        self.last.remove(room);
    }
}

/// The marks to send: for each room's channel, the last number of a message of this instance
/// that did not go out.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    pending: HashMap<String, u64>,
}

impl Marks {
    /// Message `sequence` to `channel` did not go out.
    pub(crate) fn note(&mut self, channel: &str, sequence: u64) {
        let last = self.pending.entry(channel.to_owned()).or_default();
        *last = (*last).max(sequence);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Every mark to send, taken out.
    pub(crate) fn take(&mut self) -> Vec<(String, u64)> {
        self.pending.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_per_room() {
        let mut n = Numbering::default();
        assert_eq!((n.next("a"), n.next("a"), n.next("b"), n.next("a")), (1, 2, 1, 3));
    }

    #[test]
    fn gaps_are_counted_per_origin_and_room() {
        let mut g = GapFinder::default();
        assert_eq!(g.see("r", 1, 5), 0, "the first seen: nothing known before it");
        assert_eq!(g.see("r", 1, 6), 0);
        assert_eq!(g.see("r", 2, 1), 0, "another origin has its own numbers");
        assert_eq!(g.see("r", 1, 10), 3, "7, 8 and 9 went missing");
        assert_eq!(g.see("s", 1, 40), 0, "another room too");
        assert_eq!(g.see("r", 1, 1), 0, "the origin started again");
        assert_eq!(g.see("r", 1, 2), 0);
        g.forget("r");
        assert_eq!(g.see("r", 1, 9), 0, "a room opened again starts afresh");
    }

    #[test]
    fn a_mark_counts_what_never_came_and_never_moves_back() {
        let mut g = GapFinder::default();
        assert_eq!(g.mark("r", 1, 4), 0, "an origin not seen yet");
        assert_eq!(g.see("r", 1, 5), 0);
        assert_eq!(g.mark("r", 1, 8), 3, "6, 7 and 8 never came");
        assert_eq!(g.see("r", 1, 9), 0, "nothing missing after the mark");
        assert_eq!(g.mark("r", 1, 7), 0, "a late mark is no news");
        assert_eq!(g.see("r", 1, 10), 0);
        let mut m = Marks::default();
        m.note("c", 3);
        m.note("c", 2);
        assert_eq!(m.take(), [("c".to_owned(), 3)]);
        assert!(m.is_empty());
    }
}
