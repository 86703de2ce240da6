use fratello::prelude::*;

#[middleware]
fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
