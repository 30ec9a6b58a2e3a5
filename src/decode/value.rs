//! Building a JSON value from payload bytes: the byte [`Reader`] MessagePack and CBOR
//! share, the [`Budget`] every decoder counts values against, and the rules every decoder
//! follows for bytes, floats and map keys, so the formats cannot drift apart.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::{NotThis, MAX_DEPTH, MAX_ITEMS};

/// The byte reader the MessagePack and CBOR decoders share: a position in the payload and
/// the value budget. `F` names the format; each format file adds its grammar with an
/// `impl Reader<'_, Format>` block.
pub(crate) struct Reader<'a, F> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) budget: Budget,
    format: std::marker::PhantomData<F>,
}

impl<'a, F> Reader<'a, F> {
    /// The next `n` bytes, or "truncated". A truncated read has used every byte there
    /// is (its position moves to the end): the payload fits the format as far as it goes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], NotThis> {
        let Some(end) = self.pos.checked_add(n).filter(|&end| end <= self.buf.len()) else {
            self.pos = self.buf.len();
            return Err(NotThis::new("truncated"));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

/// One value read by `value` that must use every byte of `payload`; with `strict`, only a
/// payload whose first byte `container` accepts (a map or an array) is tried at all. An
/// error comes with the offset where reading stopped: when a payload starts like both
/// MessagePack and CBOR, the one that read further is the one to name.
pub(crate) fn read_whole<'a, F>(
    payload: &'a [u8],
    strict: bool,
    container: impl Fn(u8) -> bool,
    value: impl FnOnce(&mut Reader<'a, F>) -> Result<Value, NotThis>,
) -> Result<Value, (NotThis, usize)> {
    let first = *payload.first().ok_or_else(|| (NotThis::new("empty"), 0))?;
    if strict && !container(first) {
        return Err((NotThis::new("not a map or an array"), 0));
    }
    let mut reader = Reader {
        buf: payload,
        pos: 0,
        budget: Budget::new(),
        format: std::marker::PhantomData,
    };
    let value = value(&mut reader).map_err(|e| (e, reader.pos))?;
    if reader.pos != payload.len() {
        let left = payload.len() - reader.pos;
        return Err((
            NotThis::new(format!("{left} bytes left after the value")),
            reader.pos,
        ));
    }
    Ok(value)
}

/// Values and depth left while building one payload's value.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    items: usize,
}

impl Budget {
    pub(crate) fn new() -> Budget {
        Budget { items: MAX_ITEMS }
    }

    /// Count one value at `depth`; fails past the caps.
    pub(crate) fn take(&mut self, depth: usize) -> Result<(), NotThis> {
        if depth > MAX_DEPTH {
            return Err(NotThis::new(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        if self.items == 0 {
            return Err(NotThis::new(format!("more than {MAX_ITEMS} values")));
        }
        self.items -= 1;
        Ok(())
    }
}

/// Bytes in a value: a string when they are UTF-8, else `{"b64": "…"}` (the JSONL rule).
pub(crate) fn bytes_value(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => binary_value(bytes),
    }
}

/// Always `{"b64": "…"}`.
pub(crate) fn binary_value(bytes: &[u8]) -> Value {
    let mut map = Map::new();
    map.insert(
        "b64".to_string(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    Value::Object(map)
}

/// A float as JSON. NaN and the infinities have no JSON form: every decoder (MessagePack,
/// CBOR, typed Protobuf) writes them as the strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"`, the proto3 JSON mapping's spelling (also JavaScript's).
pub(crate) fn float_value(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// A map key that is not a string: its compact JSON text.
pub(crate) fn key_text(key: Value) -> String {
    match key {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The key under which entries whose keys read as the same text are kept together.
pub const DUPLICATE_KEYS: &str = "duplicate keys";

/// A MessagePack or CBOR map becoming a JSON object, whose keys are text. Two keys that
/// read as the same text — the integer `1` and the string `"1"`, or one key twice — would
/// keep only the last value, silently. Instead that key holds every such entry in order,
/// each as `[key as it was, value]`:
/// `{"1": {"duplicate keys": [[1, "a"], ["1", "b"]]}}`.
#[derive(Default)]
pub(crate) struct ObjectBuilder {
    map: Map<String, Value>,
    /// Keys that were not strings, by their text: a clash must give the first one back.
    non_string: HashMap<String, Value>,
    clashed: HashSet<String>,
}

impl ObjectBuilder {
    pub(crate) fn insert(&mut self, key: Value, value: Value) {
        // A string key is its own text; any other reads as its compact JSON text and is
        // kept as it was only in case a clash must show it.
        let (text, original) = match key {
            Value::String(s) => (s, None),
            other => (other.to_string(), Some(other)),
        };
        let mut slot = match self.map.entry(text) {
            Entry::Vacant(slot) => {
                if let Some(original) = original {
                    self.non_string.insert(slot.key().clone(), original);
                }
                slot.insert(value);
                return;
            }
            Entry::Occupied(slot) => slot,
        };
        let text = slot.key().clone();
        let entry = Value::Array(vec![
            original.unwrap_or_else(|| Value::String(text.clone())),
            value,
        ]);
        if self.clashed.contains(&text) {
            if let Some(Value::Array(entries)) = slot.get_mut().get_mut(DUPLICATE_KEYS) {
                entries.push(entry);
            }
            return;
        }
        let first_key = self
            .non_string
            .remove(&text)
            .unwrap_or_else(|| Value::String(text.clone()));
        let first = Value::Array(vec![first_key, slot.get_mut().take()]);
        let mut marker = Map::new();
        marker.insert(DUPLICATE_KEYS.to_string(), Value::Array(vec![first, entry]));
        *slot.get_mut() = Value::Object(marker);
        self.clashed.insert(text);
    }

    pub(crate) fn finish(self) -> Value {
        Value::Object(self.map)
    }
}
