//! Raw hyper 1 (+ tokio-tungstenite for WebSocket): the ceiling for anything built on hyper.
//! The code is in `fratello_bench::hyper_peer`.

fn main() {
    let addr = fratello_bench::addr();
    fratello_bench::runtime().block_on(async move {
        fratello_bench::hyper_peer::serve(fratello_bench::listen(addr).await).await;
    });
}
