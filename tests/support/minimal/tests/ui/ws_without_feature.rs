use fratello::prelude::*;

#[ws("/chat")]
async fn chat(ctx: Context) -> Result<()> {
    ctx.send("hi").await
}

fn main() {}
