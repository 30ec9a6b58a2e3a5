//! Decoding payloads made by real encoders (Python's msgpack, cbor2, gzip, zlib,
//! zstandard, lz4, python-snappy, base64 — `scripts/ensure-deps.sh` installs them)
//! published through a real server into `redtail tail --decode`.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{wait_subscribed, Proc, Server};
use redis::Commands;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

/// The object every producer encodes.
fn original() -> Value {
    json!({
        "event": "message",
        "room": "lobby",
        "user": {"id": 42, "name": "ada \u{202e}evil"},
        "tags": ["a", "b"],
        "n": -7,
        "ok": true,
        "none": null,
        "score": 1.5
    })
}

/// `python3` running `script` with the original object as `obj`; stdout lines are hex.
/// Panics with the reason when a Python package is missing: the test would otherwise
/// prove nothing.
pub fn python_payloads(script: &str) -> Vec<Vec<u8>> {
    let prelude = "import json, os, gzip, zlib, base64\n\
                   obj = json.loads(os.environ['REDTAIL_OBJ'])\n\
                   def out(b): print(b.hex())\n";
    let output = Command::new("python3")
        .env("REDTAIL_OBJ", original().to_string())
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        output.status.success(),
        "python3 failed (run scripts/ensure-deps.sh for msgpack, cbor2, zstandard, lz4, \
         python-snappy): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap_or_default())
                .collect()
        })
        .collect()
}

/// Producers, in order, with the `decoded_as` each must give under `--decode auto`.
const PRODUCERS: &str = r#"
import msgpack, cbor2, zstandard, lz4.frame, snappy
out(msgpack.packb(obj))
out(cbor2.dumps(obj))
out(gzip.compress(json.dumps(obj).encode()))
out(gzip.compress(msgpack.packb(obj)))
out(zlib.compress(msgpack.packb(obj)))
out(zstandard.ZstdCompressor().compress(json.dumps(obj).encode()))
out(lz4.frame.compress(cbor2.dumps(obj)))
out(snappy.compress(msgpack.packb(obj)))
out(snappy.StreamCompressor().add_chunk(json.dumps(obj).encode()))
out(base64.b64encode(msgpack.packb(obj)))
out(base64.b64encode(gzip.compress(json.dumps(obj).encode())))
"#;

const CHAINS: [&str; 11] = [
    "msgpack",
    "cbor",
    "gzip+json",
    "gzip+msgpack",
    "zlib+msgpack",
    "zstd+json",
    "lz4+cbor",
    "snappy+msgpack",
    "snappy+json",
    "base64+msgpack",
    "base64+gzip+json",
];

fn tail(server: &Server, extra: &[&str]) -> Proc {
    let mut args = vec!["-c", "enc"];
    args.extend_from_slice(extra);
    common::tail_jsonl(server, &args, 1)
}

#[test]
fn tail_decode_auto_gives_back_what_real_encoders_encoded() {
    let payloads = python_payloads(PRODUCERS);
    assert_eq!(payloads.len(), CHAINS.len());
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    let mut c = server.conn();
    for payload in &payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
    for (payload, chain) in payloads.iter().zip(CHAINS) {
        let v = p.json_line(T);
        assert_eq!(v["decoded_as"], chain, "{v}");
        assert_eq!(v["decoded"], original(), "{chain}: {v}");
        // The raw payload is still there, byte for byte.
        let raw = match v["payload"].as_str() {
            Some(text) => text.as_bytes().to_vec(),
            None => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(v["payload_b64"].as_str().unwrap_or_default())
                    .unwrap_or_default()
            }
        };
        assert_eq!(&raw, payload, "{chain}");
    }
}

/// README "Decoding payloads": CBOR integers beyond 64 bits become a decimal string,
/// also when cbor2 writes them as bignums (tag 2, tag 3 = -1 - n).
#[test]
fn tail_decode_cbor_bignums_from_cbor2_are_decimal_strings() {
    let payloads = python_payloads(
        "import cbor2\nout(cbor2.dumps({'big': 2**70, 'nbig': -2**70}))\nout(cbor2.dumps([2**64 + 1]))\n",
    );
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    let mut c = server.conn();
    for payload in &payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
    let v = p.json_line(T);
    assert_eq!(
        (&v["decoded_as"], &v["decoded"]),
        (
            &json!("cbor"),
            &json!({"big": "1180591620717411303424", "nbig": "-1180591620717411303424"})
        ),
        "{v}"
    );
    let v = p.json_line(T);
    assert_eq!(v["decoded"], json!(["18446744073709551617"]), "{v}");
}

#[test]
fn tail_decode_output_escapes_hostile_decoded_strings() {
    let payloads =
        python_payloads("import msgpack\nout(msgpack.packb({'x': '\\x1b]0;pwn\\x07\\u202e'}))\n");
    let server = Server::start();
    let p = tail(&server, &["--decode", "msgpack"]);
    let _: i64 = server
        .conn()
        .publish("enc", &payloads[0])
        .unwrap_or_default();
    let line = p.line(T).unwrap_or_default();
    assert!(
        line.contains(r#""decoded":{"x":"\u001b]0;pwn\u0007\u202e"}"#),
        "{line}"
    );
    assert!(!line.bytes().any(|b| b < 0x20 || b == 0x7f), "{line:?}");
}

#[test]
fn tail_decode_reports_zip_bombs_and_corrupt_payloads_and_keeps_the_raw_bytes() {
    let payloads = python_payloads(
        "import msgpack\n\
         out(gzip.compress(b'a' * (17 << 20)))\n\
         g = gzip.compress(json.dumps(obj).encode()); out(g[: len(g) // 2])\n\
         out(msgpack.packb(obj)[:-3])\n\
         out(b'just words')\n",
    );
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    let mut c = server.conn();
    for payload in &payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
    let bomb = p.json_line(T);
    assert_eq!(bomb["decode_error"], "gzip: output larger than 16 MiB");
    assert!(bomb.get("decoded").is_none() && bomb.get("payload_b64").is_some());
    let truncated = p.json_line(T);
    assert!(
        truncated["decode_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("gzip: ")),
        "{truncated}"
    );
    let cut = p.json_line(T);
    assert_eq!(cut["decode_error"], "msgpack: truncated", "{cut}");
    let plain = p.json_line(T);
    assert_eq!(plain["payload"], "just words");
    assert!(plain.get("decode_error").is_none() && plain.get("decoded").is_none());
}

#[test]
fn tail_decode_text_format_shows_the_tag_and_compact_value() {
    let payloads = python_payloads("import msgpack\nout(gzip.compress(msgpack.packb([1, 'a'])))\n");
    let server = Server::start();
    let url = server.url();
    let p = Proc::spawn(&["tail", &url, "-c", "enc", "--decode", "auto"]);
    wait_subscribed(&server, 1);
    let _: i64 = server
        .conn()
        .publish("enc", &payloads[0])
        .unwrap_or_default();
    let line = p.line(T).unwrap_or_default();
    assert!(line.ends_with(r#" enc [gzip+msgpack] [1,"a"]"#), "{line}");
}

#[test]
fn config_decode_table_applies_per_channel_and_the_flag_overrides_it() {
    let payloads = python_payloads("import msgpack\nout(msgpack.packb({'a': 1}))\n");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[decode]\n\"socket.io#*\" = \"msgpack\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let server = Server::start();
    let url = server.url();
    let config = config.to_string_lossy().to_string();
    let p = Proc::spawn(&[
        "--config", &config, "tail", &url, "--format", "jsonl", "-p", "*",
    ]);
    wait_subscribed(&server, 1);
    let mut c = server.conn();
    let _: i64 = c.publish("socket.io#/#", &payloads[0]).unwrap_or_default();
    let _: i64 = c.publish("other", &payloads[0]).unwrap_or_default();
    let v = p.json_line(T);
    assert_eq!(
        (&v["decoded_as"], &v["decoded"]),
        (&json!("msgpack"), &json!({"a": 1}))
    );
    let v = p.json_line(T);
    assert!(v.get("decoded").is_none(), "no rule for `other`: {v}");
    drop(p);

    // --decode wins over the table: json on a msgpack payload is an error, said.
    let server = Server::start();
    let url = server.url();
    let p = Proc::spawn(&[
        "--config", &config, "tail", &url, "--format", "jsonl", "-p", "*", "--decode", "json",
    ]);
    wait_subscribed(&server, 1);
    let _: i64 = server
        .conn()
        .publish("socket.io#/#", &payloads[0])
        .unwrap_or_default();
    let v = p.json_line(T);
    assert!(
        v["decode_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("json: ")),
        "{v}"
    );
}

#[test]
fn json_field_filter_matches_a_decoded_msgpack_field() {
    let payloads = python_payloads(
        "import msgpack\nout(msgpack.packb({'user': {'id': 41}}))\nout(msgpack.packb({'user': {'id': 42}}))\n",
    );
    let server = Server::start();
    let p = tail(&server, &["-f", ".user.id == 42"]);
    let mut c = server.conn();
    for payload in &payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
    let _: i64 = c
        .publish("enc", r#"{"user":{"id":42}}"#)
        .unwrap_or_default();
    let first = p.json_line(T);
    assert!(
        first.get("payload_b64").is_some(),
        "the msgpack one: {first}"
    );
    let second = p.json_line(T);
    assert_eq!(second["payload"], r#"{"user":{"id":42}}"#);
}

/// README "Decoding payloads": when `tail --decode` names a decoder, "the filter reads
/// the payload with that decoder". The same object as JSON text, CBOR, gzip+JSON and
/// MessagePack: under `--decode msgpack` only the MessagePack one has `.user.id` (JSON
/// text is not MessagePack either: it prints with a decode error, so it has no fields).
#[test]
fn tail_decode_named_decoder_is_the_one_the_filter_reads_the_payload_with() {
    let payloads = python_payloads(
        "import msgpack, cbor2\n\
         out(json.dumps(obj).encode())\n\
         out(cbor2.dumps(obj))\n\
         out(gzip.compress(json.dumps(obj).encode()))\n\
         out(msgpack.packb(obj))\n\
         out(msgpack.packb({'user': {'id': 42}, 'last': True}))\n",
    );
    let server = Server::start();
    let p = tail(&server, &["--decode", "msgpack", "-f", ".user.id == 42"]);
    let mut c = server.conn();
    for payload in &payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
    let first = p.json_line(T);
    assert_eq!(
        (&first["decoded_as"], &first["decoded"]),
        (&json!("msgpack"), &original()),
        "only the MessagePack payload passes: {first}"
    );
    let last = p.json_line(T);
    assert_eq!(last["decoded"]["last"], true, "{last}");
}

/// The real TUI in a pseudo-terminal: a MessagePack message from Python shows as a
/// `[msgpack]` row, opens decoded, and `d` moves on to the raw text.
#[test]
fn tui_shows_a_real_msgpack_message_decoded_in_the_feed_and_the_detail_view() {
    let payloads = python_payloads(
        "import msgpack\nout(msgpack.packb([2, {'type': 2, 'data': ['chat', {'text': 'hi'}]}]))\n",
    );
    let server = Server::start();
    let url = server.url();
    let mut tui = common::pty::Tui::spawn(&[&url, "-c", "socket.io#/#"], 120, 30);
    tui.wait_for("connected", T);
    wait_subscribed(&server, 1);
    let _: i64 = server
        .conn()
        .publish("socket.io#/#", &payloads[0])
        .unwrap_or_default();
    tui.wait_for(
        r#"[msgpack] [2,{"data":["chat",{"text":"hi"}],"type":2}]"#,
        T,
    );
    tui.send(b"\r");
    let s = tui.wait_for("\"text\": \"hi\"", T);
    assert!(s.contains("── msgpack · rows"), "{s}");
    tui.send(b"d");
    tui.wait_for("── text · rows", T);
    tui.send(b"q");
}
