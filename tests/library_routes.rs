//! Routes declared in a library crate are found by `App::new()` in a binary that uses it.

use fratello::prelude::*;
use fratello::test::TestClient;

#[tokio::test]
async fn routes_from_a_dependency_are_registered() {
    // Using one item of the crate links it in, and with it its route registrations.
    assert_eq!(fratello_test_routes::NAME, "fratello-test-routes");
    let app = App::new();
    let routes = app.routes().unwrap();
    assert!(
        routes.iter().any(|r| r.path == "/lib/ping" && r.module_path == "fratello_test_routes"),
        "{routes:?}"
    );
    let c = TestClient::start(App::new()).await;
    let res = c.get("/lib/ping").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "pong from a library");
    assert_eq!(c.get("/lib/guarded").send().await.status(), StatusCode::UNAUTHORIZED);
}
