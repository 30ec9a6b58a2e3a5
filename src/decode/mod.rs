//! Payload decoders: pure functions from bytes to a JSON value, or "not this format" with a
//! reason. No I/O, no UI: the feed, the detail view, filters and `tail --decode` all call
//! [`decode`].
//!
//! `auto` tries a fixed order, cheapest and most certain first:
//! JSON → MessagePack → CBOR → compressed by magic number (gzip, zlib, zstd, lz4 frame,
//! snappy framed) → Protobuf wire format (no schema) → raw snappy → base64. A compression
//! or base64 layer is followed by the decoders again (at most [`MAX_LAYERS`] layers), so
//! the result carries a chain such as `gzip → msgpack` (JSONL `decoded_as`:
//! `"gzip+msgpack"`). Compressions with a magic number are tried before the Protobuf
//! heuristic because a magic number is a stronger signal than "parses as wire format";
//! after a certain one (`compress::is_definite`) a failure to decompress is the answer.
//! A failure names the format(s) that failed (`said_failure`); JSON nested past
//! serde_json's limit is said as such ([`MAX_JSON_DEPTH`]).
//!
//! In `auto`, MessagePack and CBOR count only when the payload is a map or an array and is
//! used to its last byte (almost any byte is a valid MessagePack integer); Protobuf and raw
//! snappy only on payloads that are not readable text; base64 only when what it hides
//! decodes further (a plain word is valid base64 too).
//!
//! Protobuf with a schema (`protobuf:shop.Order`, [`Format::Typed`]) is never tried by
//! `auto`: the config or `--decode` names the type, and the schemas loaded at startup
//! ([`load_schemas`], [`schema::install`]) say what its fields are.
//!
//! Bounds (documented in the README): decompressed output at most [`MAX_OUTPUT`]
//! (16 MiB), nesting at most [`MAX_DEPTH`] levels, at most [`MAX_ITEMS`] values per
//! payload. Past a bound the payload is "not this format" with the reason, never a panic,
//! a hang or an unbounded allocation.

mod cbor;
mod compress;
mod msgpack;
mod protobuf;
mod protobuf_encode;
mod protobuf_typed;
pub mod schema;
mod schema_proto;
mod value;

use std::fmt;

use base64::Engine as _;
use serde_json::Value;

pub use compress::{gzip, zstd};
pub use value::DUPLICATE_KEYS;
pub(crate) use value::{
    binary_value, bytes_value, float_value, key_text, read_whole, Budget, ObjectBuilder, Reader,
};

/// Largest decompressed output accepted (16 MiB): a zip bomb stops here.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// Deepest nesting of arrays/maps/messages accepted.
pub const MAX_DEPTH: usize = 64;
/// Most values (scalars and containers) one payload may decode to.
pub const MAX_ITEMS: usize = 100_000;
/// Most layers (compression, base64) unwrapped before a value format.
pub const MAX_LAYERS: usize = 3;

/// One format a decoder understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Msgpack,
    Cbor,
    Protobuf,
    Gzip,
    Zlib,
    Zstd,
    Lz4,
    Snappy,
    Base64,
    /// The end of a chain whose last layer unwrapped to readable text.
    Text,
    /// The end of a chain whose last layer unwrapped to bytes no decoder knows.
    Bytes,
    /// Protobuf with a schema: a message type of the loaded descriptor sets.
    Typed(TypeName),
}

/// A decoder name with a Protobuf type, `protobuf:shop.Order`, kept for the life of
/// the process (a handful per run: the config's and the flags') so formats stay `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeName(&'static str);

impl TypeName {
    pub const PREFIX: &'static str = "protobuf:";

    /// `protobuf:TYPE` (also `proto:`/`pb:`, any case); `None` if it is not that form.
    pub fn parse(text: &str) -> Option<TypeName> {
        let text = text.trim();
        let (head, type_name) = text.split_once(':')?;
        if !matches!(
            head.to_ascii_lowercase().as_str(),
            "protobuf" | "proto" | "pb"
        ) {
            return None;
        }
        let type_name = type_name.strip_prefix('.').unwrap_or(type_name);
        let valid = !type_name.is_empty()
            && type_name.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        valid.then(|| TypeName(intern(format!("{}{type_name}", TypeName::PREFIX))))
    }

    /// `protobuf:shop.Order`.
    pub fn decoder(self) -> &'static str {
        self.0
    }

    /// `shop.Order`.
    pub fn type_name(self) -> &'static str {
        &self.0[TypeName::PREFIX.len()..]
    }
}

/// One leaked copy per distinct name.
fn intern(name: String) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.push(leaked);
    leaked
}

impl Format {
    /// Every format a user can name, in `auto`'s order.
    pub const NAMED: [Format; 10] = [
        Format::Json,
        Format::Msgpack,
        Format::Cbor,
        Format::Protobuf,
        Format::Gzip,
        Format::Zlib,
        Format::Zstd,
        Format::Lz4,
        Format::Snappy,
        Format::Base64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Msgpack => "msgpack",
            Format::Cbor => "cbor",
            Format::Protobuf => "protobuf",
            Format::Gzip => "gzip",
            Format::Zlib => "zlib",
            Format::Zstd => "zstd",
            Format::Lz4 => "lz4",
            Format::Snappy => "snappy",
            Format::Base64 => "base64",
            Format::Text => "text",
            Format::Bytes => "bytes",
            Format::Typed(t) => t.decoder(),
        }
    }

    /// A layer wraps other bytes (and the decoders run again on them).
    pub fn is_layer(self) -> bool {
        matches!(
            self,
            Format::Gzip
                | Format::Zlib
                | Format::Zstd
                | Format::Lz4
                | Format::Snappy
                | Format::Base64
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asked for: `auto` or one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    Auto,
    Only(Format),
}

impl Choice {
    /// True for a decoder that reads JSON text as JSON (`auto`, `json`): JSON-field
    /// filters read such payloads as without any decoder.
    pub fn reads_json(&self) -> bool {
        matches!(self, Choice::Auto | Choice::Only(Format::Json))
    }

    pub fn parse(text: &str) -> Option<Choice> {
        if let Some(typed) = TypeName::parse(text) {
            return Some(Choice::Only(Format::Typed(typed)));
        }
        let text = text.trim().to_ascii_lowercase();
        if text == "auto" {
            return Some(Choice::Auto);
        }
        let alias = match text.as_str() {
            "messagepack" | "mpack" => "msgpack",
            "proto" | "pb" => "protobuf",
            "deflate" => "zlib",
            "zst" => "zstd",
            "b64" => "base64",
            other => other,
        };
        Format::NAMED
            .into_iter()
            .find(|f| f.name() == alias)
            .map(Choice::Only)
    }

    /// All accepted names, for help texts and errors.
    pub fn names() -> String {
        let mut names = vec!["auto"];
        names.extend(Format::NAMED.iter().map(|f| f.name()));
        names.push("protobuf:TYPE");
        names.join("|")
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Auto => f.write_str("auto"),
            Choice::Only(format) => format.fmt(f),
        }
    }
}

/// A decoded payload: the value and the chain of formats that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Value,
    pub chain: Vec<Format>,
}

impl Decoded {
    /// JSONL `decoded_as`: `"gzip+msgpack"`.
    pub fn chain_id(&self) -> String {
        join_chain(&self.chain, "+")
    }

    /// For people: `gzip → msgpack`.
    pub fn chain_label(&self) -> String {
        join_chain(&self.chain, " → ")
    }

    /// The value as one line of JSON, terminal-safe (through `json.rs`).
    pub fn compact(&self) -> String {
        crate::json::to_string_safe(&self.value).unwrap_or_default()
    }
}

fn join_chain(chain: &[Format], sep: &str) -> String {
    chain.iter().map(|f| f.name()).collect::<Vec<_>>().join(sep)
}

/// Why a payload was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `auto` found readable text that is no encoded format: nothing to report.
    PlainText,
    /// The payload is not (or is a broken) `format`; `reason` says why.
    Rejected {
        format: Option<Format>,
        reason: String,
    },
    /// The payload starts like several formats (`81 81 …` opens a MessagePack map and a
    /// CBOR array) and each failed: every one with its reason, in the order tried, so no
    /// one format is named for what another found.
    Several(Vec<(Format, String)>),
}

impl Failure {
    /// One line for a person: `gzip: output larger than 16 MiB`.
    pub fn reason(&self) -> String {
        match self {
            Failure::PlainText => "plain text".to_string(),
            Failure::Rejected {
                format: Some(f),
                reason,
            } => format!("{f}: {reason}"),
            Failure::Rejected {
                format: None,
                reason,
            } => reason.clone(),
            Failure::Several(tried) => several_reason(tried),
        }
    }

    /// A failure worth saying: the payload carried a format's signature (a magic number,
    /// a container marker, JSON nested past the limit) and still did not decode. `auto`
    /// returns only these, plain text and "no known format".
    fn is_said(&self) -> bool {
        matches!(
            self,
            Failure::Rejected {
                format: Some(_),
                ..
            } | Failure::Several(_)
        )
    }
}

/// `msgpack or cbor: nested deeper than 64 levels` when the reasons agree, else
/// `msgpack: truncated; cbor: 3 bytes left after the value`.
fn several_reason(tried: &[(Format, String)]) -> String {
    let names: Vec<&str> = tried.iter().map(|(f, _)| f.name()).collect();
    match tried {
        [(_, first), rest @ ..] if rest.iter().all(|(_, r)| r == first) => {
            let (last, others) = names.split_last().unwrap_or((&"", &[]));
            if others.is_empty() {
                format!("{last}: {first}")
            } else {
                format!("{} or {last}: {first}", others.join(", "))
            }
        }
        _ => tried
            .iter()
            .map(|(f, r)| format!("{f}: {r}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A decoder's own error: the format and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotThis(pub String);

impl NotThis {
    pub(crate) fn new(reason: impl Into<String>) -> NotThis {
        NotThis(reason.into())
    }
}

/// Decompressed output the feed rows and filters accept (1 MiB): they decode many
/// payloads on the UI thread, so a flood of zip bombs costs a little each, not 16 MiB.
pub const PREVIEW_OUTPUT: usize = 1024 * 1024;

/// Decode `payload` as `choice` says (decompression up to [`MAX_OUTPUT`]).
pub fn decode(payload: &[u8], choice: Choice) -> Result<Decoded, Failure> {
    decode_capped(payload, choice, MAX_OUTPUT)
}

/// [`decode`] with decompressed output capped at `max_output` bytes (at most
/// [`MAX_OUTPUT`]).
pub fn decode_capped(
    payload: &[u8],
    choice: Choice,
    max_output: usize,
) -> Result<Decoded, Failure> {
    let cap = Cap(max_output.min(MAX_OUTPUT));
    match choice {
        Choice::Auto => auto(payload, 0, cap),
        Choice::Only(Format::Typed(t)) => typed(payload, t, 0, cap),
        Choice::Only(format) => only(payload, format, cap),
    }
}

/// The decompressed-output cap of one decode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cap(pub usize);

fn only(payload: &[u8], format: Format, cap: Cap) -> Result<Decoded, Failure> {
    let reject = |e: NotThis| Failure::Rejected {
        format: Some(format),
        reason: e.0,
    };
    if format.is_layer() {
        let inner = unwrap_layer(payload, format, cap).map_err(reject)?;
        let mut decoded = match auto(&inner, 1, cap) {
            Ok(decoded) => decoded,
            Err(failure) if failure.is_said() => {
                return Err(Failure::Rejected {
                    format: Some(format),
                    reason: failure.reason(),
                })
            }
            Err(_) => terminal(&inner),
        };
        decoded.chain.insert(0, format);
        return Ok(decoded);
    }
    let value = value_format(payload, format, false).map_err(reject)?;
    Ok(Decoded {
        value,
        chain: vec![format],
    })
}

/// Protobuf with a schema; a compressed payload (by magic number) is unwrapped first,
/// giving `gzip+protobuf:shop.Order`.
fn typed(payload: &[u8], t: TypeName, layer: usize, cap: Cap) -> Result<Decoded, Failure> {
    let reject = |reason: String| Failure::Rejected {
        format: Some(Format::Typed(t)),
        reason,
    };
    let Some(schema) = schema::loaded() else {
        return Err(reject(
            "no descriptor set loaded (give --proto FILE.pb or [protobuf] proto in the config)"
                .into(),
        ));
    };
    let Some(index) = schema.message(t.type_name()) else {
        return Err(reject("type not in the loaded descriptor sets".into()));
    };
    let direct = protobuf_typed::decode(payload, &schema, index);
    match (direct, compress::magic(payload)) {
        (Ok(value), _) => Ok(Decoded {
            value,
            chain: vec![Format::Typed(t)],
        }),
        (Err(e), Some(layer_format)) if layer < MAX_LAYERS => {
            // Past a certain magic number the compression's own error is the news; a
            // zlib header is only two bytes and may well be the start of a message.
            let definite = compress::is_definite(payload, layer_format);
            let inner = compress::decompress(payload, layer_format, cap).map_err(|d| {
                if definite {
                    Failure::Rejected {
                        format: Some(layer_format),
                        reason: d.0,
                    }
                } else {
                    reject(e.0)
                }
            })?;
            let mut decoded = typed(&inner, t, layer + 1, cap)?;
            decoded.chain.insert(0, layer_format);
            Ok(decoded)
        }
        (Err(e), _) => Err(reject(e.0)),
    }
}

/// Load descriptor sets (and `.proto` files, by their extension; see
/// `schema_proto.rs`) into one schema.
pub fn load_schemas(paths: &[std::path::PathBuf]) -> Result<schema::Schema, String> {
    let mut schema = schema::Schema::default();
    for path in paths {
        if path.extension().is_some_and(|e| e == "proto") {
            let raw = schema_proto::read(path)?;
            schema
                .merge(raw)
                .map_err(|e| format!("{}: {}", path.display(), e.0))?;
        } else {
            schema.add_file(path)?;
        }
    }
    Ok(schema)
}

/// `.proto` text that imports nothing (the demo's bundled schema) as a schema; `name`
/// labels errors.
pub fn load_proto_text(name: &str, text: &str) -> Result<schema::Schema, String> {
    let raw = schema_proto::read_text(std::path::Path::new(name), text)?;
    let mut schema = schema::Schema::default();
    schema.merge(raw).map_err(|e| format!("{name}: {}", e.0))?;
    Ok(schema)
}

/// Every typed decoder `choices` name must be a message type of `schema`: the error
/// lists close names (or says no set is loaded).
pub fn check_types(schema: Option<&schema::Schema>, choices: &[Choice]) -> Result<(), String> {
    for choice in choices {
        let Choice::Only(Format::Typed(t)) = choice else {
            continue;
        };
        let Some(schema) = schema else {
            return Err(format!(
                "decoder {} needs a descriptor set: give --proto FILE.pb (make one with \
                 `protoc --include_imports --descriptor_set_out=FILE.pb x.proto`) or set \
                 `proto = [\"FILE.pb\"]` under [protobuf] in the config",
                t.decoder()
            ));
        };
        if schema.message(t.type_name()).is_none() {
            let close = schema.close_names(t.type_name());
            let hint = if close.is_empty() {
                format!(
                    "the loaded sets hold {} message types",
                    schema.messages.len()
                )
            } else {
                format!("did you mean {}?", close.join(", "))
            };
            return Err(format!(
                "decoder {}: no message type {} in the loaded descriptor sets; {hint} \
                 (use the full name with its package)",
                t.decoder(),
                t.type_name()
            ));
        }
    }
    Ok(())
}

/// The end of a chain when nothing else decodes: text or bytes.
fn terminal(inner: &[u8]) -> Decoded {
    match std::str::from_utf8(inner) {
        Ok(text) => Decoded {
            value: Value::String(text.to_string()),
            chain: vec![Format::Text],
        },
        Err(_) => Decoded {
            value: binary_value(inner),
            chain: vec![Format::Bytes],
        },
    }
}

/// A value format on its own; `strict` is `auto`'s stricter acceptance.
fn value_format(payload: &[u8], format: Format, strict: bool) -> Result<Value, NotThis> {
    match format {
        Format::Json => json(payload),
        Format::Msgpack | Format::Cbor => {
            container_format(payload, format, strict).map_err(|(e, _)| e)
        }
        Format::Protobuf => protobuf::decode(payload),
        _ => Err(NotThis::new("not a value format")),
    }
}

/// MessagePack or CBOR, with the offset where a failure stopped reading.
fn container_format(
    payload: &[u8],
    format: Format,
    strict: bool,
) -> Result<Value, (NotThis, usize)> {
    match format {
        Format::Cbor => cbor::decode(payload, strict),
        _ => msgpack::decode(payload, strict),
    }
}

/// serde_json stops at this depth (its recursion limit), so a deeper payload cannot
/// overflow the stack; said as the reason instead of serde's "recursion limit exceeded".
pub const MAX_JSON_DEPTH: usize = 128;

fn json(payload: &[u8]) -> Result<Value, NotThis> {
    serde_json::from_slice::<Value>(payload).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            NotThis::new(too_deep_json())
        } else {
            NotThis::new(e.to_string())
        }
    })
}

fn too_deep_json() -> String {
    format!("nested deeper than {MAX_JSON_DEPTH} levels")
}

fn unwrap_layer(payload: &[u8], format: Format, cap: Cap) -> Result<Vec<u8>, NotThis> {
    match format {
        Format::Base64 => base64_decode(payload),
        _ => compress::decompress(payload, format, cap),
    }
}

/// Does the payload carry `format`'s signature (a magic number or a container marker)?
/// A failure after a strong signal is worth reporting; otherwise it is just "not this".
fn is_strong(payload: &[u8], format: Format) -> bool {
    match format {
        Format::Gzip | Format::Zlib | Format::Zstd | Format::Lz4 | Format::Snappy => {
            compress::magic(payload) == Some(format)
        }
        Format::Msgpack => payload.first().is_some_and(|&b| msgpack::is_container(b)),
        Format::Cbor => payload.first().is_some_and(|&b| cbor::is_container(b)),
        _ => false,
    }
}

fn auto(payload: &[u8], layer: usize, cap: Cap) -> Result<Decoded, Failure> {
    let leaf = |value, format| {
        Ok(Decoded {
            value,
            chain: vec![format],
        })
    };
    match value_format(payload, Format::Json, true) {
        Ok(value) => return leaf(value, Format::Json),
        // serde_json read past its depth limit: this is JSON, too deep to show.
        Err(e) if e.0 == too_deep_json() => {
            return Err(Failure::Rejected {
                format: Some(Format::Json),
                reason: e.0,
            })
        }
        Err(_) => {}
    }
    if payload.is_empty() {
        return Err(Failure::PlainText);
    }
    let text = !crate::text::escape::looks_binary(payload);
    // Formats whose signature the payload carries and that still failed, with the offset
    // each stopped at (see `said_failure`).
    let mut strong: Vec<(Format, String, usize)> = Vec::new();
    let mut note = |format: Format, e: NotThis, at: usize| {
        if is_strong(payload, format) {
            strong.push((format, e.0, at));
        }
    };
    for format in [Format::Msgpack, Format::Cbor] {
        if text {
            break;
        }
        match container_format(payload, format, true) {
            Ok(value) => return leaf(value, format),
            Err((e, at)) => note(format, e, at),
        }
    }
    if let Some(format) = compress::magic(payload) {
        match layered(payload, format, layer, cap) {
            Ok(decoded) => return Ok(decoded),
            // A certain magic number: its failure is the answer, not a Protobuf guess.
            Err(e) if compress::is_definite(payload, format) => {
                return Err(Failure::Rejected {
                    format: Some(format),
                    reason: e.0,
                })
            }
            Err(e) => note(format, e, 0),
        }
    }
    if !text {
        if let Ok(value) = value_format(payload, Format::Protobuf, true) {
            return leaf(value, Format::Protobuf);
        }
        if let Ok(decoded) = layered(payload, Format::Snappy, layer, cap) {
            return Ok(decoded);
        }
    }
    if looks_like_base64(payload) {
        if let Ok(decoded) = layered(payload, Format::Base64, layer, cap) {
            return Ok(decoded);
        }
    }
    Err(said_failure(strong, text))
}

/// What `auto` says when nothing decoded. Of the formats whose signature the payload
/// carried (`strong`: format, reason, offset where reading stopped), the one that read
/// furthest is named — `81 81 …` starts both a MessagePack map and a CBOR array, and a
/// MessagePack map whose CBOR reading breaks early is MessagePack's news alone — or all
/// that stopped at the same byte (`msgpack or cbor: nested deeper than 64 levels`; a
/// truncated read reaches the end), never one for what another found. Without any: plain
/// text, or "no known format" for bytes.
fn said_failure(strong: Vec<(Format, String, usize)>, text: bool) -> Failure {
    let furthest = strong.iter().map(|s| s.2).max().unwrap_or(0);
    let mut strong: Vec<(Format, String)> = strong
        .into_iter()
        .filter(|s| s.2 == furthest)
        .map(|(format, reason, _)| (format, reason))
        .collect();
    match strong.len() {
        0 if text => Failure::PlainText,
        0 => Failure::Rejected {
            format: None,
            reason: "no known format (tried json, msgpack, cbor, gzip, zlib, zstd, lz4, \
                     snappy, protobuf, base64)"
                .to_string(),
        },
        1 => {
            let (format, reason) = strong.remove(0);
            Failure::Rejected {
                format: Some(format),
                reason,
            }
        }
        _ => Failure::Several(strong),
    }
}

/// Unwrap one layer and decode what it holds. Raw snappy and base64 (no magic number)
/// count only when the inside decodes to a value format; a magic-numbered compression
/// may end in text or bytes.
fn layered(payload: &[u8], format: Format, layer: usize, cap: Cap) -> Result<Decoded, NotThis> {
    if layer >= MAX_LAYERS {
        return Err(NotThis::new(format!("more than {MAX_LAYERS} layers")));
    }
    let inner = unwrap_layer(payload, format, cap)?;
    let mut decoded = match auto(&inner, layer + 1, cap) {
        Ok(decoded) => decoded,
        Err(failure) if failure.is_said() => return Err(NotThis::new(failure.reason())),
        Err(_) if compress::magic(payload) == Some(format) => terminal(&inner),
        Err(_) => return Err(NotThis::new("nothing decodable inside")),
    };
    decoded.chain.insert(0, format);
    Ok(decoded)
}

/// A cheap first look (at most 64 bytes): false when the payload starts like plain text
/// (printable ASCII, no magic number, not base64's alphabet only), so a hot loop can skip
/// [`decode`]. A Protobuf message whose first 64 bytes are all printable is missed.
pub fn maybe_encoded(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(64)];
    if head.is_empty() {
        return false;
    }
    !head
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
        || compress::magic(payload).is_some()
        || head
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

fn looks_like_base64(payload: &[u8]) -> bool {
    payload.len() >= 8
        && payload
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

fn base64_decode(payload: &[u8]) -> Result<Vec<u8>, NotThis> {
    let trimmed = payload.trim_ascii();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut last = String::new();
    for engine in engines {
        match engine.decode(trimmed) {
            Ok(bytes) => return Ok(bytes),
            Err(e) => last = e.to_string(),
        }
    }
    Err(NotThis::new(last))
}

/// JSON value → MessagePack bytes (re-encoding an edited payload).
pub fn to_msgpack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    msgpack::encode(value, &mut out);
    out
}

/// JSON value → CBOR bytes.
pub fn to_cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    cbor::encode(value, &mut out);
    out
}

/// JSON value (in the form `protobuf:TYPE` decodes to) → Protobuf bytes of message
/// `type_name` of `schema`; an error names the field that does not fit.
pub fn to_protobuf(
    value: &Value,
    schema: &schema::Schema,
    type_name: &str,
) -> Result<Vec<u8>, String> {
    let index = schema
        .message(type_name)
        .ok_or_else(|| format!("no message type {type_name} in the schema"))?;
    protobuf_encode::encode(value, schema, index)
}

/// Protobuf bytes → the JSON value of message `type_name` of `schema` (this one, not
/// the installed one: what [`to_protobuf`] made comes back).
pub fn from_protobuf(
    payload: &[u8],
    schema: &schema::Schema,
    type_name: &str,
) -> Result<Value, String> {
    let index = schema
        .message(type_name)
        .ok_or_else(|| format!("no message type {type_name} in the schema"))?;
    protobuf_typed::decode(payload, schema, index).map_err(|e| e.0)
}

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;
