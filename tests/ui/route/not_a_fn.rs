use fratello::prelude::*;

#[get("/hello")]
struct Hello;

fn main() {}
