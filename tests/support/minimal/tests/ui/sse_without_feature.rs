use fratello::prelude::*;

#[sse("/ticks")]
async fn ticks(ctx: Context) -> Result<()> {
    ctx.send("tick").await
}

fn main() {}
