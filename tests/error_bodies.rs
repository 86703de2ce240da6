//! What a client learns from an error: what it can fix (a 4xx's message), and for the
//! server's own failures (5xx) only that there was one; the detail goes to the log.

use fratello::prelude::*;
use fratello::test::TestClient;

struct Pool;

#[get("/errors/internal")]
async fn internal(ctx: Context) -> Result<String> {
    // A missing state names the Rust type in its message: for the log only.
    ctx.state::<Pool>()?;
    Ok("unreachable".into())
}

#[get("/errors/refused")]
async fn refused(_ctx: Context) -> Result<String> {
    Err(Error::conflict("the slot is taken"))
}

#[get("/errors/io")]
async fn io(_ctx: Context) -> Result<String> {
    Err(std::io::Error::other("disk /var/lib/app/db.sqlite is full").into())
}

#[ws("/errors/socket/{kind}")]
async fn socket(ctx: Context) -> Result<()> {
    ctx.recv().await?;
    match ctx.param("kind") {
        Some("refused") => Err(Error::forbidden("not your board")),
        _ => Err(Error::internal("query failed: relation \"boards\" does not exist")),
    }
}

#[tokio::test]
async fn server_errors_say_only_that_the_server_failed() {
    let c = TestClient::start(App::only(module_path!())).await;
    for path in ["/errors/internal", "/errors/io"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(res.text(), "internal server error", "{path}");
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        let res = c.get(path).header("accept", "application/json").send().await;
        let body: serde_json::Value = res.json();
        assert_eq!(body["error"]["message"], "internal server error", "{path}");
    }
    // A refusal tells the client what to fix.
    let res = c.get("/errors/refused").send().await;
    assert_eq!((res.status(), res.text().as_str()), (StatusCode::CONFLICT, "the slot is taken"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn a_socket_closed_by_a_server_error_hears_no_detail() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut ws = c.ws("/errors/socket/internal").connect().await;
    ws.send_text("go").await;
    assert_eq!(ws.closed().await, (1011, "internal error".to_owned()));
    let mut ws = c.ws("/errors/socket/refused").connect().await;
    ws.send_text("go").await;
    assert_eq!(ws.closed().await, (1011, "not your board".to_owned()));
}

#[tokio::test]
async fn bad_input_is_not_echoed_back() {
    let c = TestClient::start(App::only(module_path!())).await;
    let res = c.get("/%3Cscript%3Ealert(1)%3C/script%3E").send().await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().contains("script"), "{}", res.text());
    assert_eq!(res.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}
