use fratello::prelude::*;

struct Auth;

#[get("/hello", with(Auth))]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
