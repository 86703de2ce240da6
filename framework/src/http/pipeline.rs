//! A routed request's pipeline: before-middleware, then the handler (or, for a socket or a
//! stream, its protocol's answer), then after-middleware; and the session the answer opened.
//! A handler that streams its response goes on in a task of its own once the head is out.

use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt;

use super::spare::{Kept, Spare};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::future::{BoxFuture, ReusableFuture};
use crate::middleware::{run_after, run_before};
use crate::protocol::Upgrade;
use crate::response::{Answered, ErrorMark, IntoResponse, Response};
use crate::routing::{Endpoint, Handler, RouteDef, RouteKind};

/// Runs the before-middleware and the handler, then the after-middleware; starts the socket
/// or stream that the response opened.
///
/// Hand-written states rather than an `async fn`: hyper stores them for every request (inside
/// the request's [`Answer`](super::dispatch::Answer), which polls them) and they are moved
/// several times on the way there, and an `async fn` with these branches stores the locals of
/// every branch side by side. Here they are a few pointers, and each stage that is not the
/// plain handler's is a box of its own.
pub(crate) struct Pipeline {
    /// Whatever happens to this pipeline, a head that comes later is not waited for, and the
    /// Context (with the handler's box) goes back to its connection if nobody else holds it.
    ctx: Held,
    endpoint: &'static Endpoint,
    stage: PipelineStage,
    upgrade: Option<Box<Upgrade>>,
}

/// Where a [`Pipeline`] is.
enum PipelineStage {
    /// The before-middleware runs.
    Before(BoxFuture<Result<()>>),
    /// Next: the handler (or the protocol's answer).
    Start,
    /// The HTTP handler runs.
    Handler(ReusableFuture<Answered>),
    /// What is still to run before the response (after-middleware, the end of a streamed
    /// response).
    Rest(BoxFuture<Response>),
    /// Answered.
    Done,
}

impl Pipeline {
    /// The pipeline of `ctx`'s request, to `endpoint`, whose handler's future goes in the box
    /// of the `spent` one when it fits; when the pipeline is dropped, the Context and the box
    /// go to `spare` if nobody else holds the Context.
    pub(crate) fn new(
        ctx: Context,
        endpoint: &'static Endpoint,
        upgrade: Option<Box<Upgrade>>,
        spare: Option<Arc<Spare>>,
        spent: Option<ReusableFuture<Answered>>,
    ) -> Self {
        let def = endpoint.def;
        let stage = if endpoint.chain.before.is_empty() {
            PipelineStage::Start
        } else {
            let ctx = ctx.clone();
            PipelineStage::Before(
                async move {
                    crate::panic::catch(run_before(&ctx, &endpoint.chain.before), || describe(def)).await
                }
                .boxed(),
            )
        };
        Pipeline { ctx: Held { ctx, spare, spent }, endpoint, stage, upgrade }
    }

    /// After the before-middleware: starts the HTTP handler, or answers for its protocol.
    fn start(&mut self) -> Option<Response> {
        let ctx = &self.ctx.ctx;
        let def = self.endpoint.def;
        match def.handler {
            Handler::Http(h) => {
                let handler = PipelineStage::Handler(h(ctx.clone(), self.ctx.spent.take()));
                let start = std::mem::replace(&mut self.stage, handler);
                // (The stage was `Start`, which holds nothing: no drop to run for it.)
                debug_assert!(matches!(start, PipelineStage::Start));
                std::mem::forget(start);
                None
            }
            Handler::Stream(_) => Some(
                def.kind.answer(ctx, self.upgrade.as_deref()).unwrap_or_else(IntoResponse::into_response),
            ),
        }
    }

    /// After the handler (or the answer, or a refusal): finishes the response `res` in place
    /// (`true`: the stage then `Done`), or takes it into what is still to run before it,
    /// `PipelineStage::Rest`, which is polled next. (In place: the response is not moved on
    /// its way out.)
    fn handler_done(&mut self, res: &mut Response) -> bool {
        if let PipelineStage::Handler(spent) = std::mem::replace(&mut self.stage, PipelineStage::Done) {
            // (The handler's future is over: its box is the next request's.)
            self.ctx.spent = Some(spent);
        }
        let ctx = &self.ctx.ctx;
        let endpoint = self.endpoint;
        if let Some(head) = ctx.http_io().and_then(|io| io.take_head()) {
            // Streamed, and finished before the head was looked for.
            let (ctx, res) = (ctx.clone(), std::mem::take(res));
            self.stage = PipelineStage::Rest(
                async move {
                    let head = run_after(&ctx, &endpoint.chain.after, head).await;
                    end_streamed_body(&ctx, res).await;
                    head
                }
                .boxed(),
            );
            return false;
        }
        ctx.apply_response_parts(res);
        let def = endpoint.def;
        if !endpoint.chain.after.is_empty() {
            let (ctx, res, upgrade) = (ctx.clone(), std::mem::take(res), self.upgrade.take());
            self.stage = PipelineStage::Rest(
                async move {
                    let res = run_after(&ctx, &endpoint.chain.after, res).await;
                    def.kind.open(&ctx, def, upgrade, &res);
                    res
                }
                .boxed(),
            );
            return false;
        }
        if def.kind != RouteKind::Http {
            def.kind.open(ctx, def, self.upgrade.take(), res);
        }
        true
    }

    /// The handler streams: its head is out of the handler. The handler goes on in a task of
    /// its own (its box moves there: it is not wrapped in a second one), once the
    /// after-middleware, if any, has seen the head.
    fn streaming(&mut self, head: Response) -> Option<Response> {
        let PipelineStage::Handler(handler) = std::mem::replace(&mut self.stage, PipelineStage::Done) else {
            unreachable!("only a running handler streams")
        };
        let ctx = self.ctx.ctx.clone();
        let endpoint = self.endpoint;
        let spawn = move |ctx: Context| {
            let def = endpoint.def;
            tokio::spawn(async move {
                let handled = handler.map(|answered| answered.map_err(|never| match never {}));
                let outcome = crate::panic::catch(handled, || describe(def)).await;
                end_streamed_body(&ctx, outcome.unwrap_or_else(IntoResponse::into_response)).await;
            });
        };
        if endpoint.chain.after.is_empty() {
            spawn(ctx);
            return Some(head);
        }
        self.stage = PipelineStage::Rest(
            async move {
                let res = run_after(&ctx, &endpoint.chain.after, head).await;
                spawn(ctx);
                res
            }
            .boxed(),
        );
        None
    }

    /// Polls the pipeline; its response, once there, is handed to `finish` with the request's
    /// Context (what every response gets on its way out) before it is returned.
    ///
    /// Not a `Future`: the response is finished where it was polled to and returned from there,
    /// with no caller between that finishes it again (each move on the way out is a copy of
    /// the response).
    pub(crate) fn poll_finished(
        &mut self,
        cx: &mut std::task::Context<'_>,
        finish: impl FnOnce(&mut Response, &Context),
    ) -> Poll<Answered> {
        loop {
            let mut res = match &mut self.stage {
                PipelineStage::Rest(rest) => {
                    let mut res = std::task::ready!(rest.as_mut().poll(cx));
                    self.stage = PipelineStage::Done;
                    finish(&mut res, &self.ctx.ctx);
                    return Poll::Ready(Ok(res));
                }
                PipelineStage::Before(before) => {
                    let passed = std::task::ready!(before.as_mut().poll(cx));
                    self.stage = PipelineStage::Start;
                    match passed {
                        Ok(()) => continue,
                        Err(e) => e.into_response(), // refused: the handler never starts
                    }
                }
                PipelineStage::Start => match self.start() {
                    Some(res) => res,
                    None => continue,
                },
                PipelineStage::Handler(handler) => {
                    let def = self.endpoint.def;
                    let mut polled =
                        crate::panic::poll_answer(std::pin::Pin::new(handler), cx, || describe(def));
                    if let Poll::Ready(Ok(res)) = &mut polled {
                        if self.handler_done(res) {
                            finish(res, &self.ctx.ctx);
                            return polled;
                        }
                        continue;
                    }
                    let Some(io) = self.ctx.ctx.http_io() else { return Poll::Pending };
                    let head = std::task::ready!(io.poll_head(cx));
                    match self.streaming(head) {
                        Some(mut res) => {
                            finish(&mut res, &self.ctx.ctx);
                            return Poll::Ready(Ok(res));
                        }
                        None => continue,
                    }
                }
                PipelineStage::Done => panic!("a request's future was polled after it completed"),
            };
            if self.handler_done(&mut res) {
                finish(&mut res, &self.ctx.ctx);
                return Poll::Ready(Ok(res));
            }
        }
    }
}

/// What a handler's panic is reported as.
fn describe(def: &RouteDef) -> String {
    format!("handler `{}` ({}:{})", def.name, def.file, def.line)
}

/// A request's Context as its pipeline holds it, with the connection's spare and a handler's
/// box whose future is over (before the handler starts, the last request's; after it ends,
/// its own). When dropped, it tells the Context that nobody waits for a streamed head any
/// more, and gives the Context, emptied, and the box to the connection's spare when nobody
/// else holds the Context.
struct Held {
    ctx: Context,
    /// Where the connection keeps what a request leaves (none behind tower layers).
    spare: Option<Arc<Spare>>,
    /// A handler's box whose future is over.
    spent: Option<ReusableFuture<Answered>>,
}

/// The largest handler's box a connection keeps between requests: an idle connection holds it,
/// and one handler with large locals must not make every idle connection that large.
const KEPT_HANDLER_BYTES: usize = 1024;

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(spare) = &self.spare {
            if self.ctx.retire() {
                // (Nobody else holds the Context: nobody can hand a head to it any more.)
                let handler =
                    self.spent.take().and_then(|mut h| (h.size() <= KEPT_HANDLER_BYTES).then_some(h));
                spare.keep(Kept { ctx: self.ctx.clone(), handler });
                return;
            }
        }
        if let Some(io) = self.ctx.http_io() {
            io.abandon_head();
        }
    }
}

/// Ends a streamed response: cleanly when the handler succeeded, with an aborted body when it
/// failed, `res` being an error's (so the client sees a truncated response, not a complete
/// one).
async fn end_streamed_body(ctx: &Context, res: Response) {
    let Some(io) = ctx.http_io() else { return };
    if let Some(tx) = io.streamed().await {
        if let Some(ErrorMark(e)) = res.extensions().get::<ErrorMark>() {
            let e = Error::new(e.status(), e.message().to_owned());
            tracing::error!(error = %e, "streamed response failed after its head was sent");
            let _ = tx.send(Err(e)).await;
        }
    }
    io.end_stream().await;
}
