use fratello::prelude::*;

#[get("/hello")]
fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
