//! The live feed: a ring buffer bounded by count and bytes, the filtered view over it, and
//! where the user is looking (following the tail, or paused on stable item ids).

pub mod column;
mod hits;
mod ids;
mod matching;
mod read_ahead;
mod store;
mod values;

use crate::filter::Filter;
use crate::redis::message::{Gap, Message};
use ids::IdSet;
use matching::{Matching, Pacing, Scan};
use store::{Memo, SlotRef, Store};
use values::{Cells, Values};

/// Stable identity of a feed row. Ids grow by one per pushed item and are never reused,
/// so an anchor survives eviction, which only shifts row indices.
pub type ItemId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    Message(Message),
    Gap(Gap),
    /// An error reply from the server; already escaped by the engine.
    ServerError(String),
}

/// A retained item with its id, as handed out for display or export (the feed stores
/// items in a compact form of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: ItemId,
    pub item: FeedItem,
}

/// Following the newest item, or holding still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Live,
    Paused {
        /// First row on screen (may since have been evicted or filtered out).
        top: ItemId,
        selected: ItemId,
        /// Matching arrivals since the pause.
        new: u64,
        /// Last id that existed when pausing; everything after it is "new".
        last_seen: Option<ItemId>,
    },
}

pub struct FeedState {
    entries: Store,
    matching: Matching,
    /// Work left after a filter change: while set, `matching` is exact only above it
    /// (newest first) and the header says the count is still running.
    scan: Option<Scan>,
    pacing: Pacing,
    /// Keys for the filter's channel verdicts, fresh with each new filter.
    memo: Memo,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
    /// Id of the next pushed item; retained ids are `next_id - entries.len()..next_id`.
    next_id: ItemId,
    filter: Option<Filter>,
    /// The value at the filter's one JSON path per retained message, when the filter
    /// has a column key ([`Filter::column_key`]); kept for the next filter on that path.
    values: Option<Values>,
    /// `values` belong to the filter in force.
    values_live: bool,
    /// A field's values read in idle time while its name is typed.
    read_ahead: Option<read_ahead::ReadAhead>,
    /// Retained payloads in `json_floor..json_below` are still to be checked for
    /// well-formed JSON in idle time, newest first; those from `json_top` on arrived
    /// since that round began (see [`FeedState::checking_json`]).
    json_below: ItemId,
    json_floor: ItemId,
    json_top: ItemId,
    pub view: View,
    /// Messages dropped from the ring buffer to stay within the bounds.
    pub evicted: u64,
    pub evicted_bytes: u64,
    pub messages: usize,
    /// Gaps seen since start (evicted ones included).
    pub gaps: u64,
    /// Messages larger than the whole byte budget, kept truncated: their engine sequence
    /// number → the payload's full size. Rare, and pruned as they are evicted.
    truncated: std::collections::BTreeMap<u64, usize>,
    /// Such messages seen since start.
    pub truncated_total: u64,
    /// Where payloads start: the channel column's width, steadied over time.
    pub channel_column: column::ChannelColumn,
}

impl std::fmt::Debug for FeedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedState")
            .field("entries", &self.entries.len())
            .field("matching", &self.matching_len())
            .field("bytes", &self.bytes)
            .field("view", &self.view)
            .field("evicted", &self.evicted)
            .finish()
    }
}

impl FeedState {
    pub fn new(max_items: usize, max_bytes: usize) -> FeedState {
        FeedState {
            entries: Store::default(),
            matching: Matching::All,
            scan: None,
            pacing: Pacing::default(),
            memo: Memo::fresh(),
            bytes: 0,
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            next_id: 0,
            filter: None,
            values: None,
            values_live: false,
            read_ahead: None,
            json_below: 0,
            json_floor: 0,
            json_top: 0,
            view: View::Live,
            evicted: 0,
            evicted_bytes: 0,
            messages: 0,
            gaps: 0,
            truncated: Default::default(),
            truncated_total: 0,
            channel_column: Default::default(),
        }
    }

    /// The rule for a message bigger than the budget: memory stays under `--max-bytes`,
    /// so the feed keeps a copy of its first bytes (as many as fit the budget with its
    /// channel and bookkeeping) and remembers the full size, shown in the detail view and
    /// counted in the header. Everything older is evicted to make room, as usual.
    fn fit_budget(&mut self, item: FeedItem) -> FeedItem {
        let FeedItem::Message(mut m) = item else {
            return item;
        };
        if m.approx_bytes() <= self.max_bytes {
            return FeedItem::Message(m);
        }
        let full = m.payload.len();
        let room = self.max_bytes.saturating_sub(m.approx_bytes() - full);
        // A copy, not a slice: a slice would keep the whole payload's allocation alive.
        m.payload = bytes::Bytes::copy_from_slice(&m.payload[..room.min(full)]);
        self.truncated.insert(m.seq, full);
        self.truncated_total += 1;
        FeedItem::Message(m)
    }

    /// The full payload size of a retained message that was kept truncated.
    pub fn truncated_from(&self, seq: u64) -> Option<usize> {
        self.truncated.get(&seq).copied()
    }

    pub fn push(&mut self, item: FeedItem) {
        let item = self.fit_budget(item);
        let id = self.next_id;
        self.next_id += 1;
        match &item {
            FeedItem::Message(_) => self.messages += 1,
            FeedItem::Gap(_) => self.gaps += 1,
            FeedItem::ServerError(_) => {}
        }
        if let Some(ahead) = &mut self.read_ahead {
            // Room only: reading ahead starts below the newest id at plan time, and a
            // cell is allocated when first used.
            ahead.values.extend_to(id + 1);
        }
        // Cells kept for a filter not in force do not grow with new messages (those are
        // read from their payloads if that filter comes back).
        let values = self.values.as_mut().filter(|_| self.values_live);
        let cell = values.and_then(|v| v.push(id));
        let slot = self.entries.push_back(item);
        self.bytes += slot.cost();
        let passes = match &mut self.matching {
            Matching::All => true,
            Matching::Ids(ids) => {
                let passes = slot.passes_known(self.filter.as_ref(), cell);
                if passes {
                    ids.push_back(id);
                }
                passes
            }
        };
        if passes {
            if let View::Paused { new, .. } = &mut self.view {
                *new += 1;
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        // The newest item stays even if it alone exceeds the byte bound (only a gap or an
        // error can: messages are fitted to the budget first, see `fit_budget`).
        while self.entries.len() > self.max_items
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            let old_id = self.first_id();
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            let cost = old.cost;
            self.bytes -= cost;
            if let Matching::Ids(ids) = &mut self.matching {
                ids.pop_front_if(old_id);
            }
            if old.is_message() {
                self.messages -= 1;
                self.evicted += 1;
                self.evicted_bytes += cost as u64;
                if let (false, Some(seq)) = (self.truncated.is_empty(), old.seq) {
                    self.truncated.remove(&seq);
                }
            }
        }
        let first = self.first_id();
        if let Some(values) = &mut self.values {
            values.evict_to(first);
        }
        if let Some(ahead) = &mut self.read_ahead {
            ahead.values.evict_to(first);
        }
    }

    /// Id of the oldest retained item (`next_id` when empty).
    fn first_id(&self) -> ItemId {
        self.next_id - self.entries.len() as u64
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn matching_len(&self) -> usize {
        match &self.matching {
            Matching::All => self.entries.len(),
            Matching::Ids(ids) => ids.len(),
        }
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    fn slot(&self, id: ItemId) -> Option<SlotRef<'_>> {
        let index = usize::try_from(id.checked_sub(self.first_id())?).ok()?;
        self.entries.get(index)
    }

    /// The retained item with this id (rebuilt from storage: cheap, reference counts).
    pub fn get(&self, id: ItemId) -> Option<Entry> {
        Some(Entry {
            id,
            item: self.slot(id)?.item(),
        })
    }

    /// The id of the `index`-th matching entry.
    pub fn matching_id(&self, index: usize) -> Option<ItemId> {
        match &self.matching {
            Matching::All => (index < self.entries.len()).then(|| self.first_id() + index as u64),
            Matching::Ids(ids) => ids.get(index),
        }
    }

    /// Index in the matching list of `id`, or of the first matching id after it.
    fn position(&self, id: ItemId) -> usize {
        match &self.matching {
            Matching::All => {
                let offset = id.saturating_sub(self.first_id());
                usize::try_from(offset).map_or(self.entries.len(), |o| o.min(self.entries.len()))
            }
            Matching::Ids(ids) => ids.rank(id),
        }
    }

    /// Swap the filter (None shows everything). A keystroke in the filter prompt may do
    /// this; a message arrival never does. Retained items are checked newest first until
    /// the visible page is full; the rest is counted by [`FeedState::count_step`]. When
    /// the new filter provably narrows the old one, only the old matches are checked.
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        let narrows = match (&self.filter, &filter, &self.matching) {
            (Some(old), Some(new), Matching::Ids(_)) => new.narrows(old),
            _ => false,
        };
        self.prepare_values(filter.as_ref());
        // Fresh keys for channel verdicts, even for an equivalent filter: its terms may
        // stand in another order.
        self.memo = Memo::fresh();
        if narrows {
            if let (Some(old), Some(new)) = (&self.filter, &filter) {
                if old.narrows(new) {
                    // The same messages either way (`.latency_ms` then a space): the
                    // matches and the count's progress stand.
                    self.filter = filter;
                    return;
                }
            }
        }
        let old_filter = std::mem::replace(&mut self.filter, filter);
        // Other rows entirely: the channel column fits them afresh, no hysteresis.
        self.channel_column = Default::default();
        let previous = std::mem::take(&mut self.matching);
        let scan = self.scan.take();
        if self.filter.is_none() {
            self.matching = Matching::All;
        } else if let (true, Matching::Ids(old), Some(passed)) = (narrows, previous, old_filter) {
            // Unchecked ids of an unfinished scan are older than the matches found so far.
            let (mut recheck, below) = match scan {
                Some(scan) => (scan.recheck, scan.below),
                None => (Vec::new(), self.first_id()),
            };
            // Newer than the unchecked ones: checked first.
            recheck.push(matching::Recheck {
                ids: old,
                passed: std::sync::Arc::new(passed),
            });
            self.matching = Matching::Ids(IdSet::default());
            self.scan = Some(Scan { recheck, below });
        } else {
            self.matching = Matching::Ids(IdSet::default());
            self.scan = Some(Scan {
                recheck: Vec::new(),
                below: self.next_id,
            });
        }
        self.first_page();
        self.plan_read_ahead();
        if let View::Paused { last_seen, .. } = self.view {
            // Arrivals since the pause that match the new filter (evicted ones are gone);
            // the count's steps add the ones they find.
            let after = match last_seen {
                Some(seen) => self.position(seen + 1),
                None => 0,
            };
            let count = (self.matching_len() - after) as u64;
            if let View::Paused { new, .. } = &mut self.view {
                *new = count;
            }
        }
    }

    /// Cells for `filter`'s JSON path: the ones kept if they are for that path, else new
    /// ones (the old path's go). A filter without a column key (or none, while the prompt
    /// holds an expression that does not parse) leaves them be, not growing.
    fn prepare_values(&mut self, filter: Option<&Filter>) {
        let Some(key) = filter.and_then(Filter::column_key) else {
            self.values_live = false;
            return;
        };
        if self.values.as_ref().map(Values::key) != Some(key.as_str()) {
            let (first, len) = (self.first_id(), self.entries.len());
            let fresh = match self.take_read_ahead(Some(&key)) {
                Some(read) => read,
                None => Values::new(key, first, len),
            };
            if let Some(old) = self.values.replace(fresh) {
                self.keep_for_read_ahead(old);
            }
        }
        let next = self.next_id;
        if let Some(values) = &mut self.values {
            values.extend_to(next);
        }
        self.values_live = true;
    }

    /// Check newest first in growing chunks until the first page is full (or one
    /// thread's step of work is spent); finish at once what little is left.
    fn first_page(&mut self) {
        let pacing = self.pacing;
        // Half a step on two cores: a key that matches nothing (a JSON field name half
        // typed) parses 16k payloads, not 32k, before it returns.
        let budget = pacing.step_per_thread;
        let (mut chunk, mut spent) = (budget.div_ceil(16), 0);
        while self.counting() && self.matching_len() < pacing.first_page && spent < budget {
            let take = chunk.min(budget - spent);
            self.advance(take);
            spent += take;
            chunk *= 4;
        }
        let left = self
            .scan
            .as_ref()
            .map_or(0, |s| s.remaining(self.first_id()));
        if left <= pacing.finish_at_once {
            self.finish_count();
        }
    }

    /// True while the filter's matches are not all known yet (only the newest are).
    pub fn counting(&self) -> bool {
        self.scan.is_some()
    }

    /// One bounded step of the count (about 16k items per thread); the TUI loop calls it
    /// through `Event::Work` whenever no input waits.
    pub fn count_step(&mut self) {
        if self.counting() {
            self.advance(self.pacing.step());
        } else if self.reading_ahead() {
            self.read_ahead_step();
        } else {
            self.check_json_step();
        }
    }

    /// True while retained payloads are left to check for well-formed JSON. Each
    /// payload is checked once, in idle time, newest first, as it arrives (the TUI runs
    /// the check between drains of the inbox): a JSON filter then finds a well-formed
    /// payload's top-level field by a search for its key instead of a scan of the whole
    /// payload, and knows it is JSON without a check of its own (issue 19: a field
    /// filter pasted over a million messages spent most of its count checking them).
    pub fn checking_json(&self) -> bool {
        self.json_below > self.first_id().max(self.json_floor) || self.next_id > self.json_top
    }

    /// Retained payloads whose JSON has been checked.
    #[cfg(test)]
    pub fn json_checked(&self) -> usize {
        self.entries
            .iter()
            .filter(|slot| slot.json_checked())
            .count()
    }

    fn check_json_step(&mut self) {
        let first = self.first_id();
        let mut floor = first.max(self.json_floor);
        if self.json_below <= floor {
            // The last round is done: the next one takes what arrived since it began.
            floor = first.max(self.json_top);
            (self.json_floor, self.json_below, self.json_top) = (floor, self.next_id, self.next_id);
        }
        let Some(lo) = self.pacing.step_below(self.json_below, floor) else {
            return;
        };
        let index = |id: ItemId| usize::try_from(id - first).unwrap_or(usize::MAX);
        let range = index(lo)..index(self.json_below);
        matching::check_json(&self.entries, range, &self.pacing);
        self.json_below = lo;
    }

    /// Finish the count now: for what needs every match (export, jumping to the oldest).
    pub fn finish_count(&mut self) {
        while self.counting() {
            self.count_step();
        }
    }

    /// Check up to `budget` more items, newest first.
    fn advance(&mut self, budget: usize) {
        let first = self.first_id();
        let (Some(scan), Some(filter), Matching::Ids(ids)) =
            (&mut self.scan, &self.filter, &mut self.matching)
        else {
            self.scan = None;
            return;
        };
        let candidates = scan.take(first, budget);
        let cells = self.values.as_ref().filter(|_| self.values_live);
        let cells = cells.map(|values| Cells {
            values,
            first_id: first,
        });
        let filter = (filter, self.memo);
        let found = candidates.select(&self.entries, first, filter, &self.pacing, cells);
        if scan.is_done(first) {
            self.scan = None;
        }
        if let View::Paused { new, last_seen, .. } = &mut self.view {
            let since = last_seen.map_or(0, |seen| seen + 1);
            *new += found.iter().filter(|&&id| id >= since).count() as u64;
        }
        ids.prepend(&found);
    }

    pub fn is_paused(&self) -> bool {
        matches!(self.view, View::Paused { .. })
    }

    pub fn new_since_pause(&self) -> Option<u64> {
        match self.view {
            View::Paused { new, .. } => Some(new),
            View::Live => None,
        }
    }

    /// Hold still on what is on screen now (given `rows` visible rows).
    pub fn pause(&mut self, rows: usize) {
        if self.is_paused() {
            return;
        }
        let (start, selected) = self.window(rows);
        let selected_id = selected
            .and_then(|i| self.matching_id(i))
            .unwrap_or(self.next_id);
        self.view = View::Paused {
            top: self.matching_id(start).unwrap_or(self.next_id),
            selected: selected_id,
            new: 0,
            last_seen: self.next_id.checked_sub(1),
        };
    }

    pub fn resume(&mut self) {
        self.view = View::Live;
    }

    pub fn toggle_pause(&mut self, rows: usize) {
        if self.is_paused() {
            self.resume();
        } else {
            self.pause(rows);
        }
    }

    /// First visible matching index and the selected matching index for `rows` rows.
    /// Pure: rendering calls it too, so a resize or eviction never needs a fix-up pass.
    pub fn window(&self, rows: usize) -> (usize, Option<usize>) {
        let len = self.matching_len();
        if len == 0 {
            return (0, None);
        }
        let rows = rows.max(1);
        match self.view {
            View::Live => (len.saturating_sub(rows), Some(len - 1)),
            View::Paused { top, selected, .. } => {
                let selected = self.position(selected).min(len - 1);
                let mut start = self.position(top).min(len - 1);
                if selected < start {
                    start = selected;
                } else if selected >= start + rows {
                    start = selected + 1 - rows;
                }
                // Don't leave empty rows at the bottom while older items exist above.
                if start + rows > len {
                    start = len.saturating_sub(rows);
                }
                (start, Some(selected))
            }
        }
    }

    pub fn selected_id(&self, rows: usize) -> Option<ItemId> {
        self.window(rows).1.and_then(|i| self.matching_id(i))
    }

    /// Move the selection by `delta` matching rows; moving in live mode pauses first,
    /// since a list that keeps moving cannot be scrolled.
    pub fn move_by(&mut self, delta: isize, rows: usize) {
        // Above the oldest match found so far, older ones may still be uncounted.
        let known_top = self.window(rows).1.is_none_or(|s| s as isize + delta < 0);
        if known_top && self.counting() {
            self.finish_count();
        }
        if self.matching_len() == 0 {
            return;
        }
        self.pause(rows);
        let (start, selected) = self.window(rows);
        let Some(selected) = selected else { return };
        let last = self.matching_len() - 1;
        let target = selected.saturating_add_signed(delta).min(last);
        self.set_position(start, target, rows);
    }

    pub fn to_top(&mut self, rows: usize) {
        self.finish_count();
        if self.matching_len() == 0 {
            return;
        }
        self.pause(rows);
        self.set_position(0, 0, rows);
    }

    /// Jump to the newest item and follow the tail again.
    pub fn to_bottom(&mut self) {
        self.resume();
    }

    fn set_position(&mut self, start: usize, target: usize, rows: usize) {
        let rows = rows.max(1);
        let start = if target < start {
            target
        } else if target >= start + rows {
            target + 1 - rows
        } else {
            start
        };
        let (Some(top_id), Some(sel_id)) = (self.matching_id(start), self.matching_id(target))
        else {
            return;
        };
        if let View::Paused { top, selected, .. } = &mut self.view {
            *top = top_id;
            *selected = sel_id;
        }
    }

    /// Retained messages passing the filter, oldest first (for export).
    pub fn matching_messages(&mut self) -> Vec<Message> {
        self.finish_count();
        self.matching_ids(0, self.matching_len())
            .filter_map(|id| match self.slot(id)?.item() {
                FeedItem::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The widest channel label (see [`column::label_width`]) among the messages of
    /// entries `start..start+rows` of the matching list.
    pub fn widest_label(&self, start: usize, rows: usize) -> usize {
        self.matching_ids(start, rows)
            .filter_map(|id| self.slot(id)?.label_width())
            .max()
            .unwrap_or(0)
    }

    /// Entries `start..start+rows` of the matching list.
    pub fn visible(&self, start: usize, rows: usize) -> impl Iterator<Item = Entry> + '_ {
        self.matching_ids(start, rows).filter_map(|id| self.get(id))
    }

    /// Ids of entries `start..start+count` of the matching list.
    fn matching_ids(&self, start: usize, count: usize) -> impl Iterator<Item = ItemId> + '_ {
        let end = start.saturating_add(count).min(self.matching_len());
        let set = match &self.matching {
            Matching::All => None,
            Matching::Ids(ids) => Some(ids),
        };
        IdSet::slice(set, self.first_id(), start, end.saturating_sub(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::message::{Kind, MESSAGE_OVERHEAD};
    use bytes::Bytes;
    use chrono::DateTime;

    fn msg(channel: &str, payload: &str) -> FeedItem {
        FeedItem::Message(Message {
            seq: 0,
            received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from(channel.to_string()),
            payload: Bytes::from(payload.to_string()),
        })
    }

    fn payloads(feed: &FeedState, start: usize, rows: usize) -> Vec<String> {
        feed.visible(start, rows)
            .map(|e| match &e.item {
                FeedItem::Message(m) => String::from_utf8_lossy(&m.payload).into_owned(),
                FeedItem::Gap(_) => "<gap>".into(),
                FeedItem::ServerError(e) => e.clone(),
            })
            .collect()
    }

    #[test]
    fn evicts_by_count() {
        let mut feed = FeedState::new(3, usize::MAX);
        for i in 0..5 {
            feed.push(msg("c", &i.to_string()));
        }
        assert_eq!(feed.len(), 3);
        assert_eq!(feed.evicted, 2);
        assert_eq!(payloads(&feed, 0, 10), ["2", "3", "4"]);
        assert_eq!(feed.messages, 3);
    }

    #[test]
    fn evicts_by_bytes_keeping_the_newest() {
        let cost = MESSAGE_OVERHEAD + 1 + 10;
        let mut feed = FeedState::new(100, cost * 2);
        for p in ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"] {
            feed.push(msg("c", p));
        }
        assert_eq!(feed.len(), 2);
        assert_eq!(feed.bytes(), cost * 2);
        assert_eq!((feed.evicted, feed.evicted_bytes), (1, cost as u64));
        feed.push(msg("c", &"x".repeat(10_000)));
        assert_eq!(feed.len(), 1, "a huge newest message is kept alone");
        assert_eq!(feed.evicted, 3);
    }

    #[test]
    fn a_message_bigger_than_the_budget_is_kept_truncated_with_its_full_size() {
        let budget = 4096;
        let mut feed = FeedState::new(100, budget);
        feed.push(msg("c", "small"));
        let mut big = msg("c", &"y".repeat(50_000));
        if let FeedItem::Message(m) = &mut big {
            m.seq = 7;
        }
        feed.push(big);
        assert!(feed.bytes() <= budget, "memory stays under --max-bytes");
        assert_eq!(feed.len(), 1, "older messages made room");
        assert_eq!(feed.truncated_from(7), Some(50_000));
        assert_eq!(feed.truncated_total, 1);
        let kept = payloads(&feed, 0, 1);
        assert_eq!(
            kept[0].len(),
            budget - MESSAGE_OVERHEAD - 1,
            "its first bytes"
        );
        feed.push(msg("c", "next"));
        feed.push(msg("c", &"z".repeat(4000)));
        assert_eq!(feed.truncated_from(7), None, "forgotten once evicted");
    }

    #[test]
    fn live_window_follows_the_tail() {
        let mut feed = FeedState::new(100, usize::MAX);
        for i in 0..10 {
            feed.push(msg("c", &i.to_string()));
        }
        assert_eq!(feed.window(4), (6, Some(9)));
        feed.push(msg("c", "10"));
        assert_eq!(feed.window(4), (7, Some(10)));
    }

    #[test]
    fn paused_view_holds_still_and_counts_new() {
        let mut feed = FeedState::new(100, usize::MAX);
        for i in 0..10 {
            feed.push(msg("c", &i.to_string()));
        }
        feed.pause(4);
        let before = payloads(&feed, feed.window(4).0, 4);
        for i in 10..15 {
            feed.push(msg("c", &i.to_string()));
        }
        assert_eq!(payloads(&feed, feed.window(4).0, 4), before);
        assert_eq!(feed.new_since_pause(), Some(5));
        feed.resume();
        assert_eq!(
            payloads(&feed, feed.window(4).0, 4),
            ["11", "12", "13", "14"]
        );
    }

    #[test]
    fn paused_anchor_survives_eviction() {
        let mut feed = FeedState::new(10, usize::MAX);
        for i in 0..10 {
            feed.push(msg("c", &i.to_string()));
        }
        feed.pause(3);
        feed.move_by(-1, 3);
        // Screen shows 7 8 9 with 8 selected.
        assert_eq!(payloads(&feed, feed.window(3).0, 3), ["7", "8", "9"]);
        for i in 10..13 {
            feed.push(msg("c", &i.to_string()));
        }
        // Three evictions shift every index by three; the rows on screen do not move.
        assert_eq!(payloads(&feed, feed.window(3).0, 3), ["7", "8", "9"]);
        let selected = feed
            .selected_id(3)
            .and_then(|id| feed.get(id))
            .map(|e| e.item.clone());
        assert_eq!(selected, Some(msg("c", "8")));
        // Evict past the anchor: the view clamps to the oldest retained item.
        for i in 13..30 {
            feed.push(msg("c", &i.to_string()));
        }
        assert_eq!(payloads(&feed, feed.window(3).0, 3), ["20", "21", "22"]);
        assert_eq!(feed.new_since_pause(), Some(20));
    }

    #[test]
    fn moving_in_live_mode_pauses() {
        let mut feed = FeedState::new(100, usize::MAX);
        for i in 0..10 {
            feed.push(msg("c", &i.to_string()));
        }
        feed.move_by(-2, 5);
        assert!(feed.is_paused());
        assert_eq!(feed.window(5), (5, Some(7)));
        feed.move_by(-5, 5);
        assert_eq!(feed.window(5), (2, Some(2)));
        feed.to_top(5);
        assert_eq!(feed.window(5), (0, Some(0)));
        feed.to_bottom();
        assert!(!feed.is_paused());
    }

    #[test]
    fn incremental_filter_matches_a_rescan() {
        let filter = Filter::parse("hit").ok();
        let mut incremental = FeedState::new(50, usize::MAX);
        incremental.set_filter(filter);
        let mut plain = FeedState::new(50, usize::MAX);
        for i in 0..120 {
            let payload = if i % 3 == 0 {
                format!("hit {i}")
            } else {
                format!("miss {i}")
            };
            incremental.push(msg("c", &payload));
            plain.push(msg("c", &payload));
            if i == 60 {
                incremental.push(FeedItem::Gap(Gap {
                    from: DateTime::from_timestamp(0, 0).unwrap_or_default(),
                    to: DateTime::from_timestamp(3, 0).unwrap_or_default(),
                    reason: "lost".into(),
                    handover: false,
                }));
                plain.push(FeedItem::ServerError("x".into()));
            }
        }
        let mut rescanned = FeedState::new(50, usize::MAX);
        for slot in incremental.entries.iter() {
            rescanned.push(slot.item());
        }
        rescanned.set_filter(Filter::parse("hit").ok());
        let ids = |f: &FeedState| payloads(f, 0, usize::MAX / 2);
        assert_eq!(ids(&incremental), ids(&rescanned));
        assert!(ids(&incremental).iter().all(|p| p.starts_with("hit")));
        // Clearing the filter brings back everything still retained.
        incremental.set_filter(None);
        assert_eq!(incremental.matching_len(), incremental.len());
    }

    #[test]
    fn filter_change_while_paused_recounts_new() {
        let mut feed = FeedState::new(100, usize::MAX);
        feed.push(msg("c", "hit 0"));
        feed.pause(5);
        for p in ["hit 1", "miss", "hit 2", "miss"] {
            feed.push(msg("c", p));
        }
        assert_eq!(feed.new_since_pause(), Some(4));
        feed.set_filter(Filter::parse("hit").ok());
        assert_eq!(feed.new_since_pause(), Some(2));
        feed.set_filter(None);
        assert_eq!(feed.new_since_pause(), Some(4));
    }

    #[test]
    fn export_takes_matching_messages_only() {
        let mut feed = FeedState::new(100, usize::MAX);
        feed.push(msg("c", "hit 1"));
        feed.push(FeedItem::ServerError("NOPERM".into()));
        feed.push(msg("c", "miss"));
        feed.push(msg("c", "hit 2"));
        feed.set_filter(Filter::parse("hit").ok());
        let out: Vec<_> = feed
            .matching_messages()
            .iter()
            .map(|m| m.payload.clone())
            .collect();
        assert_eq!(out, [Bytes::from("hit 1"), Bytes::from("hit 2")]);
    }
}
