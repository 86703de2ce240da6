use std::rc::Rc;

use fratello::prelude::*;

struct Polls;

// Not app state: `App::state` takes `Send + Sync` values.
#[get("/polls", state(Rc<Polls>))]
async fn polls(_ctx: Context) -> &'static str {
    "polls"
}

// A type that does not exist.
#[get("/votes", state(Votes))]
async fn votes(_ctx: Context) -> &'static str {
    "votes"
}

fn main() {}
