use fratello::prelude::*;

#[get("/users/{id}/posts/{post_id}")]
async fn post(ctx: Context) -> Result<String> {
    let user: u64 = ctx.param_as("idd")?;
    let post = ctx.param("postid").unwrap_or_default();
    Ok(format!("{user} {post}"))
}

#[ws("/rooms/{room}")]
async fn room(ctx: Context) -> Result<()> {
    let c = ctx.clone();
    let name = c.param("name").unwrap_or_default().to_owned();
    ctx.send(name).await
}

fn main() {}
