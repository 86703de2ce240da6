//! fratello over TLS: `App::serve_tls_with`, the certificate from `TLS_CERT` and `TLS_KEY`
//! (`TlsConfig::from_pem_files`), its defaults otherwise. The routes are in
//! `fratello_bench::fratello_app`.

fn main() -> Result<(), fratello::StartupError> {
    let addr = fratello_bench::addr();
    let (cert, key) = fratello_bench::tls::files();
    let tls = fratello::tls::TlsConfig::from_pem_files(cert, key)?;
    fratello_bench::runtime().block_on(async move {
        let listener = fratello::server::bind(addr).await?;
        fratello_bench::fratello_app::app()
            .serve_tls_with(listener, tls, fratello::server::shutdown_signal())
            .await
    })
}
