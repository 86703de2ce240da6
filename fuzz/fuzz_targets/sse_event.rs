//! The SSE encoder against an independent parser (`eventsource-stream`): an event made of any
//! four texts (name, id, data, comment), encoded by fratello and cut into pieces, parses back
//! as exactly one event with exactly those fields; nothing in a comment or the data can start
//! a field of its own.
#![no_main]

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, String, String, u16)| {
    let (name, id, data, comment, cut) = input;
    // An id holding NUL is ignored by parsers, as the SSE spec says: not what is tested here.
    let id = id.replace('\0', "");
    let mut event = fratello::Event::new().data(&data).comment(&comment);
    if !name.is_empty() {
        event = event.event(&name);
    }
    if !id.is_empty() {
        event = event.id(&id);
    }
    let wire = event.to_string().into_bytes();
    let cut = usize::from(cut) % (wire.len() + 1);
    let pieces = vec![
        Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(&wire[..cut])),
        Ok(bytes::Bytes::copy_from_slice(&wire[cut..])),
    ];
    use eventsource_stream::Eventsource;
    let parsed: Vec<_> = futures_executor::block_on(
        futures_util::stream::iter(pieces).eventsource().map(|e| e.expect("a valid stream")).collect(),
    );
    assert_eq!(parsed.len(), 1, "{wire:?}");
    let got = &parsed[0];
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    assert_eq!(got.data, data.replace("\r\n", "\n").replace('\r', "\n"));
    assert_eq!(got.event, if name.is_empty() { "message".to_owned() } else { one_line(&name) });
    assert_eq!(got.id, one_line(&id));
    assert_eq!(got.retry, None);
});
