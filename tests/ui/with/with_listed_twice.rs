use fratello::prelude::*;

#[middleware]
async fn auth(_ctx: Context) -> Result<()> {
    Ok(())
}

#[get("/hello", with(auth, auth))]
async fn hello(_ctx: Context) -> &'static str {
    "hello"
}

fn main() {}
