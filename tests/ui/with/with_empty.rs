use fratello::prelude::*;

#[get("/hello", with())]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
