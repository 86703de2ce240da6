//! Forms and multipart bodies from a real client: repeated keys filling a `Vec`, the content
//! type checked, limits answered with 413 naming them, malformed bodies with 400.

use fratello::config::MultipartConfig;
use fratello::prelude::*;
use fratello::test::TestClient;
use serde::Deserialize;

#[derive(Deserialize)]
struct Search {
    q: String,
    #[serde(default)]
    tag: Vec<String>,
    page: Option<u32>,
}

#[post("/forms/search")]
async fn search(ctx: Context) -> Result<String> {
    let s: Search = ctx.form().await?;
    Ok(format!("{} {:?} {:?}", s.q, s.tag, s.page))
}

#[get("/forms/search")]
async fn search_query(ctx: Context) -> Result<String> {
    let s: Search = ctx.query()?;
    Ok(format!("{} {:?} {:?}", s.q, s.tag, s.page))
}

/// Every field: name, file name, content type, size; small text fields read whole.
#[post("/forms/upload")]
async fn upload(ctx: Context) -> Result<String> {
    let mut parts = ctx.multipart()?;
    let mut out = Vec::new();
    while let Some(mut field) = parts.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        if let Some(file) = field.file_name().map(str::to_owned) {
            let kind = field.content_type().unwrap_or("").to_owned();
            let mut size = 0;
            while let Some(chunk) = field.chunk().await? {
                size += chunk.len();
            }
            out.push(format!("{name}:{file}:{kind}:{size}"));
        } else {
            out.push(format!("{name}={}", field.text().await?));
        }
    }
    Ok(out.join(" "))
}

async fn client() -> TestClient {
    let limits = MultipartConfig::default().max_fields(3).max_field_bytes(16);
    TestClient::start(App::only(module_path!()).multipart_config(limits)).await
}

fn part(boundary: &str, name: &str, file: Option<(&str, &str)>, content: &str) -> String {
    let disposition = match file {
        Some((file, _)) => format!("form-data; name=\"{name}\"; filename=\"{file}\""),
        None => format!("form-data; name=\"{name}\""),
    };
    let kind = file.map(|(_, kind)| format!("content-type: {kind}\r\n")).unwrap_or_default();
    format!("--{boundary}\r\ncontent-disposition: {disposition}\r\n{kind}\r\n{content}\r\n")
}

#[tokio::test]
async fn a_form_fills_vecs_from_repeated_keys_and_checks_its_type() {
    let c = client().await;
    let form = "application/x-www-form-urlencoded";
    let res = c
        .post("/forms/search")
        .header("content-type", form)
        .body("q=rust&tag=web&tag=async&page=2")
        .send()
        .await;
    assert_eq!(res.text(), "rust [\"web\", \"async\"] Some(2)");
    let res = c.get("/forms/search?q=a%20b&tag=x&tag=y").send().await;
    assert_eq!(res.text(), "a b [\"x\", \"y\"] None");
    let res = c.post("/forms/search").header("content-type", "application/json").body("{}").send().await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = c.post("/forms/search").header("content-type", form).body("tag=x").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("`q`"), "the message names the missing field: {}", res.text());
    let res = c.post("/forms/search").header("content-type", form).body("q=a&page=many").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn multipart_fields_arrive_in_order_with_their_names() {
    let c = client().await;
    let b = "XyZ";
    let body = part(b, "title", None, "holiday")
        + &part(b, "photo", Some(("a.png", "image/png")), &"p".repeat(1000))
        + &format!("--{b}--\r\n");
    let res = c
        .post("/forms/upload")
        .header("content-type", format!("multipart/form-data; boundary={b}"))
        .body(body)
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text());
    assert_eq!(res.text(), "title=holiday photo:a.png:image/png:1000");
}

#[tokio::test]
async fn multipart_limits_are_413_and_name_the_limit() {
    let c = client().await;
    let b = "B";
    let ct = format!("multipart/form-data; boundary={b}");
    // A text field over the 16-byte limit of a field read whole.
    let body = part(b, "note", None, &"n".repeat(17)) + &format!("--{b}--\r\n");
    let res = c.post("/forms/upload").header("content-type", ct.as_str()).body(body).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().contains("`note`") && res.text().contains("16-byte"), "{}", res.text());
    // More fields than the three allowed.
    let body: String =
        (0..4).map(|i| part(b, &format!("f{i}"), None, "x")).collect::<String>() + &format!("--{b}--\r\n");
    let res = c.post("/forms/upload").header("content-type", ct.as_str()).body(body).send().await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().contains("more than 3 fields"), "{}", res.text());
    // A streamed file field is not limited by the field limit.
    let body = part(b, "big", Some(("big.bin", "application/octet-stream")), &"b".repeat(10_000))
        + &format!("--{b}--\r\n");
    let res = c.post("/forms/upload").header("content-type", ct.as_str()).body(body).send().await;
    assert_eq!(res.text(), "big:big.bin:application/octet-stream:10000");
}

#[tokio::test]
async fn malformed_multipart_is_400_or_415_and_says_why() {
    let c = client().await;
    let res = c.post("/forms/upload").header("content-type", "multipart/form-data").body("x").send().await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().contains("boundary"), "{}", res.text());
    let res = c.post("/forms/upload").header("content-type", "text/plain").body("x").send().await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let ct = "multipart/form-data; boundary=B";
    for body in [
        // Cut short in the middle of a field.
        "--B\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nhalf of it".to_owned(),
        // Headers that never end.
        "--B\r\ncontent-disposition: form-data; name=\"a\"".to_owned(),
        // Not multipart at all.
        "hello world".to_owned(),
    ] {
        let res = c.post("/forms/upload").header("content-type", ct).body(body.clone()).send().await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}: {}", res.text());
        assert!(res.text().contains("multipart"), "{}", res.text());
    }
    // The server goes on.
    let body = part("B", "a", None, "ok") + "--B--\r\n";
    assert_eq!(c.post("/forms/upload").header("content-type", ct).body(body).send().await.text(), "a=ok");
}
