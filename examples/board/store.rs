//! Where boards live between restarts: SQLite by default (one file, nothing to start), or
//! Postgres for several instances, through sqlx's `Any` driver so that both run the same
//! queries. The migrations beside the example (`migrations/`) run at start.
//!
//! Every write is one transaction that moves the board from the version it was read at to the
//! next one (`UPDATE boards SET version = new WHERE id = .. AND version = old`): an instance
//! that finds the board already moved by another one (several instances on one Postgres)
//! writes nothing, reloads the board and tries again. So versions stay one sequence per board
//! whichever instance assigns them; and reads first check the stored version (one small
//! query), so that every instance serves what any of them wrote.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use super::model::{Board, Card};
use super::session::User;

/// One row of the board list.
#[derive(serde::Serialize, Debug, Clone, PartialEq)]
pub struct Summary {
    /// The board's id.
    pub id: String,
    /// Its name.
    pub title: String,
    /// Its version.
    pub version: u64,
}

/// What an operation did to the stored cards.
#[derive(Debug, Clone)]
pub enum Change {
    /// This card is new or changed: written whole.
    Put(Card),
    /// This card is gone.
    Remove(String),
}

/// The database: a pool of connections, cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Connects to `url` (`sqlite://board.db`, `postgres://user:pass@host/db`) and runs the
    /// migrations. A SQLite file that does not exist yet is created.
    pub async fn open(url: &str) -> Result<Store, sqlx::Error> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_owned()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // sqlx opens SQLite files in WAL mode, where `NORMAL` loses nothing when
                        // the process dies (only, at worst, the last commits when the machine
                        // loses power) and saves an fsync per operation.
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/board/migrations");
        Migrator::new(dir).await?.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Every board, by title.
    pub async fn list(&self) -> Result<Vec<Summary>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, title, version FROM boards ORDER BY title, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(Summary { id: r.try_get("id")?, title: r.try_get("title")?, version: version(r)? }))
            .collect()
    }

    /// The board `id` as stored, if it exists.
    pub async fn load(&self, id: &str) -> Result<Option<Board>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query("SELECT title, version FROM boards WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let mut board = Board::new(id.to_owned(), row.try_get("title")?);
        board.version = version(&row)?;
        let cards = sqlx::query("SELECT id, lane, position, title FROM cards WHERE board_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for r in cards {
            board.cards.push(Card {
                id: r.try_get("id")?,
                lane: r.try_get("lane")?,
                position: r.try_get("position")?,
                title: r.try_get("title")?,
            });
        }
        board.sort();
        Ok(Some(board))
    }

    /// The stored version of board `id`, if it exists.
    pub async fn version(&self, id: &str) -> Result<Option<u64>, sqlx::Error> {
        let row = sqlx::query("SELECT version FROM boards WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(version).transpose()
    }

    /// Stores a new, empty board: false if one with its id exists already.
    pub async fn create(&self, board: &Board) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO boards (id, title, version) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&board.id)
        .bind(&board.title)
        .bind(board.version as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many boards there are.
    pub async fn count(&self) -> Result<usize, sqlx::Error> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM boards").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")? as usize)
    }

    /// Writes `change` as board `id`'s version `from + 1`, if the board is still at version
    /// `from`: false (and nothing written) if another instance got there first.
    pub async fn commit(&self, id: &str, from: u64, change: &Change) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query("UPDATE boards SET version = $1 WHERE id = $2 AND version = $3")
            .bind((from + 1) as i64)
            .bind(id)
            .bind(from as i64)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        match change {
            Change::Put(card) => {
                sqlx::query(
                    "INSERT INTO cards (board_id, id, lane, position, title) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (board_id, id) DO UPDATE \
                     SET lane = excluded.lane, position = excluded.position, title = excluded.title",
                )
                .bind(id)
                .bind(&card.id)
                .bind(&card.lane)
                .bind(card.position)
                .bind(&card.title)
                .execute(&mut *tx)
                .await?;
            }
            Change::Remove(card) => {
                sqlx::query("DELETE FROM cards WHERE board_id = $1 AND id = $2")
                    .bind(id)
                    .bind(card)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores session `id` of `user`, valid from `now` until `until` (Unix seconds); first
    /// removes the expired ones. False if `max` sessions are live already.
    pub async fn open_session(
        &self,
        id: &str,
        user: &User,
        (now, until): (i64, i64),
        max: usize,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE expires <= $1").bind(now).execute(&self.pool).await?;
        let live: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM sessions").fetch_one(&self.pool).await?.try_get("n")?;
        if live as usize >= max {
            return Ok(false);
        }
        sqlx::query("INSERT INTO sessions (id, user_id, name, color, expires) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.color)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// The person of session `id`, if it exists and has not expired at `now` (Unix seconds).
    pub async fn session(&self, id: &str, now: i64) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query("SELECT user_id, name, color FROM sessions WHERE id = $1 AND expires > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(User { id: r.try_get("user_id")?, name: r.try_get("name")?, color: r.try_get("color")? }))
    }

    /// Ends session `id`.
    pub async fn close_session(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the connections, waiting for those in use (at shutdown, and before a test reopens
    /// the file).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn version(row: &sqlx::any::AnyRow) -> Result<u64, sqlx::Error> {
    let v: i64 = row.try_get("version")?;
    u64::try_from(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
