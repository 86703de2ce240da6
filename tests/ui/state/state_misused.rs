use fratello::prelude::*;

struct Polls;

#[get("/a", state())]
async fn a(_ctx: Context) -> &'static str {
    "a"
}

#[get("/b", state(Polls, Polls))]
async fn b(_ctx: Context) -> &'static str {
    "b"
}

#[get("/c", state = Polls)]
async fn c(_ctx: Context) -> &'static str {
    "c"
}

#[middleware(state(Polls), state(Polls))]
async fn twice(_ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
