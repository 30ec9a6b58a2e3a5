//! The Streams pane's state: the streams poller's latest [`StreamsState`], the three
//! drill-down tables (streams → groups → consumers) with their sort, filter and
//! selection, and the entries browser ([`entries`]).
//!
//! Selection is by name (stream key, group name, consumer name), never by row index: the
//! tables are re-sorted every poll, and a row index from one poll can be another stream
//! in the next. Rows are indices into the current snapshot, rebuilt only when a poll, the
//! sort, the filter or the level changed, so a frame formats just the rows on screen and
//! 1,000 streams × 3 groups cost one sort per poll.

pub mod entries;
mod keys;
pub use keys::jump_time_text;
pub mod manage;
mod sort;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;

use crate::filter::Filter;
use crate::redis::streams::{
    ConsumerInfo, GroupInfo, StreamEntry, StreamInfo, StreamsSnapshot, StreamsState,
};
use entries::{EntriesBrowser, EntriesRequest};
use manage::{GroupAction, StreamsModal};
pub use sort::{
    laggiest_group, sort_consumers, sort_groups, sort_streams, status_rank, stream_pending,
    stream_status,
};

/// Rows the last poll error may wrap onto.
pub const ERROR_ROWS: u16 = 2;
/// Rows above the groups table for the stream's title and facts.
pub const STREAM_FACT_ROWS: u16 = 3;
/// Rows under the groups table for the selected group's reason, positions, lag source.
pub const GROUP_DETAIL_ROWS: u16 = 3;
/// Rows under the consumers table for notes (flags, missing `inactive`).
pub const CONSUMER_NOTE_ROWS: u16 = 1;

/// Which table the pane shows; the entries browser sits on top of any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Streams,
    Groups,
    Consumers,
}

/// What has the keys in the Streams pane (the footer shows keys for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamsFocus {
    Streams,
    Groups,
    Consumers,
    /// The entries browser's list.
    Entries,
    /// One entry opened over the whole pane.
    Entry,
    /// Typing where to jump in the entries browser.
    Jump,
    /// Typing a group name or start id.
    Prompt,
    /// Confirming a group action.
    Confirm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    /// Lag (for a stream: its laggiest group), the server's figure or our estimate.
    Lag,
    Pending,
    /// Append rate for streams, consume rate for groups.
    Rate,
    /// Worst first: STALLED, LAGGING, UNKNOWN, OK, IDLE.
    Status,
    Name,
    /// Consumers: time since the consumer last got work.
    Idle,
}

impl SortColumn {
    /// The cycle for the streams and groups tables (one shared order: sorting streams by
    /// lag sorts their groups by lag too).
    pub const TABLES: [SortColumn; 5] = [
        SortColumn::Lag,
        SortColumn::Pending,
        SortColumn::Rate,
        SortColumn::Status,
        SortColumn::Name,
    ];
    pub const CONSUMERS: [SortColumn; 3] =
        [SortColumn::Pending, SortColumn::Idle, SortColumn::Name];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Lag => "lag",
            SortColumn::Pending => "pending",
            SortColumn::Rate => "rate",
            SortColumn::Status => "status",
            SortColumn::Name => "name",
            SortColumn::Idle => "idle",
        }
    }

    fn next_in(self, cycle: &[SortColumn]) -> SortColumn {
        let i = cycle.iter().position(|&c| c == self).map_or(0, |i| i + 1);
        cycle[i % cycle.len()]
    }

    /// Figures sort biggest / worst first, names A→Z.
    fn descending_by_default(self) -> bool {
        self != SortColumn::Name
    }
}

/// Where a table's cursor is: by name, with the row index and scroll that go with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The selected row's name; what survives re-sorts and polls.
    pub name: Option<Bytes>,
    pub index: usize,
    /// First row on screen.
    pub offset: usize,
}

impl Selection {
    /// After a rebuild: follow the name to its new row, or (when it is gone) stay at the
    /// same position and take the name of whatever is there now.
    fn resolve<'a>(&mut self, names: impl Iterator<Item = &'a [u8]> + Clone, page: usize) {
        let len = names.clone().count();
        if let Some(i) = self
            .name
            .as_deref()
            .and_then(|want| names.clone().position(|n| n == want))
        {
            self.index = i;
        } else {
            self.index = self.index.min(len.saturating_sub(1));
            self.name = names.clone().nth(self.index).map(Bytes::copy_from_slice);
        }
        self.offset = visible_offset(self.offset, self.index, page);
    }

    fn step(&mut self, delta: isize, len: usize, page: usize) {
        self.index = self
            .index
            .saturating_add_signed(delta)
            .min(len.saturating_sub(1));
        self.offset = visible_offset(self.offset, self.index, page);
    }

    fn reset(&mut self) {
        *self = Selection::default();
    }
}

/// The smallest scroll change that keeps `selected` on a page of `page` rows.
pub fn visible_offset(offset: usize, selected: usize, page: usize) -> usize {
    let page = page.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + page {
        selected + 1 - page
    } else {
        offset
    }
}

/// Where things go in the pane's body: shared by key handling (page sizes) and drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneLayout {
    /// Figures, errors and notes above the table.
    pub top: Rect,
    /// Column titles (first row) and rows.
    pub table: Rect,
    /// Details of the selection under the table.
    pub bottom: Rect,
}

impl PaneLayout {
    /// Table rows on screen (the titles row excluded).
    pub fn rows(&self) -> usize {
        usize::from(self.table.height.saturating_sub(1)).max(1)
    }
}

#[derive(Debug)]
pub struct StreamsPane {
    /// The streams poller's latest state.
    pub poll: StreamsState,
    /// A rescan was asked for when this many passes had completed: the "scanning…"
    /// notice stays until a later pass completes.
    pub rescan_after: Option<u64>,
    pub level: Level,
    /// Indices into the snapshot's streams: filtered and sorted.
    pub stream_rows: Vec<usize>,
    /// Indices into the selected stream's groups, sorted.
    pub group_rows: Vec<usize>,
    /// Indices into the selected group's consumers, sorted.
    pub consumer_rows: Vec<usize>,
    pub streams_sel: Selection,
    pub groups_sel: Selection,
    pub consumers_sel: Selection,
    pub sort: SortColumn,
    pub descending: bool,
    pub consumer_sort: SortColumn,
    pub consumer_descending: bool,
    filter: Option<Filter>,
    /// The entries browser, when open (over whichever table it was opened from).
    pub entries: Option<EntriesBrowser>,
    /// A group action's prompt or confirmation.
    pub modal: Option<StreamsModal>,
    rebuild_now: bool,
}

impl Default for StreamsPane {
    fn default() -> Self {
        StreamsPane {
            poll: StreamsState::default(),
            rescan_after: None,
            level: Level::Streams,
            stream_rows: Vec::new(),
            group_rows: Vec::new(),
            consumer_rows: Vec::new(),
            streams_sel: Selection::default(),
            groups_sel: Selection::default(),
            consumers_sel: Selection::default(),
            sort: SortColumn::Lag,
            descending: true,
            consumer_sort: SortColumn::Pending,
            consumer_descending: true,
            filter: None,
            entries: None,
            modal: None,
            rebuild_now: true,
        }
    }
}

impl StreamsPane {
    pub fn snapshot(&self) -> Option<&StreamsSnapshot> {
        self.poll.last_ok.as_deref()
    }

    /// Take the poller's latest state; an older one (a reordered send) is ignored.
    pub fn on_poll(&mut self, poll: StreamsState) {
        if poll.generation < self.poll.generation {
            return;
        }
        self.poll = poll;
        self.rebuild_now = true;
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild_now = true;
    }

    /// Next column of the shown table's cycle (in its natural direction), or the same
    /// column reversed.
    pub fn cycle_sort(&mut self, reverse: bool) {
        let (sort, descending, cycle) = if self.level == Level::Consumers {
            (
                &mut self.consumer_sort,
                &mut self.consumer_descending,
                &SortColumn::CONSUMERS[..],
            )
        } else {
            (
                &mut self.sort,
                &mut self.descending,
                &SortColumn::TABLES[..],
            )
        };
        if reverse {
            *descending = !*descending;
        } else {
            *sort = sort.next_in(cycle);
            *descending = sort.descending_by_default();
        }
        self.rebuild_now = true;
    }

    pub fn mark_stale(&mut self) {
        self.rebuild_now = true;
    }

    /// The stream the groups view is about (or the streams table's selection).
    pub fn selected_stream(&self) -> Option<&StreamInfo> {
        let key = self.streams_sel.name.as_deref()?;
        find_stream(self.snapshot()?, key)
    }

    pub fn selected_group(&self) -> Option<(&StreamInfo, &GroupInfo)> {
        let stream = self.selected_stream()?;
        let name = self.groups_sel.name.as_deref()?;
        Some((stream, stream.group(name)?))
    }

    pub fn selected_consumer(&self) -> Option<&ConsumerInfo> {
        let (_, group) = self.selected_group()?;
        let name = self.consumers_sel.name.as_deref()?;
        group.consumer_list.iter().find(|c| c.name.as_ref() == name)
    }

    pub fn focus(&self) -> StreamsFocus {
        match &self.modal {
            Some(StreamsModal::Prompt { .. }) => return StreamsFocus::Prompt,
            Some(StreamsModal::Confirm { .. }) => return StreamsFocus::Confirm,
            None => {}
        }
        match &self.entries {
            Some(b) if b.jump.is_some() => StreamsFocus::Jump,
            Some(b) if b.expanded => StreamsFocus::Entry,
            Some(_) => StreamsFocus::Entries,
            None => match self.level {
                Level::Streams => StreamsFocus::Streams,
                Level::Groups => StreamsFocus::Groups,
                Level::Consumers => StreamsFocus::Consumers,
            },
        }
    }

    /// Rebuild the tables if something asked for it. Cheap to call after every event.
    pub fn refresh(&mut self, page: usize) {
        if self.rebuild_now {
            self.rebuild(page);
        }
    }

    fn rebuild(&mut self, page: usize) {
        self.rebuild_now = false;
        let Some(snapshot) = self.poll.last_ok.clone() else {
            self.stream_rows.clear();
            self.group_rows.clear();
            self.consumer_rows.clear();
            return;
        };
        let streams = &snapshot.streams;
        let mut rows: Vec<usize> = (0..streams.len())
            .filter(|&i| stream_matches(self.filter.as_ref(), &streams[i]))
            .collect();
        sort_streams(streams, &mut rows, self.sort, self.descending);
        self.stream_rows = rows;
        // In the groups and consumers views the stream is fixed: a filter typed before
        // drilling in must not swap it for another stream.
        if self.level == Level::Streams || self.streams_sel.name.is_none() {
            let names = self.stream_rows.iter().map(|&i| streams[i].key.as_ref());
            self.streams_sel.resolve(names, page);
        }
        self.group_rows.clear();
        self.consumer_rows.clear();
        let Some(stream) = self
            .streams_sel
            .name
            .as_deref()
            .and_then(|key| find_stream(&snapshot, key))
        else {
            return;
        };
        let mut groups: Vec<usize> = (0..stream.groups.len()).collect();
        sort_groups(&stream.groups, &mut groups, self.sort, self.descending);
        let names = groups.iter().map(|&i| stream.groups[i].name.as_ref());
        self.groups_sel.resolve(names, page);
        self.group_rows = groups;
        let Some(group) = self
            .groups_sel
            .name
            .as_deref()
            .and_then(|name| stream.group(name))
        else {
            return;
        };
        let mut consumers: Vec<usize> = (0..group.consumer_list.len()).collect();
        sort_consumers(
            &group.consumer_list,
            &mut consumers,
            self.consumer_sort,
            self.consumer_descending,
        );
        let names = consumers
            .iter()
            .map(|&i| group.consumer_list[i].name.as_ref());
        self.consumers_sel.resolve(names, page);
        self.consumer_rows = consumers;
    }

    /// Move the shown table's cursor; the name follows the row.
    pub fn move_by(&mut self, delta: isize, page: usize) {
        let Some(snapshot) = self.poll.last_ok.clone() else {
            return;
        };
        match self.level {
            Level::Streams => {
                self.streams_sel.step(delta, self.stream_rows.len(), page);
                self.streams_sel.name = self
                    .stream_rows
                    .get(self.streams_sel.index)
                    .and_then(|&i| snapshot.streams.get(i))
                    .map(|s| s.key.clone());
                // The groups of another stream: start at its first group.
                self.groups_sel.reset();
                self.consumers_sel.reset();
            }
            Level::Groups => {
                let Some(stream) = self.selected_stream() else {
                    return;
                };
                let len = self.group_rows.len();
                let name = |index: usize| {
                    self.group_rows
                        .get(index)
                        .and_then(|&i| stream.groups.get(i))
                        .map(|g| g.name.clone())
                };
                let mut sel = self.groups_sel.clone();
                sel.step(delta, len, page);
                sel.name = name(sel.index);
                self.groups_sel = sel;
                self.consumers_sel.reset();
            }
            Level::Consumers => {
                let Some((_, group)) = self.selected_group() else {
                    return;
                };
                let mut sel = self.consumers_sel.clone();
                sel.step(delta, self.consumer_rows.len(), page);
                sel.name = self
                    .consumer_rows
                    .get(sel.index)
                    .and_then(|&i| group.consumer_list.get(i))
                    .map(|c| c.name.clone());
                self.consumers_sel = sel;
            }
        }
        self.rebuild_now = true;
    }

    /// Into the selected stream's groups, or the selected group's consumers. False when
    /// there is nothing to open.
    pub fn drill_in(&mut self) -> bool {
        let next = match self.level {
            Level::Streams if self.selected_stream().is_some() => Level::Groups,
            Level::Groups if self.selected_group().is_some() => Level::Consumers,
            _ => return false,
        };
        self.level = next;
        self.rebuild_now = true;
        true
    }

    /// Back up one level; false at the top.
    pub fn drill_out(&mut self) -> bool {
        self.level = match self.level {
            Level::Streams => return false,
            Level::Groups => Level::Streams,
            Level::Consumers => Level::Groups,
        };
        self.rebuild_now = true;
        true
    }

    /// Open the entries browser on `key`; returns the first page's request.
    pub fn open_entries(&mut self, key: Bytes) -> (u64, EntriesRequest) {
        let mut browser = EntriesBrowser::new(key);
        let request = browser.request(EntriesRequest::Newest);
        self.entries = Some(browser);
        request
    }

    /// An entries page arrived; false when it answers a request no longer wanted.
    pub fn on_entries(
        &mut self,
        generation: u64,
        request: EntriesRequest,
        result: Result<Vec<StreamEntry>, String>,
    ) -> Option<Result<(), String>> {
        let browser = self.entries.as_mut()?;
        browser.apply(generation, request, result)
    }
}

/// The snapshot's streams are sorted by key: binary search, with a scan as a fallback
/// in case an engine change ever breaks that order.
pub fn find_stream<'a>(snapshot: &'a StreamsSnapshot, key: &[u8]) -> Option<&'a StreamInfo> {
    match snapshot
        .streams
        .binary_search_by(|s| s.key.as_ref().cmp(key))
    {
        Ok(i) => snapshot.streams.get(i),
        Err(_) => snapshot.stream(key),
    }
}

/// The filter narrows the streams table by key; a stream also matches when one of its
/// groups does, so `/billing` finds the streams the billing group reads.
fn stream_matches(filter: Option<&Filter>, stream: &StreamInfo) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    filter.matches(&stream.key, b"") || stream.groups.iter().any(|g| filter.matches(&g.name, b""))
}

/// The server's clock now, estimated from the snapshot's server time plus the time since
/// it was taken: ages stay right between polls and ignore a skewed local clock.
pub fn server_now_ms(snapshot: &StreamsSnapshot, now: DateTime<Utc>) -> i64 {
    snapshot
        .server_time_ms
        .saturating_add((now - snapshot.taken_at).num_milliseconds().max(0))
}

/// What the Streams pane asks app.rs to do.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamsEffect {
    /// Poll now instead of at the next tick.
    PollNow,
    /// Start a fresh discovery pass (new streams show up without waiting), and poll.
    Rediscover,
    /// Read a page of entries; answered by [`StreamsEvent::Entries`].
    Entries {
        generation: u64,
        key: Bytes,
        request: EntriesRequest,
    },
    /// Change a group (audited); answered by [`StreamsEvent::Done`].
    Act(GroupAction),
    /// Follow (true) or stop following (false) a stream's new entries in the feed.
    Follow { key: Bytes, on: bool },
}

/// What app.rs sends back.
#[derive(Debug)]
pub enum StreamsEvent {
    /// The streams poller's latest state.
    Poll(StreamsState),
    Entries {
        key: Bytes,
        generation: u64,
        request: EntriesRequest,
        result: Result<Vec<StreamEntry>, String>,
    },
    /// A group action finished: its summary, or why it failed.
    Done {
        action: &'static str,
        result: Result<String, String>,
    },
}

impl StreamsPane {
    /// The table views' geometry inside `body`.
    pub fn layout(&self, body: Rect) -> PaneLayout {
        let error = if self.poll.last_error.is_some() {
            ERROR_ROWS
        } else {
            0
        };
        let (top, bottom) = match self.level {
            Level::Streams => (1 + error + u16::from(self.has_notice()), 0),
            Level::Groups => {
                let groups_error = self
                    .selected_stream()
                    .is_some_and(|s| s.groups_error.is_some());
                (
                    STREAM_FACT_ROWS + error + u16::from(groups_error),
                    GROUP_DETAIL_ROWS,
                )
            }
            Level::Consumers => {
                let consumers_error = self
                    .selected_group()
                    .is_some_and(|(_, g)| g.consumers_error.is_some());
                (1 + error + u16::from(consumers_error), CONSUMER_NOTE_ROWS)
            }
        };
        split(body, top, bottom)
    }

    /// A line about discovery or unreadable keys is shown above the streams table: while
    /// the first pass runs (the list is still growing), when a cap was hit, or when keys
    /// could not be read.
    pub fn has_notice(&self) -> bool {
        let scan = &self.poll.scan;
        let troubles = self
            .snapshot()
            .is_some_and(|s| !s.problems.is_empty() || !s.warnings.is_empty());
        !scan.complete || scan.note.is_some() || troubles
    }
}

/// `top` rows, then the table, then `bottom` rows; the table keeps at least its titles
/// and one row when the body is that tall.
fn split(body: Rect, top: u16, bottom: u16) -> PaneLayout {
    let top = top.min(body.height.saturating_sub(2));
    let bottom = bottom.min(body.height.saturating_sub(top + 2));
    let table_height = body.height.saturating_sub(top + bottom);
    PaneLayout {
        top: Rect::new(body.x, body.y, body.width, top),
        table: Rect::new(body.x, body.y + top, body.width, table_height),
        bottom: Rect::new(body.x, body.y + top + table_height, body.width, bottom),
    }
}
