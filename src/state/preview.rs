//! Decoded one-line previews for the feed rows on screen (`[msgpack] {"a":1}`).
//!
//! Decoding stays off the ingest path: a row is decoded when it is drawn, once, and the
//! result (a preview, or "show it raw") is kept by item id in a small cache that is
//! emptied when it fills. Rendering stays a function of the state: the cache only
//! remembers what the same inputs give.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use super::feed::ItemId;
use crate::config::DecodeRules;
use crate::decode::{self, Choice, Decoded, Format};
use crate::redis::message::{Kind, Message};

/// Rows remembered; a screen has at most a few hundred.
const CACHE_ROWS: usize = 1024;
/// Longest preview text kept (the row is cut to the screen anyway).
const PREVIEW_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// `msgpack`, `gzip+json`, …
    pub tag: String,
    /// The decoded value as compact, terminal-safe JSON, at most [`PREVIEW_BYTES`].
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Previews {
    cache: RefCell<HashMap<ItemId, Option<Arc<Preview>>>>,
}

impl Previews {
    /// The preview of message `id`, or None when the row shows the raw payload (plain
    /// text, JSON text, a stream entry, or a payload that does not decode).
    pub fn get(&self, id: ItemId, m: &Message, rules: &DecodeRules) -> Option<Arc<Preview>> {
        let choice = row_choice(m, rules)?;
        if let Some(hit) = self.cache.borrow().get(&id) {
            return hit.clone();
        }
        let preview = decode::decode_capped(&m.payload, choice, decode::PREVIEW_OUTPUT)
            .ok()
            .filter(|d| d.chain != [Format::Json])
            .map(|d| Arc::new(preview_of(&d)));
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= CACHE_ROWS {
            cache.clear();
        }
        cache.insert(id, preview.clone());
        preview
    }
}

/// The decoder for a row, or None when a row is shown raw without trying: stream
/// entries (their payload is our own JSON), and under `auto` payloads that start like
/// plain or JSON text.
pub fn row_choice(m: &Message, rules: &DecodeRules) -> Option<Choice> {
    if m.kind == Kind::StreamEntry {
        return None;
    }
    match rules.choice_for(&m.channel) {
        Some(Choice::Auto) | None => {
            let json_like = m
                .payload
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| matches!(b, b'{' | b'[' | b'"'));
            (!json_like && decode::maybe_encoded(&m.payload)).then_some(Choice::Auto)
        }
        Some(choice) => Some(choice),
    }
}

fn preview_of(decoded: &Decoded) -> Preview {
    let mut text = decoded.compact();
    if text.len() > PREVIEW_BYTES {
        let mut end = PREVIEW_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Preview {
        tag: decoded.chain_id(),
        text,
    }
}
