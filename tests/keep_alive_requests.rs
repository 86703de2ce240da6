//! Requests one after the other on one keep-alive connection, which answers them with one
//! Context made again for each: every request sees its own head, parameters, body and
//! attributes, and answers with its own status and headers; what a request set is dropped when
//! it ends; a handler's task that kept its Context still sees its own request; handlers whose
//! futures differ in size follow each other.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use fratello::prelude::*;
use fratello::test::TestClient;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// An attribute a request sets.
#[derive(Clone)]
struct Mark(String);

/// An attribute that records its drop, by the name of the request that set it.
struct Guard(String);

static GUARDS_DROPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl Drop for Guard {
    fn drop(&mut self) {
        GUARDS_DROPPED.lock().unwrap().push(std::mem::take(&mut self.0));
    }
}

/// What a handler's task saw once it was let go, after later requests of its connection.
static KEPT_SAW: Mutex<Option<String>> = Mutex::new(None);
static LET_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[post("/set/{name}")]
async fn set(ctx: Context) -> Result<String> {
    let name = ctx.param("name").unwrap_or_default().to_owned();
    ctx.set(Mark(name.clone()));
    ctx.set(Guard(name.clone()));
    ctx.set_status(StatusCode::CREATED);
    ctx.set_header("x-set", &name);
    let body = ctx.text().await?;
    Ok(format!("{name}:{body}"))
}

/// What this request sees of its own: path, query, a header, an attribute, its body.
#[post("/look")]
async fn look(ctx: Context) -> Result<String> {
    let mark = ctx.get::<Mark>().map(|m| m.0);
    let header = ctx.header("x-client").map(str::to_owned);
    let body = ctx.text().await?;
    // (Asked by a name only known at run time: this route has no parameter of that name, and
    // `param` with a literal would not compile.)
    let earlier_param = String::from("name");
    Ok(format!("{} {:?} {:?} {:?} {body:?}", ctx.uri(), ctx.param(&earlier_param), header, mark))
}

#[get("/dropped/{name}")]
async fn dropped(ctx: Context) -> String {
    let name = ctx.param("name").unwrap_or_default();
    GUARDS_DROPPED.lock().unwrap().iter().any(|n| n == name).to_string()
}

/// Keeps its Context in a task until let go, then says what it sees.
#[get("/keep/{id}")]
async fn keep(ctx: Context) -> &'static str {
    let kept = ctx.clone();
    tokio::spawn(async move {
        LET_GO.notified().await;
        let saw = format!("{} {:?} {:?}", kept.path(), kept.param("id"), kept.get::<Mark>().map(|m| m.0));
        *KEPT_SAW.lock().unwrap() = Some(saw);
    });
    "kept"
}

/// Holds a drop-recorded value across an await: its future holds it until it completes.
#[get("/holds/{name}")]
async fn holds(ctx: Context) -> String {
    let guard = Guard(ctx.param("name").unwrap_or_default().to_owned());
    tokio::task::yield_now().await;
    format!("held {}", guard.0)
}

/// A handler whose future is large: it holds a buffer across an await.
#[get("/large")]
async fn large(_ctx: Context) -> String {
    let buf = std::hint::black_box([3u8; 4096]);
    tokio::task::yield_now().await;
    format!("large {}", buf.iter().map(|b| usize::from(*b)).sum::<usize>())
}

#[get("/panics")]
async fn panics(_ctx: Context) -> &'static str {
    panic!("a handler that panics, on purpose")
}

/// One connection to `c`, for requests one after the other.
async fn connect(c: &TestClient) -> SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    send
}

/// Sends one request on `send`'s connection: its status, its `x-set` header, its body.
async fn exchange(
    send: &mut SendRequest<Full<Bytes>>,
    method: &str,
    uri: &str,
    header: Option<&str>,
    body: &str,
) -> (u16, Option<String>, String) {
    let mut req = http::Request::builder().method(method).uri(uri).header("host", "x");
    if let Some(h) = header {
        req = req.header("x-client", h);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), send.send_request(req))
        .await
        .expect("answered within 5 s")
        .expect("answered on the same connection");
    let status = res.status().as_u16();
    let set = res.headers().get("x-set").map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, set, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn each_request_of_a_connection_sees_only_its_own() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;

    let first = exchange(&mut send, "POST", "/set/ada?x=1", Some("one"), "first body").await;
    assert_eq!(first, (201, Some("ada".to_owned()), "ada:first body".to_owned()));

    // Nothing of the first request: not its parameter, header, attribute or body, and the
    // response has neither its status nor its header.
    let second = exchange(&mut send, "POST", "/look?y=2", None, "").await;
    assert_eq!(second, (200, None, r#"/look?y=2 None None None """#.to_owned()));

    let third = exchange(&mut send, "POST", "/look", Some("three"), "third").await;
    assert_eq!(third, (200, None, r#"/look None Some("three") None "third""#.to_owned()));

    // A request whose body the handler never reads (a 404), then one that reads its own.
    let missing = exchange(&mut send, "POST", "/nowhere", None, "unread body").await;
    assert_eq!(missing.0, 404);
    let fifth = exchange(&mut send, "POST", "/set/bo", None, "fifth").await;
    assert_eq!(fifth, (201, Some("bo".to_owned()), "bo:fifth".to_owned()));
}

#[tokio::test]
async fn what_a_request_set_is_dropped_when_it_ends() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;
    exchange(&mut send, "POST", "/set/guarded", None, "").await;
    // Asked on another connection: the first one, now idle, keeps nothing of its request.
    let mut other = connect(&c).await;
    let (_, _, dropped) = exchange(&mut other, "GET", "/dropped/guarded", None, "").await;
    assert_eq!(dropped, "true", "the request's attribute outlived it");
}

#[tokio::test]
async fn a_task_that_kept_its_context_still_sees_its_own_request() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;
    assert_eq!(exchange(&mut send, "GET", "/keep/7", None, "").await.2, "kept");
    // Later requests of the same connection, while the task holds the first one's Context.
    exchange(&mut send, "POST", "/set/later", None, "").await;
    exchange(&mut send, "POST", "/look", None, "").await;
    LET_GO.notify_one();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let saw = loop {
        if let Some(saw) = KEPT_SAW.lock().unwrap().take() {
            break saw;
        }
        assert!(tokio::time::Instant::now() < deadline, "the kept task said nothing within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(saw, r#"/keep/7 Some("7") None"#);
}

#[tokio::test]
async fn handlers_of_every_size_follow_each_other_on_a_connection() {
    let c = TestClient::start(App::only(module_path!())).await;
    let mut send = connect(&c).await;
    // Each handler's future goes in the box the last one left when it fits: small after
    // large, large after small, one after a panic, each answers as its own.
    for round in 0..2 {
        let name = format!("local-{round}");
        // (Twice: the second future takes the first one's box as it is.)
        for _ in 0..2 {
            let (status, _, body) = exchange(&mut send, "GET", &format!("/holds/{name}"), None, "").await;
            assert_eq!((status, body.as_str()), (200, format!("held {name}").as_str()));
        }
        // What the finished future held is dropped, though its box is kept for the next.
        let (_, _, dropped) = exchange(&mut send, "GET", &format!("/dropped/{name}"), None, "").await;
        assert_eq!(dropped, "true", "a finished handler's local outlived it");
        for _ in 0..2 {
            assert_eq!(exchange(&mut send, "GET", "/large", None, "").await.2, "large 12288");
        }
        assert_eq!(exchange(&mut send, "GET", "/panics", None, "").await.0, 500);
        assert_eq!(exchange(&mut send, "GET", "/large", None, "").await.2, "large 12288");
        let look = exchange(&mut send, "POST", "/look", None, "after").await;
        assert_eq!(look.2, r#"/look None None None "after""#);
    }
}
