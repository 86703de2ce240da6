//! The chat example run twice, as its README says, on one redis-server: a member on one
//! instance and a member on the other talk in one room. The real binaries, their command
//! lines, a real Redis; logins with curl, sockets with tungstenite.

#[path = "../fratello-redis/tests/support/mod.rs"]
mod redis;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A chat instance, stopped when dropped.
struct Instance {
    child: Child,
    port: u16,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(exe: &std::path::Path, redis_url: &str) -> Instance {
    let mut child = Command::new(exe)
        .args(["--port", "0", "--redis", redis_url])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the chat example starts");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = stdout.lines().map_while(Result::ok).find(|l| l.contains("listening on"));
    let line = line.expect("the example prints its address");
    let port = line.rsplit_once(':').and_then(|(_, p)| p.trim().parse().ok()).expect("a port");
    Instance { child, port }
}

fn login(port: u16, name: &str) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "-H", "content-type: application/json"])
        .args(["--data", &format!(r#"{{"name":"{name}"}}"#), &format!("http://127.0.0.1:{port}/login")])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    body["token"].as_str().expect("a token").to_owned()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn join(port: u16, token: &str) -> Socket {
    let mut req = format!("ws://127.0.0.1:{port}/api/rooms/rust/ws").into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio_tungstenite::client_async(req, tcp).await.expect("the socket opens").0
}

/// The next chat message (`type: message`) on `ws`, skipping presence posts.
async fn next_message(ws: &mut Socket) -> (String, String) {
    let post = next_of(ws, "message", Duration::from_secs(10)).await;
    (post["from"].as_str().unwrap().to_owned(), post["text"].as_str().unwrap().to_owned())
}

/// The next post of type `kind` on `ws` within `wait`, skipping the others.
async fn next_of(ws: &mut Socket, kind: &str, wait: Duration) -> serde_json::Value {
    loop {
        let frame = tokio::time::timeout(wait, ws.next())
            .await
            .unwrap_or_else(|_| panic!("a {kind} post within {wait:?}"))
            .expect("the socket is open")
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let post: serde_json::Value = serde_json::from_str(&text).unwrap();
        if post["type"] == kind {
            return post;
        }
    }
}

/// The room's member list, as `GET /api/rooms/rust/members` on `port` says.
fn members(port: u16, token: &str) -> Vec<String> {
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "-H",
            &format!("authorization: Bearer {token}"),
        ])
        .arg(format!("http://127.0.0.1:{port}/api/rooms/rust/members"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "members: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON list of names")
}

/// The chat binary and a redis-server of the test's own, or `None` when something is missing
/// (said loudly; a failure under `CI=true`).
fn two_instances_can_run() -> Option<(std::path::PathBuf, redis::Redis)> {
    let Some(exe) = example("chat") else {
        skipped("the chat example is not built: cargo build --example chat");
        return None;
    };
    if Command::new("curl").arg("--version").output().is_err() {
        skipped("curl is not installed");
        return None;
    }
    Some((exe, redis::Redis::start()?))
}

#[tokio::test]
async fn two_chat_instances_share_a_room_through_redis() {
    let Some((exe, redis)) = two_instances_can_run() else { return };
    tokio::time::timeout(Duration::from_secs(60), async {
        let (a, b) = (start(&exe, &redis.url()), start(&exe, &redis.url()));
        let (ada, bob) = (login(a.port, "ada"), login(b.port, "bob"));
        let (mut on_a, mut on_b) = (join(a.port, &ada).await, join(b.port, &bob).await);
        // Each instance listens to the room once it has a member there.
        redis.wait_for_subscribers("fratello:room:chat:rust", 2).await;

        on_b.send(Message::text("hi ada, from the other instance")).await.unwrap();
        let from_bob = ("bob".to_owned(), "hi ada, from the other instance".to_owned());
        assert_eq!(next_message(&mut on_a).await, from_bob);
        on_a.send(Message::text("hi bob")).await.unwrap();
        let from_ada = ("ada".to_owned(), "hi bob".to_owned());
        assert_eq!(next_message(&mut on_a).await, from_ada, "her own, once");
        // Bob hears his own first (delivered by his instance at once), then Ada's.
        assert_eq!(next_message(&mut on_b).await, from_bob);
        assert_eq!(next_message(&mut on_b).await, from_ada);
    })
    .await
    .expect("watchdog");
}

#[tokio::test]
async fn members_are_one_list_across_instances_and_a_killed_instance_leaves() {
    let Some((exe, redis)) = two_instances_can_run() else { return };
    tokio::time::timeout(Duration::from_secs(60), async {
        let (a, b) = (start(&exe, &redis.url()), start(&exe, &redis.url()));
        let (ada, bob) = (login(a.port, "ada"), login(b.port, "bob"));
        let mut on_a = join(a.port, &ada).await;
        assert_eq!(next_of(&mut on_a, "join", Duration::from_secs(10)).await["name"], "ada");
        let _on_b = join(b.port, &bob).await;
        // Bob, on the other instance, joins Ada's room: she hears it, and both lists say so.
        assert_eq!(next_of(&mut on_a, "join", Duration::from_secs(10)).await["name"], "bob");
        assert_eq!(members(a.port, &ada), ["ada", "bob"]);
        assert_eq!(members(b.port, &bob), ["ada", "bob"]);
        // Instance B dies without a word (SIGKILL): Bob leaves once its presence times out
        // (10 s by default; gone within 4/3 of it).
        drop(b);
        let left = next_of(&mut on_a, "leave", Duration::from_secs(20)).await;
        assert_eq!(left["name"], "bob");
        assert_eq!(members(a.port, &ada), ["ada"]);
    })
    .await
    .expect("watchdog");
}

#[test]
fn an_unreachable_redis_stops_the_chat_with_its_url() {
    let Some(exe) = example("chat") else {
        return skipped("the chat example is not built: cargo build --example chat");
    };
    let url = format!("redis://127.0.0.1:{}/", redis::Redis::unused_port());
    let out =
        Command::new(exe).args(["--port", "0", "--redis", &url]).env("RUST_LOG", "off").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&url) && err.contains("could not reach Redis"), "{err}");
}

fn example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?.parent()?.parent()?.join("examples").join(name);
    exe.exists().then_some(exe)
}

fn skipped(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}, and under CI=true a skip is a failure");
    }
    eprintln!("\n\n*** SKIPPED: {why} ***\n");
}
