use fratello::prelude::*;

#[ws("/chat")]
async fn chat() -> Result<()> {
    Ok(())
}

fn main() {}
