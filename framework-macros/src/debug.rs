//! `FRATELLO_MACROS_DEBUG=1` prints every expansion to stderr while compiling.

use proc_macro2::TokenStream;

/// Prints `expanded` when `FRATELLO_MACROS_DEBUG` is set to anything but `0` or empty.
///
/// Cargo does not track this variable: after setting it, touch the file (or
/// `cargo clean -p` the crate) so the macros run again.
pub(crate) fn print(attr: &str, expanded: &TokenStream) {
    let on = std::env::var_os("FRATELLO_MACROS_DEBUG").is_some_and(|value| !value.is_empty() && value != "0");
    if on {
        eprintln!("---- fratello: {attr} expands to ----\n{expanded}\n");
    }
}
