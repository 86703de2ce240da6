use fratello::prelude::*;

#[get("users/{id}")]
async fn user(_ctx: Context) -> &'static str {
    "user"
}

fn main() {}
