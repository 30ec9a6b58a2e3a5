//! Decoding results a person can trust, through `redtail tail --decode` and a real server:
//! one spelling for NaN and the infinities, no map entry lost to a key clash, errors that
//! name the format that failed, a corrupt compression said as itself, and JSON nested too
//! deeply said as such. Payloads from Python's msgpack and cbor2, or bytes built here.

use crate::common;

use std::time::Duration;

use common::{wait_subscribed, Proc, Server};
use redis::Commands;
use serde_json::json;

use crate::decode::python_payloads;

const T: Duration = Duration::from_secs(10);

fn tail(server: &Server, extra: &[&str]) -> Proc {
    let mut args = vec!["-c", "enc"];
    args.extend_from_slice(extra);
    common::tail_jsonl(server, &args, 1)
}

fn publish_all(server: &Server, payloads: &[Vec<u8>]) {
    let mut c = server.conn();
    for payload in payloads {
        let _: i64 = c.publish("enc", payload).unwrap_or_default();
    }
}

/// README "Decoding payloads": NaN and the infinities are `"NaN"`, `"Infinity"` and
/// `"-Infinity"` from every decoder, in JSONL and in text lines.
#[test]
fn non_finite_floats_read_the_same_from_msgpack_cbor_and_typed_protobuf() {
    let payloads = python_payloads(
        "import msgpack, cbor2\n\
         f = [float('inf'), float('-inf'), float('nan')]\n\
         out(msgpack.packb(f))\n\
         out(msgpack.packb(f, use_single_float=True))\n\
         out(cbor2.dumps(f))\n",
    );
    let want = json!(["Infinity", "-Infinity", "NaN"]);
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, &payloads);
    for name in ["msgpack", "msgpack", "cbor"] {
        let v = p.json_line(T);
        assert_eq!(
            (&v["decoded_as"], &v["decoded"]),
            (&json!(name), &want),
            "{v}"
        );
    }
    drop(p);

    // Typed Protobuf: `repeated double d = 1; repeated float f = 2;`, packed.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let proto = dir.path().join("f.proto");
    std::fs::write(
        &proto,
        "syntax = \"proto3\";\npackage t;\nmessage F { repeated double d = 1; repeated float f = 2; }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut message = vec![0x0a, 24];
    let mut floats = vec![0x12, 12];
    for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        message.extend_from_slice(&f.to_le_bytes());
        floats.extend_from_slice(&(f as f32).to_le_bytes());
    }
    message.extend(floats);
    let proto = proto.display().to_string();
    // A fresh server each time: a killed tail's subscription may linger a moment.
    let server = Server::start();
    let p = tail(&server, &["--decode", "protobuf:t.F", "--proto", &proto]);
    publish_all(&server, std::slice::from_ref(&message));
    let v = p.json_line(T);
    assert_eq!(v["decoded"], json!({"d": want, "f": want}), "{v}");
    drop(p);

    // Text lines show the same compact value.
    let server = Server::start();
    let url = server.url();
    let p = Proc::spawn(&["tail", &url, "-c", "enc", "--decode", "auto"]);
    wait_subscribed(&server, 1);
    publish_all(&server, &payloads[2..]);
    let line = p.line(T).unwrap_or_default();
    assert!(
        line.ends_with(r#" enc [cbor] ["Infinity","-Infinity","NaN"]"#),
        "{line}"
    );
}

/// README "Decoding payloads": MessagePack and CBOR map keys that read as the same text
/// (`1` and `"1"`) are both kept, with the keys as they were.
#[test]
fn map_keys_1_and_string_1_are_both_kept() {
    let payloads = python_payloads(
        "import msgpack, cbor2\n\
         m = {1: 'int', '1': 'str', 'a': 0}\n\
         out(msgpack.packb(m))\n\
         out(cbor2.dumps(m))\n",
    );
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, &payloads);
    let want = json!({"1": {"duplicate keys": [[1, "int"], ["1", "str"]]}, "a": 0});
    for name in ["msgpack", "cbor"] {
        let v = p.json_line(T);
        assert_eq!(
            (&v["decoded_as"], &v["decoded"]),
            (&json!(name), &want),
            "{v}"
        );
    }
}

/// README "Bounds": a 100,000-deep CBOR array (`81 81 …`, also a MessagePack map of
/// one at every level) names both formats; CBOR maps, no MessagePack container, name
/// CBOR; `--decode cbor` names CBOR.
#[test]
fn a_deep_cbor_payload_is_said_as_cbor_not_msgpack() {
    let deep_array: Vec<u8> = std::iter::repeat_n(0x81u8, 100_000).chain([0x00]).collect();
    let deep_maps: Vec<u8> = std::iter::repeat_n([0xa1u8, 0x61, b'k'], 100_000)
        .flatten()
        .chain([0x00])
        .collect();
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, &[deep_array.clone(), deep_maps]);
    let v = p.json_line(T);
    assert_eq!(
        v["decode_error"], "msgpack or cbor: nested deeper than 64 levels",
        "{v}"
    );
    let v = p.json_line(T);
    assert_eq!(
        v["decode_error"], "cbor: nested deeper than 64 levels",
        "{v}"
    );
    assert!(v.get("decoded").is_none(), "{v}");
    drop(p);
    let server = Server::start();
    let p = tail(&server, &["--decode", "cbor"]);
    publish_all(&server, &[deep_array]);
    let v = p.json_line(T);
    assert_eq!(
        v["decode_error"], "cbor: nested deeper than 64 levels",
        "{v}"
    );
}

/// README "Decoding payloads": after a certain magic number, a payload that does not
/// decompress is that compression's error, never another format's guess. These bytes
/// also parse as Protobuf wire format (`{"5": 6069, "31": 0, "1": 1}`).
#[test]
fn a_corrupt_zstd_frame_is_a_zstd_error_not_a_protobuf_guess() {
    let corrupt = b"\x28\xb5\x2f\xfd\x01\x00\x00\x00\x00\x08\x01".to_vec();
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, std::slice::from_ref(&corrupt));
    let v = p.json_line(T);
    assert!(v.get("decoded").is_none(), "{v}");
    assert!(
        v["decode_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("zstd: ")),
        "{v}"
    );
    assert!(v.get("payload_b64").is_some(), "the raw bytes stay: {v}");
}

/// README "Decoding payloads": zstd frames one after another are read whole, and bytes
/// after the last frame are an error (only the first frame was read: `zstd(x)` followed
/// by anything was shown as `x`).
#[test]
fn every_zstd_frame_is_read_and_bytes_after_the_last_are_an_error() {
    let mut two = redtail::decode::zstd(b"\"first ");
    two.extend(redtail::decode::zstd(b"second\""));
    let mut trailing = redtail::decode::zstd(b"\"whole\"");
    trailing.extend_from_slice(b"garbage");
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, &[two, trailing]);
    let v = p.json_line(T);
    assert_eq!(v["decoded"], json!("first second"), "{v}");
    let v = p.json_line(T);
    assert!(v.get("decoded").is_none(), "{v}");
    assert!(
        v["decode_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("zstd: corrupt (") && e.contains("after the last frame")),
        "{v}"
    );
}

/// README "Bounds": JSON nested 100,000 deep says so in JSONL and in text lines, and
/// tail goes on to the next message.
#[test]
fn json_nested_100000_deep_says_it_is_nested_too_deeply() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let server = Server::start();
    let p = tail(&server, &["--decode", "auto"]);
    publish_all(&server, &[deep.clone(), b"[1]".to_vec()]);
    let v = p.json_line(T);
    assert_eq!(
        v["decode_error"], "json: nested deeper than 128 levels",
        "{}",
        v["decode_error"]
    );
    let v = p.json_line(T);
    assert_eq!(v["decoded"], json!([1]), "tail goes on: {v}");
    drop(p);

    let server = Server::start();
    let url = server.url();
    let p = Proc::spawn(&["tail", &url, "-c", "enc", "--decode", "json"]);
    wait_subscribed(&server, 1);
    publish_all(&server, &[deep]);
    let line = p.line(T).unwrap_or_default();
    assert!(
        line.ends_with("]  [not decoded: json: nested deeper than 128 levels]"),
        "{}",
        &line[line.len().saturating_sub(200)..]
    );
}
