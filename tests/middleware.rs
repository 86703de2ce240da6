//! Middleware over real sockets: order, short-circuit, attributes, scopes (global, by path
//! prefix or pattern, by route), `with` in the order written, after, declared state.

use fratello::prelude::*;
use fratello::test::TestClient;

/// Appends a step to the `Trace` attribute so a handler can show the order that ran.
#[derive(Clone, Default)]
struct Trace(Vec<&'static str>);

fn step(ctx: &Context, name: &'static str) {
    let mut t: Trace = ctx.get().unwrap_or_default();
    t.0.push(name);
    ctx.set(t);
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);

// Declared out of order on purpose: (order, name) decides, not source or link order.
#[middleware(order = 5)]
async fn b_second(ctx: Context) -> Result<()> {
    step(&ctx, "b_second");
    Ok(())
}

#[middleware(order = 5)]
async fn a_first_of_five(ctx: Context) -> Result<()> {
    step(&ctx, "a_first_of_five");
    Ok(())
}

#[middleware(order = -1)]
async fn earliest(ctx: Context) {
    step(&ctx, "earliest");
}

#[middleware(path = "/api", order = 10)]
async fn auth(ctx: Context) -> Result<()> {
    step(&ctx, "auth");
    let token = ctx.header("authorization").ok_or_else(|| Error::unauthorized("missing token"))?;
    let name = token.strip_prefix("Bearer ").ok_or_else(|| Error::unauthorized("expected a bearer token"))?;
    ctx.set(User(name.to_owned()));
    Ok(())
}

#[middleware(route)]
async fn only_where_named(ctx: Context) -> Result<()> {
    step(&ctx, "only_where_named");
    if ctx.header("x-deny").is_some() {
        return Err(Error::forbidden("denied by only_where_named"));
    }
    Ok(())
}

#[middleware(after)]
async fn stamp(ctx: Context) -> Result<()> {
    ctx.set_header("x-status-seen", ctx.response_status().as_str());
    ctx.set_header("x-stamp", "1");
    Ok(())
}

#[middleware(after, path = "/api/teapot")]
async fn to_teapot(ctx: Context) -> Result<()> {
    ctx.set_status(StatusCode::IM_A_TEAPOT);
    ctx.set_body("short and stout");
    Ok(())
}

fn trace(ctx: &Context) -> String {
    ctx.get::<Trace>().unwrap_or_default().0.join(",")
}

#[get("/open")]
async fn open(ctx: Context) -> String {
    trace(&ctx)
}

#[get("/api/me")]
async fn api_me(ctx: Context) -> Result<String> {
    let user: User = ctx.get().ok_or_else(|| Error::internal("auth did not run"))?;
    Ok(format!("{} via {}", user.0, trace(&ctx)))
}

#[get("/guarded", with(only_where_named))]
async fn guarded(ctx: Context) -> String {
    trace(&ctx)
}

/// A session, then the user it names: `fetch_user` needs `session` to have run.
#[middleware(route)]
async fn session(ctx: Context) {
    step(&ctx, "session");
}

#[middleware(route)]
async fn fetch_user(ctx: Context) -> Result<()> {
    step(&ctx, "fetch_user");
    if !trace(&ctx).contains("session") {
        return Err(Error::internal("fetch_user ran before session"));
    }
    Ok(())
}

// `fetch_user` sorts before `session` by name: the written order wins.
#[get("/written", with(session, fetch_user))]
async fn written(ctx: Context) -> String {
    trace(&ctx)
}

#[get("/written-other-way", with(only_where_named, session))]
async fn written_other_way(ctx: Context) -> String {
    trace(&ctx)
}

/// Covers exactly the vote routes of every poll, however their handlers are declared.
#[middleware(path = "/polls/{id}/vote")]
async fn voter(ctx: Context) -> Result<()> {
    step(&ctx, "voter");
    ctx.header("x-voter").map(drop).ok_or_else(|| Error::unauthorized("only voters vote"))
}

#[get("/polls/{id}")]
async fn poll(ctx: Context) -> String {
    trace(&ctx)
}

#[post("/polls/{id}/vote")]
async fn vote(ctx: Context) -> String {
    trace(&ctx)
}

/// The same for surveys, whose one route serves every action.
#[middleware(path = "/surveys/{id}/vote")]
async fn survey_voter(ctx: Context) -> Result<()> {
    step(&ctx, "survey_voter");
    ctx.header("x-voter").map(drop).ok_or_else(|| Error::unauthorized("only voters vote"))
}

#[get("/surveys/{id}/{action}")]
async fn survey_action(ctx: Context) -> String {
    trace(&ctx)
}

#[get("/api/teapot")]
async fn teapot(_ctx: Context) -> &'static str {
    "coffee"
}

#[post("/api/never")]
async fn never(_ctx: Context) -> &'static str {
    panic!("the handler must not run when auth refuses")
}

async fn client() -> TestClient {
    TestClient::start(App::only(module_path!())).await
}

#[tokio::test]
async fn global_order_is_order_then_name() {
    let c = client().await;
    let res = c.get("/open").send().await;
    assert_eq!(res.text(), "earliest,a_first_of_five,b_second");
    assert_eq!(res.header("x-stamp"), Some("1"));
    assert_eq!(res.header("x-status-seen"), Some("200"));
}

#[tokio::test]
async fn path_scoped_auth_passes_the_user_to_the_handler() {
    let c = client().await;
    let res = c.get("/api/me").header("authorization", "Bearer ada").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "ada via earliest,a_first_of_five,b_second,auth");
}

#[tokio::test]
async fn an_error_stops_the_chain_and_is_the_response() {
    let c = client().await;
    let res = c.get("/api/me").send().await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.text(), "missing token");
    // After-middleware still sees (and stamps) the refusal.
    assert_eq!(res.header("x-status-seen"), Some("401"));
    let res = c.post("/api/never").header("authorization", "nope").send().await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.text(), "expected a bearer token");
    let res = c.get("/api/me").header("accept", "application/json").send().await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json::<serde_json::Value>()["error"]["message"], "missing token");
}

#[tokio::test]
async fn with_runs_only_where_named() {
    let c = client().await;
    assert_eq!(c.get("/guarded").send().await.text(), "earliest,a_first_of_five,b_second,only_where_named");
    assert!(!c.get("/open").send().await.text().contains("only_where_named"));
    let res = c.get("/guarded").header("x-deny", "1").send().await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn with_runs_in_the_order_written_after_global_and_path_middleware() {
    let c = client().await;
    assert_eq!(c.get("/written").send().await.text(), "earliest,a_first_of_five,b_second,session,fetch_user");
    assert_eq!(
        c.get("/written-other-way").send().await.text(),
        "earliest,a_first_of_five,b_second,only_where_named,session"
    );
}

#[tokio::test]
async fn a_path_pattern_scopes_a_middleware_to_the_routes_it_matches() {
    let c = client().await;
    assert_eq!(c.get("/polls/7").send().await.text(), "earliest,a_first_of_five,b_second");
    assert_eq!(c.post("/polls/7/vote").send().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.post("/polls/7/vote").header("x-voter", "1").send().await.text(),
        "earliest,voter,a_first_of_five,b_second" // (order 0, between -1 and 5)
    );
    // A route that only sometimes serves a vote path runs the guard for those requests only.
    assert_eq!(c.get("/surveys/7/vote").send().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get("/surveys/7/%76ote").send().await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get("/surveys/7/results").send().await.text(), "earliest,a_first_of_five,b_second");
}

#[tokio::test]
async fn after_middleware_changes_the_response() {
    let c = client().await;
    let res = c.get("/api/teapot").header("authorization", "Bearer x").send().await;
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(res.text(), "short and stout");
    assert_eq!(res.header("x-stamp"), Some("1"));
}

#[tokio::test]
async fn routes_show_each_chain_with_scopes() {
    use fratello::routing::Scope;

    let routes = App::only(module_path!()).routes().unwrap();
    let me = routes.iter().find(|r| r.path == "/api/me").unwrap();
    assert_eq!(me.middleware_names(), ["earliest", "a_first_of_five", "b_second", "auth", "stamp"]);
    assert_eq!(me.middleware[3].scope, Scope::Path("/api"));
    assert_eq!(me.middleware[0].scope, Scope::Global);
    assert!(me.middleware[4].after);
    let written = routes.iter().find(|r| r.path == "/written").unwrap();
    assert_eq!(&written.middleware_names()[3..5], ["session", "fetch_user"]);
    assert_eq!(written.middleware[3].scope, Scope::Route);
    let line = written.to_string();
    assert!(line.contains("session (route) → fetch_user (route)"), "{line}");
    assert!(line.contains("earliest (global)"), "{line}");
    let vote = routes.iter().find(|r| r.path == "/polls/{id}/vote").unwrap();
    assert!(vote.to_string().contains("voter (path /polls/{id}/vote)"), "{vote}");
    let poll = routes.iter().find(|r| r.path == "/polls/{id}").unwrap();
    assert!(!poll.middleware_names().contains(&"voter"));
}
