use fratello::prelude::*;

const HELLO: &str = "/hello";

#[get(HELLO)]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

#[get(concat!("/a", "/b"))]
async fn ab(_ctx: Context) -> &'static str {
    "ab"
}

fn main() {}
