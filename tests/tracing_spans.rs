//! The spans of requests, sockets and streams, as a subscriber records them: method, route
//! pattern, status or close code, duration, and the request id (the client's, or one made),
//! which the handler sees and the response echoes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fratello::prelude::*;
use fratello::test::TestClient;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

#[get("/traced/items/{id}")]
async fn item(ctx: Context) -> String {
    format!("{} {}", ctx.param("id").unwrap_or_default(), ctx.header("x-request-id").unwrap_or("none"))
}

#[ws("/traced/ws")]
async fn socket(ctx: Context) -> Result<()> {
    while let Some(msg) = ctx.recv().await? {
        ctx.send(msg).await?;
    }
    Ok(())
}

#[sse("/traced/sse")]
async fn stream(ctx: Context) -> Result<()> {
    ctx.send(Event::new().data("one")).await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// A closed span: its name, its fields, and its parent's fields.
#[derive(Debug, Clone)]
struct Closed {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: HashMap<String, String>,
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// An event: its target, level, message, and the request id of the request span it is in.
#[derive(Debug, Clone)]
struct Logged {
    target: String,
    level: tracing::Level,
    message: String,
    request_id: Option<String>,
}

/// Keeps the fields of every span, the spans that closed, and the events.
struct Capture;

fn logged() -> &'static Mutex<Vec<Logged>> {
    static LOGGED: OnceLock<Mutex<Vec<Logged>>> = OnceLock::new();
    LOGGED.get_or_init(Mutex::default)
}

fn closed() -> &'static Mutex<Vec<Closed>> {
    static CLOSED: OnceLock<Mutex<Vec<Closed>>> = OnceLock::new();
    CLOSED.get_or_init(Mutex::default)
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        values.record(ext.get_mut::<Fields>().unwrap());
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let request_id = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().find_map(|span| span.extensions().get::<Fields>()?.0.get("request_id").cloned())
        });
        logged().lock().unwrap().push(Logged {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            message: fields.0.remove("message").unwrap_or_default(),
            request_id,
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let fields = span.extensions().get::<Fields>().map(|f| f.0.clone()).unwrap_or_default();
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Fields>().map(|f| f.0.clone()))
            .unwrap_or_default();
        closed().lock().unwrap().push(Closed { name: span.name(), fields, parent });
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture)).unwrap();
    });
}

/// Waits (bounded) for a closed span that `pick` accepts.
async fn wait_for(pick: impl Fn(&Closed) -> bool) -> Closed {
    for _ in 0..200 {
        if let Some(c) = closed().lock().unwrap().iter().find(|c| pick(c)) {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no such span closed; closed: {:#?}", closed().lock().unwrap());
}

/// Waits (bounded) for the request log's line saying `message` of the request with id `id`.
async fn log_line(id: &str, message: &str) -> Logged {
    for _ in 0..200 {
        let found = logged()
            .lock()
            .unwrap()
            .iter()
            .find(|l| {
                l.target == "fratello::request" && l.request_id.as_deref() == Some(id) && l.message == message
            })
            .cloned();
        if let Some(l) = found {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no request log line `{message}` for {id}; logged: {:#?}", logged().lock().unwrap());
}

#[tokio::test]
async fn the_request_log_has_one_info_line_per_request_socket_and_stream() {
    install();
    let c = TestClient::start(App::only(module_path!())).await;
    c.get("/traced/items/1").header("x-request-id", "log-1").send().await;
    assert_eq!(log_line("log-1", "answered").await.level, tracing::Level::INFO);

    let mut ws = c.ws("/traced/ws").header("x-request-id", "log-ws").connect().await;
    ws.close(1000).await;
    // The handshake is answered, and the socket's end is a line of its own.
    log_line("log-ws", "answered").await;
    assert_eq!(log_line("log-ws", "WebSocket closed").await.level, tracing::Level::INFO);

    let sse = c.sse("/traced/sse").header("x-request-id", "log-sse").connect().await;
    drop(sse);
    assert_eq!(log_line("log-sse", "SSE stream ended").await.level, tracing::Level::INFO);
}

#[tokio::test]
async fn requests_sockets_and_streams_have_spans_with_route_status_and_request_id() {
    install();
    let c = TestClient::start(App::only(module_path!())).await;

    // The client's id is kept, seen by the handler, echoed and on the span.
    let res = c.get("/traced/items/7").header("x-request-id", "client-id-1").send().await;
    assert_eq!(res.text(), "7 client-id-1");
    assert_eq!(res.header("x-request-id"), Some("client-id-1"));
    let span = wait_for(|c| {
        c.name == "request" && c.fields.get("request_id").map(String::as_str) == Some("client-id-1")
    })
    .await;
    assert_eq!(span.fields["route"], "/traced/items/{id}");
    assert_eq!(span.fields["method"], "GET");
    assert_eq!(span.fields["status"], "200");
    assert!(span.fields.contains_key("latency_us"), "{span:?}");

    // Without one, one is made: the handler sees the id that the client gets.
    let res = c.get("/traced/items/8").send().await;
    let id = res.header("x-request-id").expect("an id is made").to_owned();
    assert_eq!(res.text(), format!("8 {id}"));

    // No route: the span has the status and no route.
    let res = c.get("/traced/nothing").send().await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let id = res.header("x-request-id").unwrap().to_owned();
    let span = wait_for(|c| c.name == "request" && c.fields.get("request_id") == Some(&id)).await;
    assert_eq!(span.fields["status"], "404");
    assert!(!span.fields.contains_key("route"), "{span:?}");

    // A socket: its span is the request's child, with the close code and the duration.
    let mut ws = c.ws("/traced/ws").header("x-request-id", "socket-1").connect().await;
    assert_eq!(ws.handshake_headers().get("x-request-id").unwrap(), "socket-1");
    ws.send_text("hi").await;
    assert_eq!(ws.recv_text().await, "hi");
    ws.close(4000).await;
    let span =
        wait_for(|c| c.name == "ws" && c.parent.get("request_id").map(String::as_str) == Some("socket-1"))
            .await;
    assert_eq!(span.fields["close_code"], "4000");
    assert!(span.fields.contains_key("duration_ms"), "{span:?}");
    assert_eq!(span.parent["route"], "/traced/ws");
    assert_eq!(span.parent["status"], "101");

    // A stream: the same, ended when the client leaves.
    let mut sse = c.sse("/traced/sse").header("x-request-id", "stream-1").connect().await;
    assert_eq!(sse.header("x-request-id"), Some("stream-1"));
    assert_eq!(sse.next_event().await.unwrap().data.as_deref(), Some("one"));
    drop(sse);
    let span =
        wait_for(|c| c.name == "sse" && c.parent.get("request_id").map(String::as_str) == Some("stream-1"))
            .await;
    assert!(span.fields.contains_key("duration_ms"), "{span:?}");
    assert_eq!(span.parent["route"], "/traced/sse");
}
