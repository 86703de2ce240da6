//! Who is on which board, and what they have selected. Presence itself is the hub's
//! ([`Hub::join`](fratello::Hub::join)): one member per person however many tabs they have
//! open, on this instance or on others (with `--redis`), joining with their first tab and
//! leaving with their last. What each has selected travels through the board's room as it
//! changes; [`Selections`] keeps the latest of each person here, for a newcomer's first view.
//! Each socket's own state (its board, its selection) is in its Context ([`Seat`]).

use std::collections::HashMap;
use std::sync::Mutex;

use fratello::broadcast::Member as Present;
use fratello::Hub;

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

/// Board → member id → the card they selected last.
#[derive(Default)]
pub struct Selections {
    boards: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl Selections {
    /// Member `id` selected `card` on `board` (or nothing).
    pub fn select(&self, board: &str, id: &str, card: Option<String>) {
        let mut boards = self.boards.lock().unwrap();
        match card {
            Some(card) => {
                boards.entry(board.to_owned()).or_default().insert(id.to_owned(), card);
            }
            None => self.forget_in(&mut boards, board, id),
        }
    }

    /// Member `id` left `board`.
    pub fn forget(&self, board: &str, id: &str) {
        self.forget_in(&mut self.boards.lock().unwrap(), board, id);
    }

    fn forget_in(&self, boards: &mut HashMap<String, HashMap<String, String>>, board: &str, id: &str) {
        if let Some(selected) = boards.get_mut(board) {
            selected.remove(id);
            if selected.is_empty() {
                boards.remove(board);
            }
        }
    }

    fn of(&self, board: &str, id: &str) -> Option<String> {
        self.boards.lock().unwrap().get(board)?.get(id).cloned()
    }
}

/// `user` as a member, with no selection.
pub fn member(user: &User) -> Member {
    Member { id: user.id.clone(), name: user.name.clone(), color: user.color.clone(), selection: None }
}

/// What the hub's presence keeps of `user`: the member, as JSON.
pub fn meta(user: &User) -> String {
    serde_json::to_string(&member(user)).expect("a member is plain JSON")
}

/// A member as the hub's presence tells it (`None` for what this app did not write).
pub fn from_presence(present: &Present) -> Option<Member> {
    serde_json::from_str(&present.meta).ok()
}

/// Everyone on the board `key` (the room of `board`), with what they selected.
pub async fn members(hub: &Hub, selections: &Selections, key: &str, board: &str) -> Vec<Member> {
    let present = hub.members(key).await;
    present
        .iter()
        .filter_map(from_presence)
        .map(|mut m| {
            m.selection = selections.of(board, &m.id);
            m
        })
        .collect()
}
