use fratello::prelude::*;

#[middleware(route, path = "/api")]
async fn scoped(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(route, order = 3)]
async fn ordered(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(route = true)]
async fn valued(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
