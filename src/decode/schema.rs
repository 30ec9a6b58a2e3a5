//! Protobuf schemas from descriptor sets: a `FileDescriptorSet` (what
//! `protoc --include_imports --descriptor_set_out=FILE.pb …` writes) read with our own
//! wire reader into a small model — messages (nested ones too), fields (name, number,
//! type, repeated, packed, the message/enum they name), enums with value names, map
//! entries. A oneof's members are plain fields. Pure and bounded: a corrupt file is an
//! error naming the file, never a panic.
//!
//! The schemas loaded at startup (`--proto`, `[protobuf] proto`) live in one
//! process-wide registry ([`install`], [`loaded`]) so a [`super::Choice`] can stay a
//! small `Copy` value that names a type (`protobuf:shop.Order`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::protobuf::{next_field, Wire};
use super::NotThis;

/// Largest descriptor set read (64 MiB; real ones are kilobytes).
pub const MAX_SET_BYTES: u64 = 64 * 1024 * 1024;

/// A field's type, with message and enum types resolved to their index in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Group,
    Message(usize),
    Bytes,
    Uint32,
    Enum(usize),
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
}

impl Kind {
    /// Numbers and bools: the types that may arrive packed.
    pub fn packable(self) -> bool {
        !matches!(
            self,
            Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Group
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub number: u32,
    pub kind: Kind,
    pub repeated: bool,
    /// `[packed = …]` as written (proto3 packs repeated numbers by default); decoding
    /// accepts both forms whatever it says, as the Protobuf spec asks.
    pub packed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Without the leading dot: `shop.Order.Line`.
    pub full_name: String,
    pub fields: Vec<Field>,
    /// A map's entry type (`key` = 1, `value` = 2).
    pub map_entry: bool,
}

impl Message {
    pub fn field(&self, number: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.number == number)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub full_name: String,
    pub values: Vec<(i32, String)>,
}

impl Enum {
    pub fn name_of(&self, number: i32) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, name)| name.as_str())
    }
}

/// Every message and enum of the loaded descriptor sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub messages: Vec<Message>,
    pub enums: Vec<Enum>,
    by_name: HashMap<String, usize>,
}

impl Schema {
    /// A message type by full name (`shop.Order`; a leading dot is ignored).
    pub fn message(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name.strip_prefix('.').unwrap_or(name))
            .copied()
    }

    /// Message names like `name`, for an error: the best group of same last part, a
    /// few letters off, or containing it; at most 5.
    pub fn close_names(&self, name: &str) -> Vec<&str> {
        let wanted = name.to_ascii_lowercase();
        let last = wanted.rsplit('.').next().unwrap_or(&wanted);
        let score = |full: &str| {
            let lower = full.to_ascii_lowercase();
            let own = lower.rsplit('.').next().unwrap_or(&lower);
            if own == last {
                Some(0)
            } else if edit_distance(&lower, &wanted) <= 3 || edit_distance(own, last) <= 2 {
                Some(1)
            } else if lower.contains(last) || last.contains(own) {
                Some(2)
            } else {
                None
            }
        };
        let mut close: Vec<(u8, &str)> = self
            .messages
            .iter()
            .filter(|m| !m.map_entry)
            .filter_map(|m| score(&m.full_name).map(|s| (s, m.full_name.as_str())))
            .collect();
        close.sort_unstable();
        let best = close.first().map(|c| c.0);
        close
            .into_iter()
            .filter(|c| Some(c.0) == best)
            .map(|c| c.1)
            .take(5)
            .collect()
    }

    /// Read one descriptor set file and add its types.
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let bytes = read_bounded(path)?;
        self.add_set(&bytes)
            .map_err(|e| format!("{}: not a readable descriptor set: {e}", path.display()))?;
        Ok(())
    }

    /// Add the types of one `FileDescriptorSet`, then resolve type names.
    pub fn add_set(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.read_set(bytes).map_err(|e| e.0)
    }

    fn read_set(&mut self, bytes: &[u8]) -> Result<(), NotThis> {
        let mut raw = Vec::new();
        let mut pos = 0;
        let mut files = 0usize;
        while pos < bytes.len() {
            match next_field(bytes, &mut pos)? {
                (1, Wire::Bytes(file)) => {
                    read_file(file, &mut raw)?;
                    files += 1;
                }
                (1, other) => return Err(wrong_wire("FileDescriptorSet.file", other)),
                _ => {}
            }
        }
        if files == 0 {
            return Err(NotThis::new("it holds no file descriptors"));
        }
        self.merge(raw)
    }

    pub(super) fn merge(&mut self, raw: Vec<RawType>) -> Result<(), NotThis> {
        let mut pending = Vec::new();
        for item in raw {
            match item {
                RawType::Enum(e) => self.enums.push(e),
                RawType::Message(m, fields) => {
                    // A type in two sets (a shared import) is kept once.
                    if self.by_name.contains_key(&m.full_name) {
                        continue;
                    }
                    self.by_name
                        .insert(m.full_name.clone(), self.messages.len());
                    pending.push((self.messages.len(), fields));
                    self.messages.push(m);
                }
            }
        }
        let enums: HashMap<&str, usize> = self
            .enums
            .iter()
            .enumerate()
            .map(|(i, e)| (e.full_name.as_str(), i))
            .collect();
        let mut resolved = Vec::with_capacity(pending.len());
        for (index, fields) in pending {
            let owner = &self.messages[index].full_name;
            let fields = fields
                .into_iter()
                .map(|f| f.resolve(owner, &self.by_name, &enums))
                .collect::<Result<Vec<_>, _>>()?;
            resolved.push((index, fields));
        }
        for (index, fields) in resolved {
            self.messages[index].fields = fields;
        }
        Ok(())
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let hint = "make one with `protoc --include_imports --descriptor_set_out=FILE.pb x.proto`";
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read descriptor set {}: {e}; {hint}", path.display()))?;
    if meta.len() > MAX_SET_BYTES {
        return Err(format!(
            "{}: larger than {} MiB; is it a descriptor set? {hint}",
            path.display(),
            MAX_SET_BYTES >> 20
        ));
    }
    std::fs::read(path)
        .map_err(|e| format!("cannot read descriptor set {}: {e}; {hint}", path.display()))
}

/// The process-wide schemas (see the module docs).
static LOADED: RwLock<Option<Arc<Schema>>> = RwLock::new(None);

/// Make `schema` the one typed decoders use (replacing any earlier one).
pub fn install(schema: Schema) {
    let mut slot = LOADED.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(Arc::new(schema));
}

/// The installed schema, if any.
pub fn loaded() -> Option<Arc<Schema>> {
    LOADED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A message before its fields' type names are resolved.
pub(super) enum RawType {
    Message(Message, Vec<RawField>),
    Enum(Enum),
}

pub(super) struct RawField {
    pub(super) name: String,
    pub(super) number: u32,
    pub(super) type_code: u64,
    /// Fully qualified with a leading dot (`.shop.Money`) for message and enum fields.
    pub(super) type_name: String,
    pub(super) repeated: bool,
    pub(super) packed: Option<bool>,
}

impl RawField {
    fn resolve(
        self,
        owner: &str,
        messages: &HashMap<String, usize>,
        enums: &HashMap<&str, usize>,
    ) -> Result<Field, NotThis> {
        let wanted = self.type_name.strip_prefix('.').unwrap_or(&self.type_name);
        let missing = || {
            NotThis::new(format!(
                "type {} (field {}.{}) is not in the set; make it with protoc \
                 --include_imports",
                self.type_name, owner, self.name
            ))
        };
        let kind = match self.type_code {
            1 => Kind::Double,
            2 => Kind::Float,
            3 => Kind::Int64,
            4 => Kind::Uint64,
            5 => Kind::Int32,
            6 => Kind::Fixed64,
            7 => Kind::Fixed32,
            8 => Kind::Bool,
            9 => Kind::String,
            10 => Kind::Group,
            11 => Kind::Message(*messages.get(wanted).ok_or_else(missing)?),
            12 => Kind::Bytes,
            13 => Kind::Uint32,
            14 => Kind::Enum(*enums.get(wanted).ok_or_else(missing)?),
            15 => Kind::Sfixed32,
            16 => Kind::Sfixed64,
            17 => Kind::Sint32,
            18 => Kind::Sint64,
            other => {
                return Err(NotThis::new(format!(
                    "field {owner}.{} has unknown type code {other}",
                    self.name
                )))
            }
        };
        Ok(Field {
            name: self.name,
            number: self.number,
            kind,
            repeated: self.repeated,
            packed: self.packed,
        })
    }
}

fn wrong_wire(what: &str, wire: Wire<'_>) -> NotThis {
    NotThis::new(format!("{what} arrives as {}", wire.kind()))
}

fn text(what: &str, wire: Wire<'_>) -> Result<String, NotThis> {
    match wire {
        Wire::Bytes(b) => std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| NotThis::new(format!("{what} is not UTF-8"))),
        other => Err(wrong_wire(what, other)),
    }
}

fn number(what: &str, wire: Wire<'_>) -> Result<u64, NotThis> {
    match wire {
        Wire::Varint(v) => Ok(v),
        other => Err(wrong_wire(what, other)),
    }
}

fn bytes<'a>(what: &str, wire: Wire<'a>) -> Result<&'a [u8], NotThis> {
    match wire {
        Wire::Bytes(b) => Ok(b),
        other => Err(wrong_wire(what, other)),
    }
}

/// `FileDescriptorProto`: package (2), message_type (4), enum_type (5).
fn read_file(buf: &[u8], out: &mut Vec<RawType>) -> Result<(), NotThis> {
    let mut package = String::new();
    let mut messages = Vec::new();
    let mut enums = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match next_field(buf, &mut pos)? {
            (2, w) => package = text("FileDescriptorProto.package", w)?,
            (4, w) => messages.push(bytes("FileDescriptorProto.message_type", w)?),
            (5, w) => enums.push(bytes("FileDescriptorProto.enum_type", w)?),
            _ => {}
        }
    }
    for body in enums {
        out.push(RawType::Enum(read_enum(body, &package)?));
    }
    for body in messages {
        read_message(body, &package, 0, out)?;
    }
    Ok(())
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// `DescriptorProto`: name (1), field (2), nested_type (3), enum_type (4), options (7).
fn read_message(
    buf: &[u8],
    scope: &str,
    depth: usize,
    out: &mut Vec<RawType>,
) -> Result<(), NotThis> {
    if depth > super::MAX_DEPTH {
        return Err(NotThis::new(format!(
            "messages nested deeper than {} levels",
            super::MAX_DEPTH
        )));
    }
    let mut name = String::new();
    let mut fields = Vec::new();
    let mut nested = Vec::new();
    let mut enums = Vec::new();
    let mut map_entry = false;
    let mut pos = 0;
    while pos < buf.len() {
        match next_field(buf, &mut pos)? {
            (1, w) => name = text("DescriptorProto.name", w)?,
            (2, w) => fields.push(read_field(bytes("DescriptorProto.field", w)?)?),
            (3, w) => nested.push(bytes("DescriptorProto.nested_type", w)?),
            (4, w) => enums.push(bytes("DescriptorProto.enum_type", w)?),
            (7, w) => map_entry = option_flag(bytes("MessageOptions", w)?, 7)?,
            _ => {}
        }
    }
    if name.is_empty() {
        return Err(NotThis::new("a message without a name"));
    }
    let full_name = qualify(scope, &name);
    for body in enums {
        out.push(RawType::Enum(read_enum(body, &full_name)?));
    }
    for body in nested {
        read_message(body, &full_name, depth + 1, out)?;
    }
    let message = Message {
        full_name,
        fields: Vec::new(),
        map_entry,
    };
    out.push(RawType::Message(message, fields));
    Ok(())
}

/// A bool option (`map_entry` = 7 in MessageOptions, `packed` = 2 in FieldOptions).
fn option_flag(buf: &[u8], wanted: u32) -> Result<bool, NotThis> {
    let mut flag = false;
    let mut pos = 0;
    while pos < buf.len() {
        if let (n, Wire::Varint(v)) = next_field(buf, &mut pos)? {
            if n == wanted {
                flag = v != 0;
            }
        }
    }
    Ok(flag)
}

/// `FieldDescriptorProto`: name (1), number (3), label (4), type (5), type_name (6),
/// options (8).
fn read_field(buf: &[u8]) -> Result<RawField, NotThis> {
    let mut field = RawField {
        name: String::new(),
        number: 0,
        type_code: 0,
        type_name: String::new(),
        repeated: false,
        packed: None,
    };
    let mut pos = 0;
    while pos < buf.len() {
        match next_field(buf, &mut pos)? {
            (1, w) => field.name = text("FieldDescriptorProto.name", w)?,
            (3, w) => {
                field.number = u32::try_from(number("FieldDescriptorProto.number", w)?)
                    .map_err(|_| NotThis::new("a field number out of range"))?
            }
            (4, w) => field.repeated = number("FieldDescriptorProto.label", w)? == 3,
            (5, w) => field.type_code = number("FieldDescriptorProto.type", w)?,
            (6, w) => field.type_name = text("FieldDescriptorProto.type_name", w)?,
            (8, w) => {
                let options = bytes("FieldOptions", w)?;
                if has_field(options, 2)? {
                    field.packed = Some(option_flag(options, 2)?);
                }
            }
            _ => {}
        }
    }
    if field.name.is_empty() || field.number == 0 {
        return Err(NotThis::new("a field without a name or number"));
    }
    Ok(field)
}

fn has_field(buf: &[u8], wanted: u32) -> Result<bool, NotThis> {
    let mut pos = 0;
    while pos < buf.len() {
        if next_field(buf, &mut pos)?.0 == wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `EnumDescriptorProto`: name (1), value (2: name 1, number 2).
fn read_enum(buf: &[u8], scope: &str) -> Result<Enum, NotThis> {
    let mut name = String::new();
    let mut values = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match next_field(buf, &mut pos)? {
            (1, w) => name = text("EnumDescriptorProto.name", w)?,
            (2, w) => {
                let body = bytes("EnumDescriptorProto.value", w)?;
                let (mut value_name, mut value) = (String::new(), 0i32);
                let mut at = 0;
                while at < body.len() {
                    match next_field(body, &mut at)? {
                        (1, w) => value_name = text("EnumValueDescriptorProto.name", w)?,
                        // int32 on the wire: a negative value is a 64-bit varint.
                        (2, w) => value = number("EnumValueDescriptorProto.number", w)? as i32,
                        _ => {}
                    }
                }
                values.push((value, value_name));
            }
            _ => {}
        }
    }
    if name.is_empty() {
        return Err(NotThis::new("an enum without a name"));
    }
    Ok(Enum {
        full_name: qualify(scope, &name),
        values,
    })
}

/// Levenshtein distance on bytes (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
