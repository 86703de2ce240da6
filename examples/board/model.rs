//! A board, its cards, the operations that change them, and the rule that settles conflicts.
//!
//! **The rule: one order, decided by the server.** Every operation goes through the server,
//! which applies the operations of a board one at a time under the board's lock, gives each
//! the next version number and broadcasts `{version, op}`. Every client applies that stream
//! in version order over the snapshot it started from, so all clients go through the same
//! states and end at the same board. An operation made on a stale view (its author had not
//! seen the latest versions yet) is still applied: each card field is last-writer-wins in
//! the server's order (a card's place, lane and position together, is one field; its title
//! is another), so two people dragging the same card both see it where the later drop put
//! it. A deleted card stays deleted: a later move or rename of it is refused to its author.
//!
//! Why not a CRDT? Cards are small records whose fields are replaced, not merged: a CRDT
//! would converge to the same last-writer-wins outcome, at the cost of a history per card
//! and a library on both sides. A server that orders everything is already there (it holds
//! the database), and the version number doubles as the reconnect cursor.

use serde::{Deserialize, Serialize};

/// The lanes of every board, left to right.
pub const LANES: [&str; 3] = ["todo", "doing", "done"];
/// Most cards on one board.
pub const MAX_CARDS: usize = 500;
/// Longest card title or board title, in characters.
pub const MAX_TITLE: usize = 200;

/// One card.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Card {
    /// Chosen by the server when the card is added.
    pub id: String,
    /// One of [`LANES`].
    pub lane: String,
    /// Order in its lane, ascending; ties are broken by `id`.
    pub position: f64,
    /// What the card says.
    pub title: String,
}

/// A whole board at one version: what a snapshot, the REST API and the export carry.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Board {
    /// The board's id (in its URL).
    pub id: String,
    /// Its name.
    pub title: String,
    /// How many operations it has seen: the version of this state.
    pub version: u64,
    /// Its cards, by lane then position.
    pub cards: Vec<Card>,
}

/// A change to a board, as a client asks for it and as the server broadcasts it once applied.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// A new card. The server fills in `id` (what a client sends there is ignored).
    Add {
        /// The new card's id, given by the server.
        #[serde(default)]
        id: String,
        /// Its lane.
        lane: String,
        /// Its position in the lane.
        position: f64,
        /// Its title.
        title: String,
    },
    /// A card dropped somewhere: its lane and position, replaced together.
    Move {
        /// The card.
        id: String,
        /// The lane it goes to.
        lane: String,
        /// Its new position there.
        position: f64,
    },
    /// A card's title replaced.
    Rename {
        /// The card.
        id: String,
        /// The new title.
        title: String,
    },
    /// A card removed.
    Delete {
        /// The card.
        id: String,
    },
}

impl Op {
    /// The card this operation changes.
    pub fn card(&self) -> &str {
        match self {
            Op::Add { id, .. } | Op::Move { id, .. } | Op::Rename { id, .. } | Op::Delete { id } => id,
        }
    }
}

/// Why an operation was refused; said to its author alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A title, trimmed: 1 to [`MAX_TITLE`] printable characters.
pub fn checked_title(title: &str) -> Result<String, Refused> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE || title.chars().any(char::is_control) {
        return Err(Refused(format!("a title is 1 to {MAX_TITLE} printable characters")));
    }
    Ok(title.to_owned())
}

fn checked_place(lane: &str, position: f64) -> Result<(), Refused> {
    if !LANES.contains(&lane) {
        return Err(Refused(format!("no lane `{lane}`: the lanes are {}", LANES.join(", "))));
    }
    if !position.is_finite() || position.abs() > 1e12 {
        return Err(Refused("a position is a finite number".into()));
    }
    Ok(())
}

impl Board {
    /// An empty board.
    pub fn new(id: String, title: String) -> Self {
        Board { id, title, version: 0, cards: Vec::new() }
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.id == id)
    }

    /// Checks `op` against this state and normalizes it (titles trimmed; `new_id` given to an
    /// added card): what [`apply`](Self::apply) will then apply, or why it cannot be.
    pub fn check(&self, op: Op, new_id: impl FnOnce() -> String) -> Result<Op, Refused> {
        let gone = |id: &str| Refused(format!("card {id} does not exist (deleted by someone else?)"));
        match op {
            Op::Add { lane, position, title, .. } => {
                checked_place(&lane, position)?;
                if self.cards.len() >= MAX_CARDS {
                    return Err(Refused(format!("a board holds at most {MAX_CARDS} cards")));
                }
                Ok(Op::Add { id: new_id(), lane, position, title: checked_title(&title)? })
            }
            Op::Move { id, lane, position } => {
                checked_place(&lane, position)?;
                self.find(&id).ok_or_else(|| gone(&id))?;
                Ok(Op::Move { id, lane, position })
            }
            Op::Rename { id, title } => {
                self.find(&id).ok_or_else(|| gone(&id))?;
                Ok(Op::Rename { title: checked_title(&title)?, id })
            }
            Op::Delete { id } => {
                self.find(&id).ok_or_else(|| gone(&id))?;
                Ok(Op::Delete { id })
            }
        }
    }

    /// Applies a checked operation as version `version`, keeping the cards sorted. Applying
    /// the same operations in the same order gives the same board, whoever does it: the
    /// browser does exactly this, in `public/board.js`.
    pub fn apply(&mut self, op: &Op, version: u64) {
        match op {
            Op::Add { id, lane, position, title } => self.cards.push(Card {
                id: id.clone(),
                lane: lane.clone(),
                position: *position,
                title: title.clone(),
            }),
            Op::Move { id, lane, position } => {
                if let Some(i) = self.find(id) {
                    self.cards[i].lane.clone_from(lane);
                    self.cards[i].position = *position;
                }
            }
            Op::Rename { id, title } => {
                if let Some(i) = self.find(id) {
                    self.cards[i].title.clone_from(title);
                }
            }
            Op::Delete { id } => self.cards.retain(|c| &c.id != id),
        }
        self.version = version;
        self.sort();
    }

    /// Sorts the cards by lane, then position, then id: the one order every client shows.
    pub fn sort(&mut self) {
        let lane = |c: &Card| LANES.iter().position(|l| *l == c.lane).unwrap_or(LANES.len());
        self.cards.sort_by(|a, b| {
            lane(a).cmp(&lane(b)).then(a.position.total_cmp(&b.position)).then_with(|| a.id.cmp(&b.id))
        });
    }

    /// The card `id`, if it exists.
    pub fn card(&self, id: &str) -> Option<&Card> {
        self.find(id).map(|i| &self.cards[i])
    }
}
