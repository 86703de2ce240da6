//! Collects every error of one macro invocation, so a user sees them all in one build.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// A growing list of `syn::Error`s, merged with `syn::Error::combine`.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.first {
            Some(first) => first.combine(error),
            None => self.first = Some(error),
        }
    }

    /// An error at one span.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering `tokens` from their first to their last token.
    ///
    /// `syn::Error::new_spanned` keeps both ends, so the underline covers the whole type or
    /// argument even on stable, where `Span::join` is not available.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn append(&mut self, other: Errors) {
        if let Some(error) = other.first {
            self.push(error);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// `compile_error!` invocations for every error (empty when there is none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.first.as_ref().map(syn::Error::to_compile_error).unwrap_or_default()
    }
}
