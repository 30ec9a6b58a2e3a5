//! Where the feed keeps its items: compact, in fixed-size blocks.
//!
//! Two things made a retained 100-byte message cost about 250 bytes (issue 8):
//! - a `VecDeque<Entry>` grows by doubling and a ring buffer touches all of its capacity,
//!   so 1.2M retained items cost the memory of 2M slots; blocks of [`BLOCK`] slots cost
//!   what is retained, plus at most two partly used blocks;
//! - each slot held a full [`Message`] (three `Bytes` handles, 120 bytes). Here the
//!   channel and pattern live once per distinct (channel, pattern) in a shared
//!   [`Source`]. [`Message`]s are rebuilt only for what is shown or exported.
//!
//! Issue 19 took a slot from 64 bytes to 32: a payload handle (`Bytes`, 32 bytes) gave
//! way to an offset into its block's byte buffer (a slot's bytes end where the next
//! slot's begin), the payload being copied there on arrival (a 100-byte copy costs less
//! than the handle's bookkeeping); the time is kept as nanoseconds; gaps and errors,
//! rare, live beside the slots. Payloads over [`INLINE_MAX`] keep their handle (no copy,
//! and a block's buffer stays small).

use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::PoisonError;

use bytes::Bytes;
use chrono::DateTime;

use super::hits::{ones_of, word_mask, Bits, Hit, Hits};
use super::values::Cells;
use super::FeedItem;
use crate::filter::{ColumnSearch, Filter, JsonMark, Needle, SearchTerm, ValueCell};
use crate::redis::message::{Gap, Kind, Message, MESSAGE_OVERHEAD};

/// Slots per block: large enough that block bookkeeping is noise.
pub(super) const BLOCK: usize = 4096;
/// Longer payloads are kept as they came (their `Bytes` beside the slots), not copied.
pub(super) const INLINE_MAX: usize = 16 * 1024;

/// The channel a message came on and the pattern that matched it, shared by every
/// retained message with the same pair.
#[derive(Debug)]
struct Source {
    channel: Bytes,
    pattern: Option<Bytes>,
    /// Channel verdicts of one filter ([`Memo`]): its key above bit 16, which of its
    /// terms are known in bits 8–15 and their verdicts in bits 0–7.
    memo: AtomicU64,
}

impl PartialEq for Source {
    fn eq(&self, other: &Source) -> bool {
        (&self.channel, &self.pattern) == (&other.channel, &other.pattern)
    }
}

impl Eq for Source {}

impl std::hash::Hash for Source {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.channel, &self.pattern).hash(state);
    }
}

impl Source {
    /// `test` of the channel for the term a [`Memo`] key names, worked out once per
    /// source and filter.
    fn channel_test(&self, key: Option<(u64, u32)>, test: impl FnOnce(&[u8]) -> bool) -> bool {
        let Some((filter, term)) = key else {
            return test(&self.channel);
        };
        let (known, yes) = (1u64 << (8 + term), 1u64 << term);
        let memo = self.memo.load(Ordering::Relaxed);
        let same = memo >> 16 == filter;
        if same && memo & known != 0 {
            return memo & yes != 0;
        }
        let verdict = test(&self.channel);
        // Another thread may add a verdict meanwhile and one of the two be lost: it is
        // worked out again when next asked. A verdict is never stored under another key.
        let kept = if same { memo & 0xFFFF } else { 0 };
        let add = known | if verdict { yes } else { 0 };
        self.memo
            .store(filter << 16 | kept | add, Ordering::Relaxed);
        verdict
    }
}

/// Keys under which a filter's channel tests are remembered in each [`Source`]: a
/// selective text filter (`error`) finds nothing in most payloads and then tests their
/// channels, a folded search per message, where the feed's messages come from far fewer
/// channels than it retains. The feed takes a fresh key for each new filter; keys are
/// never reused, so a verdict is never read for another filter. A source keeps the
/// verdicts of one filter: up to seven terms (by position) and the needle.
#[derive(Debug, Clone, Copy)]
pub(super) struct Memo(u64);

impl Memo {
    /// The needle's place among the verdicts; terms at positions below it have theirs.
    const NEEDLE: usize = 7;

    pub(super) fn fresh() -> Memo {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Memo(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The key of the term at `position` among the filter's items (terms further on are
    /// tested without a memo).
    fn key(self, position: usize) -> Option<(u64, u32)> {
        (position < Memo::NEEDLE).then_some((self.0, position as u32))
    }

    /// The key for `term`'s channel test: only a term that reads payloads has one. A
    /// channel-only term (`ch:svc:*`) is tested on every message's channel, and its test
    /// costs less than writing verdicts into sources that both cores read (at 100k
    /// retained from 10k channels, remembering doubled a glob's count per key).
    pub(super) fn term_key(self, term: &SearchTerm<'_>) -> Option<(u64, u32)> {
        term.reads_payload()
            .then(|| self.key(term.position()))
            .flatten()
    }

    pub(super) fn needle_key(self) -> Option<(u64, u32)> {
        Some((self.0, Memo::NEEDLE as u32))
    }
}

/// How a count step tests channels: the filter's [`Memo`], and for each term (in the
/// order given) whether any channel in the feed passes it at all. Where none does, a
/// message whose payload lacks the term fails without a look at its slot.
#[derive(Clone, Copy)]
pub(super) struct Channels<'a> {
    memo: Memo,
    some: &'a [bool],
}

impl<'a> Channels<'a> {
    pub(super) fn new(memo: Memo, some: &'a [bool]) -> Channels<'a> {
        Channels { memo, some }
    }

    fn some(&self, n: usize) -> bool {
        self.some.get(n).copied().unwrap_or(true)
    }
}

/// What a slot is; messages carry their [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Message(Kind),
    /// A message whose payload is in the block's `extras` (a long one).
    Long(Kind),
    Gap,
    ServerError,
}

/// One retained item (32 bytes). Its bytes in the block run from `at` to the next
/// slot's `at` (or the end of the buffer): a message's payload; for anything else the
/// index of its [`Extra`], four bytes little-endian.
#[derive(Debug)]
pub(super) struct Slot {
    seq: u64,
    received_ns: i64,
    source: Option<Arc<Source>>,
    at: u32,
    tag: Tag,
    /// Whether the payload is well-formed JSON, once checked, and where its root's
    /// containers lie (two bytes, in the slot's padding).
    json: JsonMark,
}

/// What lives beside the slots of a block: rare or large things.
#[derive(Debug)]
enum Extra {
    Payload(Bytes),
    Gap(Gap),
    ServerError(Box<str>),
}

/// Up to [`BLOCK`] slots with the bytes of their payloads.
#[derive(Debug, Default)]
struct Block {
    /// Evicted from the front; their bytes go when the whole block does.
    slots: VecDeque<Slot>,
    bytes: Vec<u8>,
    extras: Vec<Extra>,
}

/// A retained item and the block holding its bytes.
#[derive(Clone, Copy)]
pub(super) struct SlotRef<'a> {
    slot: &'a Slot,
    block: &'a Block,
    /// Where the item's bytes end in the block.
    end: usize,
}

impl<'a> SlotRef<'a> {
    /// `block.slots[index]` and where its bytes end.
    fn new(block: &'a Block, index: usize) -> Option<SlotRef<'a>> {
        let slot = block.slots.get(index)?;
        let end = block.start_of(index + 1);
        Some(SlotRef { slot, block, end })
    }

    fn bytes(&self) -> &'a [u8] {
        let start = self.slot.at as usize;
        self.block.bytes.get(start..self.end).unwrap_or_default()
    }

    /// What a slot other than an inline message holds beside the slots.
    fn extra(&self) -> Option<&'a Extra> {
        if matches!(self.slot.tag, Tag::Message(_)) {
            return None;
        }
        let index = u32::from_le_bytes(self.bytes().try_into().ok()?);
        self.block.extras.get(index as usize)
    }

    fn payload(&self) -> &'a [u8] {
        match (self.slot.tag, self.extra()) {
            (Tag::Message(_), _) => self.bytes(),
            (Tag::Long(_), Some(Extra::Payload(p))) => p,
            _ => &[],
        }
    }

    /// What the item counts against the byte bound: the same as the [`FeedItem`] it was
    /// made from ([`Message::approx_bytes`]), so accounting does not depend on storage.
    pub(super) fn cost(&self) -> usize {
        let s = self.slot;
        match (s.tag, self.extra()) {
            (Tag::Gap, Some(Extra::Gap(g))) => MESSAGE_OVERHEAD + g.reason.len(),
            (Tag::ServerError, Some(Extra::ServerError(e))) => MESSAGE_OVERHEAD + e.len(),
            _ => {
                let source = s.source.as_deref();
                MESSAGE_OVERHEAD
                    + self.payload().len()
                    + source.map_or(0, |s| s.channel.len())
                    + source
                        .and_then(|s| s.pattern.as_ref())
                        .map_or(0, Bytes::len)
            }
        }
    }

    /// A message's payload (`None` for a gap or an error).
    pub(super) fn message_payload(&self) -> Option<&'a [u8]> {
        self.is_message().then(|| self.payload())
    }

    /// The engine's sequence number of a message.
    pub(super) fn seq(&self) -> Option<u64> {
        self.is_message().then_some(self.slot.seq)
    }

    pub(super) fn is_message(&self) -> bool {
        matches!(self.slot.tag, Tag::Message(_) | Tag::Long(_))
    }

    /// Gaps and errors are never filtered out: hiding an outage would fake continuity.
    #[cfg(test)]
    pub(super) fn passes(&self, filter: Option<&Filter>) -> bool {
        self.passes_known(filter, None)
    }

    /// [`SlotRef::passes`], with the item's cell of the filter's JSON path values.
    pub(super) fn passes_known(&self, filter: Option<&Filter>, cell: Option<&ValueCell>) -> bool {
        self.passes_found(filter, cell, None)
    }

    /// [`SlotRef::passes_known`], given a term of the filter that a search found in the
    /// payload, or that holds for other reasons (it holds without a search of its own).
    pub(super) fn passes_found(
        &self,
        filter: Option<&Filter>,
        cell: Option<&ValueCell>,
        found: Option<&SearchTerm<'_>>,
    ) -> bool {
        match (&self.slot.source, filter) {
            (Some(source), Some(f)) if self.is_message() => {
                let (payload, mark) = (self.payload(), &self.slot.json);
                let decided = cell.and_then(|cell| f.decide_by_cell(payload, cell, mark));
                decided.unwrap_or_else(|| {
                    f.matches_known(&source.channel, payload, cell, Some(mark), found)
                })
            }
            _ => true,
        }
    }

    #[cfg(test)]
    pub(super) fn json_checked(&self) -> bool {
        self.slot.json.is_checked()
    }

    /// Check whether the payload is well-formed JSON, unless that is known.
    pub(super) fn check_json(&self) {
        if self.is_message() {
            self.slot.json.check(self.payload());
        }
    }

    /// The width of a message's channel label, from its stored parts.
    pub(super) fn label_width(&self) -> Option<usize> {
        let kind = match self.slot.tag {
            Tag::Message(kind) | Tag::Long(kind) => kind,
            _ => return None,
        };
        let source = self.slot.source.as_deref()?;
        let pattern = source.pattern.as_deref();
        Some(super::column::source_label_width(
            kind,
            &source.channel,
            pattern,
        ))
    }

    /// The item as the rest of the program sees it (the payload copied out of the
    /// block: only what is shown or exported is rebuilt).
    pub(super) fn item(&self) -> FeedItem {
        let s = self.slot;
        let kind = match (s.tag, self.extra()) {
            (Tag::Message(kind), _) => kind,
            (Tag::Long(kind), Some(Extra::Payload(_))) => kind,
            (_, Some(Extra::Gap(g))) => return FeedItem::Gap(g.clone()),
            (_, Some(Extra::ServerError(e))) => return FeedItem::ServerError(e.to_string()),
            // Unreachable by construction; an empty error beats a panic in a render.
            _ => return FeedItem::ServerError(String::new()),
        };
        let payload = match (s.tag, self.extra()) {
            (Tag::Long(_), Some(Extra::Payload(p))) => p.clone(),
            _ => Bytes::copy_from_slice(self.payload()),
        };
        let source = s.source.as_deref();
        FeedItem::Message(Message {
            seq: s.seq,
            received: DateTime::from_timestamp_nanos(s.received_ns),
            kind,
            pattern: source.and_then(|s| s.pattern.clone()),
            channel: source.map(|s| s.channel.clone()).unwrap_or_default(),
            payload,
        })
    }
}

/// Payloads of a run looked at to guess which term is the sparsest.
const SAMPLE: usize = 32;

/// Consecutive slots of one block (see [`Store::runs`]).
pub(super) struct Run<'a> {
    block: &'a Block,
    /// Slots of the block.
    slots: Range<usize>,
    /// Store index of the first.
    first: usize,
}

impl Run<'_> {
    /// Items in the run.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Store indexes of the run's items that pass `filter`, in order. With a needle the
    /// run's payloads (contiguous in the block) are searched in one pass first: only
    /// messages with the needle (or a channel that may match) are tested, and the needle
    /// holds there without a search of each payload (so the pass pays for itself even
    /// where most payloads have it: `token .latency_ms > 250` at 1M, 38–41 → 25–28 ms).
    ///
    /// `holds`: the filter's needle is taken to hold for every item (a narrowing whose
    /// previous filter implies it, whose caller keeps only the ids that filter passed).
    pub(super) fn passing(
        &self,
        filter: &Filter,
        cells: Option<Cells<'_>>,
        channels: Channels<'_>,
        holds: bool,
        out: &mut impl FnMut(usize),
    ) {
        // A column filter: most verdicts come from the block search and the cells.
        let column = filter.column_search();
        let verdicts = column
            .as_ref()
            .zip(cells)
            .map(|(search, cells)| self.column_verdicts(search, cells));
        let needle = filter.needle().filter(|_| verdicts.is_none());
        // The needle ANDed with a column filter: its hits and the column's verdicts.
        let after = match (&needle, cells) {
            (Some(needle), Some(cells)) if column.is_none() => filter
                .column_search_after_needle()
                .map(|search| self.after_needle(&search, (!holds).then_some(needle), cells)),
            _ => None,
        };
        let (hits, verdicts) = match after {
            Some((hits, verdicts)) => (needle.map(|n| (hits, n)), Some(verdicts)),
            None => (needle.map(|n| (self.hits(&n), n)), verdicts),
        };
        // Only inline messages here (gaps, errors and long payloads live beside them),
        // and no channel passes the needle: a payload without it rules a message out.
        let by_payload = self.block.extras.is_empty() && !channels.some(0);
        for local in self.slots.clone() {
            let index = self.first + local - self.slots.start;
            match verdicts.as_ref().and_then(|v| v[local - self.slots.start]) {
                Some(true) => {
                    out(index);
                    continue;
                }
                Some(false) => continue,
                None => {}
            }
            let hit = hits
                .as_ref()
                .map(|(hits, _)| hits.get(local - self.slots.start));
            if by_payload && hit == Some(false) {
                continue;
            }
            let Some(slot) = SlotRef::new(self.block, local) else {
                continue;
            };
            let ruled_out = match (&hits, slot.slot.tag, slot.slot.source.as_deref()) {
                (Some((hits, needle)), Tag::Message(_), Some(source)) => {
                    let key = channels.memo.needle_key();
                    !hits.get(local - self.slots.start)
                        && !source.channel_test(key, |c| needle.channel_matches(c))
                }
                _ => false,
            };
            let cell = cells.and_then(|c| c.at(index));
            let found = hits.as_ref().filter(|_| hit == Some(true));
            if !ruled_out && slot.passes_found(Some(filter), cell, found.map(|(_, n)| n)) {
                out(index);
            }
        }
    }

    /// Check the run's payloads for well-formed JSON where that is not known.
    pub(super) fn check_json(&self) {
        for local in self.slots.clone() {
            if let Some(slot) = SlotRef::new(self.block, local) {
                slot.check_json();
            }
        }
    }

    /// Each slot's verdict for a column filter where its cell (filled first by one search
    /// for the filter's key across the run's bytes, see [`ColumnSearch::fill`]) tells it;
    /// None where the message is to be tested (and for gaps and errors).
    fn column_verdicts(&self, search: &ColumnSearch<'_>, cells: Cells<'_>) -> Vec<Option<bool>> {
        let (mut verdicts, unknown) = self.cell_verdicts(search, cells);
        self.fill_verdicts(search, cells, unknown, &mut verdicts);
        verdicts
    }

    /// The verdicts filled cells give, without a look at the slots (only a message's
    /// cell is ever filled), and the run's slots whose cells are yet to be read: a key
    /// typed on over known values (`> 2` → `> 25`) reads the cells alone (at 10M, 80–100
    /// ms a key when each slot was looked at first).
    fn cell_verdicts(
        &self,
        search: &ColumnSearch<'_>,
        cells: Cells<'_>,
    ) -> (Vec<Option<bool>>, Vec<usize>) {
        let mut verdicts = vec![None; self.slots.len()];
        let mut unknown = Vec::with_capacity(self.slots.len());
        let indexes = self.first..self.first + self.slots.len();
        cells.each(indexes, |i, cell| {
            match cell.map(|c| (search.verdict(c), c)) {
                Some((Some(verdict), _)) => verdicts[i] = Some(verdict),
                Some((None, cell)) if cell.is_known() => {}
                _ => unknown.push(i),
            }
        });
        (verdicts, unknown)
    }

    /// Read the `unknown` slots' values (ascending offsets in the run) into their cells
    /// by one search for the key across their bytes, and set the verdicts they give.
    fn fill_verdicts(
        &self,
        search: &ColumnSearch<'_>,
        cells: Cells<'_>,
        unknown: Vec<usize>,
        verdicts: &mut [Option<bool>],
    ) {
        let local = |i: usize| self.slots.start + i;
        let (Some(&lo), Some(&hi)) = (unknown.first(), unknown.last()) else {
            return;
        };
        let span = self.block.start_of(local(lo))..self.block.start_of(local(hi) + 1);
        let unknown_len = unknown.len();
        let messages = unknown.into_iter().filter_map(|i| {
            let slot = SlotRef::new(self.block, local(i))?;
            matches!(slot.slot.tag, Tag::Message(_)).then_some((i, slot))
        });
        if !search.key_in(self.block.bytes.get(span).unwrap_or_default()) {
            // The key is in none of them (a field name half typed, `.la`): a verdict
            // each, and no cells (their memory, 80 MB at 10M, cost more than the search).
            for (i, slot) in messages {
                verdicts[i] = search.lacking_key(slot.bytes(), &slot.slot.json);
            }
            return;
        }
        let mut found = |i: usize, verdict: bool| verdicts[i] = Some(verdict);
        if hi - lo + 1 == unknown_len {
            // Every slot from `lo` to `hi` (a first read): walked in order, each one's
            // end the next one's start, its cell the next in the cells' chunk (looking
            // each up by index was an eighth of a first read at 10M).
            let bytes = &self.block.bytes;
            let (from, to) = (local(lo), local(hi) + 1);
            let ends = (self.block.slots.range(from + 1..to).map(|s| s.at as usize))
                .chain(std::iter::once(self.block.start_of(to)));
            let slots = self.block.slots.range(from..to).zip(ends);
            let cells = cells.run(self.first + lo..self.first + hi + 1);
            let items = (slots.zip(cells).zip(lo..=hi)).filter_map(|(((slot, end), cell), i)| {
                let cell = cell.filter(|_| matches!(slot.tag, Tag::Message(_)))?;
                Some((slot.at as usize..end, &slot.json, cell, i))
            });
            return search.fill(bytes, items, &mut found);
        }
        let items = messages.filter_map(|(i, slot)| {
            let cell = cells.at(self.first + i)?;
            Some((slot.slot.at as usize..slot.end, &slot.slot.json, cell, i))
        });
        search.fill(&self.block.bytes, items, found);
    }

    /// For a filter that ANDs `needle` with a column filter (`search`, from
    /// [`Filter::column_search_after_needle`]: `token .latency_ms > 250`): which slots'
    /// payloads hold the needle, and the verdicts the cells give (true only where the
    /// needle was found; false wherever the field's tests fail, needle or not). Where
    /// every value is known, the needle is looked for only in the payloads whose value
    /// passes (even where most pass, and for a sparse needle: `payload 99 .latency_ms >
    /// -1` at 1M, 18–19 ms, against 22 ms sweeping); elsewhere the run is swept for it
    /// first and only the payloads that have it are read (a sparse needle spares most of
    /// the reading). `needle` None: taken to hold for every item, not searched for.
    fn after_needle(
        &self,
        search: &ColumnSearch<'_>,
        needle: Option<&SearchTerm<'_>>,
        cells: Cells<'_>,
    ) -> (Bits, Vec<Option<bool>>) {
        let (mut verdicts, mut unknown) = self.cell_verdicts(search, cells);
        let substring = needle.and_then(SearchTerm::substring);
        let hits = match (needle, substring) {
            // Taken to hold everywhere: no search.
            (None, _) => {
                self.fill_verdicts(search, cells, unknown, &mut verdicts);
                Bits::ones(verdicts.len())
            }
            (Some(_), Some(n)) if unknown.is_empty() => {
                let alive = Bits::from_fn(verdicts.len(), |i| verdicts[i] != Some(false));
                let holds = |payload: &[u8]| n.find(payload, 0).is_some();
                self.hits_within(&alive, holds).into_yes()
            }
            (Some(needle), _) => {
                let hits = self.hits(needle);
                unknown.retain(|&i| hits.get(i));
                self.fill_verdicts(search, cells, unknown, &mut verdicts);
                hits
            }
        };
        for (i, verdict) in verdicts.iter_mut().enumerate() {
            if *verdict == Some(true) && !hits.get(i) {
                // The needle may still be in the channel: tested alone.
                *verdict = None;
            }
        }
        (hits, verdicts)
    }

    /// Which slots' inline payloads contain the needle.
    fn hits(&self, needle: &SearchTerm<'_>) -> Bits {
        self.term_hits(needle).into_yes()
    }

    /// What a payload term finds in each slot: a substring is swept for across the run's
    /// bytes; a regex is searched for by the text its matches start with, then tried
    /// within that payload, or where the run's first payloads show that a text every
    /// match holds is in few of them, that text is swept for and the regex tried only in
    /// the payloads holding it (`/lat.ncy_ms":4/`: `lat` is in every payload).
    fn term_hits(&self, term: &SearchTerm<'_>) -> Hits {
        let sweep =
            |n: &Needle<'_>| self.search(|h, f| n.find(h, f).map(|at| at..at + n.len()), true);
        if let Some(n) = term.substring() {
            return sweep(&n);
        }
        if let Some(inner) = term.inner().filter(|n| 2 * self.sampled(n) <= SAMPLE) {
            let held = sweep(&inner).into_yes();
            let mut searcher = term.searcher();
            return self.hits_within(&held, |payload| searcher.payload_matches(payload));
        }
        let cursor = std::cell::Cell::new(self.slots.start);
        let end_of = |i: usize| self.end_of(i, &cursor);
        let mut searcher = term.searcher();
        self.search(
            |h, f| searcher.find_within(h, f, &end_of),
            term.fixed_length(),
        )
    }

    /// How many of the run's first [`SAMPLE`] payloads hold `needle` (all of them where
    /// the run is shorter): a guess at how sparse it is.
    fn sampled(&self, needle: &Needle<'_>) -> usize {
        let sample = self.slots.len().min(SAMPLE);
        let held = (0..sample)
            .filter(|&i| needle.find(self.payload_of(i), 0).is_some())
            .count();
        held + SAMPLE - sample
    }

    /// What each payload term (None for the others) finds in each slot. With
    /// `channels` (a run of inline messages alone), the sparsest substring, guessed
    /// from the run's first payloads, is swept for first, and the other substrings are
    /// looked for only in the messages that pass every term so far (in the payload or
    /// the channel): the rest cannot pass (`payload 99` at 10M: the dense `payload` was
    /// looked for in every payload).
    fn all_term_hits(
        &self,
        terms: &[SearchTerm<'_>],
        channels: Option<Channels<'_>>,
    ) -> Vec<Option<Hits>> {
        let mut hits: Vec<Option<Hits>> = vec![None; terms.len()];
        let needles: Vec<_> = terms.iter().map(|t| t.substring()).collect();
        let mut order: Vec<usize> = (0..terms.len())
            .filter(|&k| terms[k].reads_payload())
            .collect();
        let restrict = channels.filter(|_| order.len() > 1);
        if restrict.is_some() {
            let found = |k: usize| needles[k].as_ref().map_or(SAMPLE, |n| self.sampled(n));
            order.sort_by_cached_key(|&k| (needles[k].is_none(), found(k)));
        }
        let mut alive: Option<Bits> = None;
        for k in order {
            let found = match (&alive, &needles[k]) {
                (Some(alive), Some(needle)) => {
                    self.hits_within(alive, |payload| needle.find(payload, 0).is_some())
                }
                // A regex where few are still in (`payload 99 /lat.ncy_ms/`): tried in
                // those payloads alone rather than searched for across the run.
                (Some(alive), None) if 4 * alive.count() <= alive.len() => {
                    let mut searcher = terms[k].searcher();
                    self.hits_within(alive, |payload| searcher.payload_matches(payload))
                }
                _ => self.term_hits(&terms[k]),
            };
            if let Some(channels) = restrict {
                // Where some channel passes the term, a payload without it stays in
                // where its channel passes (the test the filter's verdict makes anyway).
                let (term, key) = (&terms[k], channels.memo.term_key(&terms[k]));
                let alive = alive.get_or_insert_with(|| Bits::ones(self.slots.len()));
                let maybe = found.maybe();
                if channels.some(k) {
                    let passes = |i: usize| {
                        (self.source_of(i))
                            .is_some_and(|s| s.channel_test(key, |c| term.channel_matches(c)))
                    };
                    alive.retain(|i| maybe.get(i) || passes(i));
                } else {
                    alive.and(&maybe);
                }
            }
            hits[k] = Some(found);
        }
        hits
    }

    /// The source of the run's `i`-th slot (None for a gap or an error).
    fn source_of(&self, i: usize) -> Option<&Source> {
        SlotRef::new(self.block, self.slots.start + i)?
            .slot
            .source
            .as_deref()
    }

    /// The inline payload of the run's `i`-th slot (empty for other items).
    fn payload_of(&self, i: usize) -> &[u8] {
        SlotRef::new(self.block, self.slots.start + i)
            .filter(|s| matches!(s.slot.tag, Tag::Message(_)))
            .map_or(&[], |s| s.bytes())
    }

    /// Whether each `alive` slot's inline payload `holds` what is looked for, asked of
    /// each of them alone (No for the others).
    fn hits_within(&self, alive: &Bits, mut holds: impl FnMut(&[u8]) -> bool) -> Hits {
        let mut hits = Hits::none(alive.len());
        (alive.ones_iter())
            .filter(|&i| holds(self.payload_of(i)))
            .for_each(|i| hits.set(i, Hit::Yes));
        hits
    }

    /// Store indexes of the run's items that pass a filter made of `terms` alone
    /// ([`Filter::search_terms`]), in order; only the `listed` ones (store indexes,
    /// ascending, all in the run) when given. Each payload term is searched for in the
    /// run's payloads at once; a payload is tested alone only where a regex's match ran
    /// past its end.
    pub(super) fn passing_by_search(
        &self,
        filter: &Filter,
        terms: &[SearchTerm<'_>],
        listed: Option<&[usize]>,
        channels: Channels<'_>,
        out: &mut impl FnMut(usize),
    ) {
        // Only inline messages here (gaps, errors and long payloads live beside them).
        let inline_only = self.block.extras.is_empty();
        let hits = self.all_term_hits(terms, inline_only.then_some(channels));
        // Decided by the payload alone where it holds every term (the usual case of a
        // dense needle: a call per message for it was a sixth of a dense key's count), or
        // lacks one that no channel passes (of a selective one): the slot need not be
        // looked at. Word `k` of each, 64 slots at once.
        let len = self.slots.len();
        let every = |k: usize| {
            (hits.iter()).fold(word_mask(len, k), |w, h| {
                w & h.as_ref().map_or(0, |h| h.yes().words()[k])
            })
        };
        let lacks = |k: usize| match inline_only {
            true => (hits.iter().enumerate())
                .filter(|&(n, _)| !channels.some(n))
                .fold(0, |w, (_, h)| w | h.as_ref().map_or(0, |h| h.no_word(k))),
            false => 0,
        };
        // The others: the slot is looked at.
        let decide = |i: usize| {
            let Some(slot) = SlotRef::new(self.block, self.slots.start + i) else {
                return false;
            };
            match (slot.slot.tag, slot.slot.source.as_deref()) {
                (Tag::Message(_), Some(source)) => terms.iter().zip(&hits).all(|(term, hits)| {
                    let in_payload = match hits.as_ref().map(|h| h.get(i)) {
                        Some(Hit::Yes) => true,
                        Some(Hit::Unsure) => term.payload_matches(slot.payload()),
                        Some(Hit::No) | None => false,
                    };
                    let key = channels.memo.term_key(term);
                    in_payload || source.channel_test(key, |c| term.channel_matches(c))
                }),
                // Long payloads (beside the block's bytes), gaps and errors.
                _ => slot.passes_known(Some(filter), None),
            }
        };
        match listed {
            Some(listed) => {
                for &index in listed {
                    let i = index - self.first;
                    let (k, bit) = (i / 64, 1u64 << (i % 64));
                    if every(k) & bit != 0 || lacks(k) & bit == 0 && decide(i) {
                        out(index);
                    }
                }
            }
            None => {
                for k in 0..len.div_ceil(64) {
                    let (every, lacks) = (every(k), lacks(k));
                    let undecided = word_mask(len, k) & !every & !lacks;
                    for i in ones_of(&[every | undecided]).map(|bit| 64 * k + bit) {
                        if every >> (i % 64) & 1 == 1 || decide(i) {
                            out(self.first + i);
                        }
                    }
                }
            }
        }
    }

    /// Where the bytes of the slot holding block byte `i` end. The slot is looked for
    /// from `cursor` (the one found last) a few slots on, as a search asks in order, and
    /// by bisection beyond (a bisection each time was a third of a regex's count).
    fn end_of(&self, i: usize, cursor: &std::cell::Cell<usize>) -> usize {
        let slots = &self.block.slots;
        let at = |k: usize| self.block.start_of(k);
        // The first slot starting after `i`, `next`, follows one starting at or before it.
        let mut next = cursor.get() + 1;
        let near = next + 8;
        let after = at(next - 1) <= i;
        while after && next < near && at(next) <= i {
            next += 1;
        }
        if !after || at(next) <= i {
            next = slots.partition_point(|s| s.at as usize <= i);
        }
        cursor.set(next.saturating_sub(1));
        at(next)
    }

    /// For each slot of the run, whether `find` finds a match inside its inline payload,
    /// searching the run's payload bytes (contiguous in the block) in one pass. A match
    /// running past a payload's end: with `fixed_length` matches, no later one can end
    /// inside it either (no); otherwise, not decided here (unsure).
    fn search(
        &self,
        mut find: impl FnMut(&[u8], usize) -> Option<Range<usize>>,
        fixed_length: bool,
    ) -> Hits {
        let slots = &self.block.slots;
        let (start, end) = (self.slots.start, self.slots.end);
        let mut hits = Hits::none(end - start);
        let at = |i: usize| self.block.start_of(i);
        let limit = at(end);
        let bytes = self.block.bytes.get(..limit).unwrap_or_default();
        let (mut cursor, mut from) = (start, at(start));
        while from < limit {
            let Some(found) = find(bytes, from) else {
                break;
            };
            // The slot the occurrence starts in (zero-length payloads are skipped).
            while cursor + 1 < end && at(cursor + 1) <= found.start {
                cursor += 1;
            }
            let slot_end = at(cursor + 1);
            let inline = matches!(slots.get(cursor).map(|s| s.tag), Some(Tag::Message(_)));
            if inline {
                let hit = match (found.end <= slot_end, fixed_length) {
                    (true, _) => Hit::Yes,
                    (false, true) => Hit::No,
                    (false, false) => Hit::Unsure,
                };
                hits.set(cursor - start, hit);
            }
            // One occurrence is enough; one running past the end rules out later ones
            // in the same slot when all have one length (they would end later still), and
            // a regex's is tested on the payload alone.
            from = slot_end.max(found.start + 1);
        }
        hits
    }
}

/// What an evicted item leaves for the feed's counters.
pub(super) struct Evicted {
    pub(super) cost: usize,
    pub(super) seq: Option<u64>,
}

impl Evicted {
    pub(super) fn is_message(&self) -> bool {
        self.seq.is_some()
    }
}

/// One of [`Store::some_channel`]'s answers: its key, the sources added when it was
/// worked out, and the answer.
type Answer = ((u64, u32), u64, bool);

/// Interned sources. Consecutive messages usually share one (a flood on one channel), so
/// the last one is checked before the table.
#[derive(Debug, Default)]
struct Sources {
    last: Option<Arc<Source>>,
    table: HashSet<Arc<Source>>,
    /// Table size at which sources no retained message uses any more are dropped.
    prune_at: usize,
    /// Sources added so far: [`Store::some_channel`]'s answers hold until the next one.
    added: u64,
    /// [`Store::some_channel`]'s answers for the filter asked last: by key, with `added`
    /// when worked out (one look at every source each count step was a twentieth of a
    /// narrowing key's count at 10M retained).
    answers: std::sync::Mutex<Vec<Answer>>,
}

impl Sources {
    fn intern(&mut self, channel: Bytes, pattern: Option<Bytes>) -> Arc<Source> {
        if let Some(last) = &self.last {
            if last.channel == channel && last.pattern == pattern {
                return last.clone();
            }
        }
        let wanted = Source {
            channel,
            pattern,
            memo: AtomicU64::new(0),
        };
        let source = match self.table.get(&wanted) {
            Some(found) => found.clone(),
            None => {
                if self.table.len() >= self.prune_at {
                    // Only the table (and maybe `last`) holds it: no retained message does.
                    self.table.retain(|s| Arc::strong_count(s) > 1);
                    self.prune_at = (self.table.len() * 2).max(BLOCK);
                }
                let source = Arc::new(wanted);
                self.table.insert(source.clone());
                self.added += 1;
                source
            }
        };
        self.last = Some(source.clone());
        source
    }
}

/// A FIFO of slots in blocks of [`BLOCK`]: pushed at the back, evicted at the front.
/// Every block but the first and the last is full, which makes indexing arithmetic.
#[derive(Debug, Default)]
pub(super) struct Store {
    blocks: VecDeque<Block>,
    /// The last emptied block, reused for the next one (no allocator churn at the
    /// rate messages turn over).
    spare: Option<Block>,
    len: usize,
    sources: Sources,
}

impl Store {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push_back(&mut self, item: FeedItem) -> SlotRef<'_> {
        if self.blocks.back().is_none_or(|b| b.slots.len() == BLOCK) {
            // The last block's payload bytes are the best guess for the next one's: a
            // buffer grown by doubling would leave up to half of it unused.
            let guess = self.blocks.back().map_or(0, |b| b.bytes.len());
            if let Some(full) = self.blocks.back_mut() {
                // Only the slack of a buffer grown by doubling; a reserved one is kept
                // as it is, so a spare is reused without reallocating (a shrink here
                // and a grow at its next use churned the allocator into fragmentation).
                if full.bytes.capacity() > guess + guess / 4 {
                    full.bytes.shrink_to_fit();
                }
            }
            let mut block = self.spare.take().unwrap_or_else(|| Block {
                slots: VecDeque::with_capacity(BLOCK),
                ..Block::default()
            });
            block.bytes.reserve(guess + guess / 16);
            self.blocks.push_back(block);
        }
        let sources = &mut self.sources;
        let block = self.blocks.back_mut().expect("a block was just ensured");
        let slot = match item {
            FeedItem::Message(m) => {
                let received_ns = m.received.timestamp_nanos_opt().unwrap_or_default();
                let source = Some(sources.intern(m.channel, m.pattern));
                if m.payload.len() <= INLINE_MAX {
                    let at = block.at();
                    block.bytes.extend_from_slice(&m.payload);
                    Slot {
                        seq: m.seq,
                        received_ns,
                        source,
                        at,
                        tag: Tag::Message(m.kind),
                        json: JsonMark::default(),
                    }
                } else {
                    let mut slot = block.extra(Extra::Payload(m.payload), Tag::Long(m.kind));
                    (slot.seq, slot.received_ns, slot.source) = (m.seq, received_ns, source);
                    slot
                }
            }
            FeedItem::Gap(g) => block.extra(Extra::Gap(g), Tag::Gap),
            FeedItem::ServerError(e) => {
                block.extra(Extra::ServerError(e.into_boxed_str()), Tag::ServerError)
            }
        };
        self.len += 1;
        block.slots.push_back(slot);
        let slot = block.slots.back().expect("just pushed");
        let end = block.bytes.len();
        SlotRef { slot, block, end }
    }

    pub(super) fn pop_front(&mut self) -> Option<Evicted> {
        let first = self.blocks.front_mut()?;
        let slot = first.slots.pop_front()?;
        let evicted = {
            let end = first
                .slots
                .front()
                .map_or(first.bytes.len(), |next| next.at as usize);
            let view = SlotRef {
                slot: &slot,
                block: first,
                end,
            };
            Evicted {
                cost: view.cost(),
                seq: view.seq(),
            }
        };
        if first.slots.is_empty() {
            if let Some(mut block) = self.blocks.pop_front() {
                block.bytes.clear();
                block.extras.clear();
                // Keep a spare's buffer only if it is of the usual size.
                if block.bytes.capacity() > BLOCK * 1024 {
                    block.bytes = Vec::new();
                }
                self.spare = Some(block);
            }
        }
        self.len -= 1;
        Some(evicted)
    }

    pub(super) fn get(&self, index: usize) -> Option<SlotRef<'_>> {
        let first = self.blocks.front()?;
        let (block, at) = if index < first.slots.len() {
            (first, index)
        } else {
            let rest = index - first.slots.len();
            (self.blocks.get(1 + rest / BLOCK)?, rest % BLOCK)
        };
        SlotRef::new(block, at)
    }

    /// Whether the channel of some retained message may pass `test` (a term's channel
    /// test, remembered under `key`): the feed's sources are looked at only while there
    /// are no more than `limit` of them; above that, true. The sources include some no
    /// retained message uses any more: they can only make the answer true where it
    /// could have been false.
    pub(super) fn some_channel(
        &self,
        limit: usize,
        key: Option<(u64, u32)>,
        test: impl Fn(&[u8]) -> bool,
    ) -> bool {
        // (`Source`'s hash and equality leave out its memo: the set's keys never change.)
        let sources = &self.sources;
        if sources.table.len() > limit {
            return true;
        }
        let look = || sources.table.iter().any(|s| s.channel_test(key, &test));
        let Some(key) = key else {
            return look();
        };
        let mut answers = (sources.answers.lock()).unwrap_or_else(PoisonError::into_inner);
        let added = sources.added;
        if let Some(&(.., some)) = answers.iter().find(|a| (a.0, a.1) == (key, added)) {
            return some;
        }
        let some = look();
        answers.retain(|a| a.0 .0 == key.0);
        answers.push((key, added, some));
        some
    }

    /// Items `range` (store indexes) as runs of consecutive slots of one block each.
    pub(super) fn runs(&self, range: Range<usize>) -> impl Iterator<Item = Run<'_>> {
        let first_len = self.blocks.front().map_or(0, |b| b.slots.len());
        let mut index = range.start;
        std::iter::from_fn(move || {
            if index >= range.end.min(self.len) {
                return None;
            }
            let (block, at) = if index < first_len {
                (self.blocks.front()?, index)
            } else {
                let rest = index - first_len;
                (self.blocks.get(1 + rest / BLOCK)?, rest % BLOCK)
            };
            let take = (block.slots.len() - at).min(range.end - index);
            let run = Run {
                block,
                slots: at..at + take,
                first: index,
            };
            index += take;
            Some(run)
        })
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = SlotRef<'_>> {
        self.blocks
            .iter()
            .flat_map(|block| (0..block.slots.len()).filter_map(|i| SlotRef::new(block, i)))
    }
}

impl Block {
    /// Where the bytes of slot `k` start; past the last slot, the end of the bytes.
    fn start_of(&self, k: usize) -> usize {
        self.slots
            .get(k)
            .map_or(self.bytes.len(), |s| s.at as usize)
    }

    /// Where the next slot's bytes start. A block holds at most
    /// BLOCK × INLINE_MAX bytes (64 MiB), far below `u32::MAX`.
    fn at(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }

    /// A slot for something kept beside the slots: its bytes are the extra's index.
    fn extra(&mut self, extra: Extra, tag: Tag) -> Slot {
        let at = self.at();
        let index = u32::try_from(self.extras.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&index.to_le_bytes());
        self.extras.push(extra);
        Slot {
            seq: 0,
            received_ns: 0,
            source: None,
            at,
            tag,
            json: JsonMark::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(channel: &'static str, payload: String) -> FeedItem {
        FeedItem::Message(Message {
            seq: 0,
            received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::PMessage,
            pattern: Some(Bytes::from_static(b"*")),
            channel: Bytes::from_static(channel.as_bytes()),
            payload: Bytes::from(payload),
        })
    }

    #[test]
    fn slots_stay_small() {
        // Three Bytes handles (96 bytes) were the bulk of a retained message; then one
        // (32 of a 64-byte slot).
        assert!(
            std::mem::size_of::<Slot>() <= 32,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn items_come_back_exactly_as_stored() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap_or_default();
        let message = |kind, payload: Vec<u8>| {
            FeedItem::Message(Message {
                seq: 42,
                received: at,
                kind,
                pattern: (kind == Kind::PMessage).then(|| Bytes::from_static(b"ch*")),
                channel: Bytes::from_static(b"ch\x1b1"),
                payload: Bytes::from(payload),
            })
        };
        let items = vec![
            message(Kind::PMessage, b"small \xff payload".to_vec()),
            message(Kind::SMessage, Vec::new()),
            message(Kind::StreamEntry, vec![7; INLINE_MAX + 1]),
            message(Kind::Message, vec![8; INLINE_MAX]),
            FeedItem::Gap(Gap {
                from: at,
                to: at,
                reason: "lost".into(),
                handover: false,
            }),
            FeedItem::ServerError("NOPERM".into()),
        ];
        let mut store = Store::default();
        for item in &items {
            let cost = store.push_back(item.clone()).cost();
            let expected = match item {
                FeedItem::Message(m) => m.approx_bytes(),
                FeedItem::Gap(g) => MESSAGE_OVERHEAD + g.reason.len(),
                FeedItem::ServerError(e) => MESSAGE_OVERHEAD + e.len(),
            };
            assert_eq!(cost, expected, "accounting does not depend on storage");
        }
        let back: Vec<FeedItem> = store.iter().map(|s| s.item()).collect();
        assert_eq!(back, items);
        // The channel column is measured from the stored parts: as from the message.
        for slot in store.iter() {
            let expected = match slot.item() {
                FeedItem::Message(m) => Some(super::super::column::label_width(&m)),
                _ => None,
            };
            assert_eq!(slot.label_width(), expected);
        }
        // Evicted one by one, each still knows its cost and whether it was a message.
        for item in &items {
            let evicted = store.pop_front().expect("retained");
            let (cost, seq) = match item {
                FeedItem::Message(m) => (m.approx_bytes(), Some(m.seq)),
                FeedItem::Gap(g) => (MESSAGE_OVERHEAD + g.reason.len(), None),
                FeedItem::ServerError(e) => (MESSAGE_OVERHEAD + e.len(), None),
            };
            assert_eq!((evicted.cost, evicted.seq), (cost, seq));
            let rest: Vec<FeedItem> = store.iter().map(|s| s.item()).collect();
            assert_eq!(rest.len(), store.len());
        }
    }

    #[test]
    fn fifo_across_blocks_with_indexing() {
        let mut store = Store::default();
        let n = BLOCK * 3 + 17;
        for i in 0..n {
            store.push_back(msg("c", i.to_string()));
        }
        for _ in 0..BLOCK + 5 {
            store.pop_front();
        }
        assert_eq!(store.len(), n - BLOCK - 5);
        let payload = |s: Option<SlotRef>| match s.map(|s| s.item()) {
            Some(FeedItem::Message(m)) => String::from_utf8_lossy(&m.payload).into_owned(),
            _ => "none".into(),
        };
        assert_eq!(payload(store.get(0)), (BLOCK + 5).to_string());
        assert_eq!(payload(store.get(BLOCK)), (2 * BLOCK + 5).to_string());
        assert_eq!(payload(store.get(store.len() - 1)), (n - 1).to_string());
        assert_eq!(payload(store.get(store.len())), "none");
        assert_eq!(store.iter().count(), store.len());
        let all: Vec<String> = store.iter().map(|s| payload(Some(s))).collect();
        let expected: Vec<String> = (BLOCK + 5..n).map(|i| i.to_string()).collect();
        assert_eq!(all, expected);
        while store.pop_front().is_some() {}
        assert_eq!(store.len(), 0);
        assert!(store.get(0).is_none());
    }

    #[test]
    fn sources_are_shared_and_pruned() {
        let mut store = Store::default();
        for i in 0..10 {
            store.push_back(msg(if i % 2 == 0 { "a" } else { "b" }, i.to_string()));
        }
        assert_eq!(store.sources.table.len(), 2);
        let source = |i| match store.get(i) {
            Some(s) => s.slot.source.clone().expect("messages only"),
            None => unreachable!("retained"),
        };
        assert!(Arc::ptr_eq(&source(0), &source(8)));
        assert!(!Arc::ptr_eq(&source(0), &source(1)));
        // Sources of evicted messages go at the next prune.
        while store.pop_front().is_some() {}
        let names: Vec<String> = (0..BLOCK * 2).map(|i| format!("ch{i}")).collect();
        for name in &names {
            store.push_back(FeedItem::Message(Message {
                seq: 0,
                received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
                kind: Kind::Message,
                pattern: None,
                channel: Bytes::from(name.clone()),
                payload: Bytes::new(),
            }));
            store.pop_front();
        }
        assert!(store.sources.table.len() <= BLOCK + 1);
    }

    #[test]
    fn whether_some_channel_passes_is_asked_again_once_a_source_is_added() {
        let mut store = Store::default();
        for i in 0..10 {
            store.push_back(msg(if i % 2 == 0 { "a" } else { "b" }, i.to_string()));
        }
        let key = Memo::fresh().key(0);
        let errors = |c: &[u8]| c.starts_with(b"err");
        assert!(!store.some_channel(100, key, errors));
        assert!(
            store.some_channel(1, key, errors),
            "more sources than candidates"
        );
        // Remembered: a test that would now say yes is not asked.
        assert!(!store.some_channel(100, key, |_| true));
        // A source added since: asked again (the memo keeps each source's verdict).
        store.push_back(msg("errors", "x".to_string()));
        assert!(store.some_channel(100, key, errors));
        assert!(store.some_channel(100, key, |_| false), "remembered");
    }
}
