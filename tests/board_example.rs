//! The board example end to end over real sockets and a real SQLite file: login and the one
//! auth middleware, operations broadcast to everyone on the board, conflicting operations
//! converging, presence, reconnect catch-up, persistence across a restart, and the limits on
//! floods, oversized and invalid messages.

#[path = "../fratello-redis/tests/support/mod.rs"]
mod redis;

#[path = "../examples/board/app.rs"]
#[allow(dead_code)] // (the test reaches only part of the example's API)
mod board;

use std::path::PathBuf;

use board::boards::{Boards, CatchUp, LOG_LEN};
use board::model::{Board, Op};
use board::protocol::{Applied, ClientMsg, ServerMsg};
use board::store::Store;
use fratello::cookie::Key;
use fratello::prelude::*;
use fratello::test::{TestClient, WsClient};

/// A SQLite file of its own under the system's temporary folder, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
        TempDb(std::env::temp_dir().join(format!("fratello-board-{name}.db")))
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

async fn start(db: &TempDb) -> (TestClient, Store) {
    start_with(&db.url(), Key::generate()).await
}

/// An app over the database at `url` whose cookies `key` encrypts (one key: one address).
async fn start_with(url: &str, key: Key) -> (TestClient, Store) {
    let store = Store::open(url).await.expect("the database opens");
    let boards = Boards::new(store.clone()).await.expect("the first board is made");
    let app = board::app(boards, board::Options { cookie_key: key, secure_cookies: false });
    (TestClient::start(app).await, store)
}

/// Logs `name` in: the `Cookie` header that carries the session.
async fn login(c: &TestClient, name: &str) -> String {
    let res = c.post("/login").json(&serde_json::json!({ "name": name })).send().await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text());
    let cookie = res.header("set-cookie").expect("login sets the session cookie").to_owned();
    assert!(cookie.starts_with("board_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

async fn connect(c: &TestClient, cookie: &str, query: &str) -> WsClient {
    c.ws(&format!("/api/boards/welcome/ws{query}")).header("cookie", cookie).connect().await
}

async fn next(ws: &mut WsClient) -> ServerMsg {
    let text = ws.recv_text().await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The next operation broadcast, skipping presence news.
async fn next_op(ws: &mut WsClient) -> Applied {
    for _ in 0..20 {
        match next(ws).await {
            ServerMsg::Op(a) => return a,
            ServerMsg::Join { .. } | ServerMsg::Leave { .. } | ServerMsg::Select { .. } => continue,
            other => panic!("expected an operation, got {other:?}"),
        }
    }
    panic!("no operation among 20 messages")
}

/// Opens a socket and reads its greeting: the socket and the board it starts from.
async fn join(c: &TestClient, cookie: &str) -> (WsClient, Board) {
    let mut ws = connect(c, cookie, "").await;
    assert!(matches!(next(&mut ws).await, ServerMsg::Members { .. }));
    let ServerMsg::Snapshot { board } = next(&mut ws).await else { panic!("a new client gets a snapshot") };
    (ws, board)
}

async fn send(ws: &mut WsClient, msg: &ClientMsg) {
    ws.send_text(&serde_json::to_string(msg).unwrap()).await;
}

fn op(reference: &str, op: Op) -> ClientMsg {
    ClientMsg::Op { reference: Some(reference.to_owned()), op }
}

fn add(title: &str) -> Op {
    Op::Add { id: String::new(), lane: "todo".into(), position: 1.0, title: title.into() }
}

fn moved(id: &str, lane: &str, position: f64) -> Op {
    Op::Move { id: id.into(), lane: lane.into(), position }
}

/// Applies a stream of operations to a snapshot, as the page does.
fn replay(mut board: Board, ops: &[Applied]) -> Board {
    for a in ops {
        assert_eq!(a.version, board.version + 1, "versions follow each other");
        board.apply(&a.op, a.version);
    }
    board
}

#[tokio::test]
async fn one_middleware_guards_rest_and_socket_with_a_private_cookie() {
    let db = TempDb::new();
    let (c, _) = start(&db).await;
    assert_eq!(c.get("/api/boards").send().await.status(), StatusCode::UNAUTHORIZED);
    let refused =
        c.ws("/api/boards/welcome/ws").try_connect().await.err().expect("no socket without a login");
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // A session id the server did not encrypt (or a tampered one) reads as no cookie at all.
    let forged = c.get("/api/boards").header("cookie", "board_session=0123456789abcdef").send().await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get("/session").send().await.text(), "null");

    let cookie = login(&c, "ada").await;
    assert!(!cookie.contains("ada"), "the cookie is encrypted: {cookie}");
    let me: serde_json::Value = c.get("/session").header("cookie", &cookie).send().await.json();
    assert_eq!(me["name"], "ada");
    let boards: serde_json::Value = c.get("/api/boards").header("cookie", &cookie).send().await.json();
    assert_eq!(boards, serde_json::json!([{ "id": "welcome", "title": "Welcome", "version": 0 }]));
    let missing = c.ws("/api/boards/nope/ws").header("cookie", &cookie).try_connect().await.err();
    assert_eq!(missing.expect("no socket on a board that does not exist").status, StatusCode::NOT_FOUND);

    let res = c.post("/login").json(&serde_json::json!({ "name": " " })).send().await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let out = c.post("/logout").header("cookie", &cookie).send().await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(c.get("/api/me").header("cookie", &cookie).send().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_change_reaches_everyone_on_the_board_with_presence() {
    let db = TempDb::new();
    let (c, _) = start(&db).await;
    let (ada, bob) = (login(&c, "ada").await, login(&c, "bob").await);
    let (mut a, _) = join(&c, &ada).await;
    let ServerMsg::Join { member: ada_member } = next(&mut a).await else { panic!("ada hears her own join") };
    let mut b = connect(&c, &bob, "").await;
    let ServerMsg::Members { you: bob_member, members } = next(&mut b).await else { panic!("members first") };
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ada", "bob"]);
    assert!(matches!(next(&mut b).await, ServerMsg::Snapshot { .. }));
    assert!(matches!(next(&mut a).await, ServerMsg::Join { member } if member == bob_member));

    // Ada adds a card: both get the same operation, version 1, with the server's id.
    send(&mut a, &op("a1", add("  write the guide "))).await;
    let (to_a, to_b) = (next_op(&mut a).await, next_op(&mut b).await);
    assert_eq!(to_a, to_b);
    assert_eq!((to_a.version, to_a.by.as_str(), to_a.reference.as_deref()), (1, "ada", Some("a1")));
    let Op::Add { id, title, .. } = &to_a.op else { panic!("{to_a:?}") };
    assert_eq!((id.len(), title.as_str()), (12, "write the guide"));

    // A card added over REST takes the same path.
    let res = c
        .post("/api/boards/welcome/cards")
        .header("cookie", &bob)
        .json(&serde_json::json!({ "title": "from a script", "lane": "doing" }))
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text());
    assert_eq!(next_op(&mut a).await.version, 2);
    assert_eq!(next_op(&mut b).await, res.json::<Applied>());

    // Selections and leaves.
    send(&mut a, &ClientMsg::Select { card: Some(id.clone()) }).await;
    let ServerMsg::Select { id: who, card } = next(&mut b).await else { panic!("a selection") };
    assert_eq!((who, card), (ada_member.id.clone(), Some(id.clone())));
    b.close(1000).await;
    b.closed().await;
    // Her own selection (from the room) and Bob's leave (from the presence), in either order.
    let (x, y) = (next(&mut a).await, next(&mut a).await);
    let is_leave = |m: &ServerMsg| matches!(m, ServerMsg::Leave { id } if *id == bob_member.id);
    let is_select = |m: &ServerMsg| matches!(m, ServerMsg::Select { .. });
    assert!((is_select(&x) && is_leave(&y)) || (is_leave(&x) && is_select(&y)), "{x:?}, {y:?}");

    let board: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!((board.version, board.cards.len()), (2, 2));
    let export = c.get("/api/boards/welcome/export").header("cookie", &ada).send().await;
    assert!(export.header("content-disposition").unwrap().contains("board-welcome.json"));
    assert_eq!(export.json::<Board>(), board);
}

#[tokio::test]
async fn conflicting_operations_converge_on_every_client() {
    let db = TempDb::new();
    let (c, _) = start(&db).await;
    let (ada, bob) = (login(&c, "ada").await, login(&c, "bob").await);
    let (mut a, start_a) = join(&c, &ada).await;
    let (mut b, start_b) = join(&c, &bob).await;
    send(&mut a, &op("a0", add("contested"))).await;
    let first = next_op(&mut a).await;
    assert_eq!(next_op(&mut b).await, first);
    let card = first.op.card().to_owned();

    // Both drag the same card at once, to different lanes, and rename it, on the same stale
    // version: every operation is applied, in one order, and both replay the same stream.
    for round in 0..5 {
        let pos = f64::from(round);
        let (to_a, to_b) = (op("a", moved(&card, "doing", pos)), op("b", moved(&card, "done", -pos)));
        tokio::join!(send(&mut a, &to_a), send(&mut b, &to_b));
        let title = ClientMsg::Op {
            reference: None,
            op: Op::Rename { id: card.clone(), title: format!("a{round}") },
        };
        let other = ClientMsg::Op {
            reference: None,
            op: Op::Rename { id: card.clone(), title: format!("b{round}") },
        };
        tokio::join!(send(&mut a, &title), send(&mut b, &other));
    }
    let mut seen_a = vec![first.clone()];
    let mut seen_b = vec![first];
    for _ in 0..20 {
        seen_a.push(next_op(&mut a).await);
        seen_b.push(next_op(&mut b).await);
    }
    assert_eq!(seen_a, seen_b, "one order for everyone");
    let (end_a, end_b) = (replay(start_a, &seen_a), replay(start_b, &seen_b));
    assert_eq!(end_a, end_b);
    let server: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!(end_a, server, "the clients end where the server is");
    // Last writer wins, field by field: the card is where the last move put it, and named by
    // the last rename.
    let last_move = seen_a.iter().rev().find(|x| matches!(x.op, Op::Move { .. })).unwrap();
    let Op::Move { lane, .. } = &last_move.op else { unreachable!() };
    assert_eq!(&server.cards[0].lane, lane);

    // A deleted card stays deleted: a later rename of it is refused, to its author alone.
    send(&mut a, &op("del", Op::Delete { id: card.clone() })).await;
    assert_eq!(next_op(&mut b).await.version, 22);
    next_op(&mut a).await;
    send(&mut b, &op("late", Op::Rename { id: card.clone(), title: "too late".into() })).await;
    let ServerMsg::Rejected { reference, message } = next(&mut b).await else {
        panic!("the rename is refused")
    };
    assert_eq!(reference.as_deref(), Some("late"));
    assert!(message.contains("does not exist"), "{message}");
    send(&mut a, &ClientMsg::Select { card: None }).await;
    assert!(
        a.recv_timeout(std::time::Duration::from_millis(300)).await.is_err(),
        "a's selection did not change: nothing is broadcast"
    );
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_or_a_snapshot() {
    let db = TempDb::new();
    let (c, _) = start(&db).await;
    let (ada, bob) = (login(&c, "ada").await, login(&c, "bob").await);
    let (mut a, board) = join(&c, &ada).await;
    send(&mut a, &op("1", add("before the drop"))).await;
    let seen = next_op(&mut a).await;
    let board = replay(board, &[seen]);
    a.close(1000).await;
    a.closed().await;

    // While ada is away, bob makes three changes.
    let (mut b, _) = join(&c, &bob).await;
    for title in ["one", "two", "three"] {
        send(&mut b, &op(title, add(title))).await;
        next_op(&mut b).await;
    }
    let mut a = connect(&c, &ada, &format!("?since={}", board.version)).await;
    assert!(matches!(next(&mut a).await, ServerMsg::Members { .. }));
    let ServerMsg::Ops { ops } = next(&mut a).await else { panic!("the missed operations") };
    assert_eq!(ops.iter().map(|o| o.version).collect::<Vec<_>>(), [2, 3, 4]);
    let caught_up = replay(board, &ops);
    let server: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!(caught_up, server);

    // Up to date: nothing to send. A gap filled on request (`sync`).
    let mut fresh = connect(&c, &ada, "?since=4").await;
    next(&mut fresh).await;
    assert_eq!(next(&mut fresh).await, ServerMsg::Ops { ops: Vec::new() });
    send(&mut fresh, &ClientMsg::Sync { since: 2 }).await;
    let mut msg = next(&mut fresh).await;
    while matches!(msg, ServerMsg::Join { .. }) {
        msg = next(&mut fresh).await;
    }
    let ServerMsg::Ops { ops } = msg else { panic!("{msg:?}") };
    assert_eq!(ops.len(), 2);

    // A version the server cannot account for (ahead of it) gets the whole board.
    let mut odd = connect(&c, &ada, "?since=99").await;
    next(&mut odd).await;
    assert_eq!(next(&mut odd).await, ServerMsg::Snapshot { board: server });
}

#[tokio::test]
async fn the_catch_up_log_is_bounded() {
    let db = TempDb::new();
    let boards = Boards::new(Store::open(&db.url()).await.unwrap()).await.unwrap();
    let hub = fratello::Hub::new();
    let me = ("m1", "ada");
    let first = boards.apply(&hub, "welcome", me, None, add("card")).await.unwrap().unwrap();
    let card = first.op.card().to_owned();
    for i in 0..LOG_LEN + 10 {
        let position = i as f64;
        boards.apply(&hub, "welcome", me, None, moved(&card, "doing", position)).await.unwrap().unwrap();
    }
    let version = (LOG_LEN + 11) as u64;
    let Ok(CatchUp::Ops(ops)) = boards.since("welcome", Some(version - 10)).await else {
        panic!("in the log")
    };
    assert_eq!(ops.len(), 10);
    let oldest = version - LOG_LEN as u64;
    let Ok(CatchUp::Ops(ops)) = boards.since("welcome", Some(oldest)).await else {
        panic!("the log's start")
    };
    assert_eq!(ops.len(), LOG_LEN);
    let too_old = boards.since("welcome", Some(oldest - 1)).await.unwrap();
    assert!(
        matches!(too_old, CatchUp::Snapshot(b) if b.version == version),
        "older than the log: a snapshot"
    );
}

#[tokio::test]
async fn boards_survive_a_restart() {
    let db = TempDb::new();
    let key = Key::generate();
    let (c, store) = start_with(&db.url(), key.clone()).await;
    let ada = login(&c, "ada").await;
    let created = c
        .post("/api/boards")
        .header("cookie", &ada)
        .json(&serde_json::json!({ "title": "Launch" }))
        .send()
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (mut a, board) = join(&c, &ada).await;
    for title in ["keep me", "move me", "rename me", "delete me"] {
        send(&mut a, &op(title, add(title))).await;
        next_op(&mut a).await;
    }
    let before: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    let id = |t: &str| before.cards.iter().find(|c| c.title == t).unwrap().id.clone();
    for change in [
        moved(&id("move me"), "done", 7.5),
        Op::Rename { id: id("rename me"), title: "renamed".into() },
        Op::Delete { id: id("delete me") },
    ] {
        send(&mut a, &op("x", change)).await;
        next_op(&mut a).await;
    }
    let before: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!((before.version, before.cards.len()), (board.version + 7, 3));
    drop(a);
    c.shutdown().await;
    store.close().await;

    // The same key (BOARD_COOKIE_KEY in main.rs): ada's login outlives the restart.
    let (c, _) = start_with(&db.url(), key).await;
    let after: Board = c.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!(after, before, "every card, where it was, at the same version");
    let list: serde_json::Value = c.get("/api/boards").header("cookie", &ada).send().await.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // The restarted server has no log: a client that was there before gets a snapshot.
    let mut a = connect(&c, &ada, &format!("?since={}", before.version - 1)).await;
    next(&mut a).await;
    assert_eq!(next(&mut a).await, ServerMsg::Snapshot { board: after });
}

#[tokio::test]
async fn two_instances_on_one_database_keep_one_sequence_of_versions() {
    let db = TempDb::new();
    let key = Key::generate();
    let ((one, _), (two, _)) = (start_with(&db.url(), key.clone()).await, start_with(&db.url(), key).await);
    // Sessions are in the database: a login on one instance holds on the other.
    let (ada, bob) = (login(&one, "ada").await, login(&one, "bob").await);
    let (mut a, _) = join(&one, &ada).await;
    let (mut b, _) = join(&two, &bob).await;
    send(&mut a, &op("a", add("on one"))).await;
    assert_eq!(next_op(&mut a).await.version, 1);
    // The second instance still holds version 0: its write finds the board moved, reloads it
    // and comes out as version 2, never a second version 1.
    send(&mut b, &op("b", add("on two"))).await;
    let on_two = next_op(&mut b).await;
    assert_eq!((on_two.version, on_two.reference.as_deref()), (2, Some("b")));
    // Bob's page saw a gap (0, then 2): it asks, and gets the whole board.
    send(&mut b, &ClientMsg::Sync { since: 0 }).await;
    let ServerMsg::Snapshot { board } = next(&mut b).await else { panic!("a snapshot after the gap") };
    assert_eq!((board.version, board.cards.len()), (2, 2));
    // Reads on the first instance see the second one's write.
    let seen: Board = one.get("/api/boards/welcome").header("cookie", &ada).send().await.json();
    assert_eq!(seen, board);
}

#[tokio::test]
async fn two_instances_sharing_a_hub_on_redis_hear_each_other_live_and_see_who_is_here() {
    let Some(redis) = redis::Redis::start() else { return };
    let db = TempDb::new();
    let key = Key::generate();
    let on_redis = |app: App, hub: fratello::Hub| app.with_hub(hub);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let store = Store::open(&db.url()).await.unwrap();
        let boards = Boards::new(store).await.unwrap();
        let backend = fratello_redis::RedisBackend::connect(&redis.url()).await.expect("Redis is up");
        let hub = fratello::Hub::with_backend(fratello::broadcast::HubConfig::default(), backend);
        let app = board::app(boards, board::Options { cookie_key: key.clone(), secure_cookies: false });
        clients.push(TestClient::start(on_redis(app, hub)).await);
    }
    let (one, two) = (&clients[0], &clients[1]);
    let (ada, bob) = (login(one, "ada").await, login(one, "bob").await);
    let (mut a, _) = join(one, &ada).await;
    let (mut b, _) = join(two, &bob).await;
    redis.wait_for_subscribers(&format!("fratello:room:{}", board::boards::room("welcome")), 2).await;
    // Presence spans the instances: Ada hears Bob join on the other one, and a newcomer on
    // either sees both.
    let bob_joined = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let ServerMsg::Join { member } = next(&mut a).await {
                if member.name == "bob" {
                    return member;
                }
            }
        }
    });
    let bob_member = bob_joined.await.expect("Bob's join heard on the other instance");
    let cy = login(two, "cy").await;
    let mut c2 = connect(two, &cy, "").await;
    let ServerMsg::Members { members, .. } = next(&mut c2).await else { panic!("members first") };
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ada", "bob", "cy"]);
    assert!(members.contains(&bob_member));
    drop(c2);
    send(&mut a, &op("a", add("made on one"))).await;
    let mine = next_op(&mut a).await;
    // Bob, on the other instance, gets the operation at once: no catch-up asked for.
    let heard = next_op(&mut b).await;
    assert_eq!(heard, mine);
    send(&mut b, &op("b", add("made on two"))).await;
    let theirs = next_op(&mut b).await;
    assert_eq!(theirs.version, mine.version + 1, "one sequence of versions");
    assert_eq!(next_op(&mut a).await, theirs);
}

#[tokio::test]
async fn floods_oversized_and_invalid_messages_are_refused_and_others_go_on() {
    let db = TempDb::new();
    let (c, _) = start(&db).await;
    let (ada, eve) = (login(&c, "ada").await, login(&c, "eve").await);
    let (mut a, _) = join(&c, &ada).await;

    // Invalid JSON and binary: told why, and the socket stays.
    let (mut e, _) = join(&c, &eve).await;
    e.send_text("{not json").await;
    let mut msg = next(&mut e).await;
    while matches!(msg, ServerMsg::Join { .. }) {
        msg = next(&mut e).await;
    }
    let ServerMsg::Error { message } = msg else { panic!("{msg:?}") };
    assert!(message.starts_with("not a message of this board"), "{message}");
    e.send_binary(vec![1u8, 2, 3]).await;
    assert_eq!(next(&mut e).await, ServerMsg::Error { message: "send JSON in text messages".into() });
    send(
        &mut e,
        &op("bad", Op::Add { id: String::new(), lane: "nowhere".into(), position: 0.0, title: "x".into() }),
    )
    .await;
    let ServerMsg::Rejected { message, .. } = next(&mut e).await else { panic!("an unknown lane") };
    assert!(message.contains("no lane `nowhere`"), "{message}");

    // A flood: closed once its budget is spent, with the reason.
    let flood = serde_json::to_string(&ClientMsg::Select { card: Some("x".into()) }).unwrap();
    let mut sent = 0;
    for _ in 0..400 {
        if e.try_send(tokio_tungstenite::tungstenite::Message::text(flood.clone())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let (code, reason) = e.closed().await;
    assert_eq!(code, 1011, "{reason}");
    assert!(reason.contains("too many messages"), "{reason} after {sent} messages");

    // An oversized message: 1009.
    let (mut big, _) = join(&c, &eve).await;
    big.send_text(&format!(
        "{{\"type\":\"op\",\"op\":{{\"kind\":\"rename\",\"id\":\"x\",\"title\":\"{}\"}}}}",
        "x".repeat(board::MAX_MESSAGE)
    ))
    .await;
    assert_eq!(big.closed().await.0, 1009);

    // Ada noticed nothing but presence: her operations go through as before.
    send(&mut a, &op("still", add("still here"))).await;
    assert_eq!(next_op(&mut a).await.reference.as_deref(), Some("still"));

    // REST: not JSON, too big, a bad title.
    let url = "/api/boards/welcome/cards";
    let res =
        c.post(url).header("cookie", &ada).header("content-type", "application/json").body("{").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let huge = serde_json::json!({ "title": "x".repeat(board::MAX_BODY) });
    assert_eq!(
        c.post(url).header("cookie", &ada).json(&huge).send().await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let long = serde_json::json!({ "title": "x".repeat(201) });
    let res = c.post(url).header("cookie", &ada).json(&long).send().await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().contains("1 to 200"), "{}", res.text());
}

/// The same database code on Postgres, when `BOARD_TEST_POSTGRES` names one (e.g.
/// `postgres://board:board@127.0.0.1/board`); without it there is nothing to run against, and
/// the test says so and passes. Two instances share the database, one restarts; the test's
/// board is removed at the end.
#[tokio::test]
async fn postgres_when_configured() {
    let Ok(url) = std::env::var("BOARD_TEST_POSTGRES") else {
        eprintln!("BOARD_TEST_POSTGRES is not set: the Postgres test did not run");
        return;
    };
    let key = Key::generate();
    let ((one, _), (two, store)) = (start_with(&url, key.clone()).await, start_with(&url, key.clone()).await);
    let (ada, bob) = (login(&one, "ada").await, login(&two, "bob").await);
    let created = one
        .post("/api/boards")
        .header("cookie", &ada)
        .json(&serde_json::json!({ "title": "pg" }))
        .send()
        .await;
    let id = created.json::<Board>().id;
    let cards = format!("/api/boards/{id}/cards");
    for (c, cookie, title) in [(&one, &ada, "from one"), (&two, &bob, "from two"), (&one, &ada, "one again")]
    {
        let res =
            c.post(&cards).header("cookie", cookie).json(&serde_json::json!({ "title": title })).send().await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text());
    }
    let path = format!("/api/boards/{id}");
    let seen: Board = two.get(&path).header("cookie", &bob).send().await.json();
    assert_eq!((seen.version, seen.cards.len()), (3, 3));
    two.shutdown().await;
    store.close().await;
    let (again, store) = start_with(&url, key).await;
    assert_eq!(again.get(&path).header("cookie", &bob).send().await.json::<Board>(), seen);

    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM cards WHERE board_id = $1").bind(&id).execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM boards WHERE id = $1").bind(&id).execute(&pool).await.unwrap();
    for cookie in [&ada, &bob] {
        assert_eq!(
            again.post("/logout").header("cookie", cookie).send().await.status(),
            StatusCode::NO_CONTENT
        );
    }
    store.close().await;
}
