//! The keys table: one row per key with its event counts, last event, rate and node.
//! Rates and the bound on tracked keys (oldest-idle evicted, counted) come from the
//! Channels pane's [`ActivityTracker`], keyed by database and key.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::filter::Filter;
use crate::redis::message::KeyEvent;
use crate::redis::poller::ChannelKind;
use crate::state::channels::activity::{ActivityTracker, MAX_TRACKED_NAME_BYTES};

/// Keys tracked at most; the least recently changed are dropped (and counted) beyond.
pub const MAX_TRACKED_KEYS: usize = 50_000;
/// Distinct event names kept per key (a module could invent many).
const MAX_EVENT_NAMES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySort {
    Key,
    Events,
    Rate,
    Last,
    Node,
}

impl KeySort {
    pub const ALL: [KeySort; 5] = [
        KeySort::Key,
        KeySort::Events,
        KeySort::Rate,
        KeySort::Last,
        KeySort::Node,
    ];

    pub fn title(self) -> &'static str {
        match self {
            KeySort::Key => "key",
            KeySort::Events => "events",
            KeySort::Rate => "ev/s",
            KeySort::Last => "last event",
            KeySort::Node => "node",
        }
    }

    /// Names sort A→Z first; figures and recency biggest/newest first.
    fn natural_descending(self) -> bool {
        !matches!(self, KeySort::Key | KeySort::Node)
    }
}

#[derive(Debug, Clone)]
struct Counts {
    db: u32,
    node: Arc<str>,
    total: u64,
    /// Per event name, in order of first sight.
    events: Vec<(Bytes, u64)>,
    last_event: Bytes,
}

/// One row as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub key: Bytes,
    pub db: u32,
    pub node: Arc<str>,
    pub total: u64,
    /// Event names by count, most first.
    pub events: Vec<(Bytes, u64)>,
    pub last_event: Bytes,
    pub last_at: DateTime<Utc>,
    /// Events per second over the last minute.
    pub rate: f64,
}

#[derive(Debug, Clone)]
pub struct KeysTable {
    activity: ActivityTracker,
    counts: HashMap<Bytes, Counts>,
    max_keys: usize,
    /// The lookup name of the event being recorded (reused: no allocation per event).
    scratch: Vec<u8>,
    pub sort: KeySort,
    pub descending: bool,
    pub selected: usize,
}

impl Default for KeysTable {
    fn default() -> Self {
        KeysTable::with_limit(MAX_TRACKED_KEYS)
    }
}

/// The tracker's name for a key: its database (4 bytes) then the key.
fn name_of(db: u32, key: &[u8]) -> Bytes {
    let mut name = Vec::with_capacity(4 + key.len());
    name.extend_from_slice(&db.to_be_bytes());
    name.extend_from_slice(key);
    Bytes::from(name)
}

impl KeysTable {
    pub fn with_limit(max_keys: usize) -> KeysTable {
        KeysTable {
            activity: ActivityTracker::with_limits(max_keys, MAX_TRACKED_NAME_BYTES),
            counts: HashMap::new(),
            max_keys,
            scratch: Vec::new(),
            sort: KeySort::Events,
            descending: true,
            selected: 0,
        }
    }

    pub fn record(&mut self, e: &KeyEvent) {
        // The tracker's name built in a reused buffer: a known key allocates nothing.
        self.scratch.clear();
        self.scratch.extend_from_slice(&e.db.to_be_bytes());
        self.scratch.extend_from_slice(&e.key);
        let evicted = self.activity.evicted;
        self.activity
            .record(ChannelKind::Channel, &self.scratch, e.received);
        if !self.counts.contains_key(&self.scratch[..]) {
            let counts = Counts {
                db: e.db,
                node: e.node.clone(),
                total: 0,
                events: Vec::new(),
                last_event: Bytes::new(),
            };
            self.counts.insert(name_of(e.db, &e.key), counts);
        }
        let Some(counts) = self.counts.get_mut(&self.scratch[..]) else {
            return;
        };
        counts.total += 1;
        counts.node = e.node.clone();
        // Names are copied once per key and event (never kept as slices of a read
        // buffer); a repeated event only counts.
        match counts.events.iter().position(|(n, _)| n == &e.event) {
            Some(i) => {
                counts.events[i].1 += 1;
                counts.last_event = counts.events[i].0.clone();
            }
            None => {
                let name = Bytes::copy_from_slice(&e.event);
                if counts.events.len() < MAX_EVENT_NAMES {
                    counts.events.push((name.clone(), 1));
                }
                counts.last_event = name;
            }
        }
        if self.activity.evicted != evicted {
            let activity = &self.activity;
            self.counts
                .retain(|name, _| activity.get(ChannelKind::Channel, name).is_some());
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Keys dropped to stay within the bound.
    pub fn evicted(&self) -> u64 {
        self.activity.evicted
    }

    /// Forget every key (a new subscription); the sort order stays.
    pub fn clear(&mut self) {
        let (sort, descending) = (self.sort, self.descending);
        *self = KeysTable::with_limit(self.max_keys);
        (self.sort, self.descending) = (sort, descending);
    }

    pub fn sort_next(&mut self) {
        let i = KeySort::ALL
            .iter()
            .position(|&s| s == self.sort)
            .unwrap_or(0);
        self.sort = KeySort::ALL[(i + 1) % KeySort::ALL.len()];
        self.descending = self.sort.natural_descending();
    }

    /// The rows matching `filter` (`channel:` = key, the rest = any of its event names),
    /// sorted.
    pub fn rows(&self, now: DateTime<Utc>, filter: Option<&Filter>) -> Vec<KeyRow> {
        self.page(now, filter, 0, usize::MAX).rows
    }

    /// The `len` sorted rows around `selected` (kept in view), and how many match: only
    /// the rows on screen are built, so 50,000 keys cost a sort of references per frame.
    pub fn page(
        &self,
        now: DateTime<Utc>,
        filter: Option<&Filter>,
        selected: usize,
        len: usize,
    ) -> Page {
        let by_rate = self.sort == KeySort::Rate;
        let mut order: Vec<Sortable<'_>> = self
            .counts
            .iter()
            .filter(|(name, c)| passes(filter, &name[4..], c))
            .filter_map(|(name, c)| {
                let activity = self.activity.get(ChannelKind::Channel, name)?;
                let rate = if by_rate { rate(activity, now) } else { 0.0 };
                Some(Sortable {
                    name,
                    counts: c,
                    last_at: activity.last_at,
                    rate,
                })
            })
            .collect();
        let sort = self.sort;
        order.sort_by(|a, b| {
            let order = compare(sort, a, b);
            let order = if self.descending {
                order.reverse()
            } else {
                order
            };
            order
                .then_with(|| a.name[4..].cmp(&b.name[4..]))
                .then(a.counts.db.cmp(&b.counts.db))
        });
        let total = order.len();
        let selected = selected.min(total.saturating_sub(1));
        let start = window_start(selected, total, len);
        let rows = order
            .iter()
            .skip(start)
            .take(len)
            .filter_map(|s| self.row(s.name, s.counts, now))
            .collect();
        Page {
            total,
            start,
            selected,
            rows,
        }
    }

    fn row(&self, name: &Bytes, c: &Counts, now: DateTime<Utc>) -> Option<KeyRow> {
        let activity = self.activity.get(ChannelKind::Channel, name)?;
        let mut events = c.events.clone();
        events.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(KeyRow {
            key: name.slice(4..),
            db: c.db,
            node: c.node.clone(),
            total: c.total,
            events,
            last_event: c.last_event.clone(),
            last_at: activity.last_at,
            rate: rate(activity, now),
        })
    }

    /// Keys that pass `filter`.
    pub fn matching_len(&self, filter: Option<&Filter>) -> usize {
        match filter {
            None => self.counts.len(),
            Some(_) => self
                .counts
                .iter()
                .filter(|(name, c)| passes(filter, &name[4..], c))
                .count(),
        }
    }

    /// Move the selection within the keys that pass `filter`.
    pub fn move_by(&mut self, delta: isize, filter: Option<&Filter>) {
        let last = self.matching_len(filter).saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }
}

/// `channel:` terms see the key, the rest any of its event names.
fn passes(filter: Option<&Filter>, key: &[u8], c: &Counts) -> bool {
    filter.is_none_or(|f| c.events.iter().any(|(e, _)| f.matches(key, e)))
}

fn compare(sort: KeySort, a: &Sortable<'_>, b: &Sortable<'_>) -> Ordering {
    match sort {
        KeySort::Key => a.name[4..].cmp(&b.name[4..]),
        KeySort::Events => a.counts.total.cmp(&b.counts.total),
        KeySort::Rate => a.rate.total_cmp(&b.rate),
        KeySort::Last => a.last_at.cmp(&b.last_at),
        KeySort::Node => a.counts.node.cmp(&b.counts.node),
    }
}

/// Events per second over the last minute (the time observed, as the Channels pane).
fn rate(activity: &crate::state::channels::activity::ChannelActivity, now: DateTime<Utc>) -> f64 {
    activity.last_minute(now) as f64 * 1000.0 / activity.observed_ms(now) as f64
}

/// What a sort needs of a key, borrowed.
struct Sortable<'a> {
    name: &'a Bytes,
    counts: &'a Counts,
    last_at: DateTime<Utc>,
    rate: f64,
}

/// A window of the sorted table.
#[derive(Debug, Clone)]
pub struct Page {
    /// Keys that pass the filter.
    pub total: usize,
    /// Index of the first row shown.
    pub start: usize,
    /// The selection, clamped to the table.
    pub selected: usize,
    pub rows: Vec<KeyRow>,
}

/// The first row of a `page`-row window that keeps `selected` in view.
pub fn window_start(selected: usize, len: usize, page: usize) -> usize {
    let page = page.max(1);
    let start = (selected + 1).saturating_sub(page);
    start.min(len.saturating_sub(page))
}
