use fratello::prelude::*;

#[get("/hello")]
async fn hello(_ctx: &Context) -> &'static str {
    "hello"
}

fn main() {}
