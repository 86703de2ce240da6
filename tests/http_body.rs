//! Bodies over real sockets: JSON in and out, limits, content types, streaming, state, errors.

use fratello::prelude::*;
use fratello::test::TestClient;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Note {
    title: String,
    stars: u8,
}

struct Greeting(&'static str);

#[post("/notes")]
async fn create(ctx: Context) -> Result<(StatusCode, Json<Note>)> {
    let mut note: Note = ctx.json().await?;
    note.stars += 1;
    Ok((StatusCode::CREATED, Json(note)))
}

#[post("/echo")]
async fn echo(ctx: Context) -> Result<String> {
    ctx.text().await
}

#[get("/greet")]
async fn greet(ctx: Context) -> Result<String> {
    Ok(ctx.state::<Greeting>()?.0.to_owned())
}

#[get("/missing-state")]
async fn missing_state(ctx: Context) -> Result<String> {
    Ok(format!("{}", ctx.state::<u128>()?))
}

#[get("/stream")]
async fn stream(ctx: Context) -> Result<()> {
    ctx.set_header("x-streamed", "yes");
    for i in 0..3 {
        ctx.send(format!("chunk {i}\n")).await?;
    }
    Ok(())
}

/// Streams its head and a first chunk, then fails: before its head was looked for (`late`
/// false), or after, from the task the streaming handler goes on in.
#[get("/stream-then-fail/{late}")]
async fn stream_then_fail(ctx: Context) -> Result<()> {
    ctx.send("partial\n").await?;
    if ctx.param("late") == Some("late") {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(Error::internal("failed after its head was sent"))
}

/// As `stream_then_fail`, but panics.
#[get("/stream-then-panic")]
async fn stream_then_panic(ctx: Context) -> Result<()> {
    ctx.send("partial\n").await?;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    panic!("a streaming handler that panics after its head, on purpose")
}

#[get("/stream-json")]
async fn stream_json(ctx: Context) -> Result<()> {
    ctx.set_status(StatusCode::ACCEPTED);
    ctx.send(Json(Note { title: "a".into(), stars: 1 })).await
}

#[get("/status")]
async fn status(_ctx: Context) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[get("/bytes")]
async fn bytes(_ctx: Context) -> Vec<u8> {
    vec![0, 1, 2]
}

#[get("/io-error")]
async fn io_error(_ctx: Context) -> Result<()> {
    std::fs::read("/definitely/not/here")?;
    Ok(())
}

#[get("/created-by-ctx")]
async fn created_by_ctx(ctx: Context) -> &'static str {
    ctx.set_status(StatusCode::CREATED);
    "made"
}

async fn client() -> TestClient {
    TestClient::start(App::only(module_path!()).state(Greeting("ciao")).max_body(1024)).await
}

#[tokio::test]
async fn json_round_trip() {
    let c = client().await;
    let res = c.post("/notes").json(&Note { title: "milk".into(), stars: 2 }).send().await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json::<Note>(), Note { title: "milk".into(), stars: 3 });
}

#[tokio::test]
async fn malformed_json_is_400_and_json_that_does_not_fit_is_422() {
    let c = client().await;
    let res = c.post("/notes").header("content-type", "application/json").body("{\"title\": ").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("invalid JSON") && res.text().contains("column"), "{}", res.text());
    // Parses, but a field has the wrong type, or is missing: the field is named.
    let res = c.post("/notes").header("content-type", "application/json").body("{\"title\": 1}").send().await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().contains("invalid type"), "{}", res.text());
    let res =
        c.post("/notes").header("content-type", "application/json").body("{\"title\": \"x\"}").send().await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().contains("missing field `stars`"), "{}", res.text());
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let c = client().await;
    let res = c.post("/notes").header("content-type", "text/plain").body("{}").send().await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(res.text().contains("application/json"), "{}", res.text());
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    let res = c.post("/notes").body("{}").send().await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn body_over_limit_is_413_declared_or_not() {
    let c = client().await;
    let res = c.post("/echo").body(vec![b'a'; 1025]).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().contains("1024-byte limit"), "{}", res.text());
    // Chunked, with no content-length: the limit is enforced while reading.
    let body = fratello::Body::chunks((0..3).map(|_| bytes::Bytes::from(vec![b'a'; 600])));
    let res = c.post("/echo").body(body).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(c.post("/echo").body(vec![b'a'; 1024]).send().await.text().len(), 1024);
}

#[tokio::test]
async fn state_and_missing_state() {
    let c = client().await;
    assert_eq!(c.get("/greet").send().await.text(), "ciao");
    let res = c.get("/missing-state").send().await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // The detail (the type, the fix) is logged; the client hears only that the server failed.
    assert_eq!(res.text(), "internal server error");
    let res = c.get("/missing-state").header("accept", "application/json").send().await;
    assert!(!res.text().contains("u128"), "{}", res.text());
}

#[tokio::test]
async fn streamed_response_commits_head_at_first_send() {
    let c = client().await;
    let res = c.get("/stream").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("x-streamed"), Some("yes"));
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(res.text(), "chunk 0\nchunk 1\nchunk 2\n");
    let res = c.get("/stream-json").send().await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.text(), r#"{"title":"a","stars":1}"#);
}

#[tokio::test]
async fn plain_return_values() {
    let c = client().await;
    assert_eq!(c.get("/status").send().await.status(), StatusCode::NO_CONTENT);
    let res = c.get("/bytes").send().await;
    assert_eq!(res.header("content-type"), Some("application/octet-stream"));
    assert_eq!(&res.bytes()[..], &[0, 1, 2]);
    let res = c.get("/io-error").send().await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c.get("/created-by-ctx").send().await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_stream_that_fails_after_its_head_is_cut_short() {
    let c = client().await;
    // The head is out (200) when the handler fails: the client must not take what it got for
    // a whole body, so the body ends with an error instead of cleanly.
    for path in ["/stream-then-fail/early", "/stream-then-fail/late", "/stream-then-panic"] {
        let outcome = c.get(path).try_send().await;
        assert!(outcome.is_err(), "{path}: a failed stream ended cleanly: {:?}", outcome.map(|r| r.text()));
    }
    // A stream that succeeds still ends cleanly.
    assert_eq!(c.get("/stream").send().await.text(), "chunk 0\nchunk 1\nchunk 2\n");
}
