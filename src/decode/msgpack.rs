//! MessagePack ↔ JSON value. A small reader of our own rather than rmpv: it counts values
//! against the [`Budget`] while it reads, so a 16 MiB payload of empty arrays stops at
//! [`super::MAX_ITEMS`] instead of building millions of nodes first.
//!
//! Mapping: nil → null, bool, int, float (NaN/±∞ → `"NaN"`/`"Infinity"`/`"-Infinity"`), str → string, bin → string if
//! UTF-8 else `{"b64": …}`, array, map (non-string keys → their JSON text; keys that read
//! as the same text are all kept, see [`ObjectBuilder`]), ext →
//! `{"ext": type, "b64": …}` (timestamps included).

use serde_json::{Map, Value};

use super::{binary_value, bytes_value, float_value, read_whole, NotThis, ObjectBuilder, Reader};

/// Does `b` start a map or an array?
pub(crate) fn is_container(b: u8) -> bool {
    matches!(b, 0x80..=0x9f | 0xdc..=0xdf)
}

/// The value, or why not and the byte offset where reading stopped.
pub(crate) fn decode(payload: &[u8], strict: bool) -> Result<Value, (NotThis, usize)> {
    read_whole(
        payload,
        strict,
        is_container,
        |r: &mut Reader<'_, Msgpack>| r.value(0),
    )
}

/// The MessagePack grammar on the shared byte [`Reader`].
pub(crate) struct Msgpack;

impl<'a> Reader<'a, Msgpack> {
    fn uint(&mut self, n: usize) -> Result<u64, NotThis> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, NotThis> {
        usize::try_from(self.uint(n)?).map_err(|_| NotThis::new("length too large"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, NotThis> {
        self.budget.take(depth)?;
        let b = self.take(1)?[0];
        Ok(match b {
            0x00..=0x7f => Value::from(b),
            0x80..=0x8f => self.map(usize::from(b & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(b & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(b & 0x1f))?,
            0xc0 => Value::Null,
            0xc1 => return Err(NotThis::new("byte 0xc1 is never used")),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (b - 0xc4))?;
                bytes_value(self.take(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (b - 0xc7))?;
                self.ext(n)?
            }
            0xca => float_value(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => float_value(f64::from_bits(self.uint(8)?)),
            0xcc..=0xcf => Value::from(self.uint(1 << (b - 0xcc))?),
            0xd0..=0xd3 => {
                let n = 1usize << (b - 0xd0);
                let raw = self.uint(n)?;
                let shift = 64 - 8 * n as u32;
                Value::from(((raw << shift) as i64) >> shift)
            }
            0xd4..=0xd8 => self.ext(1 << (b - 0xd4))?,
            0xd9..=0xdb => {
                let n = self.len(1 << (b - 0xd9))?;
                self.str(n)?
            }
            0xdc | 0xdd => {
                let n = self.len(2 << (b - 0xdc))?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.len(2 << (b - 0xde))?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::from(b as i8),
        })
    }

    fn str(&mut self, n: usize) -> Result<Value, NotThis> {
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| NotThis::new("a string is not UTF-8"))
    }

    fn ext(&mut self, n: usize) -> Result<Value, NotThis> {
        let kind = self.take(1)?[0] as i8;
        let data = self.take(n)?;
        let mut map = Map::new();
        map.insert("ext".to_string(), Value::from(kind));
        if let Value::Object(b64) = binary_value(data) {
            map.extend(b64);
        }
        Ok(Value::Object(map))
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Value, NotThis> {
        // Each element takes at least one byte: a length past the end is a lie, and the
        // capacity is never more than the input can fill.
        let mut items = Vec::with_capacity(n.min(self.buf.len() - self.pos));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, NotThis> {
        let mut map = ObjectBuilder::default();
        for _ in 0..n {
            let key = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
        }
        Ok(map.finish())
    }
}

/// JSON value → MessagePack, smallest encoding for each number and length.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                encode_uint(u, out);
            } else if let Some(i) = n.as_i64() {
                encode_int(i, out);
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::String(s) => {
            let n = s.len();
            match n {
                0..=31 => out.push(0xa0 | n as u8),
                32..=0xff => out.extend_from_slice(&[0xd9, n as u8]),
                0x100..=0xffff => {
                    out.push(0xda);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    out.push(0xdb);
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
            }
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            header(items.len(), 0x90, 0xdc, out);
            for item in items {
                encode(item, out);
            }
        }
        Value::Object(map) => {
            header(map.len(), 0x80, 0xde, out);
            for (key, item) in map {
                encode(&Value::String(key.clone()), out);
                encode(item, out);
            }
        }
    }
}

fn header(n: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if u <= 0xff {
        out.extend_from_slice(&[0xcc, u as u8]);
    } else if u <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}
