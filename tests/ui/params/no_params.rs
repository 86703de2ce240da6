use fratello::prelude::*;

#[sse("/news")]
async fn news(ctx: Context) -> Result<()> {
    let topic = format!("{}", ctx.param("topic").unwrap_or("all"));
    ctx.send(topic).await
}

fn main() {}
