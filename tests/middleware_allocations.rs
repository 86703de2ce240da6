//! A keep-alive connection's requests to a route behind middleware allocate no more than its
//! requests to a route without: each middleware's future, and the future that runs the chain,
//! go in the boxes the connection's last request left. Counted with a counting allocator (the
//! only test in this binary, so that nothing else allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use fratello::prelude::*;
use fratello::test::TestClient;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the counter has no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[middleware(path = "/guarded", order = 0)]
async fn first(ctx: Context) -> Result<()> {
    tokio::task::yield_now().await;
    ctx.header("host").map(|_| ()).ok_or_else(|| Error::bad_request("no host"))
}

#[middleware(path = "/guarded", order = 1)]
async fn second(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/guarded", order = 2)]
async fn third(_ctx: Context) -> Result<()> {
    tokio::task::yield_now().await;
    Ok(())
}

#[get("/guarded/hello")]
async fn guarded(_ctx: Context) -> &'static str {
    "hello"
}

#[get("/open/hello")]
async fn open(_ctx: Context) -> &'static str {
    "hello"
}

/// Allocations per request of `count` requests to `uri` on `send`'s connection (after a few
/// that are not counted).
async fn allocations_per_request(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    uri: &str,
    count: usize,
) -> f64 {
    let mut once = async || {
        let req = http::Request::builder().uri(uri).header("host", "x").body(Empty::new()).unwrap();
        let res = send.send_request(req).await.expect("answered on the same connection");
        assert_eq!(res.status(), 200, "{uri}");
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");
    };
    for _ in 0..5 {
        once().await;
    }
    let before = ALLOCATIONS.load(Relaxed);
    for _ in 0..count {
        once().await;
    }
    (ALLOCATIONS.load(Relaxed) - before) as f64 / count as f64
}

#[tokio::test]
async fn middleware_on_a_keep_alive_connection_allocates_nothing_per_request() {
    let c = TestClient::start(App::only(module_path!())).await;
    let tcp = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let open = allocations_per_request(&mut send, "/open/hello", 200).await;
    let guarded = allocations_per_request(&mut send, "/guarded/hello", 200).await;
    let open_again = allocations_per_request(&mut send, "/open/hello", 200).await;
    // (Three middleware boxed per request would be four more: theirs and the chain's.)
    assert!(
        guarded < open.max(open_again) + 0.5,
        "a request behind three middleware made {guarded:.2} allocations, one without {open:.2} and \
         {open_again:.2}"
    );
}
