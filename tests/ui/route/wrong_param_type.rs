use fratello::prelude::*;

#[get("/hello")]
async fn hello(_req: String) -> &'static str {
    "hello"
}

fn main() {}
