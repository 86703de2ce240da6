//! tower services mounted under a path (`App::mount`), through a real client: tower-http's
//! `ServeDir` serving a folder made for the test (ranges, conditional requests, precompressed
//! files, no way out of the folder), a single-page app's fallback beside API routes, the
//! path-scoped guard that covers a mount's paths however they are spelled, and the startup
//! errors of a mount that cannot be.

use std::path::{Path, PathBuf};

use fratello::prelude::*;
use fratello::routing::RouteKind;
use fratello::test::TestClient;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

#[get("/mounted/hello")]
async fn hello(_ctx: Context) -> &'static str {
    "a route"
}

#[get("/files/{name}")]
async fn file(ctx: Context) -> String {
    ctx.param("name").unwrap_or_default().to_owned()
}

#[get("/api/status")]
async fn status(_ctx: Context) -> &'static str {
    "up"
}

/// Lets a request under `/mounted/private` through with the right header only.
#[middleware(path = "/mounted/private")]
async fn private_guard(ctx: Context) -> Result<()> {
    match ctx.header("x-key") {
        Some("open-sesame") => Ok(()),
        _ => Err(Error::unauthorized("this folder needs a key")),
    }
}

/// A folder of its own for each test, removed at the end.
struct Folder(PathBuf);

impl Folder {
    fn new(files: &[(&str, &[u8])]) -> Folder {
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).unwrap();
        let dir = std::env::temp_dir().join(format!("fratello-mount-{}", u64::from_le_bytes(name)));
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        Folder(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn app() -> App {
    App::only(module_path!())
}

#[tokio::test]
async fn serve_dir_serves_files_with_ranges_conditionals_and_precompressed_copies() {
    let css = b"body { color: teal; }\n".repeat(10);
    let folder = Folder::new(&[
        ("app.css", &css),
        ("js/app.js", b"console.log('plain');"),
        ("js/app.js.gz", b"pretend-gzip-bytes"),
        ("js/app.js.br", b"pretend-brotli-bytes"),
        ("index.html", b"<h1>index</h1>"),
    ]);
    let dir = ServeDir::new(folder.path()).precompressed_gzip().precompressed_br();
    let c = TestClient::start(app().mount("/mounted", dir)).await;

    let res = c.get("/mounted/app.css").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().as_ref(), css.as_slice());
    assert!(res.header("content-type").unwrap().starts_with("text/css"));
    let modified = res.header("last-modified").expect("a last-modified date").to_owned();

    let res = c.get("/mounted/app.css").header("range", "bytes=0-3").send().await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.text(), "body");
    assert_eq!(res.header("content-range"), Some(format!("bytes 0-3/{}", css.len()).as_str()));

    let res = c.get("/mounted/app.css").header("if-modified-since", modified.as_str()).send().await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let etag = c.get("/mounted/app.css").send().await.header("etag").expect("an etag").to_owned();
    let res = c.get("/mounted/app.css").header("if-none-match", etag.as_str()).send().await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = c.get("/mounted/app.css").header("if-none-match", "\"another\"").send().await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = c.get("/mounted/js/app.js").header("accept-encoding", "gzip").send().await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert_eq!(res.text(), "pretend-gzip-bytes");
    let res = c.get("/mounted/js/app.js").header("accept-encoding", "br").send().await;
    assert_eq!(res.header("content-encoding"), Some("br"));
    assert_eq!(res.text(), "pretend-brotli-bytes");
    assert_eq!(c.get("/mounted/js/app.js").send().await.text(), "console.log('plain');");

    // A folder without its slash is redirected to it, under the prefix.
    let res = c.get("/mounted/js").send().await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.header("location"), Some("/mounted/js/"));
    // The prefix itself is the folder's root.
    assert_eq!(c.get("/mounted").send().await.text(), "<h1>index</h1>");
    // HEAD goes where GET does.
    let res = c.head("/mounted/app.css").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().is_empty());

    // A route under the prefix answers its own path and methods.
    assert_eq!(c.get("/mounted/hello").send().await.text(), "a route");
    assert_eq!(c.get("/mounted/nothing-here").send().await.status(), StatusCode::NOT_FOUND);

    // No way out of the folder, spelled plainly or percent-encoded.
    for path in ["/mounted/../Cargo.toml", "/mounted/%2e%2e/Cargo.toml", "/mounted/js/%2e%2e/%2e%2e/x"] {
        let res = c.get(path).send().await;
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
}

#[tokio::test]
async fn a_mount_at_the_root_is_the_fallback_of_a_single_page_app() {
    let folder = Folder::new(&[("index.html", b"<div id=app></div>"), ("assets/app.js", b"boot()")]);
    let spa = ServeDir::new(folder.path()).fallback(ServeFile::new(folder.path().join("index.html")));
    let c = TestClient::start(app().mount("/", spa)).await;
    assert_eq!(c.get("/api/status").send().await.text(), "up");
    assert_eq!(c.get("/assets/app.js").send().await.text(), "boot()");
    assert_eq!(c.get("/").send().await.text(), "<div id=app></div>");
    let res = c.get("/settings/profile").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "<div id=app></div>");
}

#[tokio::test]
async fn a_path_scoped_guard_covers_a_mount_however_the_path_is_spelled() {
    let folder = Folder::new(&[("private/plan.txt", b"the plan"), ("public.txt", b"for all")]);
    let c = TestClient::start(app().mount("/mounted", ServeDir::new(folder.path()))).await;
    assert_eq!(c.get("/mounted/public.txt").send().await.text(), "for all");
    for path in ["/mounted/private/plan.txt", "/mounted/%70rivate/plan.txt", "/mounted/./private/plan.txt"] {
        let res = c.get(path).send().await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}: {}", res.text());
    }
    let res = c.get("/mounted/private/plan.txt").header("x-key", "open-sesame").send().await;
    assert_eq!(res.text(), "the plan");

    let listed = app().mount("/mounted", ServeDir::new(folder.path())).routes().unwrap();
    let mount = listed.iter().find(|r| r.kind == RouteKind::Mount).expect("the mount is listed");
    assert_eq!(mount.path, "/mounted/{*rest}");
    assert!(mount.name.contains("ServeDir"), "the service's type: {}", mount.name);
    assert!(mount.to_string().starts_with("mount *"), "{mount}");
    assert!(mount.middleware_names().contains(&"private_guard"), "{mount:?}");
    assert!(mount.location.contains("tests/mounts.rs"), "{}", mount.location);
}

#[tokio::test]
async fn layers_wrap_mounted_services_too() {
    let text = "a line of text that compresses well\n".repeat(100);
    let folder = Folder::new(&[("notes.txt", text.as_bytes())]);
    let c = TestClient::start(
        app().mount("/mounted", ServeDir::new(folder.path())).layer(CompressionLayer::new()),
    )
    .await;
    let res = c.get("/mounted/notes.txt").header("accept-encoding", "gzip").send().await;
    assert_eq!(res.header("content-encoding"), Some("gzip"));
    assert!(res.bytes().len() < text.len() / 4);
}

#[test]
fn a_mount_that_clashes_with_a_route_fails_at_startup_naming_both() {
    // A route and a mount may share a path: the route keeps its methods.
    let shared = app().mount("/mounted/hello", ServeDir::new(".")).check();
    assert!(shared.is_ok(), "{shared:?}");
    // A mount's catch-all where a route has a parameter cannot be.
    let err = app().mount("/files", ServeDir::new(".")).check().unwrap_err().to_string();
    assert!(err.contains("App::mount(\"/files\") at tests/mounts.rs:"), "{err}");
    assert!(err.contains("/files/{name}"), "{err}");
    // Two services at one prefix cannot be.
    let err = app()
        .mount("/twice", ServeDir::new("."))
        .mount("/twice", ServeDir::new(".."))
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("App::mount(\"/twice\") at tests/mounts.rs:"), "{err}");
    assert!(err.contains("one prefix cannot serve two services"), "{err}");
}

#[test]
#[should_panic(expected = "App::mount(\"static\"): it must start with `/`")]
fn a_prefix_without_a_slash_is_refused_where_it_is_written() {
    let _ = App::new().mount("static", ServeDir::new("."));
}

#[test]
#[should_panic(expected = "App::mount(\"/files/{name}\"): it must be a plain path")]
fn a_prefix_with_a_parameter_is_refused() {
    let _ = App::new().mount("/files/{name}", ServeDir::new("."));
}
