use fratello::prelude::*;

#[middleware(priority = 1)]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
