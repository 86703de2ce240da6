//! `#[middleware]`: parse, validate into a [`Middleware`], then expand into a hidden type
//! of the same name that carries the descriptor, and one `inventory::submit!`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Expr, ExprLit, ExprUnary, Ident, ItemFn, Lit, LitStr, UnOp, Visibility};

use crate::args::{self, Arg, Seen, Value};
use crate::errors::Errors;
use crate::item::{self, OutputSpan};
use crate::path::{self, PathKind};
use crate::{debug, signature};

const ATTR: &str = "#[middleware]";
const USAGE: &str =
    "`#[middleware]` takes `order = N` (lower runs first, default 0), `path = \"/prefix\"` and `after`, \
                     all optional, e.g. `#[middleware(path = \"/api\", order = 10)]`";

/// A validated middleware, ready to expand.
struct Middleware {
    args: Args,
    name: Ident,
    vis: Visibility,
    output: OutputSpan,
}

/// The arguments of `#[middleware]`, validated.
#[derive(Default)]
struct Args {
    order: i32,
    path: Option<LitStr>,
    after: bool,
}

/// Expands `#[middleware]`; on any error, the user's fn is kept as written next to the errors.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let func = item::parse_fn(item.clone(), ATTR, &mut errors);
    let args = Args::validate(args, &mut errors);
    if let Some(func) = &func {
        signature::check(&func.sig, ATTR, "fn", &mut errors);
    }
    let generated = match func {
        Some(func) if errors.is_empty() => Middleware::new(args, &func).into_token_stream(),
        _ => errors.to_compile_errors(),
    };
    let expanded = quote!(#item #generated);
    debug::print(ATTR, &expanded);
    expanded
}

impl Args {
    fn validate(input: TokenStream, errors: &mut Errors) -> Args {
        let (args, parse_errors) = args::parse(input);
        errors.append(parse_errors);
        let mut out = Args::default();
        let mut seen = Seen::default();
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
                        out.order = parse_order(&key, value, errors).unwrap_or_default();
                    }
                }
                "path" => {
                    if seen.first(&key, errors) {
                        out.path = parse_path(&key, value, errors);
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
    const USAGE: &str = "`path` takes a string literal prefix, e.g. `path = \"/api\"`";
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
    fn new(args: Args, func: &ItemFn) -> Middleware {
        Middleware {
            args,
            name: func.sig.ident.clone(),
            vis: func.vis.clone(),
            output: OutputSpan::of(&func.sig),
        }
    }
}

impl ToTokens for Middleware {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Middleware { args: Args { order, path, after }, name, vis, output } = self;
        let ctx = Ident::new("__fratello_ctx", Span::mixed_site());
        let name_str = name.unraw().to_string();
        let path = match path {
            Some(path) => quote!(::core::option::Option::Some(#path)),
            None => quote!(::core::option::Option::None),
        };
        // A return type other than `()` or `Result<()>` is reported at the return type.
        let call = output.erased_call("middleware_handler", name, &ctx);
        let line = quote_spanned!(Span::call_site()=> ::core::line!());

        // The struct shares the fn's name in the type namespace, so `use m::auth;` brings
        // both and `with(auth)` finds the descriptor through `MiddlewareDecl`. It must sit
        // beside the fn (not inside the `const _`) to be nameable from elsewhere.
        tokens.extend(quote! {
            #[doc(hidden)]
            #[allow(non_camel_case_types, dead_code)]
            #vis struct #name {}

            const _: () = {
                impl ::fratello::__private::MiddlewareDecl for #name {
                    const DEF: &'static ::fratello::__private::MiddlewareDef = &::fratello::__private::MiddlewareDef {
                        name: #name_str,
                        order: #order,
                        path: #path,
                        after: #after,
                        run: |#ctx| #call,
                        module_path: ::core::module_path!(),
                        file: ::core::file!(),
                        line: #line,
                    };
                }
                ::fratello::__private::inventory::submit! {
                    ::fratello::__private::MiddlewareRegistration(<#name as ::fratello::__private::MiddlewareDecl>::DEF)
                }
            };
        });
    }
}
