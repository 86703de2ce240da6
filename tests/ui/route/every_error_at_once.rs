use fratello::prelude::*;

#[post("users/{id}/{id}", wiht(auth), with(auth))]
fn create(_ctx: Context, _body: String) -> &'static str {
    "created"
}

fn main() {}
