//! Reading the annotated item.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Item, ItemFn, ReturnType, Signature};

use crate::errors::Errors;

/// The annotated fn, or an error when the attribute sits on something else.
pub(crate) fn parse_fn(item: TokenStream, attr: &str, errors: &mut Errors) -> Option<ItemFn> {
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(func)) => Some(func),
        Ok(other) => {
            errors.at(
                other.span(),
                format!("`{attr}` applies to an `async fn` only, e.g. `async fn hello(ctx: Context)`"),
            );
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// Where an error about the fn's return type should point: from the first to the last
/// token of the return type, or the fn name when there is no `->`.
#[derive(Clone, Copy)]
pub(crate) struct OutputSpan {
    first: Span,
    last: Span,
}

impl OutputSpan {
    pub(crate) fn of(sig: &Signature) -> OutputSpan {
        match &sig.output {
            ReturnType::Type(_, ty) => {
                let mut tokens = ty.to_token_stream().into_iter().map(|tt| tt.span());
                let first = tokens.next().unwrap_or_else(|| ty.span());
                let last = tokens.last().unwrap_or(first);
                OutputSpan { first, last }
            }
            ReturnType::Default => OutputSpan { first: sig.ident.span(), last: sig.ident.span() },
        }
    }

    /// `::fratello::__private::ERASE(NAME(CTX))`, the call that erases the user's future
    /// (`ERASE(NAME(CTX), SPENT)` with `spent`: an HTTP handler's, given the box to refill).
    ///
    /// The helper's trait bound on the future's output is what checks the return type, and
    /// the compiler reports an unmet bound at the argument `NAME(CTX)`: spanned at the
    /// return type, that is where the error points, with no label elsewhere. (Spanning the
    /// closing parenthesis at the type's last token would make the compiler underline only
    /// the part after the first token.)
    pub(crate) fn erased_call(
        self,
        erase: &str,
        name: &Ident,
        ctx: &Ident,
        spent: Option<&Ident>,
    ) -> TokenStream {
        let mut name = name.clone();
        name.set_span(self.first);
        let spent = spent.map(|spent| quote_spanned!(self.first=> , #spent));
        let inner = quote_spanned!(self.first=> #name(#ctx) #spent);
        let mut args = Group::new(Delimiter::Parenthesis, inner);
        args.set_span(self.last);
        let erase = Ident::new(erase, self.first);
        quote_spanned!(self.first=> ::fratello::__private::#erase #args)
    }
}
