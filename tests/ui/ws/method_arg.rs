use fratello::prelude::*;

#[ws("/chat", method = "POST")]
async fn chat(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
