use fratello::prelude::*;

#[middleware(order = 1, path = "/api", order = 2)]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
