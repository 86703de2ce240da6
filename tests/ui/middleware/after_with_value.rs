use fratello::prelude::*;

#[middleware(after = true)]
async fn stamp(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
