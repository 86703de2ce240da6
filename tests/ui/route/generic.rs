use fratello::prelude::*;

#[get("/hello")]
async fn hello<T>(_ctx: Context) -> &'static str
where
    T: Default,
{
    "hello"
}

fn main() {}
