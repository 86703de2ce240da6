//! The board's socket: one per open page. It tells the client who is here and what it missed,
//! then relays the room to it and its messages to the board, within the limits of
//! `limits.rs`.

use fratello::broadcast::MemberEvent;
use fratello::prelude::*;
use serde::Deserialize;

use super::boards::{room, Boards, CatchUp};
use super::known_board;
use super::limits::{too_many, Bucket, BAD_COST};
use super::presence::{from_presence, member, members, meta, Seat, Selections};
use super::protocol::{ClientMsg, ServerMsg};
use super::session::User;

/// The query of the socket's URL.
#[derive(Deserialize)]
struct Resume {
    /// The last version the client applied, when it reconnects.
    since: Option<u64>,
}

/// Longest card id a client may name in a selection.
const MAX_ID: usize = 32;

async fn send_catch_up(ctx: &Context, boards: &Boards, board: &str, since: Option<u64>) -> Result<()> {
    match boards.since(board, since).await? {
        CatchUp::Ops(ops) => ctx.send(Json(ServerMsg::Ops { ops })).await,
        CatchUp::Snapshot(board) => ctx.send(Json(ServerMsg::Snapshot { board })).await,
    }
}

/// `/api/boards/{board}/ws?since=V`: the live board. Behind `auth` (the `/api` middleware),
/// like the REST routes, and `known_board` (a 404 before any socket opens).
#[ws("/api/boards/{board}/ws", with(known_board))]
async fn board_socket(ctx: Context) -> Result<()> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let board = ctx.param("board").unwrap_or_default().to_owned();
    let Resume { since } = ctx.query()?;
    let (boards, selections, hub) = (ctx.state::<Boards>()?, ctx.state::<Selections>()?, ctx.hub());
    let key = room(&board);
    ctx.set(Seat { board: board.clone(), selection: None });

    // Subscribed (and listening to who comes and goes) before the catch-up is taken: nothing
    // can fall between the two. What comes twice (in the catch-up and from the room) the
    // client skips by its version.
    let feed = hub.subscribe(&key);
    let mut changes = hub.member_events(&key);
    // On the board (on every instance) until this socket ends; a person's last tab leaving
    // makes them leave.
    let _here = hub.join(&key, &user.id, meta(&user));
    let everyone = members(hub, selections, &key, &board).await;
    ctx.send(Json(ServerMsg::Members { you: member(&user), members: everyone })).await?;
    send_catch_up(&ctx, boards, &board, since).await?;
    let read = async {
        let mut bucket = Bucket::default();
        while let Some(msg) = ctx.recv().await? {
            let text = if msg.is_text() { msg.as_text().ok() } else { None };
            let parsed = text.map(serde_json::from_str::<ClientMsg>);
            let cost = if matches!(parsed, Some(Ok(_))) { 1.0 } else { BAD_COST };
            if !bucket.take(cost) {
                // Told twice: in a message the page shows, and in the close frame.
                ctx.send(Json(ServerMsg::Error { message: too_many() })).await?;
                return Err(Error::too_many_requests(too_many()));
            }
            let msg = match parsed {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => {
                    let message = format!("not a message of this board: {e}");
                    ctx.send(Json(ServerMsg::Error { message })).await?;
                    continue;
                }
                None => {
                    let message = "send JSON in text messages".to_owned();
                    ctx.send(Json(ServerMsg::Error { message })).await?;
                    continue;
                }
            };
            handle(&ctx, msg).await?;
        }
        Ok(())
    };
    let presence = async {
        loop {
            let msg = match changes.recv().await {
                MemberEvent::Joined(m) => match from_presence(&m) {
                    Some(member) => ServerMsg::Join { member },
                    None => continue,
                },
                MemberEvent::Left(m) => {
                    selections.forget(&board, &m.key);
                    ServerMsg::Leave { id: m.key }
                }
                // Too many changes at once for this page: everyone again.
                MemberEvent::Resync => ServerMsg::Members {
                    you: member(&user),
                    members: members(hub, selections, &key, &board).await,
                },
            };
            ctx.send(Json(msg)).await?;
        }
    };
    // Ends when the client leaves, breaks a limit, or falls too far behind the room.
    tokio::select! {
        r = read => r,
        r = feed.forward(ctx.clone()) => r,
        r = presence => r,
    }
}

/// One message of a client, whose person and board are in its Context.
async fn handle(ctx: &Context, msg: ClientMsg) -> Result<()> {
    let user: User = ctx.get().ok_or_else(|| Error::unauthorized("no user"))?;
    let mut seat: Seat = ctx.get().ok_or_else(|| Error::internal("a socket without its seat"))?;
    let (boards, hub, board) = (ctx.state::<Boards>()?, ctx.hub(), seat.board.as_str());
    match msg {
        ClientMsg::Op { reference, op } => {
            let reference = reference.map(|r| r.chars().take(MAX_ID).collect());
            if let Err(refused) =
                boards.apply(hub, board, (&user.id, &user.name), reference.clone(), op).await?
            {
                ctx.send(Json(ServerMsg::Rejected { reference, message: refused.0 })).await?;
            }
        }
        ClientMsg::Select { card } => {
            if card.as_ref().is_some_and(|c| c.len() > MAX_ID) {
                let message = format!("a card id is at most {MAX_ID} characters");
                return ctx.send(Json(ServerMsg::Error { message })).await;
            }
            if seat.selection != card {
                ctx.state::<Selections>()?.select(board, &user.id, card.clone());
                hub.publish(
                    &room(board),
                    Json(ServerMsg::Select { id: user.id.clone(), card: card.clone() }),
                )?;
                seat.selection = card;
                ctx.set(seat);
            }
        }
        ClientMsg::Sync { since } => send_catch_up(ctx, boards, board, Some(since)).await?,
    }
    Ok(())
}
