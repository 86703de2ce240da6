use fratello::prelude::*;

#[get("/files/{*}")]
async fn file(_ctx: Context) -> &'static str {
    "file"
}

fn main() {}
