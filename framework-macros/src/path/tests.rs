//! The path checks, each problem and where it points.

use super::*;

fn route(path: &str) -> Vec<String> {
    check(path, PathKind::Route).problems.into_iter().map(|p| p.message).collect()
}

/// `(start, end)` of each problem's range.
fn ranges(path: &str) -> Vec<(usize, usize)> {
    check(path, PathKind::Route).problems.into_iter().map(|p| (p.range.start, p.range.end)).collect()
}

#[test]
fn at_most_25_parameters() {
    let path = |n: usize| (0..n).map(|i| format!("/{{p{i}}}")).collect::<String>();
    assert_eq!(route(&path(25)), Vec::<String>::new());
    let refused = route(&path(26));
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("has 26 parameters; a route takes at most 25"), "{refused:?}");
    let at = path(25).len();
    assert_eq!(ranges(&path(26)), vec![(at + 1, path(26).len())]);
}

#[test]
fn a_literal_brace_does_not_share_a_segment_with_a_parameter() {
    assert_eq!(route("/{{lit}}/{id}"), Vec::<String>::new());
    for (path, at) in [("/{id}{{x}}", 5), ("/{{x}}{id}", 1), ("/a/{name}.}}", 10)] {
        let refused = route(path);
        assert_eq!(refused.len(), 1, "{path}: {refused:?}");
        assert!(refused[0].starts_with("a literal brace (`{{` or `}}`) cannot share"), "{refused:?}");
        assert_eq!(ranges(path), vec![(at, at + 2)], "{path}");
    }
}

#[test]
fn accepts_good_paths() {
    for path in [
        "/",
        "/users",
        "/users/",
        "/users/{id}",
        "/users/{id}/posts/{post_id}",
        "/files/{*rest}",
        "/{*path}",
        "/img{id}.png",
        "/v{version}/x",
        "/{{literal}}",
        "/a-b_c.d~e",
        "/_x/{_}",
    ] {
        assert_eq!(route(path), Vec::<String>::new(), "{path}");
    }
    assert!(check("/api", PathKind::Prefix).problems.is_empty());
    assert!(check("/", PathKind::Prefix).problems.is_empty());
}

#[test]
fn rejects_each_mistake_at_its_place() {
    assert!(route("")[0].contains("is empty"));
    assert!(route("users")[0].contains("must start with `/`: write \"/users\""));
    assert!(route("/a//b")[0].contains("empty segment"));
    assert_eq!(ranges("/users/{id"), [(7, 8)]);
    assert!(route("/users/{id")[0].starts_with("unclosed `{`"));
    assert_eq!(ranges("/users/id}"), [(9, 10)]);
    assert!(route("/users/id}")[0].starts_with("unmatched `}`"));
    assert_eq!(ranges("/a/{}"), [(3, 5)]);
    assert!(route("/a/{}")[0].starts_with("empty path parameter `{}`"));
    assert!(route("/a/{*}")[0].contains("needs a name: write `{*rest}`"));
    assert!(route("/a/{1x}")[0].starts_with("invalid path parameter name `{1x}`"));
    assert!(route("/a/{x-y}")[0].starts_with("invalid path parameter name"));
    assert_eq!(ranges("/a/{id}/b/{id}"), [(10, 14)]);
    assert_eq!(
        route("/a/{id}/b/{id}"),
        ["duplicate path parameter `{id}`: each name must be unique in `/a/{id}/b/{id}`"]
    );
    assert!(route("/a/{*rest}/b")[0].contains("must be the last segment"));
    assert!(route("/a/{*rest}/")[0].contains("must be the last segment"));
    assert!(route("/a/x{*rest}")[0].contains("must be a whole segment"));
    assert!(route("/a/{x}{y}")[0].contains("more than one parameter"));
    assert!(route("/a/{x}-{y}")[0].contains("more than one parameter"));
    assert!(route("/a?b=1")[0].contains("`?`"));
    assert!(route("/a b")[0].contains("whitespace"));
    // Nested braces: the outer `{` is unclosed, the inner parameter is fine.
    assert_eq!(ranges("/a/{b{c}"), [(3, 4)]);
}

#[test]
fn reports_every_problem() {
    assert_eq!(route("a/{}/{1}/{*}").len(), 4);
}

#[test]
fn prefix_parameters_are_whole_segments() {
    assert!(check("/polls/{id}/vote", PathKind::Prefix).problems.is_empty());
    assert!(check("/files/{*rest}", PathKind::Prefix).problems.is_empty());
    let problems = check("/img{id}.png", PathKind::Prefix).problems;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("is a whole segment"));
    assert!(check("api", PathKind::Prefix).problems[0].message.contains("\"/api\""));
    assert!(check("/polls/{id: u32}", PathKind::Prefix).problems[0].message.contains("no parameter types"));
}

#[test]
fn typed_parameters_are_given_to_the_router_without_their_type() {
    let checked = check("/users/{id: u32}/files/{*path}", PathKind::Route);
    assert!(checked.problems.is_empty());
    assert_eq!(checked.pattern.path, "/users/{id}/files/{*path}");
    let types: Vec<_> = checked.pattern.params.iter().map(|p| (p.name.as_str(), p.ty.as_deref())).collect();
    assert_eq!(types, [("id", Some("u32")), ("path", None)]);
    let checked = check("/v{major:u8}/x/{name :String}", PathKind::Route);
    assert!(checked.problems.is_empty());
    assert_eq!(checked.pattern.path, "/v{major}/x/{name}");
    assert_eq!(checked.pattern.params[1].ty.as_deref(), Some("String"));
    let generic = check("/a/{id: std::num::NonZeroU64}", PathKind::Route);
    assert_eq!(generic.pattern.params[0].ty.as_deref(), Some("std::num::NonZeroU64"));
}

#[test]
fn typed_parameters_are_checked() {
    assert!(route("/a/{*rest: String}")[0].contains("takes no type"));
    assert!(route("/a/{id:}")[0].contains("names no type"));
    assert!(route("/a/{id: 12}")[0].contains("is not a Rust type"));
    assert!(route("/a/{: u32}")[0].starts_with("empty path parameter"));
    assert!(route("/a/{id: u32}/{id}")[0].starts_with("duplicate path parameter"));
}
