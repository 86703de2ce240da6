//! `#[get]`, `#[post]`, ..., `#[route]`, `#[ws]` and `#[sse]`: parse, validate into a
//! [`Route`], then expand into one `inventory::submit!` of a `RouteDef`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, Lit, LitStr};

use crate::args::{self, Arg, Seen, Value};
use crate::errors::Errors;
use crate::item::{self, OutputSpan};
use crate::path::{self, PathKind, Pattern};
use crate::{debug, param_names, signature, state};

/// The HTTP methods `#[route(.., method = ..)]` accepts.
const METHODS: [&str; 9] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];

/// Which route attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[get]`, `#[post]`, ...: the attribute's name and its one method (upper case).
    Method { name: &'static str, method: &'static str },
    /// `#[route(PATH, method = ..)]`.
    Route,
    /// `#[ws(PATH)]`: a WebSocket upgrade, always `GET`.
    Ws,
    /// `#[sse(PATH)]`: an event stream, always `GET`.
    Sse,
}

impl Kind {
    /// The attribute's name: `get`.
    fn name(self) -> &'static str {
        match self {
            Kind::Method { name, .. } => name,
            Kind::Route => "route",
            Kind::Ws => "ws",
            Kind::Sse => "sse",
        }
    }

    /// The attribute as the user wrote it, for messages: `#[get]`.
    fn attr(self) -> String {
        format!("#[{}]", self.name())
    }

    /// What the attribute accepts, for messages about an argument it does not.
    fn usage(self) -> String {
        match self {
            Kind::Route => "`#[route]` takes a path, `method = \"GET\"` (or `method = [\"GET\", \"POST\"]`), and optionally \
                            `with(mw, ...)` and `state(Type, ...)`, e.g. \
                            `#[route(\"/users/{id}\", method = [\"GET\", \"HEAD\"], with(auth))]`"
                .to_owned(),
            _ => {
                let (attr, name) = (self.attr(), self.name());
                format!(
                    "`{attr}` takes a path, and optionally `with(mw, ...)` and `state(Type, ...)`, e.g. \
                     `#[{name}(\"/users/{{id}}\", with(auth), state(Users))]`"
                )
            }
        }
    }
}

/// A validated route, ready to expand: the attribute's arguments and the handler they apply to.
struct Route {
    kind: Kind,
    methods: Vec<String>,
    path: LitStr,
    /// The path as the router takes it, and its parameters' types.
    pattern: Pattern,
    with: Vec<syn::Path>,
    states: Vec<syn::Type>,
    name: Ident,
    /// Where a return-type error should point.
    output: OutputSpan,
}

/// Expands one route attribute; on any error, the user's item is kept as written next to
/// the errors, so that nothing else breaks in the meantime.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let attr = kind.attr();
    let mut errors = Errors::new();
    let func = item::parse_fn(item.clone(), &attr, &mut errors);
    let route = Route::read(kind, args, func.as_ref(), &mut errors);
    if let Some(func) = &func {
        signature::check(&func.sig, &attr, "handler", &mut errors);
        if let Some(route) = &route {
            param_names::check(func, &route.path, &route.pattern.params, &mut errors);
        }
    }
    let generated = match route {
        Some(route) if errors.is_empty() => route.into_token_stream(),
        _ => errors.to_compile_errors(),
    };
    let expanded = quote!(#item #generated);
    debug::print(&attr, &expanded);
    expanded
}

impl Route {
    /// Reads and checks the attribute's arguments for the handler `func`: the route, or
    /// `None` when something it needs is missing or broken (every problem found is in
    /// `errors`, whether `func` could be read or not).
    fn read(kind: Kind, input: TokenStream, func: Option<&ItemFn>, errors: &mut Errors) -> Option<Route> {
        let (args, parse_errors) = args::parse(input);
        errors.append(parse_errors);
        let mut given = Given::new(kind);
        for arg in args {
            given.take(arg, errors);
        }
        given.check_complete(errors);
        let func = func?;
        Some(Route {
            kind,
            methods: given.methods?,
            path: given.path?,
            pattern: given.pattern,
            with: given.with?,
            states: given.states,
            name: func.sig.ident.clone(),
            output: OutputSpan::of(&func.sig),
        })
    }
}

/// The arguments read so far.
struct Given {
    kind: Kind,
    path: Option<LitStr>,
    pattern: Pattern,
    methods: Option<Vec<String>>,
    with: Option<Vec<syn::Path>>,
    states: Vec<syn::Type>,
    // A path or a `method` that was given but is broken has its own error already:
    // "missing path" / "missing method" would only repeat it.
    path_broken: bool,
    method_given: bool,
    seen: Seen,
}

impl Given {
    fn new(kind: Kind) -> Self {
        let methods = match kind {
            Kind::Method { method, .. } => Some(vec![method.to_owned()]),
            Kind::Ws | Kind::Sse => Some(vec!["GET".to_owned()]),
            Kind::Route => None,
        };
        Given {
            kind,
            path: None,
            pattern: Pattern::default(),
            methods,
            with: Some(Vec::new()),
            states: Vec::new(),
            path_broken: false,
            method_given: false,
            seen: Seen::default(),
        }
    }

    fn take(&mut self, arg: Arg, errors: &mut Errors) {
        match arg {
            Arg::Named { key, value } => self.named(key, value, errors),
            positional => self.positional(positional, errors),
        }
    }

    /// The path, or something where the path goes.
    fn positional(&mut self, arg: Arg, errors: &mut Errors) {
        let kind = self.kind;
        match arg {
            Arg::Lit(Lit::Str(lit)) if self.path.is_none() => {
                self.pattern = path::validate(&lit, PathKind::Route, errors);
                self.path = Some(lit);
            }
            Arg::Lit(Lit::Str(lit)) => errors.at(
                lit.span(),
                "the route path is already given: a route has exactly one path; remove this one",
            ),
            _ if self.path.is_none() => {
                self.path_broken = true;
                errors.spanned(
                    &arg,
                    format!(
                        "the route path must be a string literal (the macro checks it, so it cannot be a const or an \
                         expression), e.g. `{}`",
                        example(kind)
                    ),
                );
            }
            _ => errors.spanned(&arg, format!("unexpected argument: {}", kind.usage())),
        }
    }

    /// `with(..)`, `method = ..`, or a key the attribute does not take.
    fn named(&mut self, key: Ident, value: Value, errors: &mut Errors) {
        let (kind, attr) = (self.kind, self.kind.attr());
        match key.to_string().as_str() {
            "with" => {
                if self.seen.first(&key, errors) {
                    self.with = parse_with(&key, value, errors);
                }
            }
            "state" => {
                if self.seen.first(&key, errors) {
                    self.states = state::parse(&key, value, errors);
                }
            }
            "method" if kind == Kind::Route => {
                if self.seen.first(&key, errors) {
                    self.methods = parse_methods(&key, value, errors);
                    self.method_given = true;
                }
            }
            "method" => {
                let why = match kind {
                    Kind::Method { method, .. } => format!("`{attr}` already answers `{method}`"),
                    _ => format!("a `{attr}` route is always entered with `GET`"),
                };
                errors.at(
                    key.span(),
                    format!("`method` is only for `#[route]`: {why}; remove `method` or use `#[route(\"/path\", method = ..)]`"),
                );
            }
            _ if matches!(value, Value::Flag) && self.path.is_none() => {
                // A bare name where the path goes: most likely a const meant as the path.
                self.path_broken = true;
                errors.at(
                    key.span(),
                    format!(
                        "the route path must be a string literal, not `{key}` (the macro checks the path, so it \
                         cannot come from a const): write it out, e.g. `{}`",
                        example(kind)
                    ),
                );
            }
            _ => errors.at(key.span(), format!("unknown argument `{key}`: {}", kind.usage())),
        }
    }

    /// Reports what is missing: a path, or `#[route]`'s methods.
    fn check_complete(&self, errors: &mut Errors) {
        let (kind, attr) = (self.kind, self.kind.attr());
        if self.path.is_none() && !self.path_broken {
            errors.at(Span::call_site(), format!("`{attr}` needs a path: write `{}`", example(kind)));
        }
        if kind == Kind::Route && !self.method_given {
            errors.at(
                Span::call_site(),
                "`#[route]` needs `method`: write `#[route(\"/path\", method = \"GET\")]` or `method = [\"GET\", \"POST\"]` \
                 (for one method, `#[get(\"/path\")]` and its siblings are shorter)",
            );
        }
    }
}

fn example(kind: Kind) -> String {
    match kind {
        Kind::Route => "#[route(\"/users/{id}\", method = \"GET\")]".to_owned(),
        _ => format!("#[{}(\"/users/{{id}}\")]", kind.name()),
    }
}

/// `with(auth, crate::mw::limit)`: the middleware of this route only, in order.
fn parse_with(key: &Ident, value: Value, errors: &mut Errors) -> Option<Vec<syn::Path>> {
    let group = match value {
        Value::List(group) if group.delimiter() == proc_macro2::Delimiter::Parenthesis => group,
        _ => {
            errors.at(
                key.span(),
                "`with` lists middleware in parentheses: write `with(auth)` or `with(auth, limit)`",
            );
            return None;
        }
    };
    let parser = Punctuated::<syn::Path, syn::Token![,]>::parse_terminated;
    let list = match syn::parse::Parser::parse2(parser, group.stream()) {
        Ok(list) => list,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                "`with(...)` takes the names of `#[middleware]` fns, separated by commas, e.g. `with(auth, crate::mw::limit)`",
            ));
            return None;
        }
    };
    if list.is_empty() {
        errors.at(
            group.span(),
            "`with()` is empty: name at least one middleware, e.g. `with(auth)`, or remove `with()`",
        );
        return None;
    }
    let mut paths: Vec<syn::Path> = Vec::new();
    for path in list {
        let text = path.to_token_stream().to_string().replace(' ', "");
        if paths.iter().any(|seen| seen.to_token_stream().to_string().replace(' ', "") == text) {
            errors.spanned(
                &path,
                format!("middleware `{text}` is already listed in `with(...)`; remove this one"),
            );
        } else {
            paths.push(path);
        }
    }
    Some(paths)
}

/// `method = "GET"` or `method = ["GET", "POST"]`.
fn parse_methods(key: &Ident, value: Value, errors: &mut Errors) -> Option<Vec<String>> {
    const USAGE: &str = "`method` takes a method name or a list of them: `method = \"GET\"` or `method = [\"GET\", \"POST\"]`";
    let expr = match value {
        Value::Eq { expr, .. } => expr,
        _ => {
            errors.at(key.span(), USAGE);
            return None;
        }
    };
    let expr = args::unwrap_expr(&expr);
    let elems: Vec<&Expr> = match expr {
        Expr::Array(array) if array.elems.is_empty() => {
            errors.spanned(
                expr,
                "`method = []` names no method: write at least one, e.g. `method = [\"GET\"]`",
            );
            return None;
        }
        Expr::Array(array) => array.elems.iter().map(args::unwrap_expr).collect(),
        _ => vec![expr],
    };
    let mut methods: Vec<String> = Vec::new();
    let mut ok = true;
    for elem in elems {
        let Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) = elem else {
            errors.spanned(elem, USAGE);
            ok = false;
            continue;
        };
        let method = lit.value();
        if methods.contains(&method) {
            errors.at(lit.span(), format!("method `{method}` is already listed; remove this one"));
        } else if METHODS.contains(&method.as_str()) {
            methods.push(method);
        } else if METHODS.contains(&method.to_ascii_uppercase().as_str()) {
            ok = false;
            errors.at(
                lit.span(),
                format!("HTTP methods are written in upper case: write \"{}\"", method.to_ascii_uppercase()),
            );
        } else {
            ok = false;
            errors.at(
                lit.span(),
                format!("unknown HTTP method `{method}`: expected one of {}", METHODS.join(", ")),
            );
        }
    }
    ok.then_some(methods)
}

impl ToTokens for Route {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let Route { kind, methods, path, pattern, with, states, name, output } = self;
        let ctx = Ident::new("__fratello_ctx", Span::mixed_site());
        let name_str = name.unraw().to_string();
        let (route_kind, erase, variant) = match kind {
            Kind::Method { .. } | Kind::Route => (quote!(Http), "http_handler", quote!(Http)),
            Kind::Ws => (quote!(Ws), "stream_handler", quote!(Stream)),
            Kind::Sse => (quote!(Sse), "stream_handler", quote!(Stream)),
        };
        // A protocol left out of the runtime's features is a compile error at the attribute.
        let require = match kind {
            Kind::Method { .. } | Kind::Route => quote!(),
            Kind::Ws => quote!(::fratello::__private::require_ws!();),
            Kind::Sse => quote!(::fratello::__private::require_sse!();),
        };
        // A return type the protocol does not accept is reported at the return type, with
        // the message of the runtime trait's `#[diagnostic::on_unimplemented]`.
        // An HTTP handler's future goes in the box its connection's last one left, if any.
        let spent = Ident::new("__fratello_spent", Span::mixed_site());
        let (call, params) = match kind {
            Kind::Method { .. } | Kind::Route => {
                (output.erased_call(erase, name, &ctx, Some(&spent)), quote!(#ctx, #spent))
            }
            Kind::Ws | Kind::Sse => (output.erased_call(erase, name, &ctx, None), quote!(#ctx)),
        };
        // Spanned at each name: a name that is not in scope, or not a `route` middleware, is
        // an error at that name.
        let middleware =
            with.iter().map(|mw| quote_spanned!(mw.span()=> ::fratello::__private::route_middleware(&#mw)));
        let states = state::needs(states);
        let (path, param_types) = typed_params(path, pattern);
        let line = quote_spanned!(Span::call_site()=> ::core::line!());

        let handler = Ident::new("__FRATELLO_HANDLER", Span::mixed_site());

        tokens.extend(quote! {
            const _: () = {
                #require
                // A non-capturing closure coerces to the `fn` pointer the variant holds,
                // without this code having to spell the result type. It stays outside of
                // `submit!` so that diagnostics about it are not attributed to that macro.
                const #handler: ::fratello::__private::Handler = ::fratello::__private::Handler::#variant(|#params| #call);
                ::fratello::__private::inventory::submit! {
                    ::fratello::__private::RouteDef {
                        kind: ::fratello::__private::RouteKind::#route_kind,
                        methods: &[#(#methods),*],
                        path: #path,
                        param_types: #param_types,
                        handler: #handler,
                        middleware: &[#(#middleware),*],
                        states: #states,
                        name: #name_str,
                        module_path: ::core::module_path!(),
                        file: ::core::file!(),
                        line: #line,
                    }
                }
            };
        });
    }
}

/// The path as the router takes it (a literal spanned at the user's), and `&[ParamType {
/// .. }, ..]` for its typed parameters, each type checked to be `FromStr` with an error at
/// the path.
fn typed_params(path: &LitStr, pattern: &Pattern) -> (LitStr, TokenStream) {
    let untyped = LitStr::new(&pattern.path, path.span());
    let types = pattern.params.iter().filter_map(|param| {
        let ty: syn::Type = syn::parse_str(param.ty.as_deref()?).ok()?;
        let ty = respan(ty.to_token_stream(), path.span());
        let (name, type_name) = (&param.name, param.ty.as_deref().unwrap_or_default());
        Some(quote_spanned! {path.span()=>
            ::fratello::__private::ParamType {
                name: #name,
                type_name: #type_name,
                parses: ::fratello::__private::parses::<#ty>,
            }
        })
    });
    (untyped, quote!(&[#(#types),*]))
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}
