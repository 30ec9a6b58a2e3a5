//! The poll's replies (TIME, XINFO STREAM / GROUPS / CONSUMERS, XRANGE) read straight
//! from the bytes the server sent into our structs: no `redis::Value` trees, field names
//! compared as bytes, only names copied out. Each function takes exactly one whole reply
//! (as [`crate::redis::wire::RawConn::round`] delimits them) and gives exactly what its
//! `redis::Value` twin in [`super::info`] gives (same results, same error texts; see the
//! fixture tests).

use bytes::Bytes;

use super::id::StreamId;
use super::info::{RawConsumer, RawGroup, RawStream, ReportedLag};
use crate::redis::resp::{Item, ReadError, Reader};

/// An error reply: its code (first word) and the rest, as redis-rs splits them.
pub(crate) fn error_reply(reply: &[u8]) -> Option<(String, String)> {
    let mut r = Reader::new(reply);
    let Ok(Item::Error(text)) = r.item() else {
        return None;
    };
    let text = String::from_utf8_lossy(text);
    Some(match text.split_once(' ') {
        Some((code, detail)) => (code.to_string(), detail.to_string()),
        None => (text.into_owned(), String::new()),
    })
}

fn shape(e: ReadError) -> String {
    format!("malformed reply: {e}")
}

/// A value's integer, as `reply::int_of` reads it (integers, and strings that hold one).
fn int_of(item: &Item<'_>) -> Option<i64> {
    match *item {
        Item::Int(n) => Some(n),
        Item::Bulk(b) | Item::Simple(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn uint(item: &Item<'_>) -> Option<u64> {
    int_of(item).and_then(|n| u64::try_from(n).ok())
}

/// An id, as `id::id_of` reads it.
fn id_of(item: &Item<'_>) -> Option<StreamId> {
    match *item {
        Item::Bulk(b) | Item::Simple(b) | Item::Verbatim(b) => StreamId::parse(b),
        Item::Int(n) => StreamId::parse(n.to_string()),
        _ => None,
    }
}

/// A string's bytes, as `reply::into_bytes` takes them.
fn text<'a>(item: &Item<'a>) -> Option<&'a [u8]> {
    match *item {
        Item::Bulk(b) | Item::Simple(b) | Item::Verbatim(b) => Some(b),
        _ => None,
    }
}

/// Read a field's value when only its scalar matters (an aggregate is skipped whole).
fn scalar<'a>(r: &mut Reader<'a>) -> Result<Item<'a>, String> {
    let item = r.item().map_err(shape)?;
    r.skip_children(&item).map_err(shape)?;
    Ok(item)
}

/// The number of field/value pairs that follow: a RESP3 map or a RESP2 flat array.
fn pairs(r: &mut Reader<'_>) -> Result<Option<usize>, String> {
    Ok(match r.item().map_err(shape)? {
        Item::Map(n) => Some(n),
        Item::Array(n) if n % 2 == 0 => Some(n / 2),
        _ => None,
    })
}

/// The number of elements of a list (array or set, as `reply::into_items`).
fn list(r: &mut Reader<'_>) -> Result<Option<usize>, String> {
    Ok(match r.item().map_err(shape)? {
        Item::Array(n) | Item::Set(n) => Some(n),
        _ => None,
    })
}

fn field_name<'a>(r: &mut Reader<'a>, what: &str) -> Result<&'a [u8], String> {
    text(&r.item().map_err(shape)?).ok_or_else(|| what.to_string())
}

/// XINFO STREAM, without the groups.
pub(crate) fn parse_stream(reply: &[u8]) -> Result<RawStream, String> {
    let mut r = Reader::new(reply);
    let n = pairs(&mut r)?.ok_or("not a field/value list")?;
    let mut out = RawStream::default();
    let (mut length, mut last_generated) = (None, None);
    for _ in 0..n {
        let name = field_name(&mut r, "a field name is not text")?;
        match name {
            b"first-entry" => out.first_entry_id = entry_id(&mut r)?,
            b"last-entry" => out.last_entry_id = entry_id(&mut r)?,
            _ => {
                let value = scalar(&mut r)?;
                match name {
                    b"length" => length = uint(&value),
                    b"last-generated-id" => last_generated = id_of(&value),
                    b"max-deleted-entry-id" => out.max_deleted_entry_id = id_of(&value),
                    b"entries-added" => out.entries_added = uint(&value),
                    b"recorded-first-entry-id" => out.recorded_first_entry_id = id_of(&value),
                    b"groups" => out.groups = uint(&value).unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    out.length = length.ok_or("no length")?;
    out.last_generated_id = last_generated.ok_or("no last-generated-id")?;
    Ok(out)
}

/// The id of an `[id, [field, value, …]]` entry, or None for nil (an empty stream).
fn entry_id(r: &mut Reader<'_>) -> Result<Option<StreamId>, String> {
    let item = r.item().map_err(shape)?;
    match item {
        Item::Array(0) | Item::Set(0) => Ok(None),
        Item::Array(n) | Item::Set(n) => {
            let first = scalar(r)?;
            r.skip_n(n - 1).map_err(shape)?;
            Ok(id_of(&first))
        }
        other => {
            r.skip_children(&other).map_err(shape)?;
            Ok(None)
        }
    }
}

pub(crate) fn parse_groups(reply: &[u8]) -> Result<Vec<RawGroup>, String> {
    let mut r = Reader::new(reply);
    let n = list(&mut r)?.ok_or("not a list of groups")?;
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        groups.push(parse_group(&mut r)?);
    }
    Ok(groups)
}

fn parse_group(r: &mut Reader<'_>) -> Result<RawGroup, String> {
    let n = pairs(r)?.ok_or("a group is not a field/value list")?;
    let (mut name, mut consumers, mut pending, mut last_delivered) = (None, None, None, None);
    let mut entries_read = None;
    let mut lag = ReportedLag::NotReported;
    for _ in 0..n {
        let field = field_name(r, "a group field name is not text")?;
        let value = scalar(r)?;
        match field {
            b"name" => name = text(&value).map(Bytes::copy_from_slice),
            b"consumers" => consumers = uint(&value),
            b"pending" => pending = uint(&value),
            b"last-delivered-id" => last_delivered = id_of(&value),
            b"entries-read" => entries_read = uint(&value),
            b"lag" => lag = uint(&value).map_or(ReportedLag::Nil, ReportedLag::Known),
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

pub(crate) fn parse_consumers(reply: &[u8]) -> Result<Vec<RawConsumer>, String> {
    let mut r = Reader::new(reply);
    let n = list(&mut r)?.ok_or("not a list of consumers")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(parse_consumer(&mut r)?);
    }
    Ok(out)
}

fn parse_consumer(r: &mut Reader<'_>) -> Result<RawConsumer, String> {
    let n = pairs(r)?.ok_or("a consumer is not a field/value list")?;
    let mut consumer = RawConsumer {
        name: Bytes::new(),
        pending: 0,
        idle_ms: 0,
        inactive_ms: None,
    };
    let mut named = false;
    for _ in 0..n {
        let field = field_name(r, "a consumer field name is not text")?;
        let value = scalar(r)?;
        match field {
            b"name" => {
                let name = text(&value).ok_or("a consumer name is not text")?;
                consumer.name = Bytes::copy_from_slice(name);
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
}

/// What the poll needs of an XRANGE reply: how many entries and the first one's id. The
/// entries are checked as `info::parse_entries` checks them (the same errors), but their
/// fields are not copied.
pub(crate) fn entries_summary(reply: &[u8]) -> Result<(usize, Option<StreamId>), String> {
    let mut r = Reader::new(reply);
    let n = list(&mut r)?.ok_or("not a list of entries")?;
    let mut first = None;
    for i in 0..n {
        let id = entry(&mut r)?;
        if i == 0 {
            first = Some(id);
        }
    }
    Ok((n, first))
}

/// One `[id, fields]` entry, checked; its id.
fn entry(r: &mut Reader<'_>) -> Result<StreamId, String> {
    let parts = list(r)?.ok_or("an entry is not a list")?;
    if parts == 0 {
        return Err("an entry has no id".to_string());
    }
    let id = id_of(&scalar(r)?).ok_or("an entry has no id")?;
    if parts >= 2 {
        entry_fields(r)?;
        r.skip_n(parts - 2).map_err(shape)?;
    }
    Ok(id)
}

fn entry_fields(r: &mut Reader<'_>) -> Result<(), String> {
    let item = r.item().map_err(shape)?;
    let strings = match item {
        Item::Nil => 0,
        Item::Map(n) => n.saturating_mul(2),
        Item::Array(n) | Item::Set(n) => {
            if n % 2 != 0 {
                r.skip_n(n).map_err(shape)?;
                return Err("entry fields are not name/value pairs".to_string());
            }
            n
        }
        other => {
            r.skip_children(&other).map_err(shape)?;
            return Err("entry fields are not a list".to_string());
        }
    };
    let mut all_text = true;
    for _ in 0..strings {
        all_text &= text(&scalar(r)?).is_some();
    }
    if all_text {
        Ok(())
    } else {
        Err("an entry field is not a string".to_string())
    }
}

/// TIME: `[seconds, microseconds]` → ms.
pub(crate) fn parse_time(reply: &[u8]) -> Option<i64> {
    let mut r = Reader::new(reply);
    let n = list(&mut r).ok()??;
    if n < 2 {
        return None;
    }
    let secs = int_of(&scalar(&mut r).ok()?)?;
    let micros = int_of(&scalar(&mut r).ok()?)?;
    Some(secs.checked_mul(1000)? + micros / 1000)
}

#[cfg(test)]
mod tests;
