use fratello::prelude::*;

#[get("/files/{name}.{{json}}")]
async fn file(_ctx: Context) -> &'static str {
    "file"
}

fn main() {}
