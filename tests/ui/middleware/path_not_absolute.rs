use fratello::prelude::*;

#[middleware(path = "api")]
async fn api(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
