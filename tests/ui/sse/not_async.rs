use fratello::prelude::*;

#[sse("/prices")]
fn prices(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
