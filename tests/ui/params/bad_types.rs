use fratello::prelude::*;

#[get("/files/{*path: String}")]
async fn file(_ctx: Context) -> &'static str {
    "file"
}

#[get("/items/{id:}")]
async fn item(_ctx: Context) -> &'static str {
    "item"
}

#[get("/things/{id: 42}")]
async fn thing(_ctx: Context) -> &'static str {
    "thing"
}

#[middleware(path = "/users/{id: u32}")]
async fn guard(_ctx: Context) {}

fn main() {}
