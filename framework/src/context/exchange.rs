//! What a Context exchanges with its peer, through its protocol's channel: `send` and `recv`,
//! `closed`, a room forwarded to the client, a socket's subprotocol.

use std::future::Future;

use futures_util::future::Either;
use futures_util::FutureExt;

use super::io::Io;
use super::Context;
use crate::broadcast::{Hub, Subscription};
#[cfg(feature = "ws")]
use crate::error::Error;
use crate::error::Result;
use crate::http::channel::HttpIo;
use crate::message::{Message, Outbound};
#[cfg(feature = "sse")]
use crate::sse::channel::SseIo;
#[cfg(feature = "ws")]
use crate::ws::channel::WsIo;

/// The future a protocol left out of the build would have made (never made).
#[cfg(not(feature = "ws"))]
type Never<T> = std::future::Pending<T>;

impl Context {
    /// Sends to the peer: for HTTP a chunk of a streamed response body (the first call commits
    /// the status and headers, and the handler's return value is then ignored); for a WebSocket
    /// one message; for SSE one event. Fails once the peer has gone.
    pub fn send(&self, item: impl Into<Outbound>) -> impl Future<Output = Result<()>> + Send + '_ {
        let item = item.into();
        let sending = match &self.inner.io {
            // A socket's send is a small future that holds only the message: it is part of
            // every socket handler's future, which lives as long as the socket. The others
            // are boxed so that they do not enlarge it.
            #[cfg(feature = "ws")]
            Io::Ws(io) => Either::Left(io.send(item)),
            Io::Http(io) => {
                let config = &self.app().config;
                let send =
                    io.send(item, || self.take_response_parts(), config.write_timeout, &self.inner.conn);
                Either::Right(Either::Right(send.boxed()))
            }
            // Queued at once while the stream's queue has room: nothing to box then.
            #[cfg(feature = "sse")]
            Io::Sse(io) => Either::Right(match io.send(item) {
                Ok(done) => Either::Left(std::future::ready(done)),
                Err(wait) => Either::Right(wait),
            }),
        };
        #[cfg(not(feature = "ws"))]
        let sending: Either<Never<_>, _> = sending;
        #[cfg(not(feature = "sse"))]
        let sending: Either<_, Either<std::future::Ready<_>, _>> = sending;
        sending
    }

    /// Receives from the peer: for HTTP the next chunk of the request body (read with
    /// backpressure: nothing more is read from the socket until you ask), for a WebSocket the
    /// next text or binary message. `None` at the end.
    pub fn recv(&self) -> impl Future<Output = Result<Option<Message>>> + Send + '_ {
        let receiving = match &self.inner.io {
            #[cfg(feature = "ws")]
            Io::Ws(io) => Either::Left(io.recv()),
            Io::Http(io) => Either::Right(io.recv(self.app().config.body_read_timeout).boxed()),
            #[cfg(feature = "sse")]
            Io::Sse(_) => Either::Right(std::future::ready(Ok(None)).boxed()),
        };
        #[cfg(not(feature = "ws"))]
        let receiving: Either<Never<_>, _> = receiving;
        receiving
    }

    /// Completes once the peer has gone: the socket closed, the SSE client left, the streamed
    /// HTTP response's client disconnected. (A plain HTTP handler that has not streamed cannot
    /// tell, and this never completes for it.) Use it to stop work nobody will receive:
    ///
    /// ```ignore
    /// tokio::select! {
    ///     () = ctx.closed() => return Ok(()),
    ///     tick = feed.recv() => ctx.send(tick?).await?,
    /// }
    /// ```
    pub fn closed(&self) -> impl Future<Output = ()> + Send + '_ {
        let closing = match &self.inner.io {
            #[cfg(feature = "ws")]
            Io::Ws(io) => Either::Left(io.closed()),
            Io::Http(io) => Either::Right(io.closed().boxed()),
            #[cfg(feature = "sse")]
            Io::Sse(io) => Either::Right(io.closed().boxed()),
        };
        #[cfg(not(feature = "ws"))]
        let closing: Either<Never<_>, _> = closing;
        closing
    }

    /// The app's broadcast hub: rooms that any handler can publish to and subscribe to.
    pub fn hub(&self) -> &Hub {
        &self.app().hub
    }

    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    /// Chooses the WebSocket subprotocol, from a before-middleware of a `#[ws]` route: it must
    /// be one the client offered (a 400 otherwise). Without a choice, the first of
    /// [`WsConfig::protocols`](crate::ws::WsConfig::protocols) that the client offers is used.
    pub fn set_protocol(&self, protocol: &str) -> Result<()> {
        let Some(io) = self.ws_io() else {
            return Err(Error::internal("set_protocol is for #[ws] routes"));
        };
        let Some(place) = self.protocols().iter().position(|p| *p == protocol) else {
            return Err(Error::bad_request(format!("the client did not offer the subprotocol `{protocol}`")));
        };
        io.lock().protocol = u16::try_from(place).ok();
        Ok(())
    }

    #[cfg(feature = "ws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
    /// The WebSocket subprotocol in use, if one was chosen.
    pub fn protocol(&self) -> Option<String> {
        let place = self.ws_io()?.lock().protocol?;
        self.protocols().get(usize::from(place)).map(|p| (*p).to_owned())
    }

    pub(crate) fn http_io(&self) -> Option<&HttpIo> {
        match &self.inner.io {
            Io::Http(io) => Some(io),
            #[allow(unreachable_patterns)] // (with WebSocket and SSE left out of the build)
            _ => None,
        }
    }

    #[cfg(feature = "ws")]
    pub(crate) fn ws_io(&self) -> Option<&WsIo> {
        match &self.inner.io {
            Io::Ws(io) => Some(io),
            _ => None,
        }
    }

    #[cfg(feature = "sse")]
    pub(crate) fn sse_io(&self) -> Option<&SseIo> {
        match &self.inner.io {
            Io::Sse(io) => Some(io),
            _ => None,
        }
    }
}

impl Subscription {
    /// Sends every message of the room to `ctx` until the client goes away (`Ok`), or this
    /// receiver is dropped for being too slow (`Err`).
    ///
    /// While the client's own queue is full (it reads more slowly than the room talks), the
    /// messages wait in the room; if the room drops them before the client has room for them,
    /// they are lost for it and counted in [`lagged`](Self::lagged). To a WebSocket, messages
    /// go from the room straight into the socket's queue, as many at once as it takes (one
    /// write for a burst); an SSE stream's response body reads the room itself, one chunk per
    /// message as its connection writes. A value the client cannot carry (bytes, to an SSE
    /// stream) is skipped.
    pub async fn forward(mut self, ctx: Context) -> Result<()> {
        #[cfg(feature = "ws")]
        if let Some(io) = ctx.ws_io() {
            return io.forward(&mut self).await;
        }
        #[cfg(feature = "sse")]
        if let Some(io) = ctx.sse_io() {
            return io.forward(self).await;
        }
        let closed = ctx.closed();
        let mut closed = std::pin::pin!(closed);
        loop {
            let m = tokio::select! {
                biased;
                m = self.recv() => m?,
                () = &mut closed => return Ok(()),
            };
            let send = ctx.send(m);
            let mut send = std::pin::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    sent = &mut send => {
                        if sent.is_err() {
                            return Ok(()); // the client is gone
                        }
                        break;
                    }
                    n = self.fell_behind() => self.lost(n)?,
                    () = &mut closed => return Ok(()),
                }
            }
        }
    }
}
