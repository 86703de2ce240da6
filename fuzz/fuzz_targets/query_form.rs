//! Query strings and form bodies as a Context reads them (`ctx.query()`, `ctx.form()`) into
//! typed structs of `String`, `Option<u32>` and `Vec<String>` fields.
//!
//! Checks:
//! - any input, as a query string and as a form body, is read into each struct or refused
//!   with an error (400 for a query, 400 or 415 for a form), never a panic;
//! - whatever was read comes back equal when encoded again (`serde_html_form`) and read
//!   again, as a query and as a form;
//! - a struct made from the input (any texts, numbers and lists) comes back equal when
//!   encoded and read, as a query and as a form.
#![no_main]

use std::fmt::Debug;

use fratello::fuzzing::Harness;
use fratello::prelude::*;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, Arbitrary)]
struct Search {
    q: String,
    page: Option<u32>,
    #[serde(default)]
    tag: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Arbitrary)]
struct Login {
    user: String,
    pass: String,
    remember: Option<u32>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Arbitrary)]
struct Lists {
    #[serde(default)]
    a: Vec<String>,
    #[serde(default)]
    b: Vec<String>,
    n: Option<u32>,
}

/// An app needs a route to start; the Contexts made here are not routed.
#[get("/")]
async fn index(_ctx: Context) -> &'static str {
    ""
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    static APP: Harness = Harness::new(App::new()).expect("the app starts");
}

/// `value` encoded, then read as a query and as a form: equal to `value` both ways.
fn round_trip<T>(app: &Harness, rt: &tokio::runtime::Runtime, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let encoded = serde_html_form::to_string(value).expect("a struct of texts and numbers encodes");
    let query: T = match app.query(&encoded) {
        Some(read) => read.unwrap_or_else(|e| panic!("{value:?} as `{encoded}`: {e}")),
        None => panic!("`{encoded}` (from {value:?}) is not a request target"),
    };
    assert_eq!(&query, value, "as the query `{encoded}`");
    let form: T = rt
        .block_on(app.form(encoded.clone().into()))
        .unwrap_or_else(|e| panic!("{value:?} as the form `{encoded}`: {e}"));
    assert_eq!(&form, value, "as the form `{encoded}`");
}

/// The input read as a query and as a form into `T`; what was read makes the round trip.
fn read_any<T>(app: &Harness, rt: &tokio::runtime::Runtime, data: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    if let Some(Ok(value)) = std::str::from_utf8(data).ok().and_then(|q| app.query::<T>(q)) {
        round_trip(app, rt, &value);
    }
    match rt.block_on(app.form::<T>(bytes::Bytes::copy_from_slice(data))) {
        Ok(value) => round_trip(app, rt, &value),
        Err(e) => assert!(e.status() == StatusCode::BAD_REQUEST, "{e} ({})", e.status()),
    }
}

/// A struct made from `data`, round-tripped.
fn made<'a, T>(app: &Harness, rt: &tokio::runtime::Runtime, data: &'a [u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug + Arbitrary<'a>,
{
    if let Ok(value) = T::arbitrary_take_rest(Unstructured::new(data)) {
        round_trip(app, rt, &value);
    }
}

fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|rt| {
        APP.with(|app| {
            read_any::<Search>(app, rt, data);
            read_any::<Login>(app, rt, data);
            read_any::<Lists>(app, rt, data);
            made::<Search>(app, rt, data);
            made::<Login>(app, rt, data);
            made::<Lists>(app, rt, data);
        })
    })
});
