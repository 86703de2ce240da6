use fratello::prelude::*;

#[get("/users/{}")]
async fn user(_ctx: Context) -> &'static str {
    "user"
}

fn main() {}
