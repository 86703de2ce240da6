//! Who is on which board, and what they have selected. Each socket's own state (its board,
//! its selection) is in its Context ([`Seat`]); this registry is the board-wide view that a
//! newcomer is given. People, not sockets: a second tab of the same person is no new join,
//! and only their last tab closing is a leave.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::protocol::Member;
use super::session::User;

/// A socket's place, kept in its Context: the board it is on and the card it has selected.
#[derive(Clone, Debug, Default)]
pub struct Seat {
    /// The board.
    pub board: String,
    /// The selected card.
    pub selection: Option<String>,
}

struct Here {
    member: Member,
    sockets: usize,
}

/// Board → member id → who and how many of their sockets.
#[derive(Default)]
pub struct Presence {
    boards: Mutex<HashMap<String, BTreeMap<String, Here>>>,
}

/// `user` as a member, with no selection.
pub fn member(user: &User) -> Member {
    Member { id: user.id.clone(), name: user.name.clone(), color: user.color.clone(), selection: None }
}

impl Presence {
    /// `user` opens a socket on `board`: whether it is their first there.
    pub fn enter(&self, board: &str, user: &User) -> bool {
        let mut boards = self.boards.lock().unwrap();
        let here = boards.entry(board.to_owned()).or_default();
        let entry = here.entry(user.id.clone()).or_insert(Here { member: member(user), sockets: 0 });
        entry.sockets += 1;
        entry.sockets == 1
    }

    /// A socket of member `id` closes on `board`: whether it was their last there.
    pub fn leave(&self, board: &str, id: &str) -> bool {
        let mut boards = self.boards.lock().unwrap();
        let Some(here) = boards.get_mut(board) else { return false };
        let last = here.get_mut(id).is_some_and(|h| {
            h.sockets -= 1;
            h.sockets == 0
        });
        if last {
            here.remove(id);
        }
        if here.is_empty() {
            boards.remove(board);
        }
        last
    }

    /// Member `id` selected `card` on `board`.
    pub fn select(&self, board: &str, id: &str, card: Option<String>) {
        if let Some(h) = self.boards.lock().unwrap().get_mut(board).and_then(|b| b.get_mut(id)) {
            h.member.selection = card;
        }
    }

    /// Everyone on `board`.
    pub fn members(&self, board: &str) -> Vec<Member> {
        let boards = self.boards.lock().unwrap();
        boards.get(board).map(|b| b.values().map(|h| h.member.clone()).collect()).unwrap_or_default()
    }
}
