//! Cookies through a real client: read, set (several at once), removed; signed and private
//! ones that a tampered value cannot fool; set by a middleware onto a socket's 101 and a
//! stream's head.

use fratello::cookie::{Cookie, Key, SameSite};
use fratello::prelude::*;
use fratello::test::TestClient;

#[get("/cookies/read")]
async fn read(ctx: Context) -> String {
    let mut names: Vec<String> =
        ctx.cookies().iter().map(|c| format!("{}={}", c.name(), c.value())).collect();
    names.sort();
    format!(
        "{} | theme={}",
        names.join(","),
        ctx.cookie("theme").map(|c| c.value().to_owned()).unwrap_or_default()
    )
}

#[post("/cookies/set")]
async fn set(ctx: Context) -> &'static str {
    ctx.set_cookie(
        Cookie::build(("theme", "dark")).path("/").http_only(true).same_site(SameSite::Lax).build(),
    );
    ctx.set_cookie(Cookie::new("lang", "fr"));
    ctx.remove_cookie("old");
    "set"
}

#[post("/cookies/session")]
async fn login(ctx: Context) -> &'static str {
    ctx.set_private_cookie(Cookie::build(("session", "user-42")).path("/").build());
    ctx.set_signed_cookie(Cookie::build(("plan", "pro")).path("/").build());
    "ok"
}

#[get("/cookies/session")]
async fn whoami(ctx: Context) -> String {
    let session = ctx.private_cookie("session").map(|c| c.value().to_owned());
    let plan = ctx.signed_cookie("plan").map(|c| c.value().to_owned());
    format!("{session:?} {plan:?}")
}

/// Gives every visitor of the live routes a visitor id.
#[middleware(path = "/cookies/live")]
async fn visitor(ctx: Context) -> Result<()> {
    if ctx.cookie("visitor").is_none() {
        ctx.set_cookie(Cookie::new("visitor", "v1"));
    }
    Ok(())
}

#[ws("/cookies/live/ws")]
async fn live_ws(ctx: Context) -> Result<()> {
    ctx.send("hi").await
}

#[sse("/cookies/live/sse")]
async fn live_sse(ctx: Context) -> Result<()> {
    ctx.send("hi").await
}

async fn client() -> TestClient {
    TestClient::start(App::only(module_path!()).cookie_key(Key::generate())).await
}

#[tokio::test]
async fn cookies_are_read_and_set_and_removed() {
    let c = client().await;
    // Two Cookie headers, a malformed pair and a percent-encoded value: the bad pair skipped.
    let res = c
        .get("/cookies/read")
        .header("cookie", "theme=light; broken; b=%20x")
        .header("cookie", "a=1")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "a=1,b= x,theme=light | theme=light");

    let res = c.post("/cookies/set").send().await;
    let set: Vec<&str> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(set.len(), 3, "{set:?}");
    assert!(set
        .iter()
        .any(|s| s.starts_with("theme=dark") && s.contains("HttpOnly") && s.contains("SameSite=Lax")));
    assert!(set.iter().any(|s| s.starts_with("lang=fr")));
    assert!(set.iter().any(|s| s.starts_with("old=;") && s.contains("Max-Age=0")), "{set:?}");
}

#[tokio::test]
async fn private_and_signed_cookies_hold_and_a_tampered_one_reads_as_absent() {
    let c = client().await;
    let res = c.post("/cookies/session").send().await;
    let set: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let session = set.iter().find(|s| s.starts_with("session=")).unwrap().clone();
    let plan = set.iter().find(|s| s.starts_with("plan=")).unwrap().clone();
    assert!(!session.contains("user-42"), "a private cookie is encrypted: {session}");
    assert!(plan.contains("pro"), "a signed cookie is readable: {plan}");

    let both = format!("{session}; {plan}");
    assert_eq!(
        c.get("/cookies/session").header("cookie", both.as_str()).send().await.text(),
        "Some(\"user-42\") Some(\"pro\")"
    );

    // Tampered: a byte of the private one changed; the signed one's value changed.
    let mut bytes = session.into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered_session = String::from_utf8(bytes).unwrap();
    let tampered_plan = plan.replace("pro", "max");
    let cookies = format!("{tampered_session}; {tampered_plan}");
    assert_eq!(c.get("/cookies/session").header("cookie", cookies.as_str()).send().await.text(), "None None");
    // A cookie made with another key is foreign.
    let other = TestClient::start(App::only(module_path!()).cookie_key(Key::generate())).await;
    let res = other.post("/cookies/session").send().await;
    let foreign: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap())
        .collect();
    let foreign = foreign.join("; ");
    assert_eq!(c.get("/cookies/session").header("cookie", foreign.as_str()).send().await.text(), "None None");
}

#[tokio::test]
async fn without_a_key_signed_cookies_are_the_servers_error() {
    let c = TestClient::start(App::only(module_path!())).await;
    let res = c.post("/cookies/session").send().await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_middlewares_cookie_reaches_a_sockets_101_and_a_streams_head() {
    let c = client().await;
    let ws = c.ws("/cookies/live/ws").connect().await;
    assert_eq!(ws.handshake_headers().get("set-cookie").map(|v| v.to_str().unwrap()), Some("visitor=v1"));
    let sse = c.sse("/cookies/live/sse").connect().await;
    assert_eq!(sse.header("set-cookie"), Some("visitor=v1"));
    let ws = c.ws("/cookies/live/ws").header("cookie", "visitor=v1").connect().await;
    assert!(ws.handshake_headers().get("set-cookie").is_none());
}
