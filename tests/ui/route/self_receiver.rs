use fratello::prelude::*;

struct Api;

impl Api {
    #[get("/hello")]
    async fn hello(&self) -> &'static str {
        "hello"
    }
}

fn main() {}
