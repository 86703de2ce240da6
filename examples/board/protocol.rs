//! What goes over a board's socket, as JSON text messages, both ways.
//!
//! A client opens `/api/boards/{id}/ws?since=V` (V: the last version it applied, if it has
//! one) and gets `members`, then either `snapshot` (the whole board) or `ops` (what it missed
//! since V), then the room's stream: `op`, `join`, `leave`, `select`. It sends `op`, `select`
//! and `sync` (after a gap in the versions it received).

use serde::{Deserialize, Serialize};

use super::model::{Board, Op};

/// A member of a board's room: a logged-in person, with the card they have selected.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Member {
    /// A public id (not the session: that never leaves the cookie).
    pub id: String,
    /// The name they logged in with.
    pub name: String,
    /// Their color on everyone's screen (`#rrggbb`).
    pub color: String,
    /// The card they have selected, if any.
    pub selection: Option<String>,
}

/// An operation the server has applied, as everyone on the board receives it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Applied {
    /// The board's version after it.
    pub version: u64,
    /// Its author's member id.
    pub author: String,
    /// Its author's name.
    pub by: String,
    /// The author's own label for it (so the author can tell its operation came through).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What it did, as applied (an added card's id filled in).
    pub op: Op,
}

/// A message from a client.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Please apply this.
    Op {
        /// A label of the client's choosing, echoed in the broadcast or the refusal.
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        /// The change.
        op: Op,
    },
    /// I now have this card selected (or none).
    Select {
        /// The card.
        card: Option<String>,
    },
    /// I missed versions after `since`: send them (or a snapshot).
    Sync {
        /// The last version the client applied.
        since: u64,
    },
}

/// A message to a client.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Who you are and who is here (first message on every connection).
    Members {
        /// You.
        you: Member,
        /// Everyone on the board, you included.
        members: Vec<Member>,
    },
    /// The whole board: replace what you have.
    Snapshot {
        /// The board.
        board: Board,
    },
    /// Operations you missed, in order.
    Ops {
        /// Each with its version.
        ops: Vec<Applied>,
    },
    /// One operation, as it happens.
    Op(Applied),
    /// Someone came in.
    Join {
        /// Them.
        member: Member,
    },
    /// Someone left (their last tab on this board closed).
    Leave {
        /// Their member id.
        id: String,
    },
    /// Someone selected a card (or none).
    Select {
        /// Their member id.
        id: String,
        /// The card.
        card: Option<String>,
    },
    /// Your operation `ref` was not applied, and why.
    Rejected {
        /// Your label.
        #[serde(rename = "ref")]
        reference: Option<String>,
        /// Why.
        message: String,
    },
    /// Something you sent could not be used, and why.
    Error {
        /// Why.
        message: String,
    },
}
