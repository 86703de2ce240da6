use fratello::prelude::*;

#[route("/hello", method = "FETCH")]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

#[route("/lower", method = ["GET", "post"])]
async fn lower(_ctx: Context) -> &'static str {
    "lower"
}

#[route("/twice", method = ["GET", "PUT", "GET"])]
async fn twice(_ctx: Context) -> &'static str {
    "twice"
}

fn main() {}
