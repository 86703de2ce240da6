//! fratello, written as its README shows, with its defaults. The routes are in
//! `fratello_bench::fratello_app`. With `FRATELLO_REDIS=redis://HOST:PORT/`, its hub is on
//! that Redis (crate `fratello-redis`): several of these servers share their rooms.

fn main() -> Result<(), fratello::StartupError> {
    let addr = fratello_bench::addr();
    fratello_bench::runtime().block_on(async move {
        let mut app = fratello_bench::fratello_app::app();
        if let Ok(url) = std::env::var("FRATELLO_REDIS") {
            let redis = fratello_redis::RedisBackend::connect(&url).await?;
            app =
                app.with_hub(fratello::Hub::with_backend(fratello_bench::fratello_app::hub_config(), redis));
        }
        let listener = fratello::server::bind(addr).await?;
        app.serve_with(listener, fratello::server::shutdown_signal()).await
    })
}
