use fratello::prelude::*;

#[route("/hello")]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
