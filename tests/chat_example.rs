//! The chat example end to end over real sockets: login, join, messages across members,
//! presence as changes, names unique in a room, sessions and logins bounded, and the one auth
//! middleware refusing a socket without a valid token.

#[path = "../examples/chat/app.rs"]
mod chat;

use chat::Post;
use fratello::prelude::*;
use fratello::test::{TestClient, WsClient};

async fn login(c: &TestClient, name: &str) -> (String, String) {
    let res = c.post("/login").json(&serde_json::json!({ "name": name })).send().await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text());
    let cookie = res.header("set-cookie").expect("login sets a cookie for the browser's socket").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let token = res.json::<serde_json::Value>()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "256 random bits, in hex");
    (token, cookie.split(';').next().unwrap().to_owned())
}

async fn next_post(ws: &mut WsClient) -> Post {
    serde_json::from_str(&ws.recv_text().await).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn two_members_chat_in_a_room() {
    let c = TestClient::start(chat::app(false)).await;
    let origin = format!("http://{}", c.addr());

    // The page, from the folder beside the example.
    let page = c.get("/").send().await;
    assert!(page.header("content-type").unwrap().starts_with("text/html"), "{:?}", page.headers());
    assert!(page.text().contains("<html"));
    let (ada, _) = login(&c, "ada").await;
    let (_, bob_cookie) = login(&c, "bob").await;

    let mut a = c.ws("/api/rooms/rust/ws").header("authorization", &format!("Bearer {ada}")).connect().await;
    assert_eq!(next_post(&mut a).await, Post::Members { online: names(&["ada"]) });
    assert_eq!(next_post(&mut a).await, Post::Join { name: "ada".into() });
    // Bob connects as a browser would: the cookie, and the page's origin.
    let mut b =
        c.ws("/api/rooms/rust/ws").header("cookie", &bob_cookie).header("origin", &origin).connect().await;
    assert_eq!(next_post(&mut b).await, Post::Members { online: names(&["ada", "bob"]) });
    assert_eq!(next_post(&mut a).await, Post::Join { name: "bob".into() });
    assert_eq!(next_post(&mut b).await, Post::Join { name: "bob".into() });

    let members =
        c.get("/api/rooms/rust/members").header("authorization", &format!("Bearer {ada}")).send().await;
    assert_eq!(members.json::<Vec<String>>(), names(&["ada", "bob"]));

    b.send_text("hi ada").await;
    assert_eq!(next_post(&mut a).await, Post::Message { from: "bob".into(), text: "hi ada".into() });
    assert_eq!(next_post(&mut b).await, Post::Message { from: "bob".into(), text: "hi ada".into() });

    // REST posts fan out through the same room; they take JSON only.
    let auth = format!("Bearer {ada}");
    let res = c.post("/api/rooms/rust/messages").header("authorization", &auth).body("plain").send().await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = c
        .post("/api/rooms/rust/messages")
        .header("authorization", &auth)
        .json(&serde_json::json!({ "text": "from curl" }))
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(next_post(&mut b).await, Post::Message { from: "ada".into(), text: "from curl".into() });

    b.close(1000).await;
    b.closed().await;
    assert_eq!(next_post(&mut a).await, Post::Message { from: "ada".into(), text: "from curl".into() });
    assert_eq!(next_post(&mut a).await, Post::Leave { name: "bob".into() });

    // Another room hears none of it.
    let mut other =
        c.ws("/api/rooms/go/ws").header("authorization", &auth).header("origin", &origin).connect().await;
    assert_eq!(next_post(&mut other).await, Post::Members { online: names(&["ada"]) });
    assert_eq!(next_post(&mut other).await, Post::Join { name: "ada".into() });
}

#[tokio::test]
async fn a_name_is_unique_in_a_room_but_one_member_may_open_two_tabs() {
    let c = TestClient::start(chat::app(false)).await;
    let (first, _) = login(&c, "sam").await;
    let (second, _) = login(&c, "sam").await;
    let mut tab1 =
        c.ws("/api/rooms/r/ws").header("authorization", &format!("Bearer {first}")).connect().await;
    assert_eq!(next_post(&mut tab1).await, Post::Members { online: names(&["sam"]) });
    assert_eq!(next_post(&mut tab1).await, Post::Join { name: "sam".into() });
    // The same session in a second tab: no second join.
    let mut tab2 =
        c.ws("/api/rooms/r/ws").header("authorization", &format!("Bearer {first}")).connect().await;
    assert_eq!(next_post(&mut tab2).await, Post::Members { online: names(&["sam"]) });
    // Another session with the same name is refused.
    let mut other =
        c.ws("/api/rooms/r/ws").header("authorization", &format!("Bearer {second}")).connect().await;
    let (code, reason) = other.closed().await;
    assert_eq!(code, 1011);
    assert!(reason.contains("taken"), "{reason}");
    // The first tab closing is not a leave while the second is open.
    tab1.close(1000).await;
    tab1.closed().await;
    tab2.send_text("still here").await;
    assert_eq!(next_post(&mut tab2).await, Post::Message { from: "sam".into(), text: "still here".into() });
}

#[tokio::test]
async fn logins_are_rate_limited_per_address_and_cookies_secure_behind_tls() {
    let c = TestClient::start(chat::app(true)).await;
    let res = c.post("/login").json(&serde_json::json!({ "name": "x" })).send().await;
    assert!(res.header("set-cookie").unwrap().contains("; Secure"));
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(c.post("/login").json(&serde_json::json!({ "name": "x" })).send().await.status());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 9, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn the_auth_middleware_refuses_sockets_and_rest_alike() {
    let c = TestClient::start(chat::app(false)).await;
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
