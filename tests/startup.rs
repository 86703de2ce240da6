//! Startup checks: a route clash names both declarations; an empty selection says so; a
//! state that a route or its middleware declares must be there; errors print as their
//! message alone.

use fratello::prelude::*;
use fratello::test::TestClient;

mod clash {
    use fratello::prelude::*;

    #[get("/things/{id}")]
    pub async fn first(_ctx: Context) -> &'static str {
        "first"
    }

    #[route("/things/{thing}", method = ["POST", "GET"])]
    pub async fn second(_ctx: Context) -> &'static str {
        "second"
    }
}

mod fine {
    use fratello::prelude::*;

    #[get("/fine")]
    pub async fn fine(_ctx: Context) -> &'static str {
        "fine"
    }
}

mod polls {
    use fratello::prelude::*;

    #[derive(Default)]
    pub struct Polls(pub Vec<&'static str>);

    pub struct Voters;

    #[middleware(route, state(Voters))]
    pub async fn voters_only(_ctx: Context) -> Result<()> {
        Ok(())
    }

    #[get("/polls", state(Polls))]
    pub async fn list(ctx: Context) -> Result<String> {
        Ok(ctx.state::<Polls>()?.0.join(","))
    }

    #[post("/polls/vote", with(voters_only))]
    pub async fn vote(_ctx: Context) -> &'static str {
        "voted"
    }

    pub struct Forgotten;

    /// Reads a state it does not declare: only the request finds out.
    #[get("/polls/undeclared")]
    pub async fn undeclared(ctx: Context) -> Result<&'static str> {
        ctx.state::<Forgotten>()?;
        Ok("never")
    }
}

#[tokio::test]
async fn declared_state_is_checked_before_serving() {
    use polls::{Polls, Voters};
    let app = || App::only(concat!(module_path!(), "::polls"));

    let err = app().state(Voters).check().unwrap_err();
    let line = format!("{err:?}");
    assert_eq!(line, err.to_string(), "Debug prints the message alone");
    assert!(line.starts_with("route `GET /polls` (tests/startup.rs:"), "{line}");
    assert!(
        line.contains("declares `state(Polls)`, but the app has no `Polls`: add one with `App::state(..)`"),
        "{line}"
    );

    let err = app().state(Polls::default()).check().unwrap_err().to_string();
    assert!(err.starts_with("middleware `voters_only` (tests/startup.rs:"), "{err}");
    assert!(err.contains("declares `state(Voters)` and runs for route `POST /polls/vote`"), "{err}");
    // `routes()` says why too, instead of listing nothing.
    assert!(app().routes().is_err());

    let c = TestClient::start(app().state(Polls(vec!["tabs", "spaces"])).state(Voters)).await;
    assert_eq!(c.get("/polls").send().await.text(), "tabs,spaces");
    assert_eq!(c.post("/polls/vote").send().await.text(), "voted");
    // A state read without being declared is still a 500 at run time, and the client is
    // told nothing of the app's types.
    let res = c.get("/polls/undeclared").send().await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!res.text().contains("Forgotten") && !res.text().contains("::"), "{}", res.text());
}

#[tokio::test]
async fn clashing_routes_fail_at_startup_naming_both() {
    let err = TestClient::try_start(App::only(concat!(module_path!(), "::clash")))
        .await
        .err()
        .expect("a clash must not start");
    let msg = err.to_string();
    assert!(msg.contains("two routes answer GET /things/"), "{msg}");
    assert!(msg.contains("tests/startup.rs:11"), "first declaration missing: {msg}");
    assert!(msg.contains("tests/startup.rs:16"), "second declaration missing: {msg}");
    assert!(App::only(concat!(module_path!(), "::clash")).check().is_err());
}

#[tokio::test]
async fn an_empty_selection_is_an_error_not_a_404_server() {
    let err = TestClient::try_start(App::only("no_such_module")).await.err().expect("must not start");
    let msg = err.to_string();
    assert!(msg.contains("selects no routes"), "{msg}");
    assert!(msg.contains("startup::fine"), "it lists the modules that have routes: {msg}");
}

#[tokio::test]
async fn a_valid_selection_serves() {
    let c = TestClient::start(App::only(concat!(module_path!(), "::fine"))).await;
    assert_eq!(c.get("/fine").send().await.text(), "fine");
    // Prefix matching is by module segment: `startup::fin` is not `startup::fine`.
    assert!(App::only(concat!(module_path!(), "::fin")).check().is_err());
}
