use fratello::prelude::*;

// A pattern scope is fine when each parameter is a whole segment...
#[middleware(path = "/polls/{id}/vote")]
async fn voter(_ctx: Context) -> Result<()> {
    Ok(())
}

// ...but not when a segment mixes text and a parameter.
#[middleware(path = "/img{id}.png")]
async fn images(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
