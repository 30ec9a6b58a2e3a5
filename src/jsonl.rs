//! The JSONL form of a message, shared by `tail --format jsonl` and the TUI's export.
//!
//! Hand-written rather than serde-derived because it is on the hot path (one line per
//! message at hundreds of thousands of messages per second). Strings go through
//! [`crate::json::json_str`], the same rule as every other JSON redtail writes: C1
//! controls, DEL, bidi and other invisible format characters become `\uXXXX` too, so
//! JSONL printed to a terminal is as safe as the text format. Decoders get exactly the
//! same string either way.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::json::{json_bytes, json_str_bytes};
use crate::redis::message::{Gap, KeyEvent, Kind, Message};

/// Formats messages, caching the timestamp text: every message of one socket read shares
/// its receive time.
#[derive(Default)]
pub struct JsonlWriter {
    last_ts: Option<DateTime<Utc>>,
    ts_text: String,
}

impl JsonlWriter {
    /// `{"ts":…,"kind":…,"channel":…,"pattern":…|null,"payload":…}` plus `payload_b64`
    /// (instead of `payload`) for invalid UTF-8, `channel_b64` for a binary channel and
    /// `pattern_b64` for a binary pattern.
    /// A stream entry is `{"ts":…,"kind":"xentry","stream":…,"id":…,"fields":[[n,v],…]}`
    /// with real JSON strings, and `{"b64":"…"}` for a key, name or value that is not
    /// UTF-8.
    pub fn write(&mut self, m: &Message, out: &mut Vec<u8>) {
        if self.last_ts != Some(m.received) {
            self.ts_text = m.received.to_rfc3339_opts(SecondsFormat::Micros, true);
            self.last_ts = Some(m.received);
        }
        out.extend_from_slice(b"{\"ts\":\"");
        out.extend_from_slice(self.ts_text.as_bytes());
        if m.kind == Kind::StreamEntry && write_stream_entry(m, out) {
            return;
        }
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(m.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"channel\":");
        if !json_str_bytes(&m.channel, out) {
            json_str(&crate::text::escape::escape_line(&m.channel), out);
            out.extend_from_slice(b",\"channel_b64\":");
            b64(&m.channel, out);
        }
        out.extend_from_slice(b",\"pattern\":");
        match &m.pattern {
            None => out.extend_from_slice(b"null"),
            Some(p) => {
                if !json_str_bytes(p, out) {
                    json_str(&crate::text::escape::escape_line(p), out);
                    out.extend_from_slice(b",\"pattern_b64\":");
                    b64(p, out);
                }
            }
        }
        // One pass over the payload: UTF-8 is checked while escaping.
        out.extend_from_slice(b",\"payload\":");
        if !json_str_bytes(&m.payload, out) {
            out.truncate(out.len() - b"payload\":".len());
            out.extend_from_slice(b"payload_b64\":");
            b64(&m.payload, out);
        }
        out.extend_from_slice(b"}\n");
    }
}

impl JsonlWriter {
    /// `{"ts":…,"kind":"keyspace","db":0,"key":…,"event":…,"node":"host:port"}`, with
    /// `key_b64` beside an escaped `key` when the key is not UTF-8.
    pub fn write_key_event(&mut self, e: &KeyEvent, out: &mut Vec<u8>) {
        if self.last_ts != Some(e.received) {
            self.ts_text = e.received.to_rfc3339_opts(SecondsFormat::Micros, true);
            self.last_ts = Some(e.received);
        }
        out.extend_from_slice(b"{\"ts\":\"");
        out.extend_from_slice(self.ts_text.as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"keyspace\",\"db\":");
        out.extend_from_slice(e.db.to_string().as_bytes());
        out.extend_from_slice(b",\"key\":");
        if !json_str_bytes(&e.key, out) {
            json_str(&crate::text::escape::escape_line(&e.key), out);
            out.extend_from_slice(b",\"key_b64\":");
            b64(&e.key, out);
        }
        out.extend_from_slice(b",\"event\":");
        if !json_str_bytes(&e.event, out) {
            json_str(&crate::text::escape::escape_line(&e.event), out);
        }
        out.extend_from_slice(b",\"node\":");
        json_str(&e.node, out);
        out.extend_from_slice(b"}\n");
    }
}

/// The stream-tail payload (`stream_tail::render_payload`), read back so its fields
/// become real JSON in the line rather than a string holding JSON.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryPayload {
    id: String,
    fields: Vec<[Part; 2]>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Part {
    Text(String),
    Bin { b64: String },
}

/// Writes the rest of a stream entry's line after `"ts":"…`; false (nothing written)
/// when the payload is not a stream-tail payload.
fn write_stream_entry(m: &Message, out: &mut Vec<u8>) -> bool {
    let Ok(entry) = serde_json::from_slice::<EntryPayload>(&m.payload) else {
        return false;
    };
    out.extend_from_slice(b"\",\"kind\":\"xentry\",\"stream\":");
    json_bytes(&m.channel, out);
    out.extend_from_slice(b",\"id\":");
    json_str(&entry.id, out);
    out.extend_from_slice(b",\"fields\":[");
    for (i, pair) in entry.fields.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"[" } else { b",[" });
        for (j, part) in pair.iter().enumerate() {
            if j == 1 {
                out.push(b',');
            }
            match part {
                Part::Text(text) => json_str(text, out),
                Part::Bin { b64 } => {
                    out.extend_from_slice(b"{\"b64\":");
                    json_str(b64, out);
                    out.push(b'}');
                }
            }
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]}\n");
    true
}

/// Adds `"decoded":…,"decoded_as":"gzip+msgpack"` (or `"decode_error":"…"`) to a line
/// [`JsonlWriter::write`] just wrote into `line` (it ends with `}\n`). Plain text under
/// `auto` adds nothing. The value goes through the one JSON writer's escaping rule.
pub fn append_decoded(
    line: &mut Vec<u8>,
    result: &Result<crate::decode::Decoded, crate::decode::Failure>,
) {
    if !line.ends_with(b"}\n") {
        return;
    }
    let fields_start = line.len() - 2;
    line.truncate(fields_start);
    match result {
        Ok(decoded) => {
            line.extend_from_slice(b",\"decoded\":");
            if crate::json::to_writer_safe(&mut *line, &decoded.value).is_err() {
                line.truncate(fields_start);
            } else {
                line.extend_from_slice(b",\"decoded_as\":");
                json_str(&decoded.chain_id(), line);
            }
        }
        Err(crate::decode::Failure::PlainText) => {}
        Err(failure) => {
            line.extend_from_slice(b",\"decode_error\":");
            json_str(&failure.reason(), line);
        }
    }
    line.extend_from_slice(b"}\n");
}

/// One message as a JSONL line (for one-off use; loops should keep a [`JsonlWriter`]).
pub fn format_jsonl(m: &Message, out: &mut Vec<u8>) {
    JsonlWriter::default().write(m, out);
}

pub fn gap_jsonl(g: &Gap, out: &mut Vec<u8>) {
    let v = serde_json::json!({
        "kind": "gap",
        "from": g.from.to_rfc3339_opts(SecondsFormat::Micros, true),
        "to": g.to.to_rfc3339_opts(SecondsFormat::Micros, true),
        "duration_s": g.duration().as_secs_f64(),
        "reason": g.reason,
        "handover": g.handover,
    });
    if crate::json::to_writer_safe(&mut *out, &v).is_ok() {
        out.push(b'\n');
    }
}

/// Standard base64 in quotes, encoded straight into `out`.
fn b64(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let start = out.len();
    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + encoded_len, 0);
    let engine = base64::engine::general_purpose::STANDARD;
    match engine.encode_slice(bytes, &mut out[start..]) {
        Ok(written) => out.truncate(start + written),
        Err(_) => {
            // Not reached (the slice is the exact size); the allocating form is correct.
            out.truncate(start);
            out.extend_from_slice(engine.encode(bytes).as_bytes());
        }
    }
    out.push(b'"');
}

pub use crate::json::json_str;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::redis::message::Kind;
    use bytes::Bytes;

    /// A message received at a fixed time (shared with the tail command's tests).
    pub(crate) fn msg(
        kind: Kind,
        pattern: Option<&'static [u8]>,
        channel: &'static [u8],
        payload: &'static [u8],
    ) -> Message {
        Message {
            seq: 1,
            received: DateTime::parse_from_rfc3339("2026-11-22T01:02:03.456789Z")
                .map(|d| d.to_utc())
                .unwrap_or_default(),
            kind,
            pattern: pattern.map(Bytes::from_static),
            channel: Bytes::from_static(channel),
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn text_and_binary_messages() {
        let mut out = Vec::new();
        format_jsonl(
            &msg(Kind::PMessage, Some(b"ai:*"), b"ai:1", b"{\"a\":1}"),
            &mut out,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ts"], "2026-11-22T01:02:03.456789Z");
        assert_eq!(v["kind"], "pmessage");
        assert_eq!(v["pattern"], "ai:*");
        assert_eq!(v["payload"], "{\"a\":1}");
        assert!(v.get("payload_b64").is_none());
        assert!(out.ends_with(b"}\n"));

        out.clear();
        format_jsonl(
            &msg(Kind::SMessage, None, b"b\xff", b"\x00\xff\x1b"),
            &mut out,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "smessage");
        assert!(v["pattern"].is_null());
        assert_eq!(v["payload_b64"], "AP8b");
        assert!(v.get("payload").is_none());
        assert_eq!(v["channel_b64"], "Yv8=");
        assert_eq!(v["channel"], "b\\xff");
        // A binary pattern: escaped for reading, and its bytes as base64 (an escaped
        // `\xff*` could not be told from a pattern written with a backslash).
        let mut out = Vec::new();
        JsonlWriter::default().write(
            &msg(Kind::PMessage, Some(b"\xff*"), b"\xffc", b"p"),
            &mut out,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["pattern"], "\\xff*");
        assert_eq!(v["pattern_b64"], "/yo=");
    }

    #[test]
    fn keyspace_events_have_their_own_shape_with_key_b64_for_binary_keys() {
        let mut e = crate::redis::message::KeyEvent {
            seq: 1,
            received: msg(Kind::Message, None, b"", b"").received,
            node: std::sync::Arc::from("10.0.0.1:7001"),
            db: 3,
            key: Bytes::from_static(b"user:\xe2\x80\xae1"),
            event: Bytes::from_static(b"expired"),
        };
        let mut out = Vec::new();
        JsonlWriter::default().write_key_event(&e, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"ts\":\"2026-11-22T01:02:03.456789Z\",\"kind\":\"keyspace\",\"db\":3,\
             \"key\":\"user:\\u202e1\",\"event\":\"expired\",\"node\":\"10.0.0.1:7001\"}\n"
        );
        e.key = Bytes::from_static(b"k\xff\x1b");
        out.clear();
        JsonlWriter::default().write_key_event(&e, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["key"], "k\\xff\\x1b");
        assert_eq!(v["key_b64"], "a/8b");
        assert!(!out.contains(&0x1b));
    }

    #[test]
    fn strings_round_trip_exactly_and_nothing_unsafe_is_raw() {
        let samples = [
            "plain",
            "quote \" backslash \\ slash /",
            "nl\ncr\rtab\tnul\0esc\x1b del\x7f",
            "c1 \u{9b} bidi \u{202e} zw \u{200b} ls \u{2028} tag \u{e0041}",
            "日本語 emoji 🦀 é",
            "",
        ];
        for s in samples {
            let mut out = Vec::new();
            json_str(s, &mut out);
            let text = std::str::from_utf8(&out).unwrap();
            assert!(crate::json::is_terminal_safe(text), "{text:?}");
            let back: String = serde_json::from_str(text).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn stream_entries_are_real_json_with_b64_for_binary_parts() {
        use crate::redis::streams::{StreamEntry, StreamId};
        let entry = StreamEntry {
            id: StreamId::new(5, 1),
            fields: vec![
                (Bytes::from_static(b"a=b c"), Bytes::from_static(b"\xff")),
                (
                    Bytes::from_static(b"a=b c"),
                    Bytes::from_static(b"\xe2\x80\xae"),
                ),
            ],
        };
        let mut m = msg(Kind::StreamEntry, None, b"s\xfe", b"");
        m.payload = crate::redis::stream_tail::render_payload(&entry);
        let mut out = Vec::new();
        format_jsonl(&m, &mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            text,
            "{\"ts\":\"2026-11-22T01:02:03.456789Z\",\"kind\":\"xentry\",\"stream\":{\"b64\":\"c/4=\"},\
             \"id\":\"5-1\",\"fields\":[[\"a=b c\",{\"b64\":\"/w==\"}],[\"a=b c\",\"\\u202e\"]]}\n"
        );
        // A payload some other producer made is printed as a plain message.
        let mut out = Vec::new();
        format_jsonl(&msg(Kind::StreamEntry, None, b"s", b"1-0 k=v"), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["payload"], "1-0 k=v");
    }

    /// `write` as it was before the one-pass escaper: `str::from_utf8`, then the escaper.
    fn write_before(m: &Message, out: &mut Vec<u8>) {
        use base64::Engine as _;
        let b64 = |bytes: &[u8], out: &mut Vec<u8>| {
            let text = base64::engine::general_purpose::STANDARD.encode(bytes);
            out.extend_from_slice(format!("\"{text}\"").as_bytes());
        };
        let ts = m.received.to_rfc3339_opts(SecondsFormat::Micros, true);
        out.extend_from_slice(format!("{{\"ts\":\"{ts}\",\"kind\":\"").as_bytes());
        out.extend_from_slice(m.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"channel\":");
        match std::str::from_utf8(&m.channel) {
            Ok(text) => json_str(text, out),
            Err(_) => {
                json_str(&crate::text::escape::escape_line(&m.channel), out);
                out.extend_from_slice(b",\"channel_b64\":");
                b64(&m.channel, out);
            }
        }
        out.extend_from_slice(b",\"pattern\":");
        match &m.pattern {
            None => out.extend_from_slice(b"null"),
            Some(p) => match std::str::from_utf8(p) {
                Ok(text) => json_str(text, out),
                Err(_) => {
                    json_str(&crate::text::escape::escape_line(p), out);
                    out.extend_from_slice(b",\"pattern_b64\":");
                    b64(p, out);
                }
            },
        }
        match std::str::from_utf8(&m.payload) {
            Ok(text) => {
                out.extend_from_slice(b",\"payload\":");
                json_str(text, out);
            }
            Err(_) => {
                out.extend_from_slice(b",\"payload_b64\":");
                b64(&m.payload, out);
            }
        }
        out.extend_from_slice(b"}\n");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        #[test]
        fn lines_are_byte_identical_to_the_two_pass_writer(
            channel in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            pattern in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8)),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            ascii_payload in proptest::prelude::any::<bool>(),
        ) {
            let payload: Vec<u8> = if ascii_payload {
                payload.iter().map(|b| b & 0x7f).collect()
            } else {
                payload
            };
            let mut m = msg(Kind::PMessage, None, b"", b"");
            m.channel = Bytes::from(channel);
            m.pattern = pattern.map(Bytes::from);
            m.payload = Bytes::from(payload);
            let (mut now, mut before) = (b"x".to_vec(), b"x".to_vec());
            JsonlWriter::default().write(&m, &mut now);
            write_before(&m, &mut before);
            proptest::prop_assert_eq!(now, before);
        }
    }

    #[test]
    fn shared_timestamps_are_reused_but_correct() {
        let mut w = JsonlWriter::default();
        let a = msg(Kind::Message, None, b"c", b"1");
        let mut b = a.clone();
        b.received += chrono::TimeDelta::milliseconds(5);
        let mut out = Vec::new();
        w.write(&a, &mut out);
        w.write(&a, &mut out);
        w.write(&b, &mut out);
        let ts: Vec<String> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).unwrap()["ts"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            ts,
            [
                "2026-11-22T01:02:03.456789Z",
                "2026-11-22T01:02:03.456789Z",
                "2026-11-22T01:02:03.461789Z"
            ]
        );
    }
}
