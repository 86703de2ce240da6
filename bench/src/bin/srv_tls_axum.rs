//! axum 0.8 over TLS with axum-server 0.9 (its rustls acceptor on *ring*), the certificate
//! from `TLS_CERT` and `TLS_KEY`.

use axum::routing::get;
use axum::Router;

fn main() {
    let addr = fratello_bench::addr();
    let app = Router::new().route("/plaintext", get(|| async { fratello_bench::PLAINTEXT }));
    let config = axum_server::tls_rustls::RustlsConfig::from_config(fratello_bench::tls::server_config());
    fratello_bench::runtime().block_on(async move {
        let listener = fratello_bench::listen(addr).await.into_std().expect("into_std");
        axum_server::from_tcp_rustls(listener, config)
            .expect("a listener")
            .serve(app.into_make_service())
            .await
            .expect("serve");
    });
}
