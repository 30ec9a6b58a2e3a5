//! CBOR (RFC 8949) ↔ JSON value. Our own reader for the same reason as MessagePack's:
//! the [`Budget`] is counted while reading, and no length from the payload sizes an
//! allocation beyond the bytes that are really there.
//!
//! Mapping: unsigned/negative integers (beyond i64 → decimal string), byte strings →
//! string if UTF-8 else `{"b64": …}`, text, arrays, maps (non-string keys → their JSON
//! text), tags → the tagged value (the tag number is dropped), false/true/null/undefined
//! → false/true/null/null, other simple values → `"simple(N)"`, half/single/double floats.
//! Indefinite-length strings, arrays and maps are read.

use serde_json::{Map, Value};

use super::{bytes_value, float_value, key_text, read_whole, NotThis, Reader};

pub(crate) fn decode(payload: &[u8], strict: bool) -> Result<Value, NotThis> {
    read_whole(
        payload,
        strict,
        |b| matches!(b >> 5, 4 | 5),
        |r: &mut Reader<'_, Cbor>| r.value(0),
    )
}

/// The CBOR grammar on the shared byte [`Reader`].
pub(crate) struct Cbor;

/// A head's argument: a number, or "indefinite length".
enum Arg {
    Num(u64),
    Indefinite,
}

const BREAK: u8 = 0xff;

impl<'a> Reader<'a, Cbor> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn head(&mut self) -> Result<(u8, u8, Arg), NotThis> {
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => Arg::Num(u64::from(info)),
            24..=27 => Arg::Num(
                self.take(1 << (info - 24))?
                    .iter()
                    .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            ),
            31 => Arg::Indefinite,
            _ => return Err(NotThis::new(format!("reserved additional info {info}"))),
        };
        Ok((major, info, arg))
    }

    fn len(n: u64) -> Result<usize, NotThis> {
        usize::try_from(n).map_err(|_| NotThis::new("length too large"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, NotThis> {
        self.budget.take(depth)?;
        let (major, info, arg) = self.head()?;
        match (major, arg) {
            (0, Arg::Num(n)) => Ok(Value::from(n)),
            (1, Arg::Num(n)) => Ok(match i64::try_from(n) {
                Ok(i) => Value::from(-1 - i),
                Err(_) => Value::String((-1 - i128::from(n)).to_string()),
            }),
            (2 | 3, arg) => {
                let bytes = self.string(major, arg)?;
                if major == 2 {
                    Ok(bytes_value(&bytes))
                } else {
                    String::from_utf8(bytes)
                        .map(Value::String)
                        .map_err(|_| NotThis::new("a text string is not UTF-8"))
                }
            }
            (4, arg) => self.array(arg, depth),
            (5, arg) => self.map(arg, depth),
            (6, Arg::Num(_)) => self.value(depth + 1),
            (7, arg) => simple(info, arg),
            _ => Err(NotThis::new("indefinite length on a number or tag")),
        }
    }

    fn string(&mut self, major: u8, arg: Arg) -> Result<Vec<u8>, NotThis> {
        match arg {
            Arg::Num(n) => Ok(self.take(Self::len(n)?)?.to_vec()),
            Arg::Indefinite => {
                let mut out = Vec::new();
                while self.peek() != Some(BREAK) {
                    match self.head()? {
                        (m, _, Arg::Num(n)) if m == major => {
                            out.extend_from_slice(self.take(Self::len(n)?)?)
                        }
                        _ => return Err(NotThis::new("bad chunk in an indefinite string")),
                    }
                }
                self.take(1)?;
                Ok(out)
            }
        }
    }

    /// Calls `item` for each element (a definite count, or until the break byte).
    fn items(
        &mut self,
        arg: Arg,
        mut item: impl FnMut(&mut Self) -> Result<(), NotThis>,
    ) -> Result<(), NotThis> {
        match arg {
            Arg::Num(n) => {
                for _ in 0..n {
                    item(self)?;
                }
            }
            Arg::Indefinite => {
                while self.peek() != Some(BREAK) {
                    item(self)?;
                }
                self.take(1)?;
            }
        }
        Ok(())
    }

    fn array(&mut self, arg: Arg, depth: usize) -> Result<Value, NotThis> {
        let mut out = Vec::new();
        self.items(arg, |r| {
            out.push(r.value(depth + 1)?);
            Ok(())
        })?;
        Ok(Value::Array(out))
    }

    fn map(&mut self, arg: Arg, depth: usize) -> Result<Value, NotThis> {
        let mut out = Map::new();
        self.items(arg, |r| {
            let key = key_text(r.value(depth + 1)?);
            let value = r.value(depth + 1)?;
            out.insert(key, value);
            Ok(())
        })?;
        Ok(Value::Object(out))
    }
}

fn simple(info: u8, arg: Arg) -> Result<Value, NotThis> {
    let Arg::Num(n) = arg else {
        return Err(NotThis::new("a break byte outside an indefinite item"));
    };
    Ok(match info {
        20 => Value::Bool(false),
        21 => Value::Bool(true),
        22 | 23 => Value::Null,
        25 => float_value(f64::from(half_to_f32(n as u16))),
        26 => float_value(f64::from(f32::from_bits(n as u32))),
        27 => float_value(f64::from_bits(n)),
        _ => Value::String(format!("simple({n})")),
    })
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// JSON value → CBOR, smallest heads.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                head(0, u, out);
            } else if let Some(i) = n.as_i64() {
                head(1, (-1 - i) as u64, out);
            } else {
                out.push(0xfb);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::String(s) => {
            head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            head(4, items.len() as u64, out);
            for item in items {
                encode(item, out);
            }
        }
        Value::Object(map) => {
            head(5, map.len() as u64, out);
            for (key, item) in map {
                head(3, key.len() as u64, out);
                out.extend_from_slice(key.as_bytes());
                encode(item, out);
            }
        }
    }
}

fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}
