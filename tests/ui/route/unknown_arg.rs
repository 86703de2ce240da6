use fratello::prelude::*;

#[get("/hello", name = "greeting")]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
