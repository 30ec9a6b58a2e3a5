//! Protobuf with a schema, the other way: a JSON value in the form
//! [`super::protobuf_typed`] decodes to (field names as in the `.proto`, 64-bit integers
//! as numbers or decimal strings, enums by name or number, `bytes` as `{"b64": …}` or
//! text, maps as objects) → wire-format bytes. Used by `redtail demo` to publish typed
//! messages; decoding what this encodes gives the value back (tests below).
//!
//! Strict: a key the type does not declare, a value of the wrong JSON type or out of its
//! field's range is an error naming the field — never a silently different message.
//! Repeated numbers go out packed (the proto3 default); groups are refused.

use base64::Engine as _;
use serde_json::Value;

use super::schema::{Field, Kind, Schema};

/// Encode `value` (a JSON object) as message `index` of `schema`.
pub fn encode(value: &Value, schema: &Schema, index: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    Writer { schema }.message(value, index, &mut out, 0)?;
    Ok(out)
}

/// Deeper nesting than this is refused (the decoder stops at 64 too).
const MAX_DEPTH: usize = 64;

struct Writer<'s> {
    schema: &'s Schema,
}

impl Writer<'_> {
    fn message(
        &self,
        value: &Value,
        index: usize,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let message = &self.schema.messages[index];
        if depth > MAX_DEPTH {
            return Err(format!(
                "{}: nested deeper than {MAX_DEPTH}",
                message.full_name
            ));
        }
        let Value::Object(map) = value else {
            return Err(format!(
                "{}: expected a JSON object, got {value}",
                message.full_name
            ));
        };
        for (name, v) in map {
            let field = message
                .fields
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| format!("{} has no field `{name}`", message.full_name))?;
            self.field(field, v, out, depth)
                .map_err(|e| format!("{}.{name}: {e}", message.full_name))?;
        }
        Ok(())
    }

    fn field(
        &self,
        field: &Field,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        if let Kind::Message(index) = field.kind {
            if self.schema.messages[index].map_entry {
                return self.map(field.number, index, v, out, depth);
            }
        }
        if !field.repeated {
            return self.single(field.number, field.kind, v, out, depth);
        }
        let Value::Array(items) = v else {
            return Err(format!("a repeated field takes an array, got {v}"));
        };
        if field.kind.packable() && field.packed != Some(false) {
            let mut packed = Vec::new();
            for item in items {
                self.scalar(field.kind, item, &mut packed)?;
            }
            tag(field.number, 2, out);
            bytes(&packed, out);
            return Ok(());
        }
        items
            .iter()
            .try_for_each(|item| self.single(field.number, field.kind, item, out, depth))
    }

    /// A map field: one entry message (`key` = 1, `value` = 2) per key.
    fn map(
        &self,
        number: u32,
        entry: usize,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let Value::Object(map) = v else {
            return Err(format!("a map takes a JSON object, got {v}"));
        };
        let fields = &self.schema.messages[entry].fields;
        let (Some(key), Some(value)) = (
            fields.iter().find(|f| f.number == 1),
            fields.iter().find(|f| f.number == 2),
        ) else {
            return Err("a map entry type without key and value".into());
        };
        for (k, item) in map {
            let key_value = match key.kind {
                Kind::String => Value::String(k.clone()),
                Kind::Bool => Value::Bool(k == "true"),
                _ => Value::String(k.clone()),
            };
            let mut body = Vec::new();
            self.single(1, key.kind, &key_value, &mut body, depth)?;
            self.single(2, value.kind, item, &mut body, depth)?;
            tag(number, 2, out);
            bytes(&body, out);
        }
        Ok(())
    }

    /// One occurrence of a field: its tag, then the value.
    fn single(
        &self,
        number: u32,
        kind: Kind,
        v: &Value,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        match kind {
            Kind::Message(index) => {
                let mut body = Vec::new();
                self.message(v, index, &mut body, depth + 1)?;
                tag(number, 2, out);
                bytes(&body, out);
            }
            Kind::String | Kind::Bytes => {
                tag(number, 2, out);
                let mut body = Vec::new();
                self.scalar(kind, v, &mut body)?;
                out.extend_from_slice(&body);
            }
            Kind::Group => return Err("groups are not supported".into()),
            _ => {
                tag(number, wire_type(kind), out);
                self.scalar(kind, v, out)?;
            }
        }
        Ok(())
    }

    /// A value without its tag (strings and bytes with their length).
    fn scalar(&self, kind: Kind, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        match kind {
            Kind::Double => out.extend_from_slice(&float(v)?.to_le_bytes()),
            Kind::Float => out.extend_from_slice(&(float(v)? as f32).to_le_bytes()),
            Kind::Int64 | Kind::Sfixed64 => {
                let n = int(v, i64::MIN as i128, i64::MAX as i128)? as i64;
                match kind {
                    Kind::Int64 => varint(n as u64, out),
                    _ => out.extend_from_slice(&n.to_le_bytes()),
                }
            }
            Kind::Int32 => varint(int(v, i32::MIN.into(), i32::MAX.into())? as i64 as u64, out),
            Kind::Uint64 => varint(int(v, 0, u64::MAX.into())? as u64, out),
            Kind::Uint32 => varint(int(v, 0, u32::MAX.into())? as u64, out),
            Kind::Fixed64 => {
                out.extend_from_slice(&(int(v, 0, u64::MAX.into())? as u64).to_le_bytes())
            }
            Kind::Fixed32 => {
                out.extend_from_slice(&(int(v, 0, u32::MAX.into())? as u32).to_le_bytes())
            }
            Kind::Sfixed32 => {
                let n = int(v, i32::MIN.into(), i32::MAX.into())? as i32;
                out.extend_from_slice(&n.to_le_bytes());
            }
            Kind::Sint32 | Kind::Sint64 => {
                let (lo, hi) = if kind == Kind::Sint32 {
                    (i32::MIN.into(), i32::MAX.into())
                } else {
                    (i64::MIN.into(), i64::MAX.into())
                };
                let n = int(v, lo, hi)? as i64;
                varint(((n << 1) ^ (n >> 63)) as u64, out);
            }
            Kind::Bool => match v {
                Value::Bool(b) => varint(u64::from(*b), out),
                _ => return Err(format!("expected true or false, got {v}")),
            },
            Kind::Enum(index) => {
                let number = match v {
                    Value::String(name) => self.schema.enums[index]
                        .values
                        .iter()
                        .find(|(_, n)| n == name)
                        .map(|(number, _)| *number)
                        .ok_or_else(|| {
                            format!("{} has no value {name}", self.schema.enums[index].full_name)
                        })?,
                    _ => int(v, i32::MIN.into(), i32::MAX.into())? as i32,
                };
                varint(i64::from(number) as u64, out);
            }
            Kind::String => match v {
                Value::String(s) => bytes(s.as_bytes(), out),
                _ => return Err(format!("expected a string, got {v}")),
            },
            Kind::Bytes => bytes(&binary(v)?, out),
            Kind::Message(_) | Kind::Group => {
                return Err("a message cannot be packed".into());
            }
        }
        Ok(())
    }
}

fn wire_type(kind: Kind) -> u8 {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 1,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => 5,
        Kind::String | Kind::Bytes | Kind::Message(_) => 2,
        _ => 0,
    }
}

fn tag(number: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | u64::from(wire), out);
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Length-prefixed bytes.
fn bytes(body: &[u8], out: &mut Vec<u8>) {
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// An integer from a JSON number or a decimal string (how 64-bit ones decode), in range.
fn int(v: &Value, lo: i128, hi: i128) -> Result<i128, String> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("expected an integer, got {v}"))?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range ({lo}..={hi})"))
    }
}

/// A number, or `"NaN"`, `"Infinity"`, `"-Infinity"` as the decoder writes them.
fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("expected a number, got {v}")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("expected a number, got {v}")),
        },
        _ => Err(format!("expected a number, got {v}")),
    }
}

/// `{"b64": …}` (how bytes decode) or a string's UTF-8.
fn binary(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(m) => match m.get("b64") {
            Some(Value::String(b)) if m.len() == 1 => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("invalid base64: {e}")),
            _ => Err(format!("expected a string or {{\"b64\": …}}, got {v}")),
        },
        _ => Err(format!("expected a string or {{\"b64\": …}}, got {v}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// shop.proto + money.proto, compiled by protoc (see `schema_tests.rs`).
    fn shop() -> Schema {
        let mut schema = Schema::default();
        schema
            .add_set(include_bytes!("schema_tests.pb"))
            .expect("the test schema");
        schema
    }

    fn round_trip(schema: &Schema, value: Value) {
        let index = schema.message("shop.Order").expect("shop.Order");
        let bytes = encode(&value, schema, index).expect("encodes");
        let back = super::super::protobuf_typed::decode(&bytes, schema, index).expect("decodes");
        assert_eq!(back, value, "bytes {bytes:02x?}");
    }

    #[test]
    fn what_it_encodes_decodes_back_to_the_same_value() {
        let schema = shop();
        round_trip(
            &schema,
            json!({"id": "42", "customer": "ann", "status": "PAID"}),
        );
        round_trip(
            &schema,
            json!({
                "id": "-7",
                "lines": [{"sku": "a-1", "qty": 3, "delta": "-2"}, {"sku": "b", "qty": 1}],
                "codes": [1, -1, 300],
                "totals": {"eur": "1250", "usd": "-3"},
                "blob": {"b64": "AP8Q"},
                "cash": {"currency": "EUR", "units": "12"},
                "ratio": 0.25,
                "big": "18446744073709551615",
                "notes": ["x", "y"],
                "by_slot": {"3": {"sku": "c", "qty": 2}},
            }),
        );
    }

    #[test]
    fn a_value_that_does_not_fit_the_type_is_an_error_naming_the_field() {
        let schema = shop();
        let index = schema.message("shop.Order").expect("shop.Order");
        let err = |v: Value| encode(&v, &schema, index).expect_err("refused");
        assert!(err(json!({"nope": 1})).contains("shop.Order has no field `nope`"));
        assert!(err(json!({"codes": [1, 5_000_000_000u64]})).contains("shop.Order.codes"));
        assert!(err(json!({"status": "LOST"})).contains("no value LOST"));
        assert!(err(json!({"customer": 7})).contains("expected a string"));
        assert!(err(json!([1])).contains("expected a JSON object"));
    }
}
