//! Route path validation: a malformed path is a compile error at the path, not a panic
//! when the router is built.
//!
//! The accepted syntax is the router's (matchit 0.8): `/users/{id}` names a parameter,
//! a segment may add a static prefix or suffix around one parameter (`/img{id}.png`),
//! `/files/{*rest}` is a catch-all and must be the whole last segment, and `{{` / `}}`
//! stand for literal braces.

use std::ops::Range;

use syn::LitStr;

use crate::errors::Errors;

/// What the path is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    /// A route pattern, with parameters.
    Route,
    /// A `#[middleware(path = ..)]` scope: a prefix, or a pattern whose parameters are whole
    /// segments (`/polls/{id}/vote`).
    Prefix,
}

/// One problem, located by a byte range of the path's value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) range: Range<usize>,
    pub(crate) message: String,
}

/// Validates the path in `lit`, reporting each problem at the piece of the literal it is
/// about where the compiler can point inside a literal (nightly), else at the literal.
pub(crate) fn validate(lit: &LitStr, kind: PathKind, errors: &mut Errors) {
    for problem in check(&lit.value(), kind) {
        errors.at(subspan(lit, &problem.range).unwrap_or_else(|| lit.span()), problem.message);
    }
}

/// The span of `range` (in the literal's value) inside the literal's source text.
fn subspan(lit: &LitStr, range: &Range<usize>) -> Option<proc_macro2::Span> {
    let repr = lit.token().to_string();
    // Offsets of the value and the source text agree only without escapes.
    if repr.contains('\\') {
        return None;
    }
    let start = repr.find('"')? + 1;
    lit.token().subspan(start + range.start..start + range.end)
}

/// Every problem of `path`, in order.
pub(crate) fn check(path: &str, kind: PathKind) -> Vec<Problem> {
    let mut checker = Checker { path, kind, problems: Vec::new(), names: Vec::new() };
    if checker.check_start() {
        checker.check_chars();
        let segments = segments(path);
        for (index, &(start, segment)) in segments.iter().enumerate() {
            checker.check_segment(start, segment, index, index + 1 == segments.len());
        }
    }
    checker.problems
}

/// A path being checked, and what was found so far.
struct Checker<'a> {
    path: &'a str,
    kind: PathKind,
    problems: Vec<Problem>,
    /// The parameter names seen so far.
    names: Vec<&'a str>,
}

impl<'a> Checker<'a> {
    fn what(&self) -> &'static str {
        match self.kind {
            PathKind::Route => "route path",
            PathKind::Prefix => "middleware path",
        }
    }

    fn problem(&mut self, range: Range<usize>, message: String) {
        self.problems.push(Problem { range, message });
    }

    /// A path is not empty and starts with `/`: whether there is more to check.
    fn check_start(&mut self) -> bool {
        let (path, what) = (self.path, self.what());
        if path.is_empty() {
            let example = match self.kind {
                PathKind::Route => "\"/\"",
                PathKind::Prefix => "\"/api\"",
            };
            self.problem(0..0, format!("the {what} is empty: it must start with `/`, e.g. {example}"));
            return false;
        }
        if !path.starts_with('/') {
            let first = path.chars().next().map_or(0, char::len_utf8);
            self.problem(0..first, format!("the {what} `{path}` must start with `/`: write \"/{path}\""));
        }
        true
    }

    /// No character that cannot be in a request's path.
    fn check_chars(&mut self) {
        let (path, what) = (self.path, self.what());
        for (at, c) in path.char_indices() {
            let why = match c {
                '?' => "`?`: a route matches the path only; read the query string with `ctx.query()`",
                '#' => "`#`: a URL fragment never reaches the server",
                c if c.is_whitespace() || c.is_control() => "whitespace or a control character",
                _ => continue,
            };
            self.problem(at..at + c.len_utf8(), format!("the {what} `{path}` contains {why}"));
        }
    }

    /// One segment, at byte `start`: not empty (but the first and last), braces balanced, its
    /// parameters well formed.
    fn check_segment(&mut self, start: usize, segment: &'a str, index: usize, last: bool) {
        let (path, what) = (self.path, self.what());
        if segment.is_empty() && !last && index > 0 {
            self.problem(
                start..start,
                format!("the {what} `{path}` has an empty segment (`//`): remove one `/`"),
            );
        }
        let mut params_in_segment = 0;
        let bytes = segment.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let at = start + i;
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
                b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
                b'}' => {
                    self.problem(
                        at..at + 1,
                        format!("unmatched `}}` in `{path}`: remove it, add the opening `{{`, or write `}}}}` for a literal `}}`"),
                    );
                    i += 1;
                }
                b'{' => {
                    let close = segment[i + 1..].find(['{', '}']).map(|n| i + 1 + n);
                    let Some(close) = close.filter(|&close| bytes[close] == b'}') else {
                        self.problem(
                            at..at + 1,
                            format!(
                                "unclosed `{{` in `{path}`: close the parameter with `}}`, e.g. `{{id}}`, or write `{{{{` for a literal `{{`"
                            ),
                        );
                        i += 1;
                        continue;
                    };
                    params_in_segment += 1;
                    self.check_param(
                        segment,
                        &segment[i..=close],
                        at..start + close + 1,
                        params_in_segment,
                        last,
                    );
                    i = close + 1;
                }
                _ => i += 1,
            }
        }
    }

    /// One parameter, `text` (`{name}` or `{*name}`) at `range`, the `nth` of its segment.
    fn check_param(&mut self, segment: &str, text: &'a str, range: Range<usize>, nth: usize, last: bool) {
        let path = self.path;
        if self.kind == PathKind::Prefix && text != segment {
            self.problem(
                range,
                format!(
                    "a parameter of a middleware path is a whole segment: `{segment}` in `{path}` mixes it with text; write e.g. `/files/{text}`"
                ),
            );
            return;
        }
        if nth == 2 {
            self.problem(
                range.clone(),
                format!(
                    "the segment `{segment}` of `{path}` has more than one parameter: put each parameter in a segment of its own, e.g. `/{{a}}/{{b}}`"
                ),
            );
        }
        let inner = &text[1..text.len() - 1];
        let (catch_all, name) = match inner.strip_prefix('*') {
            Some(name) => (true, name),
            None => (false, inner),
        };
        if name.is_empty() {
            let message = if catch_all {
                format!("the catch-all `{{*}}` in `{path}` needs a name: write `{{*rest}}`")
            } else {
                format!("empty path parameter `{{}}` in `{path}`: give it a name, e.g. `{{id}}`")
            };
            self.problem(range, message);
            return;
        }
        if !is_identifier(name) {
            self.problem(
                range,
                format!(
                    "invalid path parameter name `{text}` in `{path}`: a name starts with a letter or `_` and has only letters, digits and `_`, e.g. `{{user_id}}`"
                ),
            );
            return;
        }
        if self.names.contains(&name) {
            self.problem(
                range.clone(),
                format!("duplicate path parameter `{{{name}}}`: each name must be unique in `{path}`"),
            );
        } else {
            self.names.push(name);
        }
        if catch_all {
            if text != segment {
                self.problem(
                    range,
                    format!(
                        "the catch-all `{text}` in `{path}` must be a whole segment: put it after a `/`, e.g. `/files/{text}`"
                    ),
                );
            } else if !last {
                self.problem(
                    range,
                    format!(
                        "the catch-all `{text}` must be the last segment of `{path}`: it matches the rest of the path, so nothing can follow it"
                    ),
                );
            }
        }
    }
}

/// `(byte offset, text)` of each `/`-separated segment.
fn segments(path: &str) -> Vec<(usize, &str)> {
    let mut start = 0;
    path.split('/')
        .map(|segment| {
            let item = (start, segment);
            start += segment.len() + 1;
            item
        })
        .collect()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Vec<String> {
        check(path, PathKind::Route).into_iter().map(|p| p.message).collect()
    }

    /// `(start, end)` of each problem's range.
    fn ranges(path: &str) -> Vec<(usize, usize)> {
        check(path, PathKind::Route).into_iter().map(|p| (p.range.start, p.range.end)).collect()
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
        assert!(check("/api", PathKind::Prefix).is_empty());
        assert!(check("/", PathKind::Prefix).is_empty());
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
        assert!(check("/polls/{id}/vote", PathKind::Prefix).is_empty());
        assert!(check("/files/{*rest}", PathKind::Prefix).is_empty());
        let problems = check("/img{id}.png", PathKind::Prefix);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("is a whole segment"));
        assert!(check("api", PathKind::Prefix)[0].message.contains("\"/api\""));
    }
}
