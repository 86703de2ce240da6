//! Keeps a panicking handler or middleware from taking anything else down.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::response::{Answered, IntoResponse};
use crate::{Error, Result};

/// Polls `fut`; a panic inside it becomes a logged 500 [`Error`].
///
/// Handlers share nothing with the server through `&mut` borrows that a panic could leave
/// half-written (the Context's locks do not poison), so asserting unwind safety is sound.
pub(crate) async fn catch<T, F, D>(fut: F, describe: D) -> Result<T>
where
    F: Future<Output = Result<T>>,
    D: FnOnce() -> String,
{
    let mut fut = std::pin::pin!(fut);
    let mut describe = Some(describe);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        poll_catch(fut.as_mut(), cx, || describe.take().map_or_else(String::new, |d| d()))
    })
    .await
}

/// Polls `fut` once; a panic inside it becomes a logged 500 [`Error`].
pub(crate) fn poll_catch<T, F, D>(fut: Pin<&mut F>, cx: &mut Context<'_>, describe: D) -> Poll<Result<T>>
where
    F: Future<Output = Result<T>> + ?Sized,
    D: FnOnce() -> String,
{
    poll_caught(fut, cx, describe).map(|outcome| outcome.and_then(|r| r))
}

/// Polls `fut` once, whatever it returns; a panic inside it becomes a logged 500 [`Error`].
pub(crate) fn poll_caught<T, F, D>(fut: Pin<&mut F>, cx: &mut Context<'_>, describe: D) -> Poll<Result<T>>
where
    F: Future<Output = T> + ?Sized,
    D: FnOnce() -> String,
{
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(poll) => poll.map(Ok),
        Err(payload) => Poll::Ready(Err(panicked(describe, payload))),
    }
}

/// Polls an HTTP handler's `fut` once; a panic inside it becomes the response of a logged 500
/// [`Error`]. (The response as the handler returns it, not wrapped: it is moved once less.)
pub(crate) fn poll_answer<F, D>(fut: Pin<&mut F>, cx: &mut Context<'_>, describe: D) -> Poll<Answered>
where
    F: Future<Output = Answered> + ?Sized,
    D: FnOnce() -> String,
{
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(poll) => poll,
        Err(payload) => Poll::Ready(Ok(panicked(describe, payload).into_response())),
    }
}

/// Logs the panic `payload` of what `describe` names: the error it is answered with.
#[cold]
#[inline(never)]
fn panicked(describe: impl FnOnce() -> String, payload: Box<dyn Any + Send>) -> Error {
    let what = describe();
    let msg = panic_message(&*payload);
    tracing::error!(panic = msg, "{what} panicked");
    Error::internal("internal server error")
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
}
