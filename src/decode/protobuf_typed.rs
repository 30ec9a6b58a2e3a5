//! Protobuf with a schema: bytes + a message type → a JSON value, close to the proto3
//! JSON mapping (documented in the README):
//! - keys are the `.proto` field **names** as written (`order_id`, as
//!   `MessageToDict(…, preserving_proto_field_name=True)`), not lowerCamelCase;
//! - 64-bit integers (`int64`, `uint64`, `sint64`, `fixed64`, `sfixed64`) are decimal
//!   **strings**, 32-bit ones numbers; `float`/`double` numbers (`"NaN"`, `"Infinity"`,
//!   `"-Infinity"` as strings); enums by value **name** (a number the enum does not
//!   name stays a number); `bytes` as `{"b64": …}` (redtail's convention, where
//!   MessageToDict gives a bare base64 string); maps as objects (keys as text);
//!   repeated fields as arrays, packed or not;
//! - only fields present on the wire appear (proto3 does not send defaults, so this is
//!   what MessageToDict shows too); a singular message field sent twice is merged, a
//!   singular scalar sent twice keeps the last value, as protobuf parsers do;
//! - fields the type does not declare are kept under their numbers (`"7"`), decoded
//!   as the schemaless decoder does.
//!
//! "Not this type" when: a known field arrives with a wire type its declared type
//! cannot have, a `string` is not UTF-8, the bytes are not wire format, or none of the
//! top-level fields is one the type declares. Groups are not supported.

use serde_json::{Map, Value};

use super::protobuf::{next_field, untyped, varint, Wire};
use super::schema::{Field, Kind, Message, Schema};
use super::{binary_value, float_value, Budget, NotThis};

/// Decode `payload` as message `index` of `schema`.
pub(crate) fn decode(payload: &[u8], schema: &Schema, index: usize) -> Result<Value, NotThis> {
    let mut budget = Budget::new();
    let reader = Reader {
        schema,
        budget: &mut budget,
    };
    reader.top(payload, index)
}

struct Reader<'s, 'b> {
    schema: &'s Schema,
    budget: &'b mut Budget,
}

/// One field's occurrences in wire order, before they become a value.
struct Slot<'s, 'p> {
    field: &'s Field,
    wires: Vec<Wire<'p>>,
}

impl<'s> Reader<'s, '_> {
    fn top(mut self, payload: &[u8], index: usize) -> Result<Value, NotThis> {
        let message = &self.schema.messages[index];
        let (slots, unknown) = collect(payload, message)?;
        if slots.is_empty() && !unknown.is_empty() {
            let numbers: Vec<String> = unknown.iter().map(|(n, _)| n.to_string()).collect();
            return Err(NotThis::new(format!(
                "no field of {} found (field {} not declared)",
                message.full_name,
                numbers.join(", ")
            )));
        }
        self.object(slots, unknown, 0)
    }

    fn message(&mut self, payload: &[u8], index: usize, depth: usize) -> Result<Value, NotThis> {
        self.budget.take(depth)?;
        let message = &self.schema.messages[index];
        let (slots, unknown) = collect(payload, message)?;
        self.object(slots, unknown, depth)
    }

    fn object(
        &mut self,
        slots: Vec<Slot<'s, '_>>,
        unknown: Vec<(u32, Wire<'_>)>,
        depth: usize,
    ) -> Result<Value, NotThis> {
        let mut map = Map::new();
        for slot in slots {
            let value = self.field_value(&slot, depth + 1)?;
            map.insert(slot.field.name.clone(), value);
        }
        for (number, wire) in unknown {
            self.budget.take(depth + 1)?;
            let value = untyped(wire, depth + 1, self.budget)?;
            let key = number.to_string();
            match map.get_mut(&key) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    map.insert(key, value);
                }
            }
        }
        Ok(Value::Object(map))
    }

    fn field_value(&mut self, slot: &Slot<'s, '_>, depth: usize) -> Result<Value, NotThis> {
        let field = slot.field;
        if let Kind::Message(index) = field.kind {
            let entry = &self.schema.messages[index];
            if field.repeated && entry.map_entry {
                return self.map(entry, &slot.wires, depth);
            }
            if !field.repeated {
                // Occurrences of a singular message merge: parse them as one.
                let mut joined = Vec::new();
                for wire in &slot.wires {
                    match wire {
                        Wire::Bytes(b) => joined.extend_from_slice(b),
                        other => return Err(wrong(field, *other)),
                    }
                }
                return self.message(&joined, index, depth);
            }
        }
        let mut values = Vec::new();
        for wire in &slot.wires {
            self.values(field, *wire, depth, &mut values)?;
        }
        if field.repeated {
            return Ok(Value::Array(values));
        }
        values
            .pop()
            .ok_or_else(|| NotThis::new(format!("field {} is empty", field.name)))
    }

    /// One occurrence: one value, or several when packed.
    fn values(
        &mut self,
        field: &Field,
        wire: Wire<'_>,
        depth: usize,
        out: &mut Vec<Value>,
    ) -> Result<(), NotThis> {
        match (field.kind, wire) {
            (kind, Wire::Bytes(body)) if field.repeated && kind.packable() => {
                let mut pos = 0;
                while pos < body.len() {
                    let one = packed_one(kind, body, &mut pos)
                        .map_err(|e| NotThis::new(format!("field {}: {}", field.name, e.0)))?;
                    self.budget.take(depth)?;
                    out.push(self.scalar(field, one)?);
                }
            }
            _ => {
                self.budget.take(depth)?;
                let value = self.single(field, wire, depth)?;
                out.push(value);
            }
        }
        Ok(())
    }

    fn single(&mut self, field: &Field, wire: Wire<'_>, depth: usize) -> Result<Value, NotThis> {
        match (field.kind, wire) {
            (Kind::String, Wire::Bytes(b)) => std::str::from_utf8(b)
                .map(|s| Value::String(s.to_string()))
                .map_err(|_| NotThis::new(format!("field {} (string) is not UTF-8", field.name))),
            (Kind::Bytes, Wire::Bytes(b)) => Ok(binary_value(b)),
            (Kind::Message(index), Wire::Bytes(b)) => self.message(b, index, depth),
            (Kind::Group, _) => Err(NotThis::new(format!(
                "field {} is a group (not supported)",
                field.name
            ))),
            _ => self.scalar(field, wire),
        }
    }

    fn scalar(&self, field: &Field, wire: Wire<'_>) -> Result<Value, NotThis> {
        scalar(self.schema, field.kind, wire).ok_or_else(|| wrong(field, wire))
    }

    fn map(
        &mut self,
        entry: &'s Message,
        wires: &[Wire<'_>],
        depth: usize,
    ) -> Result<Value, NotThis> {
        self.budget.take(depth)?;
        let mut map = Map::new();
        for wire in wires {
            let Wire::Bytes(body) = wire else {
                return Err(NotThis::new(format!(
                    "a {} entry arrives as {}",
                    entry.full_name,
                    wire.kind()
                )));
            };
            let (slots, _) = collect(body, entry)?;
            let (mut key, mut value) = (None, None);
            for slot in slots {
                let v = self.field_value(&slot, depth + 1)?;
                match slot.field.number {
                    1 => key = Some(v),
                    _ => value = Some(v),
                }
            }
            let key = key.unwrap_or_else(|| default_of(self.schema, entry.field(1)));
            let value = value.unwrap_or_else(|| default_of(self.schema, entry.field(2)));
            map.insert(super::key_text(key), value);
        }
        Ok(Value::Object(map))
    }
}

/// A known field with a wire type its declared type cannot have.
fn wrong(field: &Field, wire: Wire<'_>) -> NotThis {
    NotThis::new(format!(
        "field {} ({}) is {} but arrives as {}",
        field.name,
        field.number,
        kind_name(field.kind),
        wire.kind()
    ))
}

/// Known fields (in declaration order) and unknown ones (in wire order).
type Fields<'s, 'p> = (Vec<Slot<'s, 'p>>, Vec<(u32, Wire<'p>)>);

/// Known fields (in declaration order) and unknown ones (in wire order).
fn collect<'s, 'p>(payload: &'p [u8], message: &'s Message) -> Result<Fields<'s, 'p>, NotThis> {
    let mut slots: Vec<Slot<'s, 'p>> = Vec::new();
    let mut unknown = Vec::new();
    let mut pos = 0;
    while pos < payload.len() {
        let (number, wire) = next_field(payload, &mut pos)?;
        match message.field(number) {
            Some(field) => match slots.iter_mut().find(|s| s.field.number == number) {
                Some(slot) => slot.wires.push(wire),
                None => slots.push(Slot {
                    field,
                    wires: vec![wire],
                }),
            },
            None => unknown.push((number, wire)),
        }
    }
    slots.sort_by_key(|s| {
        message
            .fields
            .iter()
            .position(|f| f.number == s.field.number)
    });
    Ok((slots, unknown))
}

/// One number of a packed run.
fn packed_one<'a>(kind: Kind, body: &'a [u8], pos: &mut usize) -> Result<Wire<'a>, NotThis> {
    let width = match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 8,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => 4,
        _ => return Ok(Wire::Varint(varint(body, pos)?)),
    };
    let v = super::protobuf::fixed(body, pos, width)?;
    Ok(if width == 8 {
        Wire::Fixed64(v)
    } else {
        Wire::Fixed32(v)
    })
}

/// A number or bool of `kind` from its wire value; `None` when the wire type is wrong.
fn scalar(schema: &Schema, kind: Kind, wire: Wire<'_>) -> Option<Value> {
    let text = |s: String| Some(Value::String(s));
    match (kind, wire) {
        (Kind::Int64, Wire::Varint(v)) => text((v as i64).to_string()),
        (Kind::Uint64, Wire::Varint(v)) => text(v.to_string()),
        (Kind::Sint64, Wire::Varint(v)) => text(unzigzag(v).to_string()),
        (Kind::Fixed64, Wire::Fixed64(v)) => text(v.to_string()),
        (Kind::Sfixed64, Wire::Fixed64(v)) => text((v as i64).to_string()),
        // int32 is sent sign-extended to 64 bits; the low 32 bits are the value.
        (Kind::Int32, Wire::Varint(v)) => Some(Value::from(v as u32 as i32)),
        (Kind::Uint32, Wire::Varint(v)) => Some(Value::from(v as u32)),
        (Kind::Sint32, Wire::Varint(v)) => Some(Value::from(unzigzag(v) as i32)),
        (Kind::Fixed32, Wire::Fixed32(v)) => Some(Value::from(v as u32)),
        (Kind::Sfixed32, Wire::Fixed32(v)) => Some(Value::from(v as u32 as i32)),
        (Kind::Bool, Wire::Varint(v)) => Some(Value::Bool(v != 0)),
        (Kind::Double, Wire::Fixed64(v)) => Some(float_value(f64::from_bits(v))),
        (Kind::Float, Wire::Fixed32(v)) => Some(float_value(f64::from(f32::from_bits(v as u32)))),
        (Kind::Enum(index), Wire::Varint(v)) => {
            let number = v as u32 as i32;
            Some(match schema.enums[index].name_of(number) {
                Some(name) => Value::String(name.to_string()),
                None => Value::from(number),
            })
        }
        _ => None,
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A map entry's missing key or value: the type's default.
fn default_of(schema: &Schema, field: Option<&Field>) -> Value {
    let Some(field) = field else {
        return Value::Null;
    };
    match field.kind {
        Kind::String => Value::String(String::new()),
        Kind::Bytes => binary_value(&[]),
        Kind::Bool => Value::Bool(false),
        Kind::Message(_) | Kind::Group => Value::Object(Map::new()),
        Kind::Int64 | Kind::Uint64 | Kind::Sint64 | Kind::Fixed64 | Kind::Sfixed64 => {
            Value::String("0".into())
        }
        Kind::Enum(_) => scalar(schema, field.kind, Wire::Varint(0)).unwrap_or(Value::from(0)),
        _ => Value::from(0),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int64 => "int64",
        Kind::Uint64 => "uint64",
        Kind::Int32 => "int32",
        Kind::Fixed64 => "fixed64",
        Kind::Fixed32 => "fixed32",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Group => "group",
        Kind::Message(_) => "a message",
        Kind::Bytes => "bytes",
        Kind::Uint32 => "uint32",
        Kind::Enum(_) => "an enum",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
    }
}
