//! The byte-level decoders against the `redis::Value` ones they replace in the poll, on
//! every reply captured from a real server (Redis 7.0.15 and Valkey 8.1.8, RESP2 and
//! RESP3), and on those replies cut short or with bytes changed: never a panic, and
//! whenever redis-rs can read the damaged reply, the same answer as the old decoder.

use proptest::prelude::*;
use redis::Value;

use super::*;
use crate::redis::resp::skip_value;
use crate::redis::streams::info;

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../fixtures/", $name, ".resp")).as_slice())),*]
    };
}

const FIXTURES: &[(&str, &[u8])] = fixtures!(
    "redis70_resp2_stream",
    "redis70_resp3_stream",
    "redis70_resp2_empty_stream",
    "redis70_resp3_empty_stream",
    "redis70_resp2_groups",
    "redis70_resp3_groups",
    "redis70_resp2_empty_groups",
    "redis70_resp3_empty_groups",
    "redis70_resp2_consumers",
    "redis70_resp3_consumers",
    "redis70_resp2_xrange",
    "redis70_resp3_xrange",
    "valkey81_resp2_stream",
    "valkey81_resp3_stream",
    "valkey81_resp2_empty_stream",
    "valkey81_resp3_empty_stream",
    "valkey81_resp2_groups",
    "valkey81_resp3_groups",
    "valkey81_resp2_empty_groups",
    "valkey81_resp3_empty_groups",
    "valkey81_resp2_consumers",
    "valkey81_resp3_consumers",
    "valkey81_resp2_xrange",
    "valkey81_resp3_xrange",
);

/// What a decoder made of one reply, old or new, in a form both can be compared in.
#[derive(Debug, PartialEq)]
enum Decoded {
    Stream(Result<RawStream, String>),
    Groups(Result<Vec<RawGroup>, String>),
    Consumers(Result<Vec<RawConsumer>, String>),
    Entries(Result<(usize, Option<StreamId>), String>),
}

/// Which decoder a fixture's reply is for.
fn kind(name: &str) -> &'static str {
    ["stream", "groups", "consumers", "xrange"]
        .into_iter()
        .find(|k| name.ends_with(k))
        .expect("a known reply")
}

fn old(kind: &str, v: Value) -> Decoded {
    match kind {
        "stream" => Decoded::Stream(info::parse_stream(v)),
        "groups" => Decoded::Groups(info::parse_groups(v)),
        "consumers" => Decoded::Consumers(info::parse_consumers(v)),
        _ => Decoded::Entries(info::parse_entries(v).map(|e| (e.len(), e.first().map(|e| e.id)))),
    }
}

fn new(kind: &str, reply: &[u8]) -> Decoded {
    match kind {
        "stream" => Decoded::Stream(parse_stream(reply)),
        "groups" => Decoded::Groups(parse_groups(reply)),
        "consumers" => Decoded::Consumers(parse_consumers(reply)),
        _ => Decoded::Entries(entries_summary(reply)),
    }
}

#[test]
fn byte_decoders_give_what_the_value_decoders_give_on_every_capture() {
    for (name, bytes) in FIXTURES {
        assert_eq!(
            skip_value(bytes),
            Ok(Some(bytes.len())),
            "{name}: one reply"
        );
        let value = redis::parse_redis_value(bytes).expect("captured RESP parses");
        let kind = kind(name);
        let (was, is) = (old(kind, value), new(kind, bytes));
        assert_eq!(was, is, "{name}");
        // The captures are good replies: a test that compared two errors would prove little.
        let ok = match &is {
            Decoded::Stream(r) => r.is_ok(),
            Decoded::Groups(r) => r.as_ref().is_ok_and(|g| !g.is_empty()),
            Decoded::Consumers(r) => r.as_ref().is_ok_and(|c| !c.is_empty()),
            Decoded::Entries(r) => r.as_ref().is_ok_and(|e| e.0 > 0),
        };
        assert!(ok, "{name}: {is:?}");
    }
}

#[test]
fn error_replies_and_time() {
    assert_eq!(
        error_reply(b"-NOPERM this user has no permissions\r\n"),
        Some(("NOPERM".into(), "this user has no permissions".into()))
    );
    assert_eq!(
        error_reply(b"!9\r\nERR no su\r\n"),
        Some(("ERR".into(), "no su".into()))
    );
    assert_eq!(
        error_reply(b"-ERR\r\n"),
        Some(("ERR".into(), String::new()))
    );
    assert_eq!(error_reply(b"*0\r\n"), None);
    let time = b"*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n";
    assert_eq!(parse_time(time), Some(1_700_000_000_123));
    assert_eq!(
        parse_time(time),
        info::parse_time(redis::parse_redis_value(time).expect("RESP"))
    );
    assert_eq!(parse_time(b"*1\r\n:1\r\n"), None);
    assert_eq!(parse_time(b"-ERR x\r\n"), None);
}

#[test]
fn shapes_the_old_decoders_refuse_are_refused_alike() {
    let cases: &[&[u8]] = &[
        b"*0\r\n",
        b":1\r\n",
        b"*1\r\n%1\r\n:1\r\n:2\r\n",
        b"%1\r\n_\r\n:2\r\n",
        b"*1\r\n*2\r\n$4\r\nname\r\n+OK\r\n",
        b"*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nf\r\n",
        b"*1\r\n*2\r\n$3\r\n1-0\r\n:5\r\n",
        b"*1\r\n*0\r\n",
        b"*1\r\n*2\r\n$3\r\n1-0\r\n%1\r\n$1\r\nf\r\n:1\r\n",
        b"*2\r\n*1\r\n:7\r\n*2\r\n$3\r\n1-0\r\n_\r\n",
        b"~1\r\n*4\r\n$4\r\nname\r\n=7\r\ntxt:abc\r\n$4\r\nidle\r\n$3\r\n 5 \r\n",
    ];
    for reply in cases {
        let value = redis::parse_redis_value(reply).expect("RESP");
        for kind in ["stream", "groups", "consumers", "xrange"] {
            assert_eq!(
                old(kind, value.clone()),
                new(kind, reply),
                "{kind} {}",
                String::from_utf8_lossy(reply)
            );
        }
    }
}

/// A capture with damage: cut short, a byte changed, a byte inserted or removed.
fn damaged(fixture: usize, how: u8, at: usize, byte: u8) -> (&'static str, Vec<u8>) {
    let (name, bytes) = FIXTURES[fixture % FIXTURES.len()];
    let mut b = bytes.to_vec();
    let at = at % b.len();
    match how % 4 {
        0 => b.truncate(at),
        1 => b[at] = byte,
        2 => b.insert(at, byte),
        _ => {
            b.remove(at);
        }
    }
    (name, b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn damaged_replies_never_panic_and_agree_with_redis_rs_where_it_reads_them(
        fixture in 0..FIXTURES.len(),
        how in 0u8..4,
        at in 0usize..100_000,
        byte in prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b'*'), Just(b'%'), Just(b'$'), Just(b':'),
            Just(b'_'), Just(b'|'), Just(b'-'), Just(b'0'), Just(b'9'), any::<u8>()
        ],
    ) {
        let (name, bytes) = damaged(fixture, how, at, byte);
        let kind = kind(name);
        // Whatever the bytes, the decoders answer (an error at worst).
        let _ = new(kind, &bytes);
        let _ = parse_time(&bytes);
        let _ = error_reply(&bytes);
        if let Ok(Some(len)) = skip_value(&bytes) {
            let reply = &bytes[..len];
            if let Ok(value) = redis::parse_redis_value(reply) {
                prop_assert_eq!(old(kind, value), new(kind, reply), "{}", name);
            }
        }
    }
}
