use fratello::prelude::*;

#[ws("/chat")]
async fn chat(_ctx: Context) -> String {
    String::from("hi")
}

fn main() {}
