//! Compile errors of route attributes whose protocol is left out of fratello's features.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
