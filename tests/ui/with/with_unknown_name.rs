use fratello::prelude::*;

#[get("/hello", with(auth))]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
