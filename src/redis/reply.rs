//! Decoding redis-rs reply values: the small helpers every parser in the engine uses
//! (lists, byte strings, integers, RESP3 attributes), in one place.

use bytes::Bytes;
use redis::Value;

use super::error::PollError;

/// RESP3 attributes wrap a reply with metadata we do not use.
pub(crate) fn strip_attribute(v: Value) -> Value {
    match v {
        Value::Attribute { data, .. } => strip_attribute(*data),
        v => v,
    }
}

pub(crate) fn into_items(v: Value) -> Option<Vec<Value>> {
    match strip_attribute(v) {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

pub(crate) fn into_bytes(v: Value) -> Option<Bytes> {
    match strip_attribute(v) {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
        Value::VerbatimString { text, .. } => Some(Bytes::from(text)),
        _ => None,
    }
}

pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        Value::SimpleString(s) => s.trim().parse().ok(),
        Value::Attribute { data, .. } => int_of(data),
        _ => None,
    }
}

/// A byte string from a reply value (copied), also from a status or an integer reply.
pub(crate) fn bytes_of(v: &Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        Value::Okay => Some(Bytes::from_static(b"OK")),
        Value::Int(i) => Some(Bytes::from(i.to_string())),
        Value::VerbatimString { text, .. } => Some(Bytes::copy_from_slice(text.as_bytes())),
        Value::Attribute { data, .. } => bytes_of(data),
        _ => None,
    }
}

pub(crate) fn u64_of(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => std::str::from_utf8(&bytes_of(other)?).ok()?.parse().ok(),
    }
}

/// A reply of the wrong shape, as an error naming the command.
pub(crate) fn reply_error(command: &str, what: &str) -> PollError {
    PollError::reply(command, what)
}
