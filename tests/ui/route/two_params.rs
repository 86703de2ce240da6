use fratello::prelude::*;

#[get("/users/{id}")]
async fn user(_ctx: Context, id: u64) -> String {
    id.to_string()
}

fn main() {}
