//! The publish composer: a channel, a multi-line payload, PUBLISH or SPUBLISH, and an
//! optional JSON check that blocks sending until the payload parses.

use bytes::Bytes;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

use super::{AppState, Effect, Overlay};
use crate::decode::schema::Schema;
use crate::keymap::{Command, Scope};
use crate::redis::message::{Kind, Message};
use crate::redis::poller::ChannelKind;
use crate::text::escape::is_unsafe_char;

/// What came back from a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishDone {
    pub channel: Bytes,
    pub shard: bool,
    /// Clients that received it (on this node, for SPUBLISH in a cluster).
    pub receivers: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Channel,
    Payload,
}

/// The composer's last word, shown under the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sending,
    Delivered(PublishDone),
    /// The server refused, or the connection failed. Escaped.
    Failed(String),
    /// Not sent: what to fix first.
    Blocked(String),
}

/// How the composer's text is sent: as typed, or re-encoded (an edited decoded payload
/// goes back out as MessagePack, CBOR, gzip, or Protobuf of the type the channel's
/// `[decode]` rule names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendAs {
    #[default]
    Raw,
    /// The text parsed as JSON, sent as MessagePack.
    Msgpack,
    /// The text parsed as JSON, sent as CBOR.
    Cbor,
    /// The text as typed (JSON or not), gzip-compressed.
    Gzip,
    /// The text parsed as JSON, sent as this Protobuf type (by the loaded schema).
    Protobuf(crate::decode::TypeName),
}

impl SendAs {
    pub fn label(self) -> &'static str {
        match self {
            SendAs::Raw => "raw",
            SendAs::Msgpack => "msgpack",
            SendAs::Cbor => "cbor",
            SendAs::Gzip => "gzip",
            SendAs::Protobuf(t) => t.decoder(),
        }
    }

    /// The next in the cycle; `typed` (the channel's Protobuf type, if its `[decode]`
    /// rule names one) comes after gzip.
    fn next(self, typed: Option<crate::decode::TypeName>) -> SendAs {
        match (self, typed) {
            (SendAs::Raw, _) => SendAs::Msgpack,
            (SendAs::Msgpack, _) => SendAs::Cbor,
            (SendAs::Cbor, _) => SendAs::Gzip,
            (SendAs::Gzip, Some(t)) => SendAs::Protobuf(t),
            (SendAs::Gzip | SendAs::Protobuf(_), _) => SendAs::Raw,
        }
    }

    /// The bytes to publish for `text`, or why it cannot be encoded.
    /// `raw` (the payload as typed, or decoded back from the editable byte form) as
    /// this encoding.
    /// `schema`: the loaded Protobuf types (for [`SendAs::Protobuf`]).
    pub fn encode(self, raw: Bytes, schema: Option<&Schema>) -> Result<Bytes, String> {
        let json = || {
            serde_json::from_slice::<serde_json::Value>(&raw).map_err(|e| {
                format!(
                    "sending as {} needs a JSON payload ({e}); fix it or send it raw",
                    self.label()
                )
            })
        };
        Ok(match self {
            SendAs::Raw => raw.clone(),
            SendAs::Msgpack => Bytes::from(crate::decode::to_msgpack(&json()?)),
            SendAs::Cbor => Bytes::from(crate::decode::to_cbor(&json()?)),
            SendAs::Gzip => Bytes::from(crate::decode::gzip(&raw)),
            SendAs::Protobuf(t) => {
                let schema = schema.ok_or_else(|| {
                    format!("sending as {} needs the schema (--proto)", t.decoder())
                })?;
                let bytes = crate::decode::to_protobuf(&json()?, schema, t.type_name())
                    .map_err(|e| format!("cannot send as {}: {e}", t.decoder()))?;
                Bytes::from(bytes)
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct ComposerState {
    pub channel: Input,
    pub payload: TextArea,
    pub field: Field,
    pub shard: bool,
    pub validate_json: bool,
    /// Why the payload is not JSON, while validation is on.
    pub json_error: Option<String>,
    pub outcome: Option<Outcome>,
    /// The channel / payload is held in the editable byte form ([`to_editable`]) and is
    /// decoded back to bytes when sent: set by "send again" for bytes that are not plain
    /// text, so binary messages go out exactly as they came in.
    pub channel_escaped: bool,
    pub payload_escaped: bool,
    /// Opened by "send again" (the title says so).
    pub again: bool,
    /// Re-encoding applied when sending.
    pub send_as: SendAs,
}

impl Default for ComposerState {
    fn default() -> Self {
        ComposerState {
            channel: Input::default(),
            payload: TextArea::default(),
            field: Field::Channel,
            shard: false,
            validate_json: false,
            json_error: None,
            outcome: None,
            channel_escaped: false,
            payload_escaped: false,
            again: false,
            send_as: SendAs::Raw,
        }
    }
}

impl ComposerState {
    /// Prefilled from the selected channel when it can be typed back as text; the
    /// second value says why it was not.
    pub fn for_channel(selected: Option<(ChannelKind, &Bytes)>) -> (ComposerState, Option<String>) {
        let mut composer = ComposerState::default();
        let Some((kind, name)) = selected else {
            return (composer, None);
        };
        composer.shard = kind == ChannelKind::Shard;
        match prefill_name(name) {
            Ok(text) => {
                composer.channel = Input::new(text);
                composer.field = Field::Payload;
                (composer, None)
            }
            Err(why) => (composer, Some(why.to_string())),
        }
    }

    /// "Send again": the message's channel and kind (PUBLISH for `message`/`pmessage`,
    /// SPUBLISH for `smessage`) and its payload, ready to send as it is or edited.
    pub fn send_again(message: &Message) -> ComposerState {
        let (channel, channel_escaped) = editable_text(&message.channel, false);
        let (payload, payload_escaped) = editable_text(&message.payload, true);
        let mut composer = ComposerState {
            channel: Input::new(channel),
            payload: TextArea::new(&payload),
            field: Field::Payload,
            shard: message.kind == Kind::SMessage,
            channel_escaped,
            payload_escaped,
            again: true,
            ..ComposerState::default()
        };
        composer.payload.to_start();
        composer
    }

    pub fn command_name(&self) -> &'static str {
        if self.shard {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    fn revalidate(&mut self) {
        self.json_error = if self.validate_json {
            serde_json::from_str::<serde::de::IgnoredAny>(&self.payload.text())
                .err()
                .map(|e| e.to_string())
        } else {
            None
        };
    }

    /// The publish to run, or why not.
    fn request(&self) -> Result<Effect, String> {
        let channel = self.channel.value();
        if channel.is_empty() {
            return Err("enter a channel first".into());
        }
        if let Some(e) = &self.json_error {
            return Err(format!(
                "the payload is not valid JSON ({e}); fix it or turn the check off"
            ));
        }
        let payload = self.payload.text();
        let bytes = |text: &str, escaped: bool| {
            Bytes::from(if escaped {
                from_editable(text)
            } else {
                text.as_bytes().to_vec()
            })
        };
        Ok(Effect::Publish {
            channel: bytes(channel, self.channel_escaped),
            payload: self.send_as.encode(
                bytes(&payload, self.payload_escaped),
                crate::decode::schema::loaded().as_deref(),
            )?,
            shard: self.shard,
        })
    }
}

/// `bytes` as text for the editor, and whether it is in the editable byte form: plain
/// UTF-8 (without control or invisible characters, bar line breaks in a payload) is
/// edited as it is; anything else in the byte form, which [`from_editable`] turns back
/// into exactly the same bytes.
fn editable_text(bytes: &[u8], multi_line: bool) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text)
            if !text
                .chars()
                .any(|c| is_unsafe_char(c) && !(multi_line && c == '\n')) =>
        {
            (text.to_string(), false)
        }
        _ => (to_editable(bytes, multi_line), true),
    }
}

/// The composer's editable byte form: text stays text, a backslash is `\\`, and every
/// byte that is not printable text (invalid UTF-8, a control character, an invisible or
/// bidi format character) is `\xNN`; line breaks stay line breaks when `multi_line`.
/// Reversible by [`from_editable`], unlike the display escaping of `text::escape`
/// (which leaves backslashes alone for readability). What the editor shows still goes
/// through `text::escape` when drawn; this form only contains printable text anyway.
pub fn to_editable(bytes: &[u8], multi_line: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if c == '\n' && multi_line {
                out.push(c);
            } else if is_unsafe_char(c) {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Bytes back from the editable form: `\\` is a backslash, `\xNN` (two hex digits) a
/// byte; any other backslash is kept as typed.
pub fn from_editable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            match bytes.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                Some(b'x') => {
                    let hex = bytes
                        .get(i + 2..i + 4)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A channel name that can be edited as text: UTF-8 and not absurdly long.
fn prefill_name(name: &Bytes) -> Result<String, &'static str> {
    /// A one-line input is no place to edit a megabyte; such names are typed.
    const MAX_PREFILL: usize = 4096;
    if name.len() > MAX_PREFILL {
        return Err("the selected channel name is too long to edit here: type the channel");
    }
    String::from_utf8(name.to_vec())
        .map_err(|_| "the selected channel name is not UTF-8 text: type the channel")
}

/// A small multi-line editor: lines of text and a cursor (line, char index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextArea {
    lines: Vec<String>,
    row: usize,
    col: usize,
}

impl Default for TextArea {
    fn default() -> Self {
        TextArea {
            lines: vec![String::new()],
            row: 0,
            col: 0,
        }
    }
}

impl TextArea {
    pub fn new(text: &str) -> TextArea {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let row = lines.len() - 1;
        let col = lines[row].chars().count();
        TextArea { lines, row, col }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// (line, char index)
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Cursor to the very beginning (a prefilled payload is read from its start).
    pub fn to_start(&mut self) {
        self.row = 0;
        self.col = 0;
    }

    fn line_len(&self, row: usize) -> usize {
        self.lines.get(row).map_or(0, |l| l.chars().count())
    }

    fn byte_at(&self, row: usize, col: usize) -> usize {
        let line = &self.lines[row];
        line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    /// Edit or move; false if the key means nothing here.
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('a') if ctrl => self.col = 0,
            KeyCode::Char('e') if ctrl => self.col = self.line_len(self.row),
            KeyCode::Char(c) if !ctrl && !alt => {
                let at = self.byte_at(self.row, self.col);
                self.lines[self.row].insert(at, c);
                self.col += 1;
            }
            KeyCode::Enter if !alt => {
                let at = self.byte_at(self.row, self.col);
                let rest = self.lines[self.row].split_off(at);
                self.lines.insert(self.row + 1, rest);
                self.row += 1;
                self.col = 0;
            }
            KeyCode::Backspace => {
                if self.col > 0 {
                    let at = self.byte_at(self.row, self.col - 1);
                    self.lines[self.row].remove(at);
                    self.col -= 1;
                } else if self.row > 0 {
                    let line = self.lines.remove(self.row);
                    self.row -= 1;
                    self.col = self.line_len(self.row);
                    self.lines[self.row].push_str(&line);
                }
            }
            KeyCode::Delete => {
                if self.col < self.line_len(self.row) {
                    let at = self.byte_at(self.row, self.col);
                    self.lines[self.row].remove(at);
                } else if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.lines[self.row].push_str(&next);
                }
            }
            KeyCode::Left => {
                if self.col > 0 {
                    self.col -= 1;
                } else if self.row > 0 {
                    self.row -= 1;
                    self.col = self.line_len(self.row);
                }
            }
            KeyCode::Right => {
                if self.col < self.line_len(self.row) {
                    self.col += 1;
                } else if self.row + 1 < self.lines.len() {
                    self.row += 1;
                    self.col = 0;
                }
            }
            KeyCode::Up if self.row > 0 => {
                self.row -= 1;
                self.col = self.col.min(self.line_len(self.row));
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = self.col.min(self.line_len(self.row));
            }
            KeyCode::Home => self.col = 0,
            KeyCode::End => self.col = self.line_len(self.row),
            _ => return false,
        }
        true
    }
}

impl AppState {
    pub(super) fn composer_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(Overlay::Composer(composer)) = &mut self.overlay else {
            return false;
        };
        match self.keymap.lookup(Scope::Composer, &key) {
            Some(Command::Cancel) => self.overlay = None,
            Some(Command::NextField) => {
                composer.field = match composer.field {
                    Field::Channel => Field::Payload,
                    Field::Payload => Field::Channel,
                }
            }
            Some(Command::ToggleShard) => composer.shard = !composer.shard,
            Some(Command::ToggleJson) => {
                composer.validate_json = !composer.validate_json;
                composer.revalidate();
            }
            Some(Command::CycleEncoding) => {
                let channel = composer.channel.value().as_bytes();
                let typed = match self.config.decode.choice_for(channel) {
                    Some(crate::decode::Choice::Only(crate::decode::Format::Typed(t))) => Some(t),
                    _ => None,
                };
                composer.send_as = composer.send_as.next(typed);
            }
            Some(Command::Send) => {
                // The composer cannot be opened read-only; checked again because a
                // publish is the one thing read-only mode promises never to do.
                let request = if self.config.read_only.is_on() {
                    Err("read-only mode: publishing is disabled".to_string())
                } else {
                    composer.request()
                };
                match request {
                    Ok(effect) => {
                        composer.outcome = Some(Outcome::Sending);
                        effects.push(effect);
                    }
                    Err(why) => composer.outcome = Some(Outcome::Blocked(why)),
                }
            }
            _ => match composer.field {
                // Enter in the one-line channel field moves on to the payload.
                Field::Channel if key.code == KeyCode::Enter => composer.field = Field::Payload,
                Field::Channel => {
                    composer
                        .channel
                        .handle_event(&crossterm::event::Event::Key(key));
                }
                Field::Payload => {
                    if composer.payload.handle(&key) {
                        composer.revalidate();
                    }
                }
            },
        }
        true
    }

    pub(super) fn on_published(&mut self, result: Result<PublishDone, String>) {
        let (outcome, notice) = match result {
            Ok(done) => {
                let text = published_text(&done);
                let notice = if done.receivers == 0 {
                    (true, text)
                } else {
                    (false, text)
                };
                (Outcome::Delivered(done), notice)
            }
            Err(e) => {
                let e = crate::text::escape::escape_str(&e).into_owned();
                (
                    Outcome::Failed(e.clone()),
                    (true, format!("publish failed: {e}")),
                )
            }
        };
        if let Some(Overlay::Composer(composer)) = &mut self.overlay {
            composer.outcome = Some(outcome);
        }
        match notice {
            (true, text) => self.error(text),
            (false, text) => self.info(text),
        }
    }
}

/// "published to cache:invalidate — 4 receivers", or the warning that nobody got it.
pub fn published_text(done: &PublishDone) -> String {
    let channel = super::channels::short_name(&done.channel);
    match done.receivers {
        0 => format!("published to {channel} — nobody was listening — the message is gone"),
        1 => format!("published to {channel} — 1 receiver"),
        n => format!("published to {channel} — {n} receivers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_into(area: &mut TextArea, text: &str) {
        for c in text.chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            area.handle(&key(code));
        }
    }

    #[test]
    fn text_area_edits_across_lines() {
        let mut area = TextArea::default();
        type_into(&mut area, "{\n  \"a\": 1\n}");
        assert_eq!(area.text(), "{\n  \"a\": 1\n}");
        assert_eq!(area.cursor(), (2, 1));
        area.handle(&key(KeyCode::Home));
        area.handle(&key(KeyCode::Backspace));
        assert_eq!(area.text(), "{\n  \"a\": 1}");
        assert_eq!(area.cursor(), (1, 8));
        area.handle(&key(KeyCode::Up));
        assert_eq!(area.cursor(), (0, 1));
        area.handle(&key(KeyCode::Delete));
        assert_eq!(area.text(), "{  \"a\": 1}");
        type_into(&mut area, "é");
        area.handle(&key(KeyCode::Left));
        area.handle(&key(KeyCode::Left));
        area.handle(&key(KeyCode::Delete));
        assert_eq!(area.text(), "é  \"a\": 1}");
        assert!(!area.handle(&key(KeyCode::F(5))));
        assert_eq!(TextArea::new("a\nbc").cursor(), (1, 2));
    }

    #[test]
    fn send_as_re_encodes_an_edited_json_payload() {
        let mut c = ComposerState {
            channel: Input::new("socket.io#/#".into()),
            payload: TextArea::new("{\"user\": {\"id\": 42}}"),
            ..ComposerState::default()
        };
        let sent = |c: &ComposerState| match c.request() {
            Ok(Effect::Publish { payload, .. }) => payload,
            other => panic!("{other:?}"),
        };
        let mut seen = Vec::new();
        for _ in 0..4 {
            c.send_as = c.send_as.next(None);
            let payload = sent(&c);
            let back = crate::decode::decode(&payload, crate::decode::Choice::Auto);
            seen.push(back.map(|d| (d.chain_id(), d.value)));
        }
        let value = serde_json::json!({"user": {"id": 42}});
        assert_eq!(
            seen,
            [
                Ok(("msgpack".to_string(), value.clone())),
                Ok(("cbor".to_string(), value.clone())),
                Ok(("gzip+json".to_string(), value.clone())),
                Ok(("json".to_string(), value)),
            ]
        );
        c.send_as = SendAs::Msgpack;
        c.payload = TextArea::new("not json");
        assert!(c
            .request()
            .is_err_and(|e| e.starts_with("sending as msgpack needs a JSON payload")));
    }

    #[test]
    fn send_as_offers_the_channels_protobuf_type_after_gzip_and_encodes_by_it() {
        let order = crate::decode::TypeName::parse("protobuf:shop.Order").expect("a type");
        let mut cycle = vec![SendAs::Raw];
        for _ in 0..5 {
            let next = cycle.last().expect("one").next(Some(order));
            cycle.push(next);
        }
        assert_eq!(
            cycle,
            [
                SendAs::Raw,
                SendAs::Msgpack,
                SendAs::Cbor,
                SendAs::Gzip,
                SendAs::Protobuf(order),
                SendAs::Raw
            ]
        );
        assert_eq!(
            SendAs::Gzip.next(None),
            SendAs::Raw,
            "untyped channel: no Protobuf"
        );
        assert_eq!(SendAs::Protobuf(order).label(), "protobuf:shop.Order");

        let mut schema = Schema::default();
        schema
            .add_set(include_bytes!("../decode/schema_tests.pb"))
            .expect("the shop test set");
        let edited = Bytes::from_static(br#"{"id": "7", "customer": "ann", "status": "PAID"}"#);
        let sent = SendAs::Protobuf(order)
            .encode(edited, Some(&schema))
            .expect("encodes");
        assert_eq!(
            crate::decode::from_protobuf(&sent, &schema, "shop.Order"),
            Ok(serde_json::json!({"id": "7", "customer": "ann", "status": "PAID"}))
        );
        let refused = |payload: &'static [u8], schema| {
            SendAs::Protobuf(order)
                .encode(Bytes::from_static(payload), schema)
                .expect_err("refused")
        };
        assert!(
            refused(br#"{"nope": 1}"#, Some(&schema)).contains("shop.Order has no field `nope`")
        );
        assert!(refused(b"not json", Some(&schema)).contains("needs a JSON payload"));
        assert!(refused(br#"{"id": "7"}"#, None).contains("needs the schema"));
    }

    #[test]
    fn json_check_blocks_sending_until_it_parses() {
        let mut c = ComposerState::default();
        assert_eq!(c.request(), Err("enter a channel first".to_string()));
        c.channel = Input::new("cache:invalidate".into());
        c.payload = TextArea::new("{\"key\": ");
        c.validate_json = true;
        c.revalidate();
        assert!(c.json_error.is_some());
        assert!(c.request().is_err_and(|e| e.contains("not valid JSON")));
        c.payload = TextArea::new("{\"key\": \"user:1\"}");
        c.revalidate();
        assert_eq!(
            c.request(),
            Ok(Effect::Publish {
                channel: Bytes::from_static(b"cache:invalidate"),
                payload: Bytes::from_static(b"{\"key\": \"user:1\"}"),
                shard: false,
            })
        );
        c.validate_json = false;
        c.payload = TextArea::new("not json");
        c.revalidate();
        assert!(c.request().is_ok(), "the check is optional");
    }

    #[test]
    fn editable_form_round_trips_any_bytes() {
        let mut rng = crate::test_rng::XorShift(0x5eed_1234);
        for round in 0..2000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(4) {
                    // Backslashes, x and hex digits make escape-like input likely.
                    0 => b"\\x0f9aA\n"[rng.below(8)],
                    _ => rng.next() as u8,
                })
                .collect();
            for multi_line in [false, true] {
                let text = to_editable(&bytes, multi_line);
                assert!(
                    text.chars()
                        .all(|c| (multi_line && c == '\n') || !is_unsafe_char(c)),
                    "round {round}: {text:?}"
                );
                assert_eq!(from_editable(&text), bytes, "round {round}: {text:?}");
            }
        }
        assert_eq!(to_editable(b"a\\b\xff\x1b", false), "a\\\\b\\xff\\x1b");
        // Typed escapes mean bytes; an unknown escape is kept as typed.
        assert_eq!(from_editable("\\x41\\q\\x4"), b"A\\q\\x4");
    }

    #[test]
    fn prefill_takes_text_names_and_the_kind() {
        let (c, note) =
            ComposerState::for_channel(Some((ChannelKind::Shard, &Bytes::from_static(b"{u}:1"))));
        assert_eq!((c.channel.value(), c.shard, note), ("{u}:1", true, None));
        assert_eq!(c.field, Field::Payload);
        let (c, note) =
            ComposerState::for_channel(Some((ChannelKind::Channel, &Bytes::from_static(b"\xff"))));
        assert_eq!(c.channel.value(), "");
        assert!(note.is_some_and(|n| n.contains("not UTF-8")));
        let huge = Bytes::from(vec![b'x'; 1 << 20]);
        let (c, note) = ComposerState::for_channel(Some((ChannelKind::Channel, &huge)));
        assert_eq!((c.channel.value(), c.field), ("", Field::Channel));
        assert!(note.is_some());
    }

    #[test]
    fn result_text_warns_when_nobody_listened() {
        let done = |receivers| PublishDone {
            channel: Bytes::from_static(b"cache:\x1binvalidate"),
            shard: false,
            receivers,
        };
        assert_eq!(
            published_text(&done(4)),
            "published to cache:\\x1binvalidate — 4 receivers"
        );
        assert!(published_text(&done(0)).contains("nobody was listening — the message is gone"));
    }
}
