use fratello::prelude::*;

#[get("/users/{id")]
async fn user(_ctx: Context) -> &'static str {
    "user"
}

#[get("/posts/id}")]
async fn post(_ctx: Context) -> &'static str {
    "post"
}

fn main() {}
