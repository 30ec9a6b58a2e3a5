//! The decoders against replies captured from real servers (Redis 7.0.15 and Valkey 8.1.8,
//! RESP2 and RESP3, see `fixtures/`), and a property test: shuffling a reply's fields,
//! adding unknown ones, or switching RESP2 ↔ RESP3 never changes what is decoded, and the
//! decoders agree with the text-keyed reference they replaced.

use bytes::Bytes;
use redis::Value;

use super::*;
use crate::test_rng::XorShift;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../fixtures/", $name, ".resp")).as_slice()
    };
}

const SERVERS: [&str; 2] = ["redis70", "valkey81"];

/// (server, protocol, reply name) → raw bytes as the server sent them.
fn capture(server: &str, proto: u8, name: &str) -> &'static [u8] {
    match (server, proto, name) {
        ("redis70", 2, "stream") => fixture!("redis70_resp2_stream"),
        ("redis70", 3, "stream") => fixture!("redis70_resp3_stream"),
        ("redis70", 2, "groups") => fixture!("redis70_resp2_groups"),
        ("redis70", 3, "groups") => fixture!("redis70_resp3_groups"),
        ("redis70", 2, "consumers") => fixture!("redis70_resp2_consumers"),
        ("redis70", 3, "consumers") => fixture!("redis70_resp3_consumers"),
        ("redis70", 2, "empty_stream") => fixture!("redis70_resp2_empty_stream"),
        ("redis70", 3, "empty_stream") => fixture!("redis70_resp3_empty_stream"),
        ("redis70", 2, "empty_groups") => fixture!("redis70_resp2_empty_groups"),
        ("redis70", 3, "empty_groups") => fixture!("redis70_resp3_empty_groups"),
        ("redis70", 2, "xrange") => fixture!("redis70_resp2_xrange"),
        ("redis70", 3, "xrange") => fixture!("redis70_resp3_xrange"),
        ("valkey81", 2, "stream") => fixture!("valkey81_resp2_stream"),
        ("valkey81", 3, "stream") => fixture!("valkey81_resp3_stream"),
        ("valkey81", 2, "groups") => fixture!("valkey81_resp2_groups"),
        ("valkey81", 3, "groups") => fixture!("valkey81_resp3_groups"),
        ("valkey81", 2, "consumers") => fixture!("valkey81_resp2_consumers"),
        ("valkey81", 3, "consumers") => fixture!("valkey81_resp3_consumers"),
        ("valkey81", 2, "empty_stream") => fixture!("valkey81_resp2_empty_stream"),
        ("valkey81", 3, "empty_stream") => fixture!("valkey81_resp3_empty_stream"),
        ("valkey81", 2, "empty_groups") => fixture!("valkey81_resp2_empty_groups"),
        ("valkey81", 3, "empty_groups") => fixture!("valkey81_resp3_empty_groups"),
        ("valkey81", 2, "xrange") => fixture!("valkey81_resp2_xrange"),
        ("valkey81", 3, "xrange") => fixture!("valkey81_resp3_xrange"),
        other => panic!("no capture for {other:?}"),
    }
}

fn value(server: &str, proto: u8, name: &str) -> Value {
    redis::parse_redis_value(capture(server, proto, name)).expect("captured RESP parses")
}

/// The seeded data (see the capture script in the commit message): stream `s` with 5
/// entries `1-1`..`5-1`, `4-1` deleted; g1 read 3 (alice 2, `b\xffob` 1, `idle-one` 0),
/// g2 at `$`, g3 created at `2-1` (lag nil: a deletion lies in its unread range).
#[test]
fn captured_stream_group_and_consumer_replies_decode_on_both_servers() {
    for server in SERVERS {
        for proto in [2, 3] {
            let s = parse_stream(value(server, proto, "stream")).expect(server);
            assert_eq!(s.length, 4, "{server} RESP{proto}");
            assert_eq!(s.last_generated_id, StreamId::new(5, 1));
            assert_eq!(s.max_deleted_entry_id, Some(StreamId::new(4, 1)));
            assert_eq!(s.entries_added, Some(5));
            assert_eq!(s.recorded_first_entry_id, Some(StreamId::new(1, 1)));
            assert_eq!(s.groups, 3);
            assert_eq!(s.first_entry_id, Some(StreamId::new(1, 1)));
            assert_eq!(s.last_entry_id, Some(StreamId::new(5, 1)));

            let g = parse_groups(value(server, proto, "groups")).expect(server);
            let names: Vec<&[u8]> = g.iter().map(|g| g.name.as_ref()).collect();
            assert_eq!(names, vec![&b"g1"[..], b"g2", b"g3"]);
            assert_eq!((g[0].consumers, g[0].pending), (3, 3));
            assert_eq!(g[0].last_delivered_id, StreamId::new(3, 1));
            assert_eq!(g[0].entries_read, Some(3));
            assert_eq!(g[0].lag, ReportedLag::Nil, "{server}: deletion after 3-1");
            assert_eq!(g[1].entries_read, None, "{server}: created at $");
            assert_eq!(g[1].lag, ReportedLag::Known(0));
            assert_eq!(g[2].lag, ReportedLag::Nil);

            let c = parse_consumers(value(server, proto, "consumers")).expect(server);
            let names: Vec<&[u8]> = c.iter().map(|c| c.name.as_ref()).collect();
            assert_eq!(names, vec![&b"alice"[..], b"b\xffob", b"idle-one"]);
            let pending: Vec<u64> = c.iter().map(|c| c.pending).collect();
            assert_eq!(pending, vec![2, 1, 0]);
            // `inactive` is Redis 7.2+ / Valkey: absent on 7.0, -1 for a consumer that
            // never read.
            if server == "redis70" {
                assert!(c.iter().all(|c| c.inactive_ms.is_none()));
            } else {
                assert_eq!(c[2].inactive_ms, Some(-1));
                assert!(c[0].inactive_ms.is_some_and(|ms| ms >= 0));
            }

            let e = parse_stream(value(server, proto, "empty_stream")).expect(server);
            assert_eq!(
                (e.length, e.first_entry_id, e.last_entry_id),
                (0, None, None)
            );
            let eg = parse_groups(value(server, proto, "empty_groups")).expect(server);
            assert_eq!(eg[0].lag, ReportedLag::Known(0));

            let x = parse_entries(value(server, proto, "xrange")).expect(server);
            let ids: Vec<StreamId> = x.iter().map(|e| e.id).collect();
            assert_eq!(
                ids,
                vec![
                    StreamId::new(2, 1),
                    StreamId::new(3, 1),
                    StreamId::new(5, 1)
                ]
            );
            assert_eq!(x[0].fields.len(), 2, "duplicate field names kept");
        }
    }
}

/// The decoder this module had before field names were compared as bytes: names became
/// `String`s first. Kept here as the reference the faster one must agree with.
mod reference {
    use super::*;
    use crate::redis::reply::into_bytes;

    pub(super) fn pairs(v: Value) -> Option<Vec<(String, Value)>> {
        let pairs: Vec<(Value, Value)> = match strip_attribute(v) {
            Value::Map(pairs) => pairs,
            Value::Array(items) => {
                if items.len() % 2 != 0 {
                    return None;
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs
            }
            _ => return None,
        };
        pairs
            .into_iter()
            .map(|(k, v)| {
                let name = into_bytes(k)?;
                Some((String::from_utf8_lossy(&name).into_owned(), v))
            })
            .collect()
    }

    pub(super) fn consumers(v: Value) -> Option<Vec<RawConsumer>> {
        into_items(v)?
            .into_iter()
            .map(|item| {
                let mut c = RawConsumer {
                    name: Bytes::new(),
                    pending: 0,
                    idle_ms: 0,
                    inactive_ms: None,
                };
                let mut named = false;
                for (field, value) in pairs(item)? {
                    match field.as_str() {
                        "name" => {
                            c.name = into_bytes(value)?;
                            named = true;
                        }
                        "pending" => c.pending = uint(&value).unwrap_or(0),
                        "idle" => c.idle_ms = uint(&value).unwrap_or(0),
                        "inactive" => c.inactive_ms = int_of(&value),
                        _ => {}
                    }
                }
                named.then_some(c)
            })
            .collect()
    }
}

/// A field/value reply rebuilt from its pairs: shuffled, with unknown fields added, as a
/// RESP2 flat array or a RESP3 map.
fn rebuild(pairs: Vec<(Value, Value)>, rng: &mut XorShift) -> Value {
    let mut pairs = pairs;
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i + 1));
    }
    for n in 0..rng.below(3) {
        let at = rng.below(pairs.len() + 1);
        let name = Value::BulkString(format!("future-field-{n}").into_bytes());
        pairs.insert(at, (name, Value::Array(vec![Value::Int(7)])));
    }
    if rng.below(2) == 0 {
        Value::Map(pairs)
    } else {
        Value::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

fn reshuffle_list(v: Value, rng: &mut XorShift) -> Value {
    let items = into_items(v).expect("a list");
    Value::Array(
        items
            .into_iter()
            .map(|item| rebuild(pairs(item).expect("field/value pairs"), rng))
            .collect(),
    )
}

#[test]
fn decoding_ignores_field_order_unknown_fields_and_protocol_and_matches_the_reference() {
    let mut rng = XorShift(0x0090_11c9);
    for server in SERVERS {
        for proto in [2, 3] {
            let stream = parse_stream(value(server, proto, "stream")).expect("stream");
            let groups = parse_groups(value(server, proto, "groups")).expect("groups");
            let consumers = parse_consumers(value(server, proto, "consumers")).expect("c");
            let reference = reference::consumers(value(server, proto, "consumers"));
            assert_eq!(reference.as_ref(), Some(&consumers), "{server} RESP{proto}");
            for _ in 0..50 {
                let s = rebuild(pairs(value(server, proto, "stream")).expect("s"), &mut rng);
                assert_eq!(
                    parse_stream(s).as_ref(),
                    Ok(&stream),
                    "{server} RESP{proto}"
                );
                let g = reshuffle_list(value(server, proto, "groups"), &mut rng);
                assert_eq!(parse_groups(g).as_ref(), Ok(&groups));
                let c = reshuffle_list(value(server, proto, "consumers"), &mut rng);
                assert_eq!(reference::consumers(c.clone()).as_ref(), Some(&consumers));
                assert_eq!(parse_consumers(c).as_ref(), Ok(&consumers));
            }
        }
        // The same server's RESP2 and RESP3 replies decode alike.
        let two = parse_groups(value(server, 2, "groups"));
        assert_eq!(two, parse_groups(value(server, 3, "groups")));
        let two = parse_stream(value(server, 2, "stream"));
        assert_eq!(two, parse_stream(value(server, 3, "stream")));
    }
}

#[test]
fn a_field_name_that_is_not_text_is_a_shape_error_not_a_panic() {
    let v = Value::Array(vec![Value::Map(vec![(Value::Int(1), Value::Int(2))])]);
    assert!(parse_consumers(v.clone()).is_err());
    assert!(parse_groups(v).is_err());
    assert!(parse_stream(Value::Map(vec![(Value::Nil, Value::Int(2))])).is_err());
}
