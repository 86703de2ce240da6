use fratello::prelude::*;

#[middleware(path = "/users/{id}")]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "api")]
async fn api(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
