//! HTTPS (feature `tls`): the app served over TLS by [`App::serve_tls`](crate::App::serve_tls),
//! with HTTP/2 chosen by ALPN, `wss://` WebSockets, and certificates reloaded from disk.
//!
//! ```no_run
//! use fratello::prelude::*;
//! use fratello::tls::TlsConfig;
//!
//! #[get("/")]
//! async fn index(_ctx: Context) -> &'static str {
//!     "hello over TLS"
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), fratello::StartupError> {
//!     let tls = TlsConfig::reloading("cert.pem", "key.pem")?; // a bad file: the error names it
//!     App::new().serve_tls("0.0.0.0:443", tls).await
//! }
//! ```
//!
//! # The feature
//!
//! `tls` is off by default: it adds a crypto library to every build (compiled C and assembly),
//! and many deployments end TLS at a load balancer or proxy in front of the app. Turn it on
//! with `fratello = { version = "..", features = ["tls"] }`. The test client speaks TLS with
//! `tls` and `test-util` together ([`TestClient::start_tls`](crate::test::TestClient)).
//!
//! # rustls, on *ring*
//!
//! TLS is [rustls](https://docs.rs/rustls) 0.23 through tokio-rustls, with PEM parsed by
//! rustls-pki-types: no TLS or PEM code of fratello's own. Its crypto provider is *ring*,
//! named explicitly rather than taken from rustls's process-wide default: *ring* builds with a
//! C compiler alone, where aws-lc-rs (rustls's default) also needs cmake, and nasm on some
//! targets, which a fresh CI machine or a slim container image lacks. Both give TLS 1.3 and
//! 1.2 with the same modern cipher suites. For aws-lc-rs (post-quantum key exchange, FIPS),
//! build a `rustls::ServerConfig` on it and pass it to [`TlsConfig::from_rustls`].
//!
//! # What a connection goes through
//!
//! - The TLS handshake runs in the connection's own task, never in the accept loop, within
//!   [`TlsConfig::handshake_timeout`] (10 s by default; the header read timeout starts after
//!   it). A client that sends plain HTTP to the TLS port, stalls its handshake, names a server
//!   the configuration has no certificate for, or otherwise fails the handshake is logged at
//!   `debug` and disconnected; the server and its other connections go on.
//! - ALPN offers `h2` (with the `http2` feature) and `http/1.1`: a client that chooses `h2` is
//!   served HTTP/2, any other (or one that sends no ALPN) HTTP/1.1. WebSockets upgrade on
//!   HTTP/1.1 connections (`wss://`); SSE streams work on both.
//! - From there the connection is served exactly as a cleartext one: the same limits, idle
//!   and header read timeouts, connection limits, and graceful shutdown (sockets closed with
//!   1001, SSE streams ended with their retry hint).
//! - No client certificate is asked for: one sent anyway is ignored. To require them, pass a
//!   configuration with a client verifier to [`TlsConfig::from_rustls`].
//!
//! # Certificates
//!
//! [`TlsConfig::from_pem_files`] and [`TlsConfig::from_pem`] read a chain and key once;
//! [`TlsConfig::reloading`] reads them again when the files change (see there); and
//! [`TlsConfig::from_rustls`] takes any rustls configuration. One certificate is served
//! whatever name the client asks for (SNI); several, chosen by name, take a rustls
//! configuration with a resolver such as `rustls::server::ResolvesServerCertUsingSni`.

pub(crate) mod accept;
mod config;
mod keys;
mod reload;

pub use self::config::TlsConfig;

/// The rustls crate that [`TlsConfig::from_rustls`] takes a configuration of (and its
/// `pki_types`, for certificates in DER).
pub use rustls;
