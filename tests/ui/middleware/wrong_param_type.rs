use fratello::prelude::*;

#[middleware]
async fn auth(_req: u32) -> Result<()> {
    Ok(())
}

fn main() {}
