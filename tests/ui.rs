//! Compile-fail cases of the attribute macros: each `tests/ui/<macro>/<case>.rs` must fail
//! to build with exactly the diagnostics in the `.stderr` beside it.
//!
//! After changing a message, regenerate with `TRYBUILD=overwrite cargo test --test ui`
//! and review the diff of the `.stderr` files.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
}
