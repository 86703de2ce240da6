//! Startup checks: a route clash names both declarations; an empty selection says so.

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

#[tokio::test]
async fn clashing_routes_fail_at_startup_naming_both() {
    let err = TestClient::try_start(App::only(concat!(module_path!(), "::clash")))
        .await
        .err()
        .expect("a clash must not start");
    let msg = err.to_string();
    assert!(msg.contains("two routes answer GET /things/"), "{msg}");
    assert!(msg.contains("tests/startup.rs:9"), "first declaration missing: {msg}");
    assert!(msg.contains("tests/startup.rs:14"), "second declaration missing: {msg}");
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
