//! The SSE encoder against an independent SSE parser (`eventsource-stream`): whatever text an
//! event's fields hold (line breaks of every kind, colons, field names), the parser reads back
//! exactly the fields that were set, and a comment never becomes a field.

use fratello::Event;
use futures_util::StreamExt;

/// A small deterministic generator (xorshift64), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Up to `max` characters drawn from the ones that matter to the framing.
    fn text(&mut self, max: usize) -> String {
        const PIECES: [&str; 14] = [
            "a", "b", " ", ":", "\r", "\n", "\r\n", "data: x", "event: y", "id: 9", "retry: 1", "é", "\n\n",
            ": ",
        ];
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect()
    }
}

/// Parses `wire`, cut into pieces at `cuts`, with eventsource-stream.
async fn parse(wire: &[u8], cuts: &[usize]) -> Vec<eventsource_stream::Event> {
    let mut pieces = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.min(wire.len()).max(at);
        pieces.push(Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(&wire[at..cut])));
        at = cut;
    }
    pieces.push(Ok(bytes::Bytes::copy_from_slice(&wire[at..])));
    use eventsource_stream::Eventsource;
    futures_util::stream::iter(pieces).eventsource().map(|e| e.expect("a valid stream")).collect().await
}

#[tokio::test]
async fn every_field_round_trips_through_an_independent_parser() {
    let mut rng = Rng(0x5eed_f00d_cafe_b0ba);
    for case in 0..5_000 {
        let (name, id, data, comment) = (rng.text(6), rng.text(6), rng.text(10), rng.text(10));
        let mut event = Event::new().data(&data);
        let with_comment = rng.next() % 2 == 0;
        if with_comment {
            event = event.comment(&comment);
        }
        if !name.is_empty() {
            event = event.event(&name);
        }
        if !id.is_empty() {
            event = event.id(&id);
        }
        let wire = event.to_string();
        let cuts: Vec<usize> = (0..3).map(|_| (rng.next() % (wire.len() as u64 + 1)) as usize).collect();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let parsed = parse(wire.as_bytes(), &cuts).await;
        let what = format!("case {case}: {wire:?}");
        assert_eq!(parsed.len(), 1, "{what}: {parsed:?}");
        let got = &parsed[0];
        // Line breaks inside data split it into lines, which the parser joins with LF.
        assert_eq!(got.data, data.replace("\r\n", "\n").replace('\r', "\n"), "{what}");
        // Line breaks cannot be in a name or an id: they become spaces.
        let one_line = |s: &str| s.replace(['\r', '\n'], " ");
        let want_name = if name.is_empty() { "message".to_owned() } else { one_line(&name) };
        assert_eq!(got.event, want_name, "{what}");
        assert_eq!(got.id, one_line(&id), "{what}");
        assert_eq!(got.retry, None, "{what}: a comment or data set retry");
    }
}
