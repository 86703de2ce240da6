//! The chat example end to end over real sockets: login, join, messages across members,
//! presence, and the one auth middleware refusing a socket without a valid token.

#[path = "../examples/chat/app.rs"]
mod chat;

use chat::Post;
use fratello::prelude::*;
use fratello::test::{TestClient, WsClient};

async fn login(c: &TestClient, name: &str) -> (String, Option<String>) {
    let res = c.post("/login").json(&serde_json::json!({ "name": name })).send().await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text());
    let cookie = res.header("set-cookie").map(|c| c.split(';').next().unwrap().to_owned());
    (res.json::<serde_json::Value>()["token"].as_str().unwrap().to_owned(), cookie)
}

async fn next_post(ws: &mut WsClient) -> Post {
    serde_json::from_str(&ws.recv_text().await).unwrap()
}

#[tokio::test]
async fn two_members_chat_in_a_room() {
    let listener = fratello::server::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = TestClient::start_on(chat::app(addr), listener).await.unwrap();
    let origin = format!("http://{}", c.addr());

    assert_eq!(c.get("/").send().await.header("content-type"), Some("text/html; charset=utf-8"));
    let (ada, _) = login(&c, "ada").await;
    let (_, bob_cookie) = login(&c, "bob").await;
    let bob_cookie = bob_cookie.expect("login sets a cookie for the browser's socket");

    let mut a = c.ws("/api/rooms/rust/ws").header("authorization", &format!("Bearer {ada}")).connect().await;
    assert_eq!(next_post(&mut a).await, Post::Join { name: "ada".into(), online: vec!["ada".into()] });
    // Bob connects as a browser would: the cookie, and the page's origin.
    let mut b = c.ws("/api/rooms/rust/ws").header("cookie", &bob_cookie).connect().await;
    let both = vec!["ada".to_owned(), "bob".to_owned()];
    assert_eq!(next_post(&mut a).await, Post::Join { name: "bob".into(), online: both.clone() });
    assert_eq!(next_post(&mut b).await, Post::Join { name: "bob".into(), online: both.clone() });

    let members =
        c.get("/api/rooms/rust/members").header("authorization", &format!("Bearer {ada}")).send().await;
    assert_eq!(members.json::<Vec<String>>(), both);

    b.send_text("hi ada").await;
    assert_eq!(next_post(&mut a).await, Post::Message { from: "bob".into(), text: "hi ada".into() });
    assert_eq!(next_post(&mut b).await, Post::Message { from: "bob".into(), text: "hi ada".into() });

    // REST posts fan out through the same room.
    let res = c
        .post("/api/rooms/rust/messages")
        .header("authorization", &format!("Bearer {ada}"))
        .body("from curl")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(next_post(&mut b).await, Post::Message { from: "ada".into(), text: "from curl".into() });

    b.close(1000).await;
    b.closed().await;
    assert_eq!(next_post(&mut a).await, Post::Message { from: "ada".into(), text: "from curl".into() });
    assert_eq!(next_post(&mut a).await, Post::Leave { name: "bob".into(), online: vec!["ada".into()] });

    // Another room hears none of it.
    let mut other = c
        .ws("/api/rooms/go/ws")
        .header("authorization", &format!("Bearer {ada}"))
        .header("origin", &origin)
        .connect()
        .await;
    assert_eq!(next_post(&mut other).await, Post::Join { name: "ada".into(), online: vec!["ada".into()] });
}

#[tokio::test]
async fn the_auth_middleware_refuses_sockets_and_rest_alike() {
    let c = TestClient::start(chat::app("127.0.0.1:1".parse().unwrap())).await;
    for req in
        [c.ws("/api/rooms/rust/ws"), c.ws("/api/rooms/rust/ws").header("authorization", "Bearer forged")]
    {
        let refused = req.try_connect().await.err().expect("no socket without a valid token");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(c.get("/api/me").send().await.status(), StatusCode::UNAUTHORIZED);
    let (token, _) = login(&c, "eve").await;
    let refused = c
        .ws("/api/rooms/rust/ws")
        .header("authorization", &format!("Bearer {token}"))
        .header("origin", "http://evil.example")
        .try_connect()
        .await
        .err()
        .expect("a cross-site page may not open the socket");
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let res = c.post("/login").json(&serde_json::json!({ "name": "" })).send().await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
