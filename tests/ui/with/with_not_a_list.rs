use fratello::prelude::*;

#[middleware]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

#[get("/hello", with = auth)]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

#[get("/bye", with("auth"))]
async fn bye(_ctx: Context) -> &'static str {
    "bye"
}

fn main() {}
