//! A small `.proto` text reader, for `--proto FILE.proto` without protoc. It knows the
//! common subset of proto3 and proto2: `syntax`, `package`, `import` (of files in the
//! same folder as the importing file), `message` (nested too), `enum`, fields with
//! `repeated`/`optional`/`required`, `map<K, V>`, `oneof` (its members are fields),
//! `[packed = …]`; `option`, `reserved`, `extensions`, `service` and `extend` blocks are
//! skipped. Not supported (say so, or use a descriptor set made by protoc): groups,
//! imports from other folders (e.g. `google/protobuf/timestamp.proto`), proto editions.
//! Pure apart from reading the files; bounded (file size, nesting, import count).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::schema::{Enum, Message};
use super::schema::{RawField, RawType, MAX_SET_BYTES};

/// Most files one `.proto` may pull in through imports.
const MAX_FILES: usize = 256;

/// Read `path` and the files it imports into unresolved types.
pub(super) fn read(path: &Path) -> Result<Vec<RawType>, String> {
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    load(path, &mut files, &mut seen)?;
    resolve_files(files)
}

/// `.proto` text that imports nothing (bundled with redtail: the demo's schema), named
/// `name` in errors.
pub(super) fn read_text(name: &Path, text: &str) -> Result<Vec<RawType>, String> {
    let mut files = Vec::new();
    add_text(name, text, &mut files, &mut HashSet::new())?;
    resolve_files(files)
}

fn resolve_files(files: Vec<File>) -> Result<Vec<RawType>, String> {
    // Every declared type of every file, then resolve each field's type name.
    let mut kinds: HashMap<String, bool> = HashMap::new();
    for file in &files {
        for decl in &file.decls {
            kinds.insert(decl.full_name.clone(), decl.is_enum);
        }
    }
    let mut out = Vec::new();
    for file in files {
        for decl in file.decls {
            out.push(
                decl.into_raw(&kinds)
                    .map_err(|e| format!("{}: {e}", file.path.display()))?,
            );
        }
    }
    Ok(out)
}

struct File {
    path: PathBuf,
    decls: Vec<Decl>,
}

/// A message or enum as parsed.
struct Decl {
    full_name: String,
    is_enum: bool,
    map_entry: bool,
    fields: Vec<ParsedField>,
    values: Vec<(i32, String)>,
}

struct ParsedField {
    name: String,
    number: u32,
    type_name: String,
    /// The scope the type name is looked up from (the message's full name).
    scope: String,
    repeated: bool,
    packed: Option<bool>,
}

impl Decl {
    fn into_raw(self, kinds: &HashMap<String, bool>) -> Result<RawType, String> {
        if self.is_enum {
            return Ok(RawType::Enum(Enum {
                full_name: self.full_name,
                values: self.values,
            }));
        }
        let fields = self
            .fields
            .into_iter()
            .map(|f| f.into_raw(kinds))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RawType::Message(
            Message {
                full_name: self.full_name,
                fields: Vec::new(),
                map_entry: self.map_entry,
            },
            fields,
        ))
    }
}

impl ParsedField {
    fn into_raw(self, kinds: &HashMap<String, bool>) -> Result<RawField, String> {
        let (type_code, type_name) = match scalar_code(&self.type_name) {
            Some(code) => (code, String::new()),
            None => {
                let full = resolve(&self.type_name, &self.scope, kinds).ok_or_else(|| {
                    format!(
                        "type {} (field {}.{}) is not declared in this file or its imports",
                        self.type_name, self.scope, self.name
                    )
                })?;
                let code = if kinds.get(&full) == Some(&true) {
                    14
                } else {
                    11
                };
                (code, format!(".{full}"))
            }
        };
        Ok(RawField {
            name: self.name,
            number: self.number,
            type_code,
            type_name,
            repeated: self.repeated,
            packed: self.packed,
        })
    }
}

/// Protobuf's scoping: `.a.B` is absolute; `B` is looked up from the innermost scope
/// outwards (`shop.Order.B`, `shop.B`, `B`).
fn resolve(name: &str, scope: &str, kinds: &HashMap<String, bool>) -> Option<String> {
    if let Some(absolute) = name.strip_prefix('.') {
        return kinds.contains_key(absolute).then(|| absolute.to_string());
    }
    let mut scope = scope.to_string();
    loop {
        let candidate = if scope.is_empty() {
            name.to_string()
        } else {
            format!("{scope}.{name}")
        };
        if kinds.contains_key(&candidate) {
            return Some(candidate);
        }
        if scope.is_empty() {
            return None;
        }
        scope = scope
            .rsplit_once('.')
            .map_or(String::new(), |(s, _)| s.to_string());
    }
}

fn scalar_code(name: &str) -> Option<u64> {
    Some(match name {
        "double" => 1,
        "float" => 2,
        "int64" => 3,
        "uint64" => 4,
        "int32" => 5,
        "fixed64" => 6,
        "fixed32" => 7,
        "bool" => 8,
        "string" => 9,
        "bytes" => 12,
        "uint32" => 13,
        "sfixed32" => 15,
        "sfixed64" => 16,
        "sint32" => 17,
        "sint64" => 18,
        _ => return None,
    })
}

fn load(path: &Path, files: &mut Vec<File>, seen: &mut HashSet<PathBuf>) -> Result<(), String> {
    if !seen.insert(path.to_path_buf()) {
        return Ok(());
    }
    if seen.len() > MAX_FILES {
        return Err(format!(
            "{}: more than {MAX_FILES} imported files",
            path.display()
        ));
    }
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_SET_BYTES {
        return Err(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_SET_BYTES >> 20
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    add_text(path, &text, files, seen)
}

/// The parsed text of `path`, after the files it imports (same folder only).
fn add_text(
    path: &Path,
    text: &str,
    files: &mut Vec<File>,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), String> {
    let parsed = parse(text).map_err(|e| {
        format!(
            "{}:{}: {} (redtail reads a subset of .proto; for the rest give a descriptor set \
             made with `protoc --include_imports --descriptor_set_out=FILE.pb`)",
            path.display(),
            e.line,
            e.message
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for import in &parsed.imports {
        let target = dir.join(import);
        if !target.is_file() {
            return Err(format!(
                "{}: import {import:?} is not in the same folder; give a descriptor set \
                 made with `protoc --include_imports --descriptor_set_out=FILE.pb` instead",
                path.display()
            ));
        }
        load(&target, files, seen)?;
    }
    files.push(File {
        path: path.to_path_buf(),
        decls: parsed.decls,
    });
    Ok(())
}

struct Parsed {
    imports: Vec<String>,
    decls: Vec<Decl>,
}

#[derive(Debug)]
struct ParseError {
    line: usize,
    message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(char),
}

/// Tokens with their line numbers; comments dropped.
fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                line += usize::from(chars[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err(ParseError {
                    line,
                    message: "unterminated string".into(),
                });
            }
            out.push((Tok::Str(chars[start..i].iter().collect()), line));
            i += 1;
        } else if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '+'))
            {
                i += 1;
            }
            out.push((Tok::Word(chars[start..i].iter().collect()), line));
        } else {
            out.push((Tok::Sym(c), line));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    package: String,
    decls: Vec<Decl>,
    proto3: bool,
}

fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
        package: String::new(),
        decls: Vec::new(),
        proto3: false,
    };
    let mut imports = Vec::new();
    while p.at < p.toks.len() {
        match p.word()?.as_str() {
            "syntax" => {
                p.sym('=')?;
                let syntax = p.string()?;
                if syntax == "editions" {
                    return Err(p.error("proto editions are not supported"));
                }
                p.proto3 = syntax == "proto3";
                p.sym(';')?;
            }
            "edition" => return Err(p.error("proto editions are not supported")),
            "package" => {
                p.package = p.word()?;
                p.sym(';')?;
            }
            "import" => {
                if matches!(p.peek(), Some(Tok::Word(w)) if w == "public" || w == "weak") {
                    p.at += 1;
                }
                imports.push(p.string()?);
                p.sym(';')?;
            }
            "option" => p.skip_statement()?,
            "message" => {
                let scope = p.package.clone();
                p.message(&scope, 0)?;
            }
            "enum" => {
                let scope = p.package.clone();
                p.enumeration(&scope)?;
            }
            "service" | "extend" => p.skip_block()?,
            other => return Err(p.error(&format!("unexpected `{other}` at the top level"))),
        }
    }
    Ok(Parsed {
        imports,
        decls: p.decls,
    })
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.at.min(self.toks.len().saturating_sub(1)))
            .map_or(1, |t| t.1)
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError {
            line: self.line(),
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        let tok = self
            .toks
            .get(self.at)
            .map(|t| t.0.clone())
            .ok_or_else(|| self.error("unexpected end of file"))?;
        self.at += 1;
        Ok(tok)
    }

    fn word(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Word(w) => Ok(w),
            other => Err(self.error(&format!("expected a name, found {other:?}"))),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Str(s) => Ok(s),
            other => Err(self.error(&format!("expected a string, found {other:?}"))),
        }
    }

    fn sym(&mut self, c: char) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Sym(s) if s == c => Ok(()),
            other => Err(self.error(&format!("expected `{c}`, found {other:?}"))),
        }
    }

    fn is_sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }

    /// Up to and including the next `;` (or a `{…}` block, for aggregate options).
    fn skip_statement(&mut self) -> Result<(), ParseError> {
        loop {
            match self.next()? {
                Tok::Sym(';') => return Ok(()),
                Tok::Sym('{') => {
                    self.at -= 1;
                    self.skip_block()?;
                }
                _ => {}
            }
        }
    }

    /// A name (or anything) up to a balanced `{ … }`.
    fn skip_block(&mut self) -> Result<(), ParseError> {
        while !self.is_sym('{') {
            self.next()?;
        }
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Tok::Sym('{') => depth += 1,
                Tok::Sym('}') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn message(&mut self, scope: &str, depth: usize) -> Result<(), ParseError> {
        if depth > super::MAX_DEPTH {
            return Err(self.error("messages nested too deep"));
        }
        let name = self.word()?;
        let full_name = qualify(scope, &name);
        self.sym('{')?;
        let mut fields = Vec::new();
        while !self.is_sym('}') {
            self.member(&full_name, depth, &mut fields)?;
        }
        self.sym('}')?;
        self.decls.push(Decl {
            full_name,
            is_enum: false,
            map_entry: false,
            fields,
            values: Vec::new(),
        });
        Ok(())
    }

    /// One statement inside a message body.
    fn member(
        &mut self,
        owner: &str,
        depth: usize,
        fields: &mut Vec<ParsedField>,
    ) -> Result<(), ParseError> {
        if self.is_sym(';') {
            self.at += 1;
            return Ok(());
        }
        let word = self.word()?;
        match word.as_str() {
            "message" => self.message(owner, depth + 1),
            "enum" => self.enumeration(owner),
            "option" | "reserved" | "extensions" => self.skip_statement(),
            "extend" => self.skip_block(),
            "oneof" => {
                self.word()?;
                self.sym('{')?;
                while !self.is_sym('}') {
                    if matches!(self.peek(), Some(Tok::Word(w)) if w == "option") {
                        self.at += 1;
                        self.skip_statement()?;
                        continue;
                    }
                    let type_name = self.word()?;
                    fields.push(self.field(owner, type_name, false)?);
                }
                self.sym('}')
            }
            "map" => {
                let field = self.map_field(owner)?;
                fields.push(field);
                Ok(())
            }
            "group" => Err(self.error("groups are not supported")),
            "repeated" | "optional" | "required" => {
                let type_name = self.word()?;
                if type_name == "group" {
                    return Err(self.error("groups are not supported"));
                }
                let field = self.field(owner, type_name, word == "repeated")?;
                fields.push(field);
                Ok(())
            }
            _ => {
                let field = self.field(owner, word, false)?;
                fields.push(field);
                Ok(())
            }
        }
    }

    /// `TYPE` already read: `name = N [options];`.
    fn field(
        &mut self,
        owner: &str,
        type_name: String,
        repeated: bool,
    ) -> Result<ParsedField, ParseError> {
        let name = self.word()?;
        self.sym('=')?;
        let number = self.word()?;
        let number = number
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0 && n < (1 << 29))
            .ok_or_else(|| self.error(&format!("field number {number} out of range")))?;
        let mut packed = None;
        if self.is_sym('[') {
            packed = self.field_options()?;
        }
        self.sym(';')?;
        Ok(ParsedField {
            name,
            number,
            type_name,
            scope: owner.to_string(),
            repeated,
            packed: packed.or((repeated && self.proto3).then_some(true)),
        })
    }

    /// `[packed = true, deprecated = true]`: only `packed` matters.
    fn field_options(&mut self) -> Result<Option<bool>, ParseError> {
        self.sym('[')?;
        let mut packed = None;
        while !self.is_sym(']') {
            if let Tok::Word(w) = self.next()? {
                if w == "packed" {
                    self.sym('=')?;
                    packed = Some(self.word()? == "true");
                }
            }
        }
        self.sym(']')?;
        Ok(packed)
    }

    /// `map<K, V> name = N;` → a repeated `NameEntry` message (key = 1, value = 2).
    fn map_field(&mut self, owner: &str) -> Result<ParsedField, ParseError> {
        self.sym('<')?;
        let key = self.word()?;
        self.sym(',')?;
        let value = self.word()?;
        self.sym('>')?;
        let mut field = self.field(owner, String::new(), true)?;
        let entry_name = format!("{}Entry", camel(&field.name));
        let entry_full = qualify(owner, &entry_name);
        let part = |name: &str, number, type_name: String| ParsedField {
            name: name.to_string(),
            number,
            type_name,
            scope: owner.to_string(),
            repeated: false,
            packed: None,
        };
        self.decls.push(Decl {
            full_name: entry_full.clone(),
            is_enum: false,
            map_entry: true,
            fields: vec![part("key", 1, key), part("value", 2, value)],
            values: Vec::new(),
        });
        field.type_name = format!(".{entry_full}");
        field.packed = None;
        Ok(field)
    }

    fn enumeration(&mut self, scope: &str) -> Result<(), ParseError> {
        let name = self.word()?;
        self.sym('{')?;
        let mut values = Vec::new();
        while !self.is_sym('}') {
            if self.is_sym(';') {
                self.at += 1;
                continue;
            }
            let value_name = self.word()?;
            if matches!(value_name.as_str(), "option" | "reserved") {
                self.skip_statement()?;
                continue;
            }
            self.sym('=')?;
            let number = self.word()?;
            let number = parse_int(&number)
                .ok_or_else(|| self.error(&format!("enum value {number} is not a number")))?;
            if self.is_sym('[') {
                self.field_options()?;
            }
            self.sym(';')?;
            values.push((number, value_name));
        }
        self.sym('}')?;
        self.decls.push(Decl {
            full_name: qualify(scope, &name),
            is_enum: true,
            map_entry: false,
            fields: Vec::new(),
            values,
        });
        Ok(())
    }
}

/// Decimal, hex (`0x…`) or octal enum numbers, maybe negative.
fn parse_int(text: &str) -> Option<i32> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    i32::try_from(if negative { -value } else { value }).ok()
}

/// protoc's map entry name: `by_slot` → `BySlot`.
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proto_file_reads_like_its_descriptor_set() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shop = include_str!("schema_tests_shop.proto");
        std::fs::write(dir.path().join("shop.proto"), shop).expect("write");
        std::fs::write(
            dir.path().join("money.proto"),
            "syntax = \"proto3\";\npackage shop;\n/* money */\nmessage Money {\n  string currency = 1;\n  int64 units = 2; // whole units\n}\n",
        )
        .expect("write");
        let from_text =
            super::super::load_schemas(&[dir.path().join("shop.proto")]).expect("the .proto reads");
        let mut from_set = super::super::schema::Schema::default();
        from_set
            .add_set(include_bytes!("schema_tests.pb"))
            .expect("the set reads");
        for name in ["shop.Order", "shop.Order.Line", "shop.Money"] {
            let a = &from_text.messages[from_text.message(name).expect(name)];
            let b = &from_set.messages[from_set.message(name).expect(name)];
            assert_eq!(a.fields.len(), b.fields.len(), "{name}");
            for (fa, fb) in a.fields.iter().zip(&b.fields) {
                assert_eq!(
                    (&fa.name, fa.number, fa.repeated),
                    (&fb.name, fb.number, fb.repeated)
                );
                assert_eq!(
                    std::mem::discriminant(&fa.kind),
                    std::mem::discriminant(&fb.kind),
                    "{name}.{}",
                    fa.name
                );
            }
        }
        let order = from_text.message("shop.Order").expect("order");
        let bytes = [
            0x18, 0x02, 0x32, 0x07, 0x0a, 0x03, b'e', b'u', b'r', 0x10, 0x0a,
        ];
        let value = super::super::protobuf_typed::decode(&bytes, &from_text, order).expect("ok");
        assert_eq!(
            value,
            serde_json::json!({"status": "SHIPPED", "totals": {"eur": "10"}})
        );
    }

    #[test]
    fn unsupported_proto_says_what_and_where() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases = [
            (
                "group.proto",
                "syntax = \"proto2\";\nmessage A {\n  optional group G = 1 {}\n}\n",
                ":3: groups are not supported",
            ),
            (
                "far.proto",
                "syntax = \"proto3\";\nimport \"google/protobuf/timestamp.proto\";\n",
                "is not in the same folder",
            ),
            (
                "typo.proto",
                "syntax = \"proto3\";\nmessage A { Missing m = 1; }\n",
                "type Missing (field A.m) is not declared",
            ),
            (
                "junk.proto",
                "syntax = \"proto3\";\nmessage A { int32 x = ; }\n",
                ":2: expected a name",
            ),
        ];
        for (name, text, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            let err = super::super::load_schemas(&[path]).expect_err(name);
            assert!(err.contains(want) && err.contains(name), "{name}: {err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Random text, and the real file cut or spliced anywhere, never panics.
        #[test]
        fn random_proto_text_never_panics(junk in "[ -~\n]{0,200}", at in 0usize..1200) {
            let _ = parse(&junk);
            let shop = include_str!("schema_tests_shop.proto");
            let mut at = at.min(shop.len());
            while !shop.is_char_boundary(at) {
                at -= 1;
            }
            let _ = parse(&shop[..at]);
            let _ = parse(&format!("{}{junk}{}", &shop[..at], &shop[at..]));
        }
    }
}
