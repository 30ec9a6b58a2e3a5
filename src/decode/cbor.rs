//! CBOR (RFC 8949) ↔ JSON value. Our own reader for the same reason as MessagePack's:
//! the [`Budget`] is counted while reading, and no length from the payload sizes an
//! allocation beyond the bytes that are really there.
//!
//! Mapping: unsigned/negative integers (beyond i64 → decimal string), byte strings →
//! string if UTF-8 else `{"b64": …}`, text, arrays, maps (non-string keys → their JSON
//! text), bignums (tags 2 and 3 on a byte string, up to [`MAX_BIGNUM_BYTES`]) → decimal
//! string, other tags → the tagged value (the tag number is dropped), false/true/null/undefined
//! → false/true/null/null, other simple values → `"simple(N)"`, half/single/double floats
//! (NaN/±∞ → `"NaN"`/`"Infinity"`/`"-Infinity"`, as every decoder writes them). Keys that
//! read as the same text are all kept (see [`ObjectBuilder`]).
//! Indefinite-length strings, arrays and maps are read.

use serde_json::Value;

use super::{bytes_value, float_value, read_whole, NotThis, ObjectBuilder, Reader};

/// Does `b` start an array or a map (major types 4 and 5)?
pub(crate) fn is_container(b: u8) -> bool {
    matches!(b >> 5, 4 | 5)
}

/// The value, or why not and the byte offset where reading stopped.
pub(crate) fn decode(payload: &[u8], strict: bool) -> Result<Value, (NotThis, usize)> {
    read_whole(payload, strict, is_container, |r: &mut Reader<'_, Cbor>| {
        r.value(0)
    })
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
            (6, Arg::Num(tag @ (2 | 3))) if self.peek().map(|b| b >> 5) == Some(2) => {
                self.bignum(tag == 3, depth + 1)
            }
            (6, Arg::Num(_)) => self.value(depth + 1),
            (7, arg) => simple(info, arg),
            _ => Err(NotThis::new("indefinite length on a number or tag")),
        }
    }

    /// A bignum's byte string (RFC 8949 §3.4.3: big-endian magnitude `n`; tag 3 means
    /// `-1 - n`) as a decimal string, the README's rule for integers beyond 64 bits.
    fn bignum(&mut self, negative: bool, depth: usize) -> Result<Value, NotThis> {
        self.budget.take(depth)?;
        let (major, _, arg) = self.head()?;
        let magnitude = self.string(major, arg)?;
        Ok(match decimal(&magnitude) {
            Some(digits) if negative => Value::String(format!("-{}", plus_one(digits))),
            Some(digits) => Value::String(digits),
            // Too long to be worth the quadratic division: the bytes as any other byte
            // string (`{"b64": …}` or text), so nothing is lost and nothing is slow.
            None => bytes_value(&magnitude),
        })
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
        let mut out = ObjectBuilder::default();
        self.items(arg, |r| {
            let key = r.value(depth + 1)?;
            let value = r.value(depth + 1)?;
            out.insert(key, value);
            Ok(())
        })?;
        Ok(out.finish())
    }
}

/// Bignum magnitudes longer than this (about 154 decimal digits) are not converted:
/// long division is quadratic in the length and a payload may be megabytes.
const MAX_BIGNUM_BYTES: usize = 64;

/// Big-endian unsigned bytes → decimal digits; `None` past [`MAX_BIGNUM_BYTES`]
/// (leading zero bytes not counted).
fn decimal(bytes: &[u8]) -> Option<String> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut number = bytes[start..].to_vec();
    if number.len() > MAX_BIGNUM_BYTES {
        return None;
    }
    if number.len() <= 16 {
        let small = number
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        return Some(small.to_string());
    }
    // Long division by 10 000 000 000 000 000 000 (10^19 fits a u64), least
    // significant group first.
    const GROUP: u64 = 10_000_000_000_000_000_000;
    let mut groups = Vec::new();
    while !number.is_empty() {
        let mut remainder = 0u128;
        for byte in &mut number {
            let current = (remainder << 8) | u128::from(*byte);
            *byte = (current / u128::from(GROUP)) as u8;
            remainder = current % u128::from(GROUP);
        }
        groups.push(remainder as u64);
        let leading = number.iter().position(|&b| b != 0).unwrap_or(number.len());
        number.drain(..leading);
    }
    let mut text = groups.pop().map_or_else(String::new, |g| g.to_string());
    for group in groups.iter().rev() {
        text.push_str(&format!("{group:019}"));
    }
    Some(text)
}

/// A decimal string plus one (tag 3's `-1 - n` is `-(n + 1)`).
fn plus_one(digits: String) -> String {
    let mut bytes = digits.into_bytes();
    for digit in bytes.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return String::from_utf8(bytes).unwrap_or_default();
        }
    }
    bytes.insert(0, b'1');
    String::from_utf8(bytes).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    fn cbor(hex: &str) -> Value {
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect();
        super::decode(&bytes, false).expect("a CBOR value")
    }

    #[test]
    fn bignum_tags_decode_to_decimal_strings() {
        let two_to_64 = "49 01 00 00 00 00 00 00 00 00";
        assert_eq!(
            cbor(&format!("c2 {two_to_64}")),
            json!("18446744073709551616")
        );
        assert_eq!(
            cbor(&format!("c3 {two_to_64}")),
            json!("-18446744073709551617")
        );
        // Python cbor2: [2**64 + 1], {"big": 2**70, "nbig": -2**70}.
        assert_eq!(
            cbor("81 c2 49 01 00 00 00 00 00 00 00 01"),
            json!(["18446744073709551617"])
        );
        assert_eq!(
            cbor(
                "a2 63 62 69 67 c2 49 40 00 00 00 00 00 00 00 00 \
                 64 6e 62 69 67 c3 49 3f ff ff ff ff ff ff ff ff"
            ),
            json!({"big": "1180591620717411303424", "nbig": "-1180591620717411303424"})
        );
    }

    #[test]
    fn bignum_edge_cases_decode() {
        assert_eq!(cbor("c2 40"), json!("0"));
        assert_eq!(cbor("c3 40"), json!("-1"));
        assert_eq!(cbor("c2 43 00 00 2a"), json!("42"));
        assert_eq!(cbor("c3 43 00 00 09"), json!("-10"));
        // Indefinite-length magnitude, chunks joined: 2^64.
        assert_eq!(
            cbor("c2 5f 41 01 48 00 00 00 00 00 00 00 00 ff"),
            json!("18446744073709551616")
        );
        // 2^256 (33 bytes) goes through the long division.
        let mut hex = String::from("c2 58 21 01");
        hex.push_str(&" 00".repeat(32));
        assert_eq!(
            cbor(&hex),
            json!("115792089237316195423570985008687907853269984665640564039457584007913129639936")
        );
        // 2^512 - 1 (64 bytes of ff) is the largest converted; minus: -2^512.
        let all_ff = " ff".repeat(64);
        assert_eq!(
            cbor(&format!("c2 58 40{all_ff}")),
            json!("13407807929942597099574024998205846127479365820592393377723561443721764030073546976801874298166903427690031858186486050853753882811946569946433649006084095")
        );
        assert_eq!(
            cbor(&format!("c3 58 40{all_ff}")),
            json!("-13407807929942597099574024998205846127479365820592393377723561443721764030073546976801874298166903427690031858186486050853753882811946569946433649006084096")
        );
        // Leading zeros do not count toward the cap.
        assert_eq!(
            cbor(&format!("c2 58 42 00 00{all_ff}")),
            cbor(&format!("c2 58 40{all_ff}"))
        );
    }

    #[test]
    fn bignums_past_the_cap_and_other_tags_keep_the_tagged_value() {
        let mut hex = String::from("c2 58 41");
        hex.push_str(&" 80".repeat(65));
        let Value::Object(map) = cbor(&hex) else {
            panic!("a long bignum is kept as bytes");
        };
        assert!(map.contains_key("b64"));
        // Tag 2 on something other than a byte string, and other tags: the content.
        assert_eq!(cbor("c2 05"), json!(5));
        assert_eq!(cbor("c1 1a 51 4b 67 b0"), json!(1_363_896_240));
        assert_eq!(cbor("d8 20 63 61 62 63"), json!("abc"));
    }
}
