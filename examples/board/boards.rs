//! The boards in play: each one's state, its recent operations, and the one path every change
//! takes (socket or REST): checked, stored, applied, broadcast, under the board's lock.
//!
//! **Catch-up.** Each board keeps its last [`LOG_LEN`] operations in memory. A client that
//! reconnects says which version it had; if the log still holds everything after it, it gets
//! those operations, otherwise (or after a restart of the server, which starts with an empty
//! log) a snapshot. Both are bounded: the log in operations, the snapshot by
//! [`MAX_CARDS`](super::model::MAX_CARDS). When fratello's hub can resume a subscription
//! (`Hub::subscribe_from(room, last_seen)`, missed messages or a reset), this log and
//! [`Boards::since`] give way to it: the room's ring then is the log.
//!
//! **Several instances** on one Postgres keep one sequence of versions (`store.rs`). With a
//! shared hub (`--redis`: `Hub::with_backend` on Redis), a page hears the other instances'
//! operations live: `apply` publishes to the room as it is, and pages skip what they have and
//! fill gaps. Without it, a page hears them at its next catch-up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use fratello::prelude::*;
use fratello::Hub;
use tokio::sync::Mutex;

use super::model::{Board, Op, Refused};
use super::protocol::{Applied, ServerMsg};
use super::store::{Change, Store, Summary};
use super::token;

/// Operations kept per board for reconnecting clients.
pub const LOG_LEN: usize = 512;
/// Most boards (each is held in memory once opened).
pub const MAX_BOARDS: usize = 100;
/// Tries at a write when other instances keep moving the board first.
const WRITE_TRIES: usize = 3;

/// What a reconnecting client needs.
#[derive(Debug, Clone, PartialEq)]
pub enum CatchUp {
    /// The operations after its version, in order (none if it is up to date).
    Ops(Vec<Applied>),
    /// Too far behind (or ahead, after the database was replaced): the whole board.
    Snapshot(Board),
}

/// One board in play.
struct Live {
    board: Board,
    /// The operations that made the last versions, oldest first, without gaps.
    log: VecDeque<Applied>,
}

/// Every board in play, over the database.
pub struct Boards {
    store: Store,
    live: Mutex<HashMap<String, Arc<Mutex<Live>>>>,
}

/// The hub room of board `id`.
pub fn room(id: &str) -> String {
    format!("board:{id}")
}

fn db_error(e: sqlx::Error) -> Error {
    Error::unavailable("the database failed").with_source(e)
}

impl Boards {
    /// Over `store`, with a first board ("Welcome") if it holds none.
    pub async fn new(store: Store) -> Result<Boards> {
        if store.count().await.map_err(db_error)? == 0 {
            store.create(&Board::new("welcome".into(), "Welcome".into())).await.map_err(db_error)?;
        }
        Ok(Boards { store, live: Mutex::default() })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every board.
    pub async fn list(&self) -> Result<Vec<Summary>> {
        self.store.list().await.map_err(db_error)
    }

    /// A new empty board named `title`.
    pub async fn create(&self, title: String) -> Result<Board> {
        if self.store.count().await.map_err(db_error)? >= MAX_BOARDS {
            return Err(Error::unprocessable(format!("there are {MAX_BOARDS} boards already")));
        }
        let board = Board::new(token(6)?, title);
        if !self.store.create(&board).await.map_err(db_error)? {
            return Err(Error::conflict("that id was just taken: try again"));
        }
        Ok(board)
    }

    /// The board `id`, loaded from the database the first time: a 404 if there is none.
    async fn open(&self, id: &str) -> Result<Arc<Mutex<Live>>> {
        let mut live = self.live.lock().await;
        if let Some(board) = live.get(id) {
            return Ok(board.clone());
        }
        let board = self.store.load(id).await.map_err(db_error)?;
        let board = board.ok_or_else(|| Error::not_found(format!("no board `{id}`")))?;
        let entry = Arc::new(Mutex::new(Live { board, log: VecDeque::new() }));
        live.insert(id.to_owned(), entry.clone());
        Ok(entry)
    }

    /// Whether board `id` exists.
    pub async fn exists(&self, id: &str) -> Result<bool> {
        match self.open(id).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Board `id` as it is now.
    pub async fn get(&self, id: &str) -> Result<Board> {
        let live = self.open(id).await?;
        let mut live = live.lock().await;
        self.refresh(id, &mut live).await?;
        Ok(live.board.clone())
    }

    /// Reloads board `id` if another instance has moved it in the database since this one
    /// last did: one small query, so that reads on any instance see every write. (Writes
    /// find out by themselves: see [`apply`](Self::apply).) The log restarts at the reloaded
    /// version; a client behind it gets a snapshot.
    async fn refresh(&self, id: &str, live: &mut Live) -> Result<()> {
        let stored = self.store.version(id).await.map_err(db_error)?;
        if stored != Some(live.board.version) {
            let fresh = self.store.load(id).await.map_err(db_error)?;
            live.board = fresh.ok_or_else(|| Error::not_found(format!("no board `{id}`")))?;
            live.log.clear();
        }
        Ok(())
    }

    /// What a client that last applied version `since` (`None`: a new client) needs.
    pub async fn since(&self, id: &str, since: Option<u64>) -> Result<CatchUp> {
        let live = self.open(id).await?;
        let mut live = live.lock().await;
        self.refresh(id, &mut live).await?;
        let version = live.board.version;
        let Some(since) = since else { return Ok(CatchUp::Snapshot(live.board.clone())) };
        if since == version {
            return Ok(CatchUp::Ops(Vec::new()));
        }
        let oldest = live.log.front().map_or(version + 1, |a| a.version);
        if since > version || since + 1 < oldest {
            return Ok(CatchUp::Snapshot(live.board.clone()));
        }
        Ok(CatchUp::Ops(live.log.iter().filter(|a| a.version > since).cloned().collect()))
    }

    /// Applies `op` to board `id` on behalf of `author` (member id) named `by`: checked,
    /// stored, given the next version and published to the board's room, all under the
    /// board's lock, so that the room hears the operations in version order. `Ok(Err(..))`:
    /// refused, with the reason for its author.
    pub async fn apply(
        &self,
        hub: &Hub,
        id: &str,
        (author, by): (&str, &str),
        reference: Option<String>,
        op: Op,
    ) -> Result<Result<Applied, Refused>> {
        let live = self.open(id).await?;
        let mut live = live.lock().await;
        for _ in 0..WRITE_TRIES {
            let checked = match live.board.check(op.clone(), || token(6).unwrap_or_default()) {
                Ok(op) if op.card().is_empty() => return Err(Error::unavailable("no randomness for an id")),
                Ok(op) => op,
                Err(refused) => return Ok(Err(refused)),
            };
            let from = live.board.version;
            let mut next = live.board.clone();
            next.apply(&checked, from + 1);
            let change = match next.card(checked.card()) {
                Some(card) => Change::Put(card.clone()),
                None => Change::Remove(checked.card().to_owned()),
            };
            if !self.store.commit(id, from, &change).await.map_err(db_error)? {
                // Another instance wrote first: take the board as stored and check again.
                // The log restarts there; clients that see the gap in versions ask for a
                // snapshot.
                tracing::info!(board = id, "the board moved in the database: reloading it");
                self.refresh(id, &mut live).await?;
                continue;
            }
            let applied = Applied {
                version: from + 1,
                author: author.to_owned(),
                by: by.to_owned(),
                reference: reference.clone(),
                op: checked,
            };
            live.board = next;
            if live.log.len() == LOG_LEN {
                live.log.pop_front();
            }
            live.log.push_back(applied.clone());
            hub.publish(&room(id), Json(ServerMsg::Op(applied.clone())))?;
            return Ok(Ok(applied));
        }
        Err(Error::unavailable("the board is too busy: try again"))
    }
}
