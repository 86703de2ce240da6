use fratello::prelude::*;

#[get("/range/{from}-{to}")]
async fn range(_ctx: Context) -> &'static str {
    "range"
}

fn main() {}
