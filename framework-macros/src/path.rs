//! Route path validation: a malformed path is a compile error at the path, not a panic
//! when the router is built.
//!
//! The accepted syntax is the router's (matchit 0.8): `/users/{id}` names a parameter,
//! a segment may add a static prefix or suffix around one parameter (`/img{id}.png`),
//! `/files/{*rest}` is a catch-all and must be the whole last segment, and `{{` / `}}`
//! stand for literal braces. On top of it, a route's parameter may declare a type,
//! `/users/{id: u32}`: the router is given the pattern without it, and the request's segment
//! must parse as that type for the route to match.

use std::ops::Range;

use syn::LitStr;

use crate::errors::Errors;

/// The most parameters a path may have: the router's limit.
const MAX_PARAMS: usize = 25;

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

/// A parameter of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub(crate) name: String,
    /// The declared type, as written (`u32` in `{id: u32}`).
    pub(crate) ty: Option<String>,
    /// Where it is in the path's value: the whole `{..}`.
    pub(crate) range: Range<usize>,
}

/// A path as the router takes it: `/users/{id: u32}` is `/users/{id}` with `id` a `u32`.
#[derive(Debug, Default)]
pub(crate) struct Pattern {
    /// The path without the parameters' types.
    pub(crate) path: String,
    pub(crate) params: Vec<Param>,
}

/// Validates the path in `lit`, reporting each problem at the piece of the literal it is
/// about where the compiler can point inside a literal (nightly), else at the literal; and
/// returns its pattern.
pub(crate) fn validate(lit: &LitStr, kind: PathKind, errors: &mut Errors) -> Pattern {
    let path = lit.value();
    let checked = check(&path, kind);
    for problem in checked.problems {
        errors.at(subspan(lit, &problem.range).unwrap_or_else(|| lit.span()), problem.message);
    }
    checked.pattern
}

/// What checking a path found: its problems, and its pattern.
pub(crate) struct Checked {
    pub(crate) problems: Vec<Problem>,
    pub(crate) pattern: Pattern,
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

/// Every problem of `path`, in order, and its pattern.
pub(crate) fn check(path: &str, kind: PathKind) -> Checked {
    let mut checker = Checker { path, kind, problems: Vec::new(), params: Vec::new() };
    if checker.check_start() {
        checker.check_chars();
        let segments = segments(path);
        for (index, &(start, segment)) in segments.iter().enumerate() {
            checker.check_segment(start, segment, index, index + 1 == segments.len());
        }
        checker.check_count();
    }
    let pattern = Pattern { path: untyped(path, &checker.params), params: checker.params };
    Checked { problems: checker.problems, pattern }
}

/// `path` with each typed parameter written without its type.
fn untyped(path: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(path.len());
    let mut at = 0;
    for param in params.iter().filter(|p| p.ty.is_some()) {
        out.push_str(&path[at..param.range.start]);
        out.push('{');
        out.push_str(&param.name);
        out.push('}');
        at = param.range.end;
    }
    out.push_str(&path[at..]);
    out
}

/// A path being checked, and what was found so far.
struct Checker<'a> {
    path: &'a str,
    kind: PathKind,
    problems: Vec<Problem>,
    /// The parameters seen so far.
    params: Vec<Param>,
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
        // (Inside a parameter, `{id: u32}`, spaces may stand around the type.)
        let mut in_param = false;
        let mut chars = path.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' | '}' if chars.peek().map(|&(_, next)| next) == Some(c) => {
                    chars.next();
                    continue;
                }
                '{' => in_param = true,
                '}' => in_param = false,
                ' ' if in_param => continue,
                _ => {}
            }
            let why = match c {
                '?' => "`?`: a route matches the path only; read the query string with `ctx.query()`",
                '#' => "`#`: a URL fragment never reaches the server",
                c if c.is_whitespace() || c.is_control() => "whitespace or a control character",
                _ => continue,
            };
            self.problem(at..at + c.len_utf8(), format!("the {what} `{path}` contains {why}"));
        }
    }

    /// No more parameters than the router takes.
    fn check_count(&mut self) {
        let (path, what) = (self.path, self.what());
        if let Some(extra) = self.params.get(MAX_PARAMS) {
            let message = format!(
                "the {what} `{path}` has {} parameters; a route takes at most {MAX_PARAMS}: read the others from the query string (`ctx.query()`) or the body",
                self.params.len()
            );
            self.problem(extra.range.clone(), message);
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
        // The first `{{` or `}}` of the segment.
        let mut literal_brace = None;
        let bytes = segment.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let at = start + i;
            match bytes[i] {
                b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                    literal_brace.get_or_insert(at..at + 2);
                    i += 2;
                }
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
        if let (Some(range), true) = (literal_brace, params_in_segment > 0) {
            self.problem(
                range,
                format!(
                    "a literal brace (`{{{{` or `}}}}`) cannot share a segment with a parameter in `{path}`: the router misreads it; give it a segment of its own"
                ),
            );
        }
    }

    /// One parameter, `text` (`{name}`, `{name: Type}` or `{*name}`) at `range`, the `nth` of
    /// its segment.
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
        let (inner, ty) = match inner.split_once(':') {
            Some((name, ty)) => (name.trim_end(), Some(ty.trim())),
            None => (inner, None),
        };
        let (catch_all, name) = match inner.strip_prefix('*') {
            Some(name) => (true, name),
            None => (false, inner),
        };
        if let Some(ty) = ty {
            if !self.check_type(text, name, ty, catch_all, range.clone()) {
                return;
            }
        }
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
        if self.params.iter().any(|p| p.name == name) {
            self.problem(
                range.clone(),
                format!("duplicate path parameter `{{{name}}}`: each name must be unique in `{path}`"),
            );
        } else {
            let ty = ty.map(str::to_owned);
            self.params.push(Param { name: name.to_owned(), ty, range: range.clone() });
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

    /// The type of `{name: ty}` (`text`): only on a route's plain parameter, and a Rust type.
    fn check_type(&mut self, text: &str, name: &str, ty: &str, catch_all: bool, range: Range<usize>) -> bool {
        let path = self.path;
        let problem = if self.kind == PathKind::Prefix {
            format!(
                "a middleware path takes no parameter types: `{text}` in `{path}` covers any segment; write `{{{name}}}`"
            )
        } else if catch_all {
            format!(
                "the catch-all `{text}` in `{path}` takes no type: it is the rest of the path as text; write `{{*{name}}}` and parse it in the handler"
            )
        } else if ty.is_empty() {
            format!("the parameter `{text}` in `{path}` names no type after `:`: write e.g. `{{{name}: u32}}`, or `{{{name}}}` for text")
        } else if syn::parse_str::<syn::Type>(ty).is_err() {
            format!("`{ty}` in `{text}` is not a Rust type: write e.g. `{{{name}: u32}}`")
        } else {
            return true;
        };
        self.problem(range, problem);
        false
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
mod tests;
