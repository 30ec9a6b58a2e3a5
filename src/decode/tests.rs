//! Decoder unit tests and the proptest fuzz. Payloads from real encoders (Python msgpack,
//! cbor2, gzip, …) go through a real server in `tests/it/decode.rs`.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn sample() -> Value {
    json!({
        "event": "chat",
        "user": {"id": 42, "name": "ada", "tags": ["a", "b"]},
        "n": -7,
        "big": 18_000_000_000u64,
        "neg": -5_000_000_000i64,
        "f": 1.5,
        "ok": true,
        "none": null,
        "text": "x".repeat(300),
    })
}

fn auto_ok(payload: &[u8]) -> Decoded {
    match decode(payload, Choice::Auto) {
        Ok(d) => d,
        Err(e) => panic!("expected a decode, got {e:?}"),
    }
}

#[test]
fn msgpack_and_cbor_round_trip_through_auto() {
    let value = sample();
    let packed = to_msgpack(&value);
    let d = auto_ok(&packed);
    assert_eq!(
        (d.chain_id(), d.value),
        ("msgpack".to_string(), value.clone())
    );
    let d = auto_ok(&to_cbor(&value));
    assert_eq!((d.chain_id(), d.value), ("cbor".to_string(), value));
}

#[test]
fn layers_chain_and_label() {
    let value = sample();
    let d = auto_ok(&gzip(&to_msgpack(&value)));
    assert_eq!(d.chain_id(), "gzip+msgpack");
    assert_eq!(d.chain_label(), "gzip → msgpack");
    assert_eq!(d.value, value);
    let d = auto_ok(&zstd(value.to_string().as_bytes()));
    assert_eq!(
        (d.chain_id(), d.value),
        ("zstd+json".to_string(), value.clone())
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(value.to_string().as_bytes()));
    let d = auto_ok(b64.as_bytes());
    assert_eq!(d.chain_id(), "base64+gzip+json");
    let lz4 = {
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut enc, &to_cbor(&value)).expect("vec write");
        enc.finish().expect("lz4 finish")
    };
    assert_eq!(auto_ok(&lz4).chain_id(), "lz4+cbor");
    let raw = snap::raw::Encoder::new()
        .compress_vec(&to_msgpack(&value))
        .expect("snappy");
    assert_eq!(auto_ok(&raw).chain_id(), "snappy+msgpack");
    let d = auto_ok(&gzip(b"plain words"));
    assert_eq!(
        (d.chain_id(), d.value),
        ("gzip+text".to_string(), json!("plain words"))
    );
}

#[test]
fn plain_text_and_scalars_are_not_guessed() {
    for text in ["hello world", "a", "QUJDREVGR0g", "x:1 y:2", "ÿ"] {
        assert_eq!(
            decode(text.as_bytes(), Choice::Auto),
            Err(Failure::PlainText),
            "{text}"
        );
    }
    assert_eq!(auto_ok(b"42").chain_id(), "json");
    // A lone msgpack integer is accepted when asked for explicitly.
    let d = decode(b"\x05", Choice::Only(Format::Msgpack));
    assert_eq!(d.map(|d| d.value), Ok(json!(5)));
}

#[test]
fn protobuf_wire_format_heuristic() {
    // field 1: varint 150; field 2: "testing"; field 3: nested {1: 1}; field 4 twice.
    let payload = b"\x08\x96\x01\x12\x07testing\x1a\x02\x08\x01\x20\x01\x20\x02";
    let d = auto_ok(payload);
    assert_eq!(d.chain_id(), "protobuf");
    assert_eq!(
        d.value,
        json!({"1": 150, "2": "testing", "3": {"1": 1}, "4": [1, 2]})
    );
    let bad = decode(b"\x08\x96", Choice::Only(Format::Protobuf));
    assert!(matches!(bad, Err(Failure::Rejected { .. })), "{bad:?}");
}

#[test]
fn zip_bomb_is_capped_and_said() {
    let bomb = gzip(&vec![b'a'; MAX_OUTPUT + 1024]);
    assert!(bomb.len() < 100_000);
    let err = decode(&bomb, Choice::Auto).expect_err("over the cap");
    assert_eq!(err.reason(), "gzip: output larger than 16 MiB");
    let err = decode(
        &zstd(&vec![0u8; MAX_OUTPUT + 1]),
        Choice::Only(Format::Zstd),
    );
    assert_eq!(
        err.map_err(|e| e.reason()),
        Err("zstd: output larger than 16 MiB".to_string())
    );
}

#[test]
fn previews_and_filters_use_a_smaller_cap() {
    let two_mib = gzip(&vec![b' '; 2 * 1024 * 1024]);
    let err = decode_capped(&two_mib, Choice::Auto, PREVIEW_OUTPUT).map_err(|e| e.reason());
    assert_eq!(err, Err("gzip: output larger than 1 MiB".to_string()));
    // The full cap still decodes it (to text: two MiB of spaces are not JSON).
    let full = decode(&two_mib, Choice::Auto).map(|d| d.chain_id());
    assert_eq!(full, Ok("gzip+text".to_string()));
}

#[test]
fn corrupt_and_truncated_say_why() {
    let good = gzip(&to_msgpack(&sample()));
    let err = decode(&good[..good.len() / 2], Choice::Auto).expect_err("truncated");
    assert!(err.reason().starts_with("gzip: "), "{}", err.reason());
    let mut corrupt = to_msgpack(&sample());
    corrupt.truncate(10);
    // `89` opens a MessagePack map of 9 and a CBOR array of 9, and both readings run
    // out of bytes: both are named (`Choice::Only` names just the one asked for).
    let err = decode(&corrupt, Choice::Auto).expect_err("truncated msgpack");
    assert_eq!(err.reason(), "msgpack or cbor: truncated");
    let err = decode(&corrupt, Choice::Only(Format::Msgpack)).expect_err("truncated");
    assert_eq!(err.reason(), "msgpack: truncated");
    let err = decode(b"\xc1\xc1", Choice::Only(Format::Msgpack)).expect_err("never used");
    assert_eq!(err.reason(), "msgpack: byte 0xc1 is never used");
}

#[test]
fn depth_and_item_caps() {
    let deep: Vec<u8> = std::iter::repeat_n(0x91u8, MAX_DEPTH + 5)
        .chain([0xc0])
        .collect();
    // `91` opens a MessagePack array of one and a CBOR array of 17: both stop at the
    // same byte, and both are named.
    let err = decode(&deep, Choice::Auto).expect_err("too deep");
    assert_eq!(
        err.reason(),
        format!("msgpack or cbor: nested deeper than {MAX_DEPTH} levels")
    );
    let mut many = vec![0xdd];
    many.extend_from_slice(&(MAX_ITEMS as u32 + 10).to_be_bytes());
    many.extend(std::iter::repeat_n(0x90u8, MAX_ITEMS + 10));
    let err = decode(&many, Choice::Auto).expect_err("too many");
    assert_eq!(
        err.reason(),
        format!("msgpack: more than {MAX_ITEMS} values")
    );
    // A length header far past the payload allocates nothing and says truncated.
    let liar = b"\xdd\xff\xff\xff\xff\x01";
    assert_eq!(
        decode(liar, Choice::Only(Format::Msgpack)).map_err(|e| e.reason()),
        Err("msgpack: truncated".to_string())
    );
    let cbor_liar = b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff\x01";
    assert!(decode(cbor_liar, Choice::Only(Format::Cbor)).is_err());
}

/// README "Decoding payloads": NaN and the infinities read the same from MessagePack
/// (float 32 and 64), CBOR (half, single, double) and typed Protobuf (float, double).
#[test]
fn non_finite_floats_are_the_same_strings_in_every_decoder() {
    let want = json!(["Infinity", "-Infinity", "NaN"]);
    let mut msgpack = vec![0x93];
    let mut msgpack32 = vec![0x93];
    let mut cbor = vec![0x83];
    let mut cbor32 = vec![0x83];
    for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        msgpack.push(0xcb);
        msgpack.extend_from_slice(&f.to_be_bytes());
        msgpack32.push(0xca);
        msgpack32.extend_from_slice(&(f as f32).to_be_bytes());
        cbor.push(0xfb);
        cbor.extend_from_slice(&f.to_be_bytes());
        cbor32.push(0xfa);
        cbor32.extend_from_slice(&(f as f32).to_be_bytes());
    }
    let cbor16 = b"\x83\xf9\x7c\x00\xf9\xfc\x00\xf9\x7e\x00";
    for (name, payload) in [
        ("msgpack float 64", &msgpack[..]),
        ("msgpack float 32", &msgpack32[..]),
        ("cbor double", &cbor[..]),
        ("cbor single", &cbor32[..]),
        ("cbor half", &cbor16[..]),
    ] {
        let d = auto_ok(payload);
        assert_eq!(d.value, want, "{name}");
        assert_eq!(d.compact(), r#"["Infinity","-Infinity","NaN"]"#, "{name}");
    }
    let schema = load_proto_text(
        "f.proto",
        "syntax = \"proto3\";\npackage t;\nmessage F { repeated double d = 1; repeated float f = 2; }\n",
    )
    .expect("schema");
    let mut proto = vec![0x0a, 24];
    let mut proto32 = vec![0x12, 12];
    for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        proto.extend_from_slice(&f.to_le_bytes());
        proto32.extend_from_slice(&(f as f32).to_le_bytes());
    }
    proto.extend(proto32);
    let typed = from_protobuf(&proto, &schema, "t.F").expect("typed");
    assert_eq!(typed, json!({"d": want, "f": want}));
}

/// README "Decoding payloads": two map keys that read as the same text (`1` and `"1"`,
/// or one key twice) are both kept, with the keys as they were.
#[test]
fn map_keys_that_read_alike_are_all_kept_with_their_types() {
    // {1: "int", "1": "str", "a": 0, 1: "again"} and {"x": 1, "x": 2}
    let msgpack = b"\x84\x01\xa3int\xa11\xa3str\xa1a\x00\x01\xa5again";
    let cbor = b"\xa4\x01\x63int\x61\x31\x63str\x61a\x00\x01\x65again";
    let want = json!({
        "1": {DUPLICATE_KEYS: [[1, "int"], ["1", "str"], [1, "again"]]},
        "a": 0,
    });
    for (name, payload) in [("msgpack", &msgpack[..]), ("cbor", &cbor[..])] {
        let d = auto_ok(payload);
        assert_eq!((d.chain_id().as_str(), &d.value), (name, &want));
    }
    let twice = decode(b"\x82\xa1x\x01\xa1x\x02", Choice::Only(Format::Msgpack));
    assert_eq!(
        twice.map(|d| d.value),
        Ok(json!({"x": {DUPLICATE_KEYS: [["x", 1], ["x", 2]]}}))
    );
    // Keys that differ stay plain.
    let plain = decode(b"\x82\x01\xa1a\xa12\xa1b", Choice::Only(Format::Msgpack));
    assert_eq!(plain.map(|d| d.value), Ok(json!({"1": "a", "2": "b"})));
}

/// A payload that starts like MessagePack and CBOR names the one that read further, or
/// both when they stopped at the same byte; a CBOR-only failure is said as CBOR.
#[test]
fn errors_name_the_format_that_failed() {
    let deep_cbor: Vec<u8> = std::iter::repeat_n(0x81u8, 100_000).chain([0x00]).collect();
    let err = decode(&deep_cbor, Choice::Auto).expect_err("too deep");
    assert_eq!(
        err.reason(),
        format!("msgpack or cbor: nested deeper than {MAX_DEPTH} levels")
    );
    assert!(
        matches!(err, Failure::Several(ref tried) if tried.len() == 2),
        "{err:?}"
    );
    let err = decode(&deep_cbor, Choice::Only(Format::Cbor)).expect_err("too deep");
    assert_eq!(
        err.reason(),
        format!("cbor: nested deeper than {MAX_DEPTH} levels")
    );
    // CBOR maps (`a1 61 61 …`) are no MessagePack container: CBOR alone is named.
    let deep_maps: Vec<u8> = std::iter::repeat_n([0xa1u8, 0x61, b'k'], 100_000)
        .flatten()
        .chain([0x00])
        .collect();
    let err = decode(&deep_maps, Choice::Auto).expect_err("too deep");
    assert_eq!(
        err.reason(),
        format!("cbor: nested deeper than {MAX_DEPTH} levels")
    );
    // A truncated MessagePack map is MessagePack's news, not CBOR's.
    let mut cut = to_msgpack(&json!({"a": 1, "b": [1, 2, 3], "c": "text"}));
    cut.truncate(cut.len() - 2);
    let err = decode(&cut, Choice::Auto).expect_err("truncated");
    assert_eq!(err.reason(), "msgpack: truncated");
}

/// README "Decoding payloads": past a certain magic number, the compression's error is
/// the answer; no other format is guessed.
#[test]
fn a_corrupt_compression_after_its_magic_is_said_as_that_compression() {
    let mut corrupt_zstd = b"\x28\xb5\x2f\xfd".to_vec();
    corrupt_zstd.extend_from_slice(b"\x08\x96\x01\x12\x07testing\x1a\x02\x08\x01");
    let err = decode(&corrupt_zstd, Choice::Auto).expect_err("corrupt zstd");
    assert!(err.reason().starts_with("zstd: "), "{}", err.reason());
    // These bytes are also Protobuf wire format: {"5": 6069, "31": 0, "1": 1}.
    let also_protobuf = b"\x28\xb5\x2f\xfd\x01\x00\x00\x00\x00\x08\x01";
    let as_protobuf = decode(also_protobuf, Choice::Only(Format::Protobuf)).map(|d| d.value);
    assert_eq!(as_protobuf, Ok(json!({"5": 6069, "31": 0, "1": 1})));
    let err = decode(also_protobuf, Choice::Auto).expect_err("corrupt zstd");
    assert!(err.reason().starts_with("zstd: "), "{}", err.reason());
    for (name, payload) in [
        ("gzip", b"\x1f\x8b\x08\x00garbage-garbage".to_vec()),
        ("lz4", b"\x04\x22\x4d\x18garbage-garbage".to_vec()),
        ("zlib", b"\x78\x9cgarbage-garbage".to_vec()),
    ] {
        let err = decode(&payload, Choice::Auto).expect_err(name);
        assert!(
            err.reason().starts_with(&format!("{name}: ")),
            "{name}: {}",
            err.reason()
        );
    }
    // `08 1d` passes zlib's two-byte header check, yet is Protobuf field 1 = 29.
    let d = auto_ok(b"\x08\x1d\x12\x02hi");
    assert_eq!(
        (d.chain_id(), d.value),
        ("protobuf".to_string(), json!({"1": 29, "2": "hi"}))
    );
}

/// Concatenated zstd frames are read whole (as `zstd -d` reads them), a frame with a
/// content checksum (the `zstd` tool's default) ends where it ends, and bytes after the
/// last frame are an error: only the first frame was read, so `zstd(x)` followed by
/// anything showed as `x`.
#[test]
fn every_zstd_frame_is_read_and_bytes_after_the_last_are_an_error() {
    let text = |bytes: &[u8]| decode(bytes, Choice::Auto).map(|d| d.value);
    let mut two = super::compress::zstd(b"first ");
    two.extend(super::compress::zstd(b"second"));
    assert_eq!(text(&two), Ok(json!("first second")));
    // `printf 'hello zstd' | zstd -c --check`: a checksum after the last block.
    let checked: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x51, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20,
        0x7a, 0x73, 0x74, 0x64, 0xcf, 0xdb, 0x60, 0x9c,
    ];
    assert_eq!(text(checked), Ok(json!("hello zstd")));
    for tail in [&b"garbage"[..], b"\x00", b"\x28\xb5\x2f"] {
        let mut payload = checked.to_vec();
        payload.extend_from_slice(tail);
        let err = decode(&payload, Choice::Auto).expect_err("bytes after the frame");
        assert!(
            err.reason().starts_with("zstd: corrupt ("),
            "{}",
            err.reason()
        );
    }
}

/// README "Bounds": JSON nested past serde_json's limit says so, under `auto`, `json`
/// and inside a compression; no stack overflow.
#[test]
fn json_nested_too_deeply_is_said() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let want = format!("json: nested deeper than {MAX_JSON_DEPTH} levels");
    for choice in [Choice::Auto, Choice::Only(Format::Json)] {
        let err = decode(deep.as_bytes(), choice).expect_err("too deep");
        assert_eq!(err.reason(), want, "{choice}");
    }
    let err = decode(&gzip(deep.as_bytes()), Choice::Auto).expect_err("too deep inside");
    assert_eq!(err.reason(), format!("gzip: {want}"));
    // Within the limit it decodes.
    let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(auto_ok(fine.as_bytes()).chain_id(), "json");
}

#[test]
fn choice_names_parse() {
    assert_eq!(Choice::parse("auto"), Some(Choice::Auto));
    assert_eq!(
        Choice::parse("MessagePack"),
        Some(Choice::Only(Format::Msgpack))
    );
    assert_eq!(Choice::parse("gzip"), Some(Choice::Only(Format::Gzip)));
    assert_eq!(Choice::parse("text"), None);
    assert!(Choice::names().starts_with("auto|json|msgpack"));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every decoder, on the same bytes: none may panic.
fn every_decoder(bytes: &[u8]) {
    let _ = decode(bytes, Choice::Auto);
    for format in Format::NAMED {
        let _ = decode(bytes, Choice::Only(format));
    }
}

/// Valid payloads of every format for `value`.
fn encodings(value: &Value) -> Vec<Vec<u8>> {
    let packed = to_msgpack(value);
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    let _ = std::io::Write::write_all(&mut lz4, &packed);
    vec![
        packed.clone(),
        to_cbor(value),
        gzip(&packed),
        zstd(&to_cbor(value)),
        lz4.finish().unwrap_or_default(),
        snap::raw::Encoder::new()
            .compress_vec(&packed)
            .unwrap_or_default(),
        base64::engine::general_purpose::STANDARD
            .encode(&packed)
            .into_bytes(),
        b"\x08\x96\x01\x12\x07testing\x1a\x02\x08\x01".to_vec(),
    ]
}

/// 512 per `cargo test`; `REDTAIL_FUZZ_CASES=20000` for a longer run.
fn fuzz_cases() -> u32 {
    std::env::var("REDTAIL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    #[test]
    fn fuzz_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        every_decoder(&bytes);
    }

    #[test]
    fn fuzz_mutated_valid_payloads_never_panic(
        value in json_value(),
        which in 0usize..8,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encodings(&value).swap_remove(which);
        every_decoder(&bytes);
        for (at, byte) in &flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
        }
        every_decoder(&bytes);
        let keep = cut.index(bytes.len() + 1);
        every_decoder(&bytes[..keep]);
    }

    #[test]
    fn msgpack_and_cbor_encoders_round_trip(value in json_value()) {
        let d = decode(&to_msgpack(&value), Choice::Only(Format::Msgpack)).map(|d| d.value);
        prop_assert_eq!(d, Ok(value.clone()));
        let d = decode(&to_cbor(&value), Choice::Only(Format::Cbor)).map(|d| d.value);
        prop_assert_eq!(d, Ok(value));
    }
}
