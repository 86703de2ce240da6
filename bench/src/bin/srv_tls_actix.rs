//! actix-web 4 over TLS (`listen_rustls_0_23`, rustls on *ring*), the certificate from
//! `TLS_CERT` and `TLS_KEY`.

use actix_web::{web, App, HttpServer};

fn main() -> std::io::Result<()> {
    let addr = fratello_bench::addr();
    let listener = fratello_bench::std_listener(addr);
    let config = std::sync::Arc::unwrap_or_clone(fratello_bench::tls::server_config());
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new().route("/plaintext", web::get().to(|| async { fratello_bench::PLAINTEXT }))
        })
        .workers(fratello_bench::workers())
        .backlog(1024)
        .max_connections(100_000)
        .listen_rustls_0_23(listener, config)?
        .run()
        .await
    })
}
