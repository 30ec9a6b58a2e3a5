//! The Pending pane's state: which stream and group it watches, the page of pending
//! entries on screen, selection and marks, sort, filters, paging, and its dialogs.
//!
//! Everything the user acts on is an entry *id*: the list refreshes every second and rows
//! shift as entries are acked or arrive, so a row index from one frame can mean another
//! entry in the next. Selection, marks and the `v` anchor are ids; actions are built
//! from the ids on screen (in display order) and carried whole in the effect.

mod confirm;
pub mod dialog;
mod keys;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};

use crate::redis::actions::{AutoclaimPreview, TrimPreview, TrimStrategy};
use crate::redis::pending::{
    sort_entries, PendingEntry, PendingOrder, PendingPage, PendingQuery, PendingSort,
    PendingSummary, SortedRead, StreamId, MAX_PAGE, SORT_MAX,
};
use dialog::PendingModal;

/// Rows per page: XPENDING is always bounded, and each row costs one XRANGE for its
/// preview, so a page is what a person scrolls through, not the whole list.
pub const PAGE_SIZE: usize = 100;
/// How often the visible pane re-reads its page.
pub const REFRESH_EVERY: TimeDelta = TimeDelta::seconds(1);
/// How often a sorted view re-reads when its sort covered more than one XPENDING page:
/// each refresh reads up to [`SORT_MAX`] rows, which is not a once-a-second cost.
pub const SORTED_REFRESH_EVERY: TimeDelta = TimeDelta::seconds(5);
/// A refresh with no answer after this long no longer holds back the next one (the
/// command connection times out after 10 s, so this only guards against lost answers).
const STUCK_AFTER: TimeDelta = TimeDelta::seconds(15);
/// Claims default to entries idle this long: a live worker's entry is younger.
pub const DEFAULT_MIN_IDLE_MS: u64 = 60_000;
/// Most entries one autoclaim sweep (and its preview) moves.
pub const AUTOCLAIM_MAX: usize = 1_000;
/// Rows above the list: the title line and the column names.
pub const LIST_TOP_ROWS: u16 = 2;
/// Rows below the list for the last action's result, while there is one.
pub const RESULT_ROWS: u16 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTarget {
    pub stream: Bytes,
    pub group: Bytes,
}

/// A consumer of the group, for the claim picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRow {
    /// Raw name (untrusted bytes): escape before showing.
    pub name: Bytes,
    pub pending: u64,
    /// From XINFO CONSUMERS; `None` while only the page's holders are known.
    pub idle_ms: Option<u64>,
}

/// What the Pending pane asks app.rs to do.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingEffect {
    /// Read one page (plus the group's summary); answered by [`PendingEvent::Page`].
    /// With an `order`, the page is a slice of the pending list sorted over up to
    /// [`SORT_MAX`] rows (`query.start` is then unused).
    Fetch {
        generation: u64,
        target: PendingTarget,
        query: PendingQuery,
        order: Option<PendingOrder>,
    },
    /// XINFO CONSUMERS for the claim picker; answered by [`PendingEvent::Consumers`].
    Consumers { target: PendingTarget },
    Act {
        target: PendingTarget,
        action: PendingAction,
    },
}

/// Actions and their read-only previews. Ids are the ones the user saw, in display order.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingAction {
    Ack {
        ids: Vec<StreamId>,
    },
    Claim {
        consumer: Bytes,
        min_idle_ms: u64,
        ids: Vec<StreamId>,
    },
    AutoclaimPreview {
        consumer: Bytes,
        min_idle_ms: u64,
    },
    Autoclaim {
        consumer: Bytes,
        min_idle_ms: u64,
    },
    DeadLetter {
        dlq: Bytes,
        ids: Vec<StreamId>,
    },
    Delete {
        ids: Vec<StreamId>,
    },
    TrimPreview {
        strategy: TrimStrategy,
    },
    Trim {
        strategy: TrimStrategy,
    },
}

impl PendingAction {
    /// The name used in notices ("read-only mode: ack is disabled").
    pub fn name(&self) -> &'static str {
        match self {
            PendingAction::Ack { .. } => "ack",
            PendingAction::Claim { .. } => "claim",
            PendingAction::AutoclaimPreview { .. } | PendingAction::Autoclaim { .. } => "autoclaim",
            PendingAction::DeadLetter { .. } => "dead-letter",
            PendingAction::Delete { .. } => "delete",
            PendingAction::TrimPreview { .. } | PendingAction::Trim { .. } => "trim",
        }
    }

    /// Previews only read; everything else changes the server and is audited.
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            PendingAction::AutoclaimPreview { .. } | PendingAction::TrimPreview { .. }
        )
    }
}

/// A page and the group's totals, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLoad {
    pub page: PendingPage,
    pub summary: Option<PendingSummary>,
}

/// A finished mutating action, as its one-sentence summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    pub summary: String,
    /// False when some ids were skipped (not pending, re-taken by a live worker, …).
    pub complete: bool,
}

/// Answers from app.rs.
#[derive(Debug)]
pub enum PendingEvent {
    Page {
        generation: u64,
        result: Result<PageLoad, String>,
    },
    Consumers {
        target: PendingTarget,
        result: Result<Vec<ConsumerRow>, String>,
    },
    Done {
        action: &'static str,
        result: Result<ActionReport, String>,
    },
    AutoclaimPreview {
        target: PendingTarget,
        consumer: Bytes,
        result: Result<AutoclaimPreview, String>,
    },
    TrimPreview {
        target: PendingTarget,
        result: Result<TrimPreview, String>,
    },
}

/// The last action's outcome, kept on screen until the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Default)]
pub struct PendingPane {
    pub target: Option<PendingTarget>,
    /// The rows on screen, in display (sorted) order.
    pub entries: Vec<PendingEntry>,
    pub summary: Option<PendingSummary>,
    /// A page for the current query has arrived.
    pub loaded: bool,
    /// The last refresh failed (rows shown are from before it).
    pub error: Option<String>,
    pub selected: Option<StreamId>,
    pub marked: BTreeSet<StreamId>,
    /// Where a `v` range started; the range runs to the selection.
    pub anchor: Option<StreamId>,
    pub sort: PendingSort,
    pub descending: bool,
    /// How much of the pending list the rows on screen were sorted over (`None` in id
    /// order, where pages follow XPENDING's own order).
    pub sorted: Option<SortedRead>,
    pub min_idle_ms: Option<u64>,
    pub consumer: Option<Bytes>,
    /// Exclusive cursor of the page shown; `None` is the first page.
    pub page_start: Option<StreamId>,
    /// 1-based, for display.
    pub page_number: usize,
    pub next_page: Option<StreamId>,
    /// First row on screen.
    pub scroll: usize,
    pub modal: Option<PendingModal>,
    /// The entry opened with Enter (its fields fill the pane), by id; Esc closes it.
    pub open_entry: Option<StreamId>,
    /// First line shown of the open entry.
    pub entry_scroll: usize,
    /// The action running now; another waits until it answers.
    pub busy: Option<&'static str>,
    pub result: Option<ActionResult>,
    /// Last generation handed out.
    generation: u64,
    /// Answers at or below this generation were asked for an older query.
    query_generation: u64,
    /// Generation of the rows on screen: an older answer never replaces them.
    shown_generation: u64,
    in_flight: Option<(u64, DateTime<Utc>)>,
    /// When the last fetch was sent or its answer came, whichever is later.
    last_request: Option<DateTime<Utc>>,
    fetch_now: bool,
}

impl PendingPane {
    /// Point the pane at a stream and group. A new target starts clean: marks, selection,
    /// page and consumer filter belong to the old group.
    pub fn set_target(&mut self, target: PendingTarget) {
        if self.target.as_ref() != Some(&target) {
            self.target = Some(target);
            self.entries.clear();
            self.summary = None;
            self.selected = None;
            self.marked.clear();
            self.anchor = None;
            self.consumer = None;
            self.scroll = 0;
            self.result = None;
        }
        self.first_page();
    }

    /// The query changed: forget answers to older queries and fetch now.
    pub fn query_changed(&mut self) {
        self.query_generation = self.generation;
        self.loaded = false;
        self.error = None;
        self.fetch_now = true;
    }

    pub fn first_page(&mut self) {
        self.page_start = None;
        self.page_number = 1;
        self.next_page = None;
        self.query_changed();
    }

    /// Go to the next page; false when this is the last one.
    pub fn next_page(&mut self) -> bool {
        let Some(next) = self.next_page else {
            return false;
        };
        self.page_start = Some(next);
        self.page_number += 1;
        self.next_page = None;
        self.query_changed();
        true
    }

    pub fn refresh_soon(&mut self) {
        self.fetch_now = true;
    }

    pub fn query(&self) -> PendingQuery {
        PendingQuery {
            consumer: self.consumer.clone(),
            min_idle_ms: self.min_idle_ms,
            start: self.order().is_none().then_some(self.page_start).flatten(),
            count: PAGE_SIZE,
        }
    }

    /// Any order but ascending ids needs the whole list sorted, not one XPENDING page:
    /// pages are then slices of the sorted rows.
    pub fn order(&self) -> Option<PendingOrder> {
        (self.sort != PendingSort::Id || self.descending).then(|| PendingOrder {
            by: self.sort,
            descending: self.descending,
            offset: self.page_number.saturating_sub(1) * PAGE_SIZE,
            limit: SORT_MAX,
        })
    }

    fn refresh_every(&self) -> TimeDelta {
        match self.sorted {
            Some(read) if read.rows > MAX_PAGE => SORTED_REFRESH_EVERY,
            _ => REFRESH_EVERY,
        }
    }

    /// A fetch to issue now, if one is due: at once after a change, else
    /// [`REFRESH_EVERY`] after the last answer (a slow server is not piled up with
    /// requests).
    pub fn due_fetch(&mut self, now: DateTime<Utc>) -> Option<PendingEffect> {
        let target = self.target.clone()?;
        let waiting = self
            .in_flight
            .is_some_and(|(_, since)| now - since < STUCK_AFTER);
        let every = self.refresh_every();
        let periodic = !waiting && self.last_request.is_none_or(|at| now - at >= every);
        if !(self.fetch_now || periodic) {
            return None;
        }
        self.fetch_now = false;
        self.generation += 1;
        self.in_flight = Some((self.generation, now));
        self.last_request = Some(now);
        Some(PendingEffect::Fetch {
            generation: self.generation,
            target,
            query: self.query(),
            order: self.order(),
        })
    }

    /// Take a page answer; false (and nothing changes) when it answers an older request.
    pub fn apply_page(
        &mut self,
        generation: u64,
        result: Result<PageLoad, String>,
        now: DateTime<Utc>,
    ) -> bool {
        if self.in_flight.is_some_and(|(g, _)| g <= generation) {
            self.in_flight = None;
            // The next refresh counts from this answer: a slow server gets a breather.
            self.last_request = Some(now);
        }
        if generation <= self.query_generation || generation < self.shown_generation {
            return false;
        }
        self.shown_generation = generation;
        let load = match result {
            Ok(load) => load,
            Err(e) => {
                self.error = Some(e);
                return true;
            }
        };
        self.error = None;
        self.loaded = true;
        let old_index = self.selected_index();
        self.entries = load.page.entries;
        self.next_page = load.page.next;
        self.sorted = load.page.sorted;
        if load.summary.is_some() {
            self.summary = load.summary;
        }
        sort_entries(&mut self.entries, self.sort, self.descending);
        self.reselect(old_index);
        true
    }

    /// Keep the selection on its id; if that entry left, stay at the same height.
    fn reselect(&mut self, old_index: Option<usize>) {
        let present: BTreeSet<StreamId> = self.entries.iter().map(|e| e.id).collect();
        self.marked.retain(|id| present.contains(id));
        self.anchor = self.anchor.filter(|id| present.contains(id));
        if self.selected.is_some_and(|id| present.contains(&id)) {
            return;
        }
        let index = old_index
            .unwrap_or(0)
            .min(self.entries.len().saturating_sub(1));
        self.selected = self.entries.get(index).map(|e| e.id);
    }

    /// A new order starts again at page 1 and re-reads: the rows on screen are re-sorted
    /// at once so the key feels immediate, then replaced by the first page of the whole
    /// list in that order.
    pub fn set_sort(&mut self, sort: PendingSort, descending: bool) {
        self.sort = sort;
        self.descending = descending;
        sort_entries(&mut self.entries, sort, descending);
        self.first_page();
    }

    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected?;
        self.entries.iter().position(|e| e.id == id)
    }

    /// The open entry as the Streams entries browser shows entries: fields in their real
    /// order, duplicates kept. `None` when it left the page or was deleted from the stream.
    pub fn opened(&self) -> Option<(&PendingEntry, crate::redis::streams::StreamEntry)> {
        let id = self.open_entry?;
        let entry = self.entries.iter().find(|e| e.id == id)?;
        let fields = entry.fields.clone().unwrap_or_default();
        let stream_entry = crate::redis::streams::StreamEntry {
            id: crate::redis::streams::StreamId::new(id.ms, id.seq),
            fields,
        };
        Some((entry, stream_entry))
    }

    pub fn selected_entry(&self) -> Option<&PendingEntry> {
        self.selected_index().and_then(|i| self.entries.get(i))
    }

    /// Move the selection and keep it within the `rows` on screen.
    pub fn move_by(&mut self, delta: isize, rows: usize) {
        if self.entries.is_empty() {
            return;
        }
        let last = self.entries.len() - 1;
        let index = self
            .selected_index()
            .unwrap_or(0)
            .saturating_add_signed(delta)
            .min(last);
        self.selected = Some(self.entries[index].id);
        self.keep_visible(rows);
    }

    pub fn keep_visible(&mut self, rows: usize) {
        let rows = rows.max(1);
        let index = self.selected_index().unwrap_or(0);
        if index < self.scroll {
            self.scroll = index;
        } else if index >= self.scroll + rows {
            self.scroll = index + 1 - rows;
        }
        self.scroll = self.scroll.min(self.entries.len().saturating_sub(rows));
    }

    /// Mark or unmark the selected entry.
    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.selected_entry().map(|e| e.id) {
            if !self.marked.remove(&id) {
                self.marked.insert(id);
            }
        }
    }

    /// Ids from the anchor to the selection, in display order.
    pub fn range_ids(&self) -> Vec<StreamId> {
        let (Some(anchor), Some(selected)) = (self.anchor, self.selected_index()) else {
            return Vec::new();
        };
        let Some(start) = self.entries.iter().position(|e| e.id == anchor) else {
            return Vec::new();
        };
        let (from, to) = (start.min(selected), start.max(selected));
        self.entries[from..=to].iter().map(|e| e.id).collect()
    }

    /// `v`: the first press drops the anchor, the second marks the range.
    /// Returns how many were marked (0 when the anchor was just set).
    pub fn range_key(&mut self) -> usize {
        if self.anchor.is_none() {
            self.anchor = self.selected_entry().map(|e| e.id);
            return 0;
        }
        let ids = self.range_ids();
        self.marked.extend(ids.iter().copied());
        self.anchor = None;
        ids.len()
    }

    /// What an action acts on: the marked entries on screen (display order), else the
    /// selected one.
    pub fn action_ids(&self) -> Vec<StreamId> {
        if self.marked.is_empty() {
            return self.selected_entry().map(|e| e.id).into_iter().collect();
        }
        self.entries
            .iter()
            .filter(|e| self.marked.contains(&e.id))
            .map(|e| e.id)
            .collect()
    }

    /// The group's consumers as far as the pane knows them (summary and page holders).
    pub fn known_consumers(&self) -> Vec<ConsumerRow> {
        let mut rows: Vec<ConsumerRow> = Vec::new();
        if let Some(summary) = &self.summary {
            rows.extend(summary.consumers.iter().map(|(name, n)| ConsumerRow {
                name: name.clone(),
                pending: *n,
                idle_ms: None,
            }));
        }
        for entry in &self.entries {
            if !rows.iter().any(|r| r.name == entry.consumer) {
                rows.push(ConsumerRow {
                    name: entry.consumer.clone(),
                    pending: 0,
                    idle_ms: None,
                });
            }
        }
        rows
    }
}
