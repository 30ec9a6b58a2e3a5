//! Reading a field ahead while its name is typed (issue 19).
//!
//! A JSON field every message has (`.latency_ms`) costs one read of every retained
//! payload the first time a filter names it: about 150 ms of CPU at a million messages,
//! three times what a key may take. While the name is typed (`.l`, `.la`, … each a
//! filter that matches nothing and costs a search), the newest messages already show
//! which top-level field it will be. When the typed name is the start of a longer field
//! that at least a quarter of the newest 64 payloads have (the most common such field),
//! the feed reads that field's values into a second set of cells in idle time (between
//! keys, after the count: `Event::Work`), newest first; when the typed filter reaches
//! that field, those cells become the filter's and the count reads them instead of the
//! payloads. A wrong guess costs idle CPU only; the cells (8 bytes a retained message)
//! go when the filter stops being a field name.

use std::collections::HashMap;

use super::matching::Candidates;
use super::store::Memo;
use super::values::{Cells, Values};
use super::{FeedState, ItemId};
use crate::filter::Filter;

/// Newest messages looked at for field names.
const SAMPLE: usize = 64;
/// Payloads longer than this are not parsed for field names (64 of them are parsed on a
/// key's path).
const SAMPLE_BYTES: usize = 16 * 1024;
/// `{` (named so that brace-counting tools are not misled).
const OBJECT: u8 = 0x7b;

/// A field's values being read ahead.
#[derive(Debug)]
pub(super) struct ReadAhead {
    /// `.field`, decoding as the typed filter does (`None`: cells an earlier filter
    /// read, kept in case the name typed next is that field's start again).
    filter: Option<Filter>,
    pub(super) values: Values,
    /// Retained ids below this are still to read (newest first).
    below: ItemId,
}

impl FeedState {
    /// After a filter change: read ahead the field the typed name is the start of, keep
    /// reading the one being read, or stop.
    pub(super) fn plan_read_ahead(&mut self) {
        let Some(typed) = self.filter.as_ref().filter(|f| f.bare_field().is_some()) else {
            self.read_ahead = None;
            return;
        };
        let Some(field) = self.likely_field(typed) else {
            self.read_ahead = None;
            return;
        };
        let key = field.column_key();
        let reading = self.read_ahead.as_ref().map(|r| r.values.key());
        if key.is_none() || key.as_deref() == reading {
            return;
        }
        let (first, len) = (self.first_id(), self.entries.len());
        self.read_ahead = key.map(|key| ReadAhead {
            filter: Some(field),
            values: Values::new(key, first, len),
            below: self.next_id,
        });
    }

    /// `.name` for the longer field name the typed one is the start of in a quarter or
    /// more of the newest payloads (`None` if no such field, or the typed one is complete).
    fn likely_field(&self, typed: &Filter) -> Option<Filter> {
        let prefix = typed.bare_field()?;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut sampled = 0;
        for id in (self.first_id()..self.next_id).rev() {
            if sampled == SAMPLE {
                break;
            }
            let Some(payload) = self.slot(id).and_then(|s| s.message_payload()) else {
                continue;
            };
            sampled += 1;
            // Parsed on the key's path: only objects of a modest size.
            let object = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&OBJECT);
            if !object || payload.len() > SAMPLE_BYTES {
                continue;
            }
            let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(payload) else {
                continue;
            };
            for key in map.keys() {
                if key.len() > prefix.len() && key.starts_with(prefix) {
                    *seen.entry(key.clone()).or_default() += 1;
                }
            }
        }
        // The most common; a tie goes to the name first in alphabetical order.
        let (name, count) = seen
            .into_iter()
            .max_by_key(|(name, n)| (*n, std::cmp::Reverse(name.clone())))?;
        if count * 4 < sampled {
            return None;
        }
        let field = Filter::parse(&format!(".{name}"))
            .ok()?
            .with_decoders_of(typed);
        // Only a name the filter language reads back as that one field.
        (field.bare_field() == Some(name.as_str())).then_some(field)
    }

    /// True while there is a field to read ahead.
    pub fn reading_ahead(&self) -> bool {
        self.read_ahead
            .as_ref()
            .is_some_and(|r| r.below > self.first_id())
    }

    /// One bounded step of reading ahead, newest first (the verdicts are not kept: only
    /// the values the test reads).
    pub(super) fn read_ahead_step(&mut self) {
        let first = self.first_id();
        let Some(ahead) = &mut self.read_ahead else {
            return;
        };
        let Some(filter) = &ahead.filter else {
            ahead.below = first;
            return;
        };
        let Some(lo) = self.pacing.step_below(ahead.below, first) else {
            return;
        };
        let cells = Cells {
            values: &ahead.values,
            first_id: first,
        };
        Candidates::Range(lo..ahead.below).select(
            &self.entries,
            first,
            (filter, Memo::fresh()),
            &self.pacing,
            Some(cells),
        );
        ahead.below = lo;
    }

    /// Cells a filter read, set aside when the next filter reads another field: a field
    /// name typed again (`.latency` → `.lat`) reads ahead nothing new.
    pub(super) fn keep_for_read_ahead(&mut self, values: Values) {
        if self.read_ahead.is_none() {
            self.read_ahead = Some(ReadAhead {
                filter: None,
                values,
                below: self.first_id(),
            });
        }
    }

    /// The read-ahead cells, if they are for the filter now set (`key`): they become the
    /// filter's.
    pub(super) fn take_read_ahead(&mut self, key: Option<&str>) -> Option<Values> {
        let ahead = self.read_ahead.as_ref()?;
        if Some(ahead.values.key()) != key {
            return None;
        }
        self.read_ahead.take().map(|r| r.values)
    }
}
