use fratello::prelude::*;

struct Page;

#[get("/page")]
async fn page(_ctx: Context) -> Page {
    Page
}

fn main() {}
