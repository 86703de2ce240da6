use fratello::prelude::*;

#[middleware]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

#[get("/hello", with(auth), with(auth))]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

#[get("/a", "/b")]
async fn two_paths(_ctx: Context) -> &'static str {
    "two paths"
}

fn main() {}
