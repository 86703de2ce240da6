use fratello::prelude::*;

#[get("/hello", method = "POST")]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
