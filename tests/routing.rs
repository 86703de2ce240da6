//! Routing over real sockets: params, catch-all, 404, 405 + Allow, HEAD, trailing slash.

use fratello::prelude::*;
use fratello::test::TestClient;
use serde::Deserialize;

#[get("/users/{id}")]
async fn user(ctx: Context) -> String {
    format!("user {}", ctx.param("id").unwrap())
}

#[delete("/users/{user_id}")]
async fn delete_user(ctx: Context) -> String {
    // Same shape as GET /users/{id}, other parameter name: both names work.
    format!("deleted {}", ctx.param("user_id").unwrap())
}

#[get("/users/me")]
async fn me(_ctx: Context) -> &'static str {
    "static wins"
}

#[get("/files/{*rest}")]
async fn files(ctx: Context) -> String {
    format!("file {}", ctx.param("rest").unwrap())
}

#[get("/items/{n}")]
async fn item(ctx: Context) -> Result<String> {
    let n: u32 = ctx.param_as("n")?;
    Ok(format!("item {}", n * 2))
}

#[derive(Deserialize)]
struct Page {
    page: u32,
    per: Option<u32>,
}

#[get("/search")]
async fn search(ctx: Context) -> Result<String> {
    let q: Page = ctx.query()?;
    Ok(format!("page {} per {}", q.page, q.per.unwrap_or(10)))
}

#[route("/multi", method = ["GET", "POST"])]
async fn multi(ctx: Context) -> String {
    ctx.method().to_string()
}

#[put("/dir/")]
async fn dir(_ctx: Context) -> &'static str {
    "dir"
}

#[get("/sized")]
async fn sized(_ctx: Context) -> &'static str {
    "twelve bytes"
}

#[options("/sized")]
async fn sized_options(ctx: Context) -> StatusCode {
    ctx.set_header("allow", "GET, HEAD, OPTIONS");
    StatusCode::NO_CONTENT
}

async fn client() -> TestClient {
    TestClient::start(App::only(module_path!())).await
}

#[tokio::test]
async fn params_and_static_priority() {
    let c = client().await;
    assert_eq!(c.get("/users/42").send().await.text(), "user 42");
    assert_eq!(c.get("/users/me").send().await.text(), "static wins");
    assert_eq!(c.delete("/users/7").send().await.text(), "deleted 7");
    assert_eq!(c.get("/users/a%20b").send().await.text(), "user a b");
    let bad = c.get("/users/%FF").send().await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("`id`"), "{}", bad.text());
}

#[tokio::test]
async fn catch_all() {
    let c = client().await;
    assert_eq!(c.get("/files/a/b/c.txt").send().await.text(), "file a/b/c.txt");
    assert_eq!(c.get("/files/x").send().await.text(), "file x");
    assert_eq!(c.get("/files/").send().await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn typed_params_and_query() {
    let c = client().await;
    assert_eq!(c.get("/items/21").send().await.text(), "item 42");
    let bad = c.get("/items/abc").send().await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("invalid path parameter `n`"), "{}", bad.text());
    assert_eq!(c.get("/search?page=3&per=5").send().await.text(), "page 3 per 5");
    let bad = c.get("/search?per=5").send().await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("page"), "{}", bad.text());
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let c = client().await;
    let res = c.get("/nope").send().await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Said plainly, without echoing the request back.
    assert_eq!(res.text(), "no route matches this path");

    let res = c.post("/users/1").send().await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.header("allow"), Some("DELETE, GET, HEAD"));

    assert_eq!(c.get("/multi").send().await.text(), "GET");
    assert_eq!(c.post("/multi").send().await.text(), "POST");
    assert_eq!(c.put("/multi").send().await.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn head_from_get_keeps_length_and_drops_body() {
    let c = client().await;
    let res = c.head("/sized").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("content-length"), Some("12"));
    assert!(res.bytes().is_empty());
    let res = c.options("/sized").send().await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn trailing_slash_redirects_to_the_routed_form() {
    let c = client().await;
    let res = c.get("/users/42/?x=1").send().await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.header("location"), Some("/users/42?x=1"));
    let res = c.put("/dir").send().await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.header("location"), Some("/dir/"));
    // Only for a method that the other form answers.
    assert_eq!(c.get("/dir").send().await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn routes_lists_the_table() {
    let routes = App::only(module_path!()).routes().unwrap();
    let paths: Vec<_> = routes.iter().map(|r| (r.path, r.methods.join(","))).collect();
    assert!(paths.contains(&("/users/{id}", "GET".to_owned())), "{paths:?}");
    assert!(paths.contains(&("/multi", "GET,POST".to_owned())), "{paths:?}");
    let r = routes.iter().find(|r| r.name == "files").unwrap();
    assert!(r.location.starts_with("tests/routing.rs:"), "{}", r.location);
    assert_eq!(routes.len(), 10);
}
