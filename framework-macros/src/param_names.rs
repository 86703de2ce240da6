//! The names a handler reads with `ctx.param("..")` and `ctx.param_as::<T>("..")`, checked
//! against its route's pattern: a name that is not in it is a compile error at the name.
//!
//! What is checked: a call whose argument is a string literal and whose receiver is the
//! handler's `Context` parameter, or a name bound in the body to `ctx.clone()` or `&ctx`,
//! anywhere in the body, in closures and in the arguments of macros that take expressions
//! (`format!`, `assert_eq!`, ...). What is not: names given by a variable or a const, calls
//! in other fns (a helper that takes the `Context`), and any name once it is bound to
//! something else (a closure's parameter, a `let` that shadows it): there, no error is
//! better than a wrong one.

use std::collections::HashSet;

use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Expr, FnArg, ItemFn, Lit, LitStr, Pat};

use crate::errors::Errors;
use crate::path::Param;

/// Checks the param names that `func` reads against `params`, the parameters of `path`.
pub(crate) fn check(func: &ItemFn, path: &LitStr, params: &[Param], errors: &mut Errors) {
    let Some(FnArg::Typed(arg)) = func.sig.inputs.first() else { return };
    let Pat::Ident(ctx) = &*arg.pat else { return };
    let mut reads = Reads { contexts: HashSet::from([ctx.ident.to_string()]), found: Vec::new() };
    reads.visit_block(&func.block);
    let path = path.value();
    for lit in reads.found {
        let name = lit.value();
        if !params.iter().any(|p| p.name == name) {
            errors.at(lit.span(), unknown(&name, &path, params));
        }
    }
}

/// The message for a name that is not among `params`.
fn unknown(name: &str, path: &str, params: &[Param]) -> String {
    if params.is_empty() {
        return format!("no parameter `{name}` in `{path}`: this route has no path parameters");
    }
    let closest = params
        .iter()
        .map(|p| (distance(name, &p.name), &p.name))
        .min()
        .filter(|(d, p)| *d <= 2.max(p.len() / 3));
    match closest {
        Some((_, suggestion)) => format!("no parameter `{name}` in `{path}`; did you mean `{suggestion}`?"),
        None => {
            let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name)).collect();
            format!("no parameter `{name}` in `{path}`; its parameters are {}", names.join(", "))
        }
    }
}

/// The edit distance (Levenshtein) between `a` and `b`.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Walks a handler's body, collecting the literal names read from its contexts.
struct Reads {
    /// The names that stand for the handler's `Context` at this point of the walk.
    contexts: HashSet<String>,
    found: Vec<LitStr>,
}

impl Reads {
    /// Whether `expr` is one of the contexts (`ctx`, `(ctx)`, `&ctx`).
    fn is_context(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(p) if p.qself.is_none() => {
                p.path.get_ident().is_some_and(|i| self.contexts.contains(&i.to_string()))
            }
            Expr::Paren(p) => self.is_context(&p.expr),
            Expr::Reference(r) => self.is_context(&r.expr),
            _ => false,
        }
    }

    /// Every name bound by `pat`.
    fn bound(pat: &Pat, names: &mut Vec<String>) {
        struct Bindings<'a>(&'a mut Vec<String>);
        impl<'ast> Visit<'ast> for Bindings<'_> {
            fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
                self.0.push(p.ident.to_string());
                visit::visit_pat_ident(self, p);
            }
        }
        Bindings(names).visit_pat(pat);
    }
}

impl<'ast> Visit<'ast> for Reads {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        if (method == "param" || method == "param_as")
            && call.args.len() == 1
            && self.is_context(&call.receiver)
        {
            if let Some(Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. })) = call.args.first() {
                self.found.push(lit.clone());
            }
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // The initializer is evaluated before the names are bound.
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        let mut names = Vec::new();
        Self::bound(&local.pat, &mut names);
        let alias = match (&local.pat, local.init.as_ref().map(|i| &*i.expr)) {
            (Pat::Ident(p), Some(Expr::MethodCall(m))) if m.method == "clone" && m.args.is_empty() => {
                self.is_context(&m.receiver).then(|| p.ident.to_string())
            }
            (Pat::Ident(p), Some(init)) => self.is_context(init).then(|| p.ident.to_string()),
            _ => None,
        };
        for name in names {
            if alias.as_deref() == Some(name.as_str()) {
                self.contexts.insert(name);
            } else {
                // Shadowed: from here on the name is something else.
                self.contexts.remove(&name);
            }
        }
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        let mut names = Vec::new();
        for input in &closure.inputs {
            Self::bound(input, &mut names);
        }
        let hidden: Vec<String> = names.into_iter().filter(|n| self.contexts.remove(n)).collect();
        self.visit_expr(&closure.body);
        self.contexts.extend(hidden);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // The arguments of `format!`, `assert_eq!` and their like are expressions.
        if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, syn::Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }

    // Items inside the body (fns, impls, modules) have contexts of their own.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_read(body: &str) -> Vec<String> {
        let func: ItemFn = syn::parse_str(&format!("async fn h(ctx: Context) {{ {body} }}")).unwrap();
        let mut reads = Reads { contexts: HashSet::from(["ctx".to_owned()]), found: Vec::new() };
        reads.visit_block(&func.block);
        reads.found.iter().map(LitStr::value).collect()
    }

    #[test]
    fn finds_reads_of_the_context_and_its_aliases() {
        assert_eq!(names_read(r#"let a = ctx.param("a"); let b: u32 = ctx.param_as("b")?;"#), ["a", "b"]);
        assert_eq!(names_read(r#"let c = ctx.clone(); c.param_as::<u8>("c")?;"#), ["c"]);
        assert_eq!(names_read(r#"let r = &ctx; (r).param("r");"#), ["r"]);
        assert_eq!(names_read(r#"if true { { ctx.param("deep"); } }"#), ["deep"]);
        assert_eq!(names_read(r#"let f = || ctx.param("in_closure"); f();"#), ["in_closure"]);
        assert_eq!(names_read(r#"format!("{}", ctx.param("in_macro").unwrap());"#), ["in_macro"]);
    }

    #[test]
    fn leaves_alone_what_it_cannot_be_sure_of() {
        assert!(names_read(r#"let n = "x"; ctx.param(n);"#).is_empty());
        assert!(names_read(r#"let ctx = other(); ctx.param("x");"#).is_empty());
        assert!(names_read(r#"let f = |ctx: Other| ctx.param("x");"#).is_empty());
        assert!(names_read(r#"fn inner(ctx: Context) { ctx.param("x"); }"#).is_empty());
        assert!(names_read(r#"other.param("x"); helper(&ctx, "y");"#).is_empty());
        assert!(names_read(r#"vec![ctx.param("x"); 2];"#).is_empty());
        // Outside the closure that shadowed it, `ctx` is the context again.
        assert_eq!(names_read(r#"let f = |ctx: Other| ctx.param("x"); ctx.param("y");"#), ["y"]);
    }

    #[test]
    fn suggests_the_closest_name() {
        let params = |names: &[&str]| -> Vec<Param> {
            names.iter().map(|n| Param { name: (*n).to_owned(), ty: None, range: 0..0 }).collect()
        };
        assert_eq!(
            unknown("idd", "/users/{id}", &params(&["id"])),
            "no parameter `idd` in `/users/{id}`; did you mean `id`?"
        );
        assert_eq!(
            unknown("name", "/users/{id}", &params(&["id"])),
            "no parameter `name` in `/users/{id}`; its parameters are `id`"
        );
        assert_eq!(
            unknown("id", "/users", &params(&[])),
            "no parameter `id` in `/users`: this route has no path parameters"
        );
        assert_eq!(distance("post_id", "postid"), 1);
    }
}
