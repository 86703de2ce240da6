use fratello::prelude::*;

#[get]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
