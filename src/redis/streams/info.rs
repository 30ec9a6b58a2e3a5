//! Parsing XINFO STREAM / GROUPS / CONSUMERS and XRANGE replies from raw `redis::Value`s
//! (and reading one group's consumers on their own). The poll reads its replies from
//! bytes instead ([`super::raw`]); the STREAM, GROUPS and TIME decoders here are kept
//! (test-only) as the reference those must agree with.
//!
//! redis-rs's typed stream replies drop fields we need (entries-added,
//! max-deleted-entry-id, `inactive`) and turn entries into a `HashMap`, losing field order
//! and duplicate fields. Here every reply is read field by field by name, so unknown
//! fields from newer servers are ignored and missing ones from older servers become
//! `None` instead of an error.

use bytes::Bytes;
use redis::Value;

use super::id::{id_of, StreamId};
use super::StreamEntry;
use crate::redis::reply::{int_of, into_bytes, into_items, strip_attribute};

/// XINFO STREAM, without the groups (those come from XINFO GROUPS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RawStream {
    pub length: u64,
    pub last_generated_id: StreamId,
    /// Redis 7.0+.
    pub max_deleted_entry_id: Option<StreamId>,
    /// Redis 7.0+.
    pub entries_added: Option<u64>,
    /// Redis 7.0+.
    pub recorded_first_entry_id: Option<StreamId>,
    pub groups: u64,
    pub first_entry_id: Option<StreamId>,
    pub last_entry_id: Option<StreamId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawGroup {
    pub name: Bytes,
    pub consumers: u64,
    pub pending: u64,
    pub last_delivered_id: StreamId,
    /// Redis 7.0+; nil after XGROUP SETID / CREATE at an arbitrary id.
    pub entries_read: Option<u64>,
    pub lag: ReportedLag,
}

/// What XINFO GROUPS said about lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedLag {
    Known(u64),
    /// The server answered nil: entries in the unread range were deleted or trimmed, or
    /// the group's position was set with SETID.
    Nil,
    /// The server is older than 7.0 and has no `lag` field.
    NotReported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawConsumer {
    pub name: Bytes,
    pub pending: u64,
    pub idle_ms: u64,
    /// Redis 7.2+ / Valkey 8: ms since the last successful read or claim; -1 = never.
    pub inactive_ms: Option<i64>,
}

/// Field/value pairs of a RESP2 flat array or a RESP3 map. Names stay reply values and
/// are compared as bytes ([`field_name`]): no text is allocated per field (a 1,000-stream
/// poll reads about 200,000 of them).
fn pairs(v: Value) -> Option<Vec<(Value, Value)>> {
    match strip_attribute(v) {
        Value::Map(pairs) => Some(pairs),
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return None;
            }
            let mut it = items.into_iter();
            let mut pairs = Vec::with_capacity(it.len() / 2);
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some(pairs)
        }
        _ => None,
    }
}

/// A field name's bytes, borrowed; None when the name is not a string.
fn field_name(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        Value::Attribute { data, .. } => field_name(data),
        _ => None,
    }
}

fn uint(v: &Value) -> Option<u64> {
    int_of(v).and_then(|n| u64::try_from(n).ok())
}

#[cfg(test)]
fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Nil) || matches!(v, Value::Attribute { data, .. } if is_nil(data))
}

#[cfg(test)]
pub(crate) fn parse_stream(v: Value) -> Result<RawStream, String> {
    let fields = pairs(v).ok_or("not a field/value list")?;
    let mut out = RawStream::default();
    let (mut length, mut last_generated) = (None, None);
    for (name, value) in fields {
        match field_name(&name).ok_or("a field name is not text")? {
            b"length" => length = uint(&value),
            b"last-generated-id" => last_generated = id_of(&value),
            b"max-deleted-entry-id" => out.max_deleted_entry_id = id_of(&value),
            b"entries-added" => out.entries_added = uint(&value),
            b"recorded-first-entry-id" => out.recorded_first_entry_id = id_of(&value),
            b"groups" => out.groups = uint(&value).unwrap_or(0),
            // The entries themselves may be large; only their ids are kept.
            b"first-entry" => out.first_entry_id = entry_id(value),
            b"last-entry" => out.last_entry_id = entry_id(value),
            _ => {}
        }
    }
    out.length = length.ok_or("no length")?;
    out.last_generated_id = last_generated.ok_or("no last-generated-id")?;
    Ok(out)
}

/// The id of an `[id, [field, value, …]]` entry, or None for nil (an empty stream).
#[cfg(test)]
fn entry_id(v: Value) -> Option<StreamId> {
    let mut items = into_items(v)?.into_iter();
    id_of(&items.next()?)
}

#[cfg(test)]
pub(crate) fn parse_groups(v: Value) -> Result<Vec<RawGroup>, String> {
    let items = into_items(v).ok_or("not a list of groups")?;
    items.into_iter().map(parse_group).collect()
}

#[cfg(test)]
fn parse_group(v: Value) -> Result<RawGroup, String> {
    let fields = pairs(v).ok_or("a group is not a field/value list")?;
    let (mut name, mut consumers, mut pending, mut last_delivered) = (None, None, None, None);
    let mut entries_read = None;
    let mut lag = ReportedLag::NotReported;
    for (field, value) in fields {
        match field_name(&field).ok_or("a group field name is not text")? {
            b"name" => name = into_bytes(value),
            b"consumers" => consumers = uint(&value),
            b"pending" => pending = uint(&value),
            b"last-delivered-id" => last_delivered = id_of(&value),
            b"entries-read" => entries_read = uint(&value),
            b"lag" => {
                lag = if is_nil(&value) {
                    ReportedLag::Nil
                } else {
                    uint(&value).map_or(ReportedLag::Nil, ReportedLag::Known)
                }
            }
            _ => {}
        }
    }
    Ok(RawGroup {
        name: name.ok_or("a group has no name")?,
        consumers: consumers.unwrap_or(0),
        pending: pending.unwrap_or(0),
        last_delivered_id: last_delivered.ok_or("a group has no last-delivered-id")?,
        entries_read,
        lag,
    })
}

pub(crate) fn parse_consumers(v: Value) -> Result<Vec<RawConsumer>, String> {
    let items = into_items(v).ok_or("not a list of consumers")?;
    items
        .into_iter()
        .map(|item| {
            let fields = pairs(item).ok_or("a consumer is not a field/value list")?;
            let mut consumer = RawConsumer {
                name: Bytes::new(),
                pending: 0,
                idle_ms: 0,
                inactive_ms: None,
            };
            let mut named = false;
            for (field, value) in fields {
                match field_name(&field).ok_or("a consumer field name is not text")? {
                    b"name" => {
                        consumer.name = into_bytes(value).ok_or("a consumer name is not text")?;
                        named = true;
                    }
                    b"pending" => consumer.pending = uint(&value).unwrap_or(0),
                    b"idle" => consumer.idle_ms = uint(&value).unwrap_or(0),
                    b"inactive" => consumer.inactive_ms = int_of(&value),
                    _ => {}
                }
            }
            if named {
                Ok(consumer)
            } else {
                Err("a consumer has no name".to_string())
            }
        })
        .collect()
}

/// One group's consumers, read on their own (the Pending pane's consumer list); the
/// poller reads them in its pipelined rounds instead. Errors are for a person to read.
pub(crate) async fn read_consumers(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
) -> Result<Vec<RawConsumer>, String> {
    let reply: Value = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .map_err(|e| crate::redis::pending::redis_error("XINFO CONSUMERS", &e).message)?;
    parse_consumers(reply)
        .map_err(|_| "XINFO CONSUMERS: unexpected reply; is this a Redis server?".into())
}

/// XRANGE / XREVRANGE: `[[id, [field, value, …]], …]`, fields kept in order with
/// duplicates, binary-safe.
pub(crate) fn parse_entries(v: Value) -> Result<Vec<StreamEntry>, String> {
    let items = into_items(v).ok_or("not a list of entries")?;
    items
        .into_iter()
        .map(|item| {
            let mut parts = into_items(item)
                .ok_or("an entry is not a list")?
                .into_iter();
            let id = parts
                .next()
                .as_ref()
                .and_then(id_of)
                .ok_or("an entry has no id")?;
            let fields = match parts.next().map(strip_attribute) {
                // Old servers answer nil fields for a deleted entry; show it as empty.
                None | Some(Value::Nil) => Vec::new(),
                Some(Value::Map(map)) => map
                    .into_iter()
                    .map(|(f, v)| Some((into_bytes(f)?, into_bytes(v)?)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("an entry field is not a string")?,
                Some(list) => {
                    let flat = into_items(list).ok_or("entry fields are not a list")?;
                    if flat.len() % 2 != 0 {
                        return Err("entry fields are not name/value pairs".to_string());
                    }
                    let mut it = flat.into_iter();
                    let mut fields = Vec::new();
                    while let (Some(f), Some(v)) = (it.next(), it.next()) {
                        fields.push(
                            into_bytes(f)
                                .zip(into_bytes(v))
                                .ok_or("an entry field is not a string")?,
                        );
                    }
                    fields
                }
            };
            Ok(StreamEntry { id, fields })
        })
        .collect()
}

/// TIME: `[seconds, microseconds]` → ms.
#[cfg(test)]
pub(crate) fn parse_time(v: Value) -> Option<i64> {
    let items = into_items(v)?;
    let secs = items.first().and_then(int_of)?;
    let micros = items.get(1).and_then(int_of)?;
    Some(secs.checked_mul(1000)? + micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(resp: &[u8]) -> Value {
        redis::parse_redis_value(resp).expect("valid RESP")
    }

    fn bulk(s: &str) -> Vec<u8> {
        format!("${}\r\n{s}\r\n", s.len()).into_bytes()
    }

    fn flat(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", pairs.len() * 2).into_bytes();
        for (k, v) in pairs {
            out.extend(bulk(k));
            out.extend_from_slice(v);
        }
        out
    }

    #[test]
    fn stream_from_redis_7() {
        let v = flat(&[
            ("length", b":3\r\n"),
            ("radix-tree-keys", b":1\r\n"),
            ("last-generated-id", &bulk("3-1")),
            ("max-deleted-entry-id", &bulk("0-0")),
            ("entries-added", b":3\r\n"),
            ("recorded-first-entry-id", &bulk("1-1")),
            ("groups", b":1\r\n"),
            (
                "first-entry",
                b"*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            ),
            ("last-entry", b"*2\r\n$3\r\n3-1\r\n*0\r\n"),
            ("some-future-field", b"*0\r\n"),
        ]);
        let s = parse_stream(parse(&v)).unwrap();
        assert_eq!(s.length, 3);
        assert_eq!(s.last_generated_id, StreamId::new(3, 1));
        assert_eq!(s.max_deleted_entry_id, Some(StreamId::ZERO));
        assert_eq!(s.entries_added, Some(3));
        assert_eq!(s.first_entry_id, Some(StreamId::new(1, 1)));
        assert_eq!(s.last_entry_id, Some(StreamId::new(3, 1)));
        assert_eq!(s.groups, 1);
    }

    #[test]
    fn empty_stream_from_an_old_server() {
        let v = flat(&[
            ("length", b":0\r\n"),
            ("last-generated-id", &bulk("5-0")),
            ("groups", b":0\r\n"),
            ("first-entry", b"$-1\r\n"),
            ("last-entry", b"$-1\r\n"),
        ]);
        let s = parse_stream(parse(&v)).unwrap();
        assert_eq!(s.entries_added, None);
        assert_eq!(s.first_entry_id, None);
        assert!(parse_stream(parse(b"*0\r\n")).is_err());
        assert!(parse_stream(parse(b":1\r\n")).is_err());
    }

    #[test]
    fn groups_with_nil_and_missing_lag() {
        let g = |lag: Option<&[u8]>| {
            let mut pairs: Vec<(&str, &[u8])> = vec![
                ("name", b"$1\r\ng\r\n"),
                ("consumers", b":2\r\n"),
                ("pending", b":1\r\n"),
                ("last-delivered-id", b"$3\r\n1-1\r\n"),
            ];
            if let Some(lag) = lag {
                pairs.push(("entries-read", b"$-1\r\n"));
                pairs.push(("lag", lag));
            }
            flat(&pairs)
        };
        let mut list = b"*3\r\n".to_vec();
        list.extend(g(Some(b":4\r\n")));
        list.extend(g(Some(b"$-1\r\n")));
        list.extend(g(None));
        let groups = parse_groups(parse(&list)).unwrap();
        assert_eq!(groups[0].lag, ReportedLag::Known(4));
        assert_eq!(groups[0].entries_read, None);
        assert_eq!(groups[1].lag, ReportedLag::Nil);
        assert_eq!(groups[2].lag, ReportedLag::NotReported);
        assert_eq!(groups[2].last_delivered_id, StreamId::new(1, 1));
        assert_eq!(groups[2].consumers, 2);
    }

    #[test]
    fn consumers_with_and_without_inactive() {
        let mut list = b"*2\r\n".to_vec();
        list.extend(flat(&[
            ("name", b"$2\r\n\xff\x00\r\n"),
            ("pending", b":3\r\n"),
            ("idle", b":10\r\n"),
        ]));
        list.extend(flat(&[
            ("name", b"$1\r\nb\r\n"),
            ("pending", b":0\r\n"),
            ("idle", b":10\r\n"),
            ("inactive", b":-1\r\n"),
        ]));
        let c = parse_consumers(parse(&list)).unwrap();
        assert_eq!(c[0].name.as_ref(), b"\xff\x00");
        assert_eq!(c[0].inactive_ms, None);
        assert_eq!(c[1].inactive_ms, Some(-1));
        let map = Value::Array(vec![Value::Map(vec![(
            Value::SimpleString("pending".into()),
            Value::Int(1),
        )])]);
        assert!(parse_consumers(map).is_err());
    }

    #[test]
    fn entries_keep_order_duplicates_and_bytes() {
        let v = parse(
            b"*2\r\n*2\r\n$3\r\n2-0\r\n*6\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\nf\r\n$1\r\n2\r\n$2\r\n\x00\xff\r\n$0\r\n\r\n\
              *2\r\n$3\r\n1-0\r\n$-1\r\n",
        );
        let entries = parse_entries(v).unwrap();
        assert_eq!(entries[0].id, StreamId::new(2, 0));
        let fields: Vec<(&[u8], &[u8])> = entries[0]
            .fields
            .iter()
            .map(|(f, v)| (f.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(
            fields,
            vec![(&b"f"[..], &b"1"[..]), (b"f", b"2"), (b"\x00\xff", b"")]
        );
        assert!(entries[1].fields.is_empty());
        assert!(parse_entries(parse(b"*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nf\r\n")).is_err());
    }

    #[test]
    fn time_in_ms() {
        let v = parse(b"*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n");
        assert_eq!(parse_time(v), Some(1_700_000_000_123));
    }
}

#[cfg(test)]
mod fixture_tests;
