use fratello::prelude::*;

#[middleware]
async fn auth(_ctx: Context) -> bool {
    true
}

fn main() {}
