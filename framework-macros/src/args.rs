//! A forgiving parser for attribute arguments.
//!
//! `syn`'s `Parse` stops at the first unexpected token, which would show a user one bad
//! argument per build. Instead the arguments are first split at top-level commas, and each
//! piece is classified on its own: a piece that makes no sense becomes [`Arg::Other`], and
//! the macro that owns the arguments decides what to say about it. The argument grammar is
//! deliberately small:
//!
//! ```text
//! args  := (arg ("," arg)*)? ","?
//! arg   := LITERAL | KEY | KEY "=" EXPR | KEY "(" TOKENS ")"
//! ```

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;

use crate::errors::Errors;

/// One comma-separated attribute argument.
pub(crate) enum Arg {
    /// A positional literal, e.g. the route path `"/users/{id}"`.
    Lit(syn::Lit),
    /// `key`, `key = value` or `key(...)`.
    Named { key: Ident, value: Value },
    /// Anything else; never empty.
    Other(TokenStream),
}

/// The value part of [`Arg::Named`].
pub(crate) enum Value {
    /// A bare flag: `after`.
    Flag,
    /// `key = EXPR`; `eq` is the span of the `=` sign.
    Eq { eq: Span, expr: syn::Expr },
    /// `key(...)` (or, wrongly, `key[...]` / `key{...}`).
    List(Group),
}

impl ToTokens for Arg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Arg::Lit(lit) => lit.to_tokens(tokens),
            Arg::Named { key, value } => {
                key.to_tokens(tokens);
                match value {
                    Value::Flag => {}
                    Value::Eq { eq, expr } => {
                        syn::Token![=](*eq).to_tokens(tokens);
                        expr.to_tokens(tokens);
                    }
                    Value::List(group) => group.to_tokens(tokens),
                }
            }
            Arg::Other(other) => other.to_tokens(tokens),
        }
    }
}

/// Splits `input` into arguments; every piece that cannot be read as an expression where
/// one is expected is reported in the returned errors and left out.
pub(crate) fn parse(input: TokenStream) -> (Vec<Arg>, Errors) {
    let mut args = Vec::new();
    let mut errors = Errors::new();
    for piece in split_commas(input) {
        match classify(piece) {
            Ok(arg) => args.push(arg),
            Err(error) => errors.push(error),
        }
    }
    (args, errors)
}

/// Splits at top-level commas (a comma inside a group is a single token tree's business),
/// dropping empty pieces so that a trailing comma is accepted.
fn split_commas(input: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut pieces = Vec::new();
    let mut current = Vec::new();
    for tt in input {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => pieces.push(std::mem::take(&mut current)),
            _ => current.push(tt),
        }
    }
    pieces.push(current);
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

fn classify(piece: Vec<TokenTree>) -> syn::Result<Arg> {
    // A `macro_rules!` fragment (`#[get($path)]` with `$path:literal`) arrives wrapped in
    // an invisible group.
    if let [TokenTree::Group(group)] = piece.as_slice() {
        if group.delimiter() == Delimiter::None {
            return classify(group.stream().into_iter().collect());
        }
    }
    match piece.as_slice() {
        [TokenTree::Literal(_)] => Ok(Arg::Lit(syn::parse2(piece.into_iter().collect())?)),
        [TokenTree::Ident(key)] => Ok(Arg::Named { key: key.clone(), value: Value::Flag }),
        [TokenTree::Ident(key), TokenTree::Group(group)] if group.delimiter() != Delimiter::None => {
            Ok(Arg::Named { key: key.clone(), value: Value::List(group.clone()) })
        }
        [TokenTree::Ident(key), TokenTree::Punct(eq), rest @ ..]
            if eq.as_char() == '=' && eq.spacing() == proc_macro2::Spacing::Alone =>
        {
            let rest: TokenStream = rest.iter().cloned().collect();
            if rest.is_empty() {
                return Err(syn::Error::new(eq.span(), format!("`{key} =` needs a value after the `=`")));
            }
            let expr = syn::parse2(rest)?;
            Ok(Arg::Named { key: key.clone(), value: Value::Eq { eq: eq.span(), expr } })
        }
        _ => Ok(Arg::Other(piece.into_iter().collect())),
    }
}

/// Tracks which keys were given, to report the *second* of two duplicates.
#[derive(Default)]
pub(crate) struct Seen(Vec<String>);

impl Seen {
    /// `true` the first time `key` is seen; reports a duplicate otherwise.
    pub(crate) fn first(&mut self, key: &Ident, errors: &mut Errors) -> bool {
        let name = key.to_string();
        if self.0.contains(&name) {
            errors.at(
                key.span(),
                format!("duplicate argument `{name}`: it is already given above; remove this one"),
            );
            false
        } else {
            self.0.push(name);
            true
        }
    }
}

/// `expr` without the invisible groups around a `macro_rules!` fragment (`$order:expr`).
pub(crate) fn unwrap_expr(mut expr: &syn::Expr) -> &syn::Expr {
    while let syn::Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn kinds(input: TokenStream) -> Vec<&'static str> {
        let (args, errors) = parse(input);
        assert!(errors.is_empty());
        args.iter()
            .map(|arg| match arg {
                Arg::Lit(_) => "lit",
                Arg::Named { value: Value::Flag, .. } => "flag",
                Arg::Named { value: Value::Eq { .. }, .. } => "eq",
                Arg::Named { value: Value::List(_), .. } => "list",
                Arg::Other(_) => "other",
            })
            .collect()
    }

    #[test]
    fn classifies_each_piece() {
        assert_eq!(
            kinds(quote!("/a", with(a, b), method = ["GET", "POST"], after,)),
            ["lit", "list", "eq", "flag"]
        );
        assert_eq!(kinds(quote!(order = -3)), ["eq"]);
        assert_eq!(kinds(quote!(/a/b, concat!("/a"), PATH)), ["other", "other", "flag"]);
        assert_eq!(kinds(quote!()), Vec::<&str>::new());
    }

    #[test]
    fn looks_through_macro_rules_fragments() {
        let path = Group::new(Delimiter::None, quote!("/a"));
        assert_eq!(kinds(quote!(#path)), ["lit"]);
    }

    #[test]
    fn reports_a_bad_value_and_goes_on() {
        let (args, errors) = parse(quote!(order = , path = "/a"));
        assert!(!errors.is_empty());
        assert_eq!(args.len(), 1);
    }
}
