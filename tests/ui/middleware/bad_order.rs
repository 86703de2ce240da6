use fratello::prelude::*;

#[middleware(order = "first")]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(order = 3_000_000_000)]
async fn huge(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
