use fratello::prelude::*;

#[get("")]
async fn root(_ctx: Context) -> &'static str {
    "root"
}

fn main() {}
