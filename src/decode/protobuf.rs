//! Protobuf wire format without a schema (what `protoc --decode_raw` shows).
//!
//! A message becomes an object keyed by field number (`"1"`, `"2"`, … — keys sort as
//! strings); a field that repeats becomes an array in wire order. Without a schema the
//! types are guesses, documented here and in the README:
//! - varint → unsigned integer (a negative `int32`/`int64` shows as its 64-bit two's
//!   complement; `sint` zigzag is not undone);
//! - fixed64 / fixed32 → unsigned integer (could be a double/float or signed);
//! - length-delimited → a **string** when the bytes are UTF-8 text without control
//!   characters (other than tab/newline/CR), else a **nested message** when they parse as
//!   one completely, else **bytes** `{"b64": …}` (packed repeated numbers show as bytes).
//!
//! Groups (wire types 3/4, deprecated) and field number 0 are rejected.

use serde_json::{Map, Value};

use super::{binary_value, Budget, NotThis};

pub(crate) fn decode(payload: &[u8]) -> Result<Value, NotThis> {
    if payload.is_empty() {
        return Err(NotThis::new("empty"));
    }
    let mut budget = Budget::new();
    message(payload, 0, &mut budget)
}

pub(crate) fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, NotThis> {
    let mut out = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| NotThis::new("truncated varint"))?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(NotThis::new("varint longer than 64 bits"));
        }
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(NotThis::new("varint longer than 10 bytes"))
}

pub(crate) fn fixed(buf: &[u8], pos: &mut usize, n: usize) -> Result<u64, NotThis> {
    let bytes = buf
        .get(*pos..*pos + n)
        .ok_or_else(|| NotThis::new("truncated fixed-width field"))?;
    *pos += n;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn message(buf: &[u8], depth: usize, budget: &mut Budget) -> Result<Value, NotThis> {
    budget.take(depth)?;
    let mut fields: Vec<(u64, Value)> = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 || number > (1 << 29) - 1 {
            return Err(NotThis::new(format!("field number {number} out of range")));
        }
        budget.take(depth + 1)?;
        let value = match wire {
            0 => Value::from(varint(buf, &mut pos)?),
            1 => Value::from(fixed(buf, &mut pos, 8)?),
            5 => Value::from(fixed(buf, &mut pos, 4)?),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| NotThis::new("length too large"))?;
                let end = pos
                    .checked_add(len)
                    .filter(|&end| end <= buf.len())
                    .ok_or_else(|| NotThis::new("truncated length-delimited field"))?;
                let body = &buf[pos..end];
                pos = end;
                length_delimited(body, depth + 1, budget)?
            }
            _ => return Err(NotThis::new(format!("wire type {wire} is not supported"))),
        };
        fields.push((number, value));
    }
    Ok(Value::Object(group(fields)))
}

/// String, nested message or bytes, in that order of preference.
pub(crate) fn length_delimited(
    body: &[u8],
    depth: usize,
    budget: &mut Budget,
) -> Result<Value, NotThis> {
    if let Ok(text) = std::str::from_utf8(body) {
        if !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Ok(Value::String(text.to_string()));
        }
    }
    if !body.is_empty() && depth < super::MAX_DEPTH {
        // A failed nested attempt must not spend the payload's budget.
        let mut trial = budget.clone();
        match message(body, depth, &mut trial) {
            Ok(value) => {
                *budget = trial;
                return Ok(value);
            }
            Err(e) if e.0.contains("more than") => return Err(e),
            Err(_) => {}
        }
    }
    Ok(binary_value(body))
}

/// Fields by number; repeats become arrays.
fn group(fields: Vec<(u64, Value)>) -> Map<String, Value> {
    let mut map = Map::new();
    for (number, value) in fields {
        let key = number.to_string();
        match map.get_mut(&key) {
            Some(Value::Array(items)) => {
                items.push(value);
            }
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(key, value);
            }
        }
    }
    map
}

/// One field's value as it arrives on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u64),
    Bytes(&'a [u8]),
}

impl Wire<'_> {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64(_) => "fixed64",
            Wire::Fixed32(_) => "fixed32",
            Wire::Bytes(_) => "length-delimited",
        }
    }
}

/// The next field at `pos`: its number and value. Groups and field number 0 are errors.
pub(crate) fn next_field<'a>(buf: &'a [u8], pos: &mut usize) -> Result<(u32, Wire<'a>), NotThis> {
    let key = varint(buf, pos)?;
    let (number, wire) = (key >> 3, key & 7);
    let number = u32::try_from(number)
        .ok()
        .filter(|&n| n != 0 && n < (1 << 29))
        .ok_or_else(|| NotThis::new(format!("field number {number} out of range")))?;
    let value = match wire {
        0 => Wire::Varint(varint(buf, pos)?),
        1 => Wire::Fixed64(fixed(buf, pos, 8)?),
        5 => Wire::Fixed32(fixed(buf, pos, 4)?),
        2 => {
            let len =
                usize::try_from(varint(buf, pos)?).map_err(|_| NotThis::new("length too large"))?;
            let end = pos
                .checked_add(len)
                .filter(|&end| end <= buf.len())
                .ok_or_else(|| NotThis::new("truncated length-delimited field"))?;
            let body = &buf[*pos..end];
            *pos = end;
            Wire::Bytes(body)
        }
        _ => return Err(NotThis::new(format!("wire type {wire} is not supported"))),
    };
    Ok((number, value))
}

/// A field without a schema, as [`decode`] shows it (an unknown field of a typed message).
pub(crate) fn untyped(wire: Wire<'_>, depth: usize, budget: &mut Budget) -> Result<Value, NotThis> {
    Ok(match wire {
        Wire::Varint(v) | Wire::Fixed64(v) | Wire::Fixed32(v) => Value::from(v),
        Wire::Bytes(body) => length_delimited(body, depth, budget)?,
    })
}
