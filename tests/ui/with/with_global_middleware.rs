use fratello::prelude::*;

// Global: it runs for every route already, so naming it in `with` is a mistake.
#[middleware]
async fn audit(_ctx: Context) -> Result<()> {
    Ok(())
}

#[middleware(path = "/admin")]
async fn admin_only(_ctx: Context) -> Result<()> {
    Ok(())
}

#[get("/admin/users", with(audit, admin_only))]
async fn users(_ctx: Context) -> &'static str {
    "users"
}

fn main() {}
