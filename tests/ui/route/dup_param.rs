use fratello::prelude::*;

#[get("/a/{id}/b/{id}")]
async fn pair(_ctx: Context) -> &'static str {
    "pair"
}

fn main() {}
