use fratello::prelude::*;

#[sse("/prices")]
async fn prices(_ctx: Context) -> Result<u64> {
    Ok(42)
}

fn main() {}
