use fratello::prelude::*;

#[get("/users/{user-id}")]
async fn user(_ctx: Context) -> &'static str {
    "user"
}

fn main() {}
