use fratello::prelude::*;

#[get("/files/{*rest}/raw")]
async fn file(_ctx: Context) -> &'static str {
    "file"
}

fn main() {}
