use fratello::prelude::*;

struct UserId(u64);

#[get("/users/{id: UserId}")]
async fn user(ctx: Context) -> String {
    ctx.param("id").unwrap_or_default().to_owned()
}

fn main() {}
