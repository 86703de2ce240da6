//! Checks that an annotated fn has the one shape the router can call:
//! `async fn NAME(ctx: Context) -> R`.

use syn::{FnArg, Signature, Type};

use crate::errors::Errors;

/// Reports every way `sig` differs from `async fn NAME(ctx: Context)`.
///
/// `attr` is the attribute as the user wrote it (`#[get]`), `what` names the fn in
/// messages (`handler` or `fn`).
pub(crate) fn check(sig: &Signature, attr: &str, what: &str, errors: &mut Errors) {
    let name = &sig.ident;
    let subject = format!("a `{attr}` {what}");

    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!("{subject} must be an `async fn`: write `async fn {name}(ctx: Context)`"),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.spanned(constness, format!("{subject} cannot be a `const fn`: remove `const`"));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(
            unsafety,
            format!("{subject} cannot be an `unsafe fn`: the router calls it as a safe fn; remove `unsafe`"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("{subject} cannot have an `extern` ABI: remove `{}`", abi_text(abi)));
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!("{subject} cannot be generic: the router stores one concrete fn; remove the generic parameters"),
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(where_clause, format!("{subject} cannot have a `where` clause: remove it"));
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, format!("{subject} cannot be variadic: remove `...`"));
    }

    let mut typed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.spanned(
                receiver,
                format!("{subject} is a free fn, not a method: remove `self` and move `{name}` out of the `impl` block"),
            ),
            FnArg::Typed(typed_arg) => typed.push(typed_arg),
        }
    }
    let has_receiver = typed.len() < sig.inputs.len();
    match typed.split_first() {
        None if !has_receiver => errors.at(
            sig.paren_token.span.join(),
            format!(
                "{subject} takes the request context as its only parameter: write `{name}(ctx: Context)`"
            ),
        ),
        None => {}
        Some((first, extra)) => {
            if !is_context(&first.ty) {
                let hint = if matches!(&*first.ty, Type::Reference(r) if is_context(&r.elem)) {
                    "take it by value, `ctx: Context` (it is a cheap `Clone` handle)"
                } else {
                    "write `ctx: Context` (any parameter name works, `_ctx` included)"
                };
                errors.spanned(
                    &first.ty,
                    format!("the parameter of {subject} must be the request context `Context`: {hint}"),
                );
            }
            for extra in extra {
                errors.spanned(
                    extra,
                    format!(
                        "{subject} takes exactly one parameter, `ctx: Context`; remove this one \
                         (read path parameters with `ctx.param(..)`, the body with `ctx.json()`, app state with `ctx.state()`)"
                    ),
                );
            }
        }
    }
}

/// `Context`, `fratello::Context`, `crate::whatever::Context`: the last segment decides,
/// so that the user may import or alias the runtime however they like.
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Group(group) => is_context(&group.elem),
        Type::Paren(paren) => is_context(&paren.elem),
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Context" && segment.arguments.is_none()),
        _ => false,
    }
}

fn abi_text(abi: &syn::Abi) -> String {
    match &abi.name {
        Some(name) => format!("extern {}", name.token()),
        None => "extern".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(sig: &str) -> usize {
        let sig: Signature = syn::parse_str(sig).expect("test input parses");
        let mut errors = Errors::new();
        check(&sig, "#[get]", "handler", &mut errors);
        errors.to_compile_errors().into_iter().filter(|tt| tt.to_string() == "compile_error").count()
    }

    #[test]
    fn accepts_the_one_shape() {
        assert_eq!(problems("async fn a(ctx: Context) -> String"), 0);
        assert_eq!(problems("async fn a(_ctx: fratello::Context)"), 0);
        assert_eq!(problems("async fn a(_: ::fratello::prelude::Context)"), 0);
        assert_eq!(problems("async fn a(mut ctx: Context)"), 0);
    }

    #[test]
    fn reports_every_deviation() {
        assert_eq!(problems("fn a(ctx: Context)"), 1);
        assert_eq!(problems("async fn a()"), 1);
        assert_eq!(problems("async fn a(ctx: Context, b: u8, c: u8)"), 2);
        assert_eq!(problems("async fn a(ctx: &Context)"), 1);
        assert_eq!(problems("async fn a(ctx: Context<u8>)"), 1);
        assert_eq!(problems("async fn a(&self)"), 1);
        assert_eq!(problems("async fn a<T>(ctx: Context) where T: Send"), 2);
        assert_eq!(problems("unsafe extern \"C\" fn a(x: u8)"), 4);
    }
}
