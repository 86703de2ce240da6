//! The same boards over REST, for scripts: list, create, read, export, add a card. A card
//! added here takes the sockets' path (checked, versioned, stored, broadcast), so the pages
//! open on the board show it at once.

use fratello::prelude::*;
use serde::Deserialize;

use super::boards::Boards;
use super::known_board;
use super::model::{checked_title, Board, Op};
use super::protocol::Applied;
use super::session::User;
use super::store::Summary;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBoard {
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCard {
    title: String,
    /// `todo` unless said.
    lane: Option<String>,
}

/// Every board: id, title, version.
#[get("/api/boards")]
async fn list(ctx: Context) -> Result<Json<Vec<Summary>>> {
    Ok(Json(ctx.state::<Boards>()?.list().await?))
}

/// `{"title": ".."}`: a new empty board (201).
#[post("/api/boards")]
async fn create(ctx: Context) -> Result<(StatusCode, Json<Board>)> {
    let NewBoard { title } = ctx.json().await?;
    let title = checked_title(&title).map_err(|e| Error::unprocessable(e.0))?;
    Ok((StatusCode::CREATED, Json(ctx.state::<Boards>()?.create(title).await?)))
}

/// One board as it is now, with its version.
#[get("/api/boards/{board}", with(known_board))]
async fn get(ctx: Context) -> Result<Json<Board>> {
    Ok(Json(ctx.state::<Boards>()?.get(ctx.param("board").unwrap_or_default()).await?))
}

/// The board as a JSON file to download.
#[get("/api/boards/{board}/export", with(known_board))]
async fn export(ctx: Context) -> Result<Json<Board>> {
    let board = ctx.state::<Boards>()?.get(ctx.param("board").unwrap_or_default()).await?;
    ctx.set_header("content-disposition", format!("attachment; filename=\"board-{}.json\"", board.id));
    Ok(Json(board))
}

/// `{"title": "..", "lane": "todo"}`: a card at the end of its lane (201, the applied
/// operation with its version).
#[post("/api/boards/{board}/cards", with(known_board))]
async fn add_card(ctx: Context) -> Result<(StatusCode, Json<Applied>)> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let NewCard { title, lane } = ctx.json().await?;
    let id = ctx.param("board").unwrap_or_default();
    let boards = ctx.state::<Boards>()?;
    let lane = lane.unwrap_or_else(|| "todo".to_owned());
    let last =
        boards.get(id).await?.cards.iter().filter(|c| c.lane == lane).map(|c| c.position).fold(0.0, f64::max);
    let op = Op::Add { id: String::new(), lane, position: last + 1.0, title };
    match boards.apply(ctx.hub(), id, (&user.id, &user.name), None, op).await? {
        Ok(applied) => Ok((StatusCode::CREATED, Json(applied))),
        Err(refused) => Err(Error::unprocessable(refused.0)),
    }
}
