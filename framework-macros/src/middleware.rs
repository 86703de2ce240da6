//! `#[middleware]`: parse, validate into a [`Middleware`], then expand into a unit value of
//! the fn's name (what `with(..)` names), the fn itself under a hidden name, the descriptor
//! and one `inventory::submit!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Expr, ExprLit, ExprUnary, Ident, ItemFn, Lit, LitStr, UnOp, Visibility};

use crate::args::{self, Arg, Seen, Value};
use crate::errors::Errors;
use crate::item::{self, OutputSpan};
use crate::path::{self, PathKind};
use crate::{debug, signature, state};

const ATTR: &str = "#[middleware]";
const USAGE: &str = "`#[middleware]` takes, all optional: `route` (runs only where a route's `with(..)` names it), \
     `path = \"/api\"` (a prefix or a pattern like \"/polls/{id}/vote\"), `order = N` (lower runs first among \
     global and path middleware, default 0), `after` (runs on the response), `state(Type, ..)`; \
     e.g. `#[middleware(path = \"/api\", order = 10)]`";

/// A validated middleware, ready to expand.
struct Middleware {
    args: Args,
    func: ItemFn,
    output: OutputSpan,
}

/// The arguments of `#[middleware]`, validated.
#[derive(Default)]
struct Args {
    order: i32,
    path: Option<LitStr>,
    after: bool,
    route: bool,
    states: Vec<syn::Type>,
}

/// Expands `#[middleware]`; on any error, the user's fn is kept as written next to the errors.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let func = item::parse_fn(item.clone(), ATTR, &mut errors);
    let args = Args::validate(args, &mut errors);
    if let Some(func) = &func {
        signature::check(&func.sig, ATTR, "fn", &mut errors);
    }
    // On any error the fn stays as written, so that the rest of the crate still checks.
    let expanded = match func {
        Some(func) if errors.is_empty() => Middleware::new(args, func).into_token_stream(),
        _ => {
            let errors = errors.to_compile_errors();
            quote!(#item #errors)
        }
    };
    debug::print(ATTR, &expanded);
    expanded
}

impl Args {
    fn validate(input: TokenStream, errors: &mut Errors) -> Args {
        let (args, parse_errors) = args::parse(input);
        errors.append(parse_errors);
        let mut out = Args::default();
        let mut seen = Seen::default();
        // Where `route` and `order` were written, to say that they do not go together.
        let (mut route_at, mut order_at, mut path_at) = (None, None, None);
        for arg in args {
            let (key, value) = match arg {
                Arg::Named { key, value } => (key, value),
                Arg::Lit(Lit::Str(lit)) => {
                    errors.at(
                        lit.span(),
                        format!("a middleware path prefix is written `path = {}`", lit.token()),
                    );
                    continue;
                }
                other => {
                    errors.spanned(&other, format!("unexpected argument: {USAGE}"));
                    continue;
                }
            };
            match key.to_string().as_str() {
                "order" => {
                    if seen.first(&key, errors) {
                        order_at = Some(key.span());
                        out.order = parse_order(&key, value, errors).unwrap_or_default();
                    }
                }
                "path" => {
                    if seen.first(&key, errors) {
                        path_at = Some(key.span());
                        out.path = parse_path(&key, value, errors);
                    }
                }
                "route" => {
                    if seen.first(&key, errors) {
                        match value {
                            Value::Flag => {
                                route_at = Some(key.span());
                                out.route = true;
                            }
                            _ => errors.at(key.span(), "`route` is a flag: write `route`, without a value"),
                        }
                    }
                }
                "state" => {
                    if seen.first(&key, errors) {
                        out.states = state::parse(&key, value, errors);
                    }
                }
                "after" => {
                    if seen.first(&key, errors) {
                        match value {
                            Value::Flag => out.after = true,
                            _ => errors.at(key.span(), "`after` is a flag: write `after`, without a value"),
                        }
                    }
                }
                "with" => errors.at(
                    key.span(),
                    "`with(...)` belongs on a route (`#[get(\"/path\", with(auth))]`); a middleware cannot have middleware of its own",
                ),
                _ => errors.at(key.span(), format!("unknown argument `{key}`: {USAGE}")),
            }
        }
        if let (Some(_), Some(path)) = (route_at, path_at) {
            errors.at(
                path,
                "a `route` middleware runs where a route's `with(..)` names it, and `path = ..` makes a \
                 middleware run by path: keep one of the two",
            );
        }
        if let (Some(_), Some(order)) = (route_at, order_at) {
            errors.at(
                order,
                "`order` sorts global and path middleware; a `route` middleware runs where the route's \
                 `with(..)` lists it, after them: remove `order` and order the `with(..)` list instead",
            );
        }
        out
    }
}

/// `order = 10` or `order = -1`.
fn parse_order(key: &Ident, value: Value, errors: &mut Errors) -> Option<i32> {
    const USAGE: &str =
        "`order` takes an integer (lower runs first, default 0), e.g. `order = 10` or `order = -1`";
    let Value::Eq { expr, .. } = value else {
        errors.at(key.span(), USAGE);
        return None;
    };
    let expr = args::unwrap_expr(&expr);
    let (negative, int) = match expr {
        Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) => (false, int),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr: inner, .. }) => match args::unwrap_expr(inner) {
            Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) => (true, int),
            _ => {
                errors.spanned(expr, USAGE);
                return None;
            }
        },
        _ => {
            errors.spanned(expr, USAGE);
            return None;
        }
    };
    if !matches!(int.suffix(), "" | "i32") {
        errors.at(int.span(), format!("`order` is an `i32`: remove the `{}` suffix", int.suffix()));
        return None;
    }
    let digits = if negative { format!("-{}", int.base10_digits()) } else { int.base10_digits().to_owned() };
    match digits.parse::<i32>() {
        Ok(order) => Some(order),
        Err(_) => {
            errors.spanned(expr, format!("`order = {digits}` does not fit in an `i32`"));
            None
        }
    }
}

/// `path = "/api"`.
fn parse_path(key: &Ident, value: Value, errors: &mut Errors) -> Option<LitStr> {
    const USAGE: &str =
        "`path` takes a string literal, a prefix or a pattern, e.g. `path = \"/api\"` or `path = \"/polls/{id}/vote\"`";
    match value {
        Value::Eq { expr, .. } => match args::unwrap_expr(&expr) {
            Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => {
                path::validate(lit, PathKind::Prefix, errors);
                Some(lit.clone())
            }
            other => {
                errors.spanned(other, USAGE);
                None
            }
        },
        _ => {
            errors.at(key.span(), USAGE);
            None
        }
    }
}

impl Middleware {
    fn new(args: Args, func: ItemFn) -> Middleware {
        let output = OutputSpan::of(&func.sig);
        Middleware { args, func, output }
    }
}

impl ToTokens for Middleware {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Middleware { args: Args { order, path, after, route, states }, func, output } = self;
        let name = &func.sig.ident;
        let vis = &func.vis;
        let ctx = Ident::new("__fratello_ctx", Span::mixed_site());
        let name_str = name.unraw().to_string();
        let scope = match (path, route) {
            (Some(path), _) => quote!(::fratello::__private::Scope::Path(#path)),
            (None, true) => quote!(::fratello::__private::Scope::Route),
            (None, false) => quote!(::fratello::__private::Scope::Global),
        };
        // The fn goes on under a hidden name; its name becomes a unit value, which
        // `with(..)` names (a value, so that naming a plain fn there is a trait error with
        // the runtime's message rather than "expected type, found function").
        let hidden = format_ident!("__fratello_middleware_{}", name.unraw());
        let mut renamed = func.clone();
        renamed.sig.ident = hidden.clone();
        renamed.vis = Visibility::Inherited;
        renamed.attrs.retain(|a| !a.path().is_ident("doc"));
        renamed.attrs.push(syn::parse_quote!(#[doc(hidden)]));
        let docs = func.attrs.iter().filter(|a| a.path().is_ident("doc") || a.path().is_ident("cfg"));
        let cfgs: Vec<_> = func.attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
        // A return type other than `()` or `Result<()>` is reported at the return type.
        let call = output.erased_call("middleware_handler", &hidden, &ctx, None);
        let line = quote_spanned!(Span::call_site()=> ::core::line!());
        let states = state::needs(states);
        let route_impl = route.then(|| quote!(impl ::fratello::__private::RouteMiddleware for #name {}));

        // Spanned at the name, so that a lint about it (an undocumented `pub` fn) points there.
        let unit = quote_spanned! {name.span()=>
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug)]
            #vis struct #name;
        };
        tokens.extend(quote! {
            #renamed

            #(#docs)*
            #unit

            #(#cfgs)*
            const _: () = {
                impl ::fratello::__private::MiddlewareDecl for #name {
                    const DEF: &'static ::fratello::__private::MiddlewareDef = &::fratello::__private::MiddlewareDef {
                        name: #name_str,
                        order: #order,
                        scope: #scope,
                        after: #after,
                        run: |#ctx| #call,
                        states: #states,
                        module_path: ::core::module_path!(),
                        file: ::core::file!(),
                        line: #line,
                    };
                }
                #route_impl
                ::fratello::__private::inventory::submit! {
                    ::fratello::__private::MiddlewareRegistration(<#name as ::fratello::__private::MiddlewareDecl>::DEF)
                }
            };
        });
    }
}
