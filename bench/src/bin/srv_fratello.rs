//! fratello, written as its README shows, with its defaults. The routes are in
//! `fratello_bench::fratello_app`.

fn main() -> Result<(), fratello::StartupError> {
    let addr = fratello_bench::addr();
    fratello_bench::runtime().block_on(async move {
        let listener = fratello::server::bind(addr).await?;
        fratello_bench::fratello_app::app().serve_with(listener, fratello::server::shutdown_signal()).await
    })
}
