//! `state(T, ..)`: the app state a route or middleware reads, declared so that the app can
//! refuse to start without it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Type};

use crate::args::Value;
use crate::errors::Errors;

const USAGE: &str = "`state(..)` lists the app state types this fn reads with `ctx.state::<T>()`, e.g. `state(Polls)` or `state(Polls, Db)`";

/// `state(Polls, crate::Db)`: the types, in order, each once.
pub(crate) fn parse(key: &Ident, value: Value, errors: &mut Errors) -> Vec<Type> {
    let group = match value {
        Value::List(group) if group.delimiter() == proc_macro2::Delimiter::Parenthesis => group,
        _ => {
            errors.at(key.span(), USAGE);
            return Vec::new();
        }
    };
    let parser = Punctuated::<Type, syn::Token![,]>::parse_terminated;
    let list = match syn::parse::Parser::parse2(parser, group.stream()) {
        Ok(list) => list,
        Err(error) => {
            errors.push(syn::Error::new(error.span(), USAGE));
            return Vec::new();
        }
    };
    if list.is_empty() {
        errors.at(group.span(), format!("`state()` is empty: {USAGE}, or remove `state()`"));
    }
    let mut types: Vec<Type> = Vec::new();
    for ty in list {
        let text = name(&ty);
        if types.iter().any(|seen| name(seen) == text) {
            errors.spanned(&ty, format!("`{text}` is already listed in `state(..)`; remove this one"));
        } else {
            types.push(ty);
        }
    }
    types
}

/// The type as the user wrote it, without the spaces the token printer puts in.
fn name(ty: &Type) -> String {
    let mut text = ty.to_token_stream().to_string();
    for (spaced, tight) in
        [(" :: ", "::"), (":: ", "::"), (" < ", "<"), ("< ", "<"), (" >", ">"), (" ,", ",")]
    {
        text = text.replace(spaced, tight);
    }
    text
}

/// `&[StateNeed { .. }, ..]` for the descriptor, each type checked to be app state (`Send +
/// Sync + 'static`) with an error at the type.
pub(crate) fn needs(types: &[Type]) -> TokenStream {
    let needs = types.iter().map(|ty| {
        let text = name(ty);
        quote_spanned! {ty.span()=>
            ::fratello::__private::StateNeed {
                type_id: ::fratello::__private::state_type_id::<#ty>,
                name: #text,
            }
        }
    });
    quote!(&[#(#needs),*])
}
