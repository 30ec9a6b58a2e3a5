//! The Channels pane: the server's channels (from the poller) merged with the channels
//! redtail receives messages on, sorted and filtered; and the subscriber-clients view.
//!
//! The merged, sorted row list is rebuilt only when something changed (a poll, the sort,
//! the filter) or on the tick while the pane is shown, never per frame or per message:
//! a flood of deliveries only marks it stale, and a frame draws just the visible rows.

pub mod activity;
mod keys;
mod names;

use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::filter::Filter;
use crate::redis::clients::PubSubClient;
use crate::redis::poller::{ChannelKind, PollState};
use activity::ActivityTracker;
pub use names::{pattern_covers, pattern_for, short_name};

/// Rows of the pane above the table when the last poll succeeded (figures line) and
/// the column titles.
const TITLE_ROWS: u16 = 2;
/// Extra rows the last poll error may wrap onto.
pub const ERROR_ROWS: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Name,
    Kind,
    Subscribers,
    Seen,
    Rate,
    LastMessage,
}

impl SortColumn {
    pub const ALL: [SortColumn; 6] = [
        SortColumn::Name,
        SortColumn::Kind,
        SortColumn::Subscribers,
        SortColumn::Seen,
        SortColumn::Rate,
        SortColumn::LastMessage,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Kind => "kind",
            SortColumn::Subscribers => "subscribers",
            SortColumn::Seen => "seen",
            SortColumn::Rate => "msg/s",
            SortColumn::LastMessage => "last message",
        }
    }

    fn next(self) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|&c| c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }

    /// Figures sort biggest / newest first, text A→Z: what you usually want first.
    fn descending_by_default(self) -> bool {
        !matches!(self, SortColumn::Name | SortColumn::Kind)
    }
}

/// One channel in the table. Figures are taken at rebuild time so the order and the
/// numbers shown agree; the sparkline reads the live ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub kind: ChannelKind,
    pub name: Bytes,
    /// None: the server lists no exact subscriber (redtail gets it through a pattern),
    /// or there is no poll result.
    pub subscribers: Option<i64>,
    pub seen: u64,
    /// Messages redtail received in the last minute.
    pub last_minute: u64,
    /// The time `last_minute` covers, ms: a minute, or less for a channel tracked for
    /// less (see `ChannelActivity::observed_ms`).
    pub observed_ms: u64,
    pub last_at: Option<DateTime<Utc>>,
    /// Index into the poll's `channels` (and, in a cluster, `channel_nodes`).
    pub listed_at: Option<usize>,
}

impl ChannelRow {
    /// Messages per second over the time observed in the last minute.
    pub fn rate(&self) -> f64 {
        if self.observed_ms == 0 {
            return 0.0;
        }
        self.last_minute as f64 * 1000.0 / self.observed_ms as f64
    }
}

#[derive(Clone)]
pub struct ChannelsState {
    pub activity: ActivityTracker,
    /// The latest poller state.
    pub poll: PollState,
    /// Filtered and sorted.
    pub rows: Vec<ChannelRow>,
    /// Rows before filtering.
    pub total: usize,
    /// Rows (before filtering) the server lists no exact subscriber for.
    pub pattern_only: usize,
    pub sort: SortColumn,
    pub descending: bool,
    filter: Option<Filter>,
    pub selected: usize,
    /// First row on screen.
    pub offset: usize,
    pub show_clients: bool,
    /// The nodes view (cluster topology with per-node figures) instead of the table.
    pub show_nodes: bool,
    pub clients_selected: usize,
    pub clients_offset: usize,
    /// What the poller was last told about CLIENT LIST.
    pub(super) clients_polling: bool,
    /// Rebuild before the next frame (poll, sort or filter changed).
    rebuild_now: bool,
    /// Messages arrived since the last rebuild; the tick rebuilds.
    activity_changed: bool,
    /// Unix second of the last rebuild: rates move with time even without messages.
    built_second: i64,
}

/// A summary: the full table and activity map would flood any log of `AppState`.
impl std::fmt::Debug for ChannelsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelsState")
            .field("tracked", &self.activity.len())
            .field("rows", &self.rows.len())
            .field("total", &self.total)
            .field("sort", &self.sort)
            .field("descending", &self.descending)
            .field("selected", &self.selected)
            .field("show_clients", &self.show_clients)
            .field("show_nodes", &self.show_nodes)
            .field("poll_generation", &self.poll.generation)
            .finish()
    }
}

impl Default for ChannelsState {
    fn default() -> Self {
        ChannelsState {
            activity: ActivityTracker::default(),
            poll: PollState::default(),
            rows: Vec::new(),
            total: 0,
            pattern_only: 0,
            sort: SortColumn::Subscribers,
            descending: true,
            filter: None,
            selected: 0,
            offset: 0,
            show_clients: false,
            show_nodes: false,
            clients_selected: 0,
            clients_offset: 0,
            clients_polling: false,
            rebuild_now: true,
            activity_changed: false,
            built_second: i64::MIN,
        }
    }
}

impl ChannelsState {
    pub fn record(&mut self, kind: ChannelKind, name: &[u8], at: DateTime<Utc>) {
        self.activity.record(kind, name, at);
        self.activity_changed = true;
    }

    pub fn on_poll(&mut self, poll: PollState) {
        // A late answer must never replace a newer one.
        if poll.generation < self.poll.generation {
            return;
        }
        self.poll = poll;
        // CLIENT LIST order is the server's hash order: by id, rows stay put between polls.
        if let Some(Ok(clients)) = &mut self.poll.clients {
            clients.sort_unstable_by_key(|c| c.id);
        }
        self.rebuild_now = true;
    }

    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        if self.activity_changed || now.timestamp() != self.built_second {
            self.rebuild_now = true;
        }
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild_now = true;
    }

    /// Next column (in its natural direction), or the same column reversed.
    pub fn cycle_sort(&mut self, reverse: bool) {
        if reverse {
            self.descending = !self.descending;
        } else {
            self.sort = self.sort.next();
            self.descending = self.sort.descending_by_default();
        }
        self.rebuild_now = true;
    }

    pub fn selected_row(&self) -> Option<&ChannelRow> {
        self.rows.get(self.selected)
    }

    pub fn clients(&self) -> Option<&Result<Vec<PubSubClient>, String>> {
        self.poll.clients.as_ref()
    }

    /// Rows above the table: the figures line, the column titles, and room for the
    /// poll error when there is one. State and render both use it for page sizes.
    pub fn title_rows(&self) -> u16 {
        TITLE_ROWS
            + if self.poll.last_error.is_some() {
                ERROR_ROWS
            } else {
                0
            }
    }

    /// Rebuild if something asked for it. Cheap to call after every event.
    pub fn refresh(&mut self, now: DateTime<Utc>, page: usize) {
        if self.rebuild_now {
            self.rebuild(now);
            self.keep_visible(page);
        }
    }

    fn rebuild(&mut self, now: DateTime<Utc>) {
        self.rebuild_now = false;
        self.activity_changed = false;
        self.built_second = now.timestamp();
        let keep = self.selected_row().map(|r| (r.kind, r.name.clone()));
        let mut rows = merge_rows(&self.poll, &self.activity, now);
        self.total = rows.len();
        self.pattern_only = rows.iter().filter(|r| r.subscribers.is_none()).count();
        if let Some(f) = &self.filter {
            // Channels have no payload: name terms and `ch:` globs are what match.
            rows.retain(|r| f.matches(&r.name, b""));
        }
        sort_rows(&mut rows, self.sort, self.descending);
        self.rows = rows;
        if let Some((kind, name)) = keep {
            if let Some(i) = self
                .rows
                .iter()
                .position(|r| r.kind == kind && r.name == name)
            {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    pub fn move_by(&mut self, delta: isize, page: usize) {
        if self.show_clients {
            let len = match self.clients() {
                Some(Ok(list)) => list.len(),
                _ => 0,
            };
            self.clients_selected = step(self.clients_selected, delta, len);
            self.clients_offset = visible_offset(self.clients_offset, self.clients_selected, page);
        } else {
            self.selected = step(self.selected, delta, self.rows.len());
            self.keep_visible(page);
        }
    }

    fn keep_visible(&mut self, page: usize) {
        self.offset = visible_offset(self.offset, self.selected, page);
    }
}

fn step(at: usize, delta: isize, len: usize) -> usize {
    at.saturating_add_signed(delta).min(len.saturating_sub(1))
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

/// The union of the server's channels and the ones redtail has seen messages on.
pub fn merge_rows(
    poll: &PollState,
    activity: &ActivityTracker,
    now: DateTime<Utc>,
) -> Vec<ChannelRow> {
    let listed = poll.last_ok.as_deref().map_or(&[][..], |s| &s.channels[..]);
    let mut rows = Vec::with_capacity(listed.len() + activity.len());
    let mut on_server: HashSet<(ChannelKind, &[u8])> = HashSet::with_capacity(listed.len());
    for (i, c) in listed.iter().enumerate() {
        on_server.insert((c.kind, &c.name[..]));
        let seen = activity.get(c.kind, &c.name);
        rows.push(ChannelRow {
            kind: c.kind,
            name: c.name.clone(),
            subscribers: Some(c.subscribers),
            seen: seen.map_or(0, |a| a.seen),
            last_minute: seen.map_or(0, |a| a.last_minute(now)),
            observed_ms: seen.map_or(0, |a| a.observed_ms(now)),
            last_at: seen.map(|a| a.last_at),
            listed_at: Some(i),
        });
    }
    for (kind, name, a) in activity.iter() {
        if on_server.contains(&(kind, &name[..])) {
            continue;
        }
        rows.push(ChannelRow {
            kind,
            name: name.clone(),
            subscribers: None,
            seen: a.seen,
            last_minute: a.last_minute(now),
            observed_ms: a.observed_ms(now),
            last_at: Some(a.last_at),
            listed_at: None,
        });
    }
    rows
}

/// Sort by one column; ties by name then kind, so the order is total and stable
/// between rebuilds (the activity map iterates in no particular order).
pub fn sort_rows(rows: &mut [ChannelRow], column: SortColumn, descending: bool) {
    let primary = |a: &ChannelRow, b: &ChannelRow| -> Ordering {
        match column {
            SortColumn::Name => a.name.cmp(&b.name),
            SortColumn::Kind => a.kind.cmp(&b.kind),
            // "—" (no exact subscriber) below 0.
            SortColumn::Subscribers => a
                .subscribers
                .unwrap_or(-1)
                .cmp(&b.subscribers.unwrap_or(-1)),
            SortColumn::Seen => a.seen.cmp(&b.seen),
            SortColumn::Rate => a.rate().total_cmp(&b.rate()),
            SortColumn::LastMessage => a.last_at.cmp(&b.last_at),
        }
    };
    rows.sort_unstable_by(|a, b| {
        let order = primary(a, b);
        let order = if descending { order.reverse() } else { order };
        order
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.kind.cmp(&b.kind))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::poller::{ChannelStat, PubSubSnapshot};
    use std::sync::Arc;
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn stat(kind: ChannelKind, name: &str, subscribers: i64) -> ChannelStat {
        ChannelStat {
            name: Bytes::from(name.to_string()),
            kind,
            subscribers,
        }
    }

    /// A first successful poll that found `channels` (shared with the keys tests).
    pub(super) fn poll(channels: Vec<ChannelStat>) -> PollState {
        let mut channels = channels;
        channels.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        PollState {
            generation: 1,
            last_ok: Some(Arc::new(PubSubSnapshot {
                channels,
                numpat: 1,
                shard_supported: true,
                taken_at: t(0),
                took: Duration::from_millis(1),
                commands_sent: 4,
                round_trips: 2,
                nodes: Default::default(),
                channel_nodes: Default::default(),
            })),
            ..PollState::default()
        }
    }

    fn names(rows: &[ChannelRow]) -> Vec<String> {
        rows.iter()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .collect()
    }

    #[test]
    fn merges_server_channels_with_pattern_only_ones() {
        let mut activity = ActivityTracker::default();
        activity.record(ChannelKind::Channel, b"orders", t(1));
        activity.record(ChannelKind::Channel, b"orders", t(2));
        activity.record(ChannelKind::Channel, b"via-pattern", t(3));
        activity.record(ChannelKind::Shard, b"orders", t(3));
        let p = poll(vec![
            stat(ChannelKind::Channel, "orders", 4),
            stat(ChannelKind::Channel, "quiet", 1),
        ]);
        let mut rows = merge_rows(&p, &activity, t(3));
        sort_rows(&mut rows, SortColumn::Name, false);
        let summary: Vec<(String, ChannelKind, Option<i64>, u64)> = rows
            .iter()
            .map(|r| {
                (
                    String::from_utf8_lossy(&r.name).into_owned(),
                    r.kind,
                    r.subscribers,
                    r.seen,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("orders".into(), ChannelKind::Channel, Some(4), 2),
                ("orders".into(), ChannelKind::Shard, None, 1),
                ("quiet".into(), ChannelKind::Channel, Some(1), 0),
                ("via-pattern".into(), ChannelKind::Channel, None, 1),
            ]
        );
        assert_eq!(rows[0].last_at, Some(t(2)));
        assert_eq!(rows[2].last_at, None);
        // No poll yet: only what redtail saw, with unknown subscriber counts.
        let rows = merge_rows(&PollState::default(), &activity, t(3));
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.subscribers.is_none()));
    }

    #[test]
    fn sort_orders() {
        let row =
            |name: &str, subs: Option<i64>, seen: u64, recent: u64, last: Option<i64>| ChannelRow {
                kind: ChannelKind::Channel,
                name: Bytes::from(name.to_string()),
                subscribers: subs,
                seen,
                last_minute: recent,
                observed_ms: 60_000,
                last_at: last.map(t),
                listed_at: None,
            };
        let mut rows = vec![
            row("b", Some(2), 10, 0, Some(5)),
            row("a", Some(2), 0, 0, None),
            row("c", None, 50, 30, Some(9)),
            row("d", Some(7), 5, 6, Some(1)),
        ];
        let mut by = |column, descending| {
            sort_rows(&mut rows, column, descending);
            names(&rows)
        };
        assert_eq!(by(SortColumn::Subscribers, true), ["d", "a", "b", "c"]);
        assert_eq!(by(SortColumn::Subscribers, false), ["c", "a", "b", "d"]);
        assert_eq!(by(SortColumn::Seen, true), ["c", "b", "d", "a"]);
        assert_eq!(by(SortColumn::Rate, true), ["c", "d", "a", "b"]);
        assert_eq!(by(SortColumn::LastMessage, true), ["c", "b", "d", "a"]);
        assert_eq!(by(SortColumn::Name, false), ["a", "b", "c", "d"]);
        assert_eq!(by(SortColumn::Name, true), ["d", "c", "b", "a"]);
    }

    #[test]
    fn sort_cycles_columns_in_their_natural_direction() {
        let mut s = ChannelsState::default();
        assert_eq!((s.sort, s.descending), (SortColumn::Subscribers, true));
        s.cycle_sort(false);
        assert_eq!((s.sort, s.descending), (SortColumn::Seen, true));
        s.cycle_sort(true);
        assert_eq!((s.sort, s.descending), (SortColumn::Seen, false));
        for _ in 0..3 {
            s.cycle_sort(false);
        }
        assert_eq!((s.sort, s.descending), (SortColumn::Name, false));
    }

    #[test]
    fn rebuild_keeps_the_selected_channel_and_filters_by_name() {
        let mut s = ChannelsState::default();
        s.on_poll(poll(vec![
            stat(ChannelKind::Channel, "a", 1),
            stat(ChannelKind::Channel, "b", 2),
            stat(ChannelKind::Channel, "c", 3),
        ]));
        s.refresh(t(0), 10);
        assert_eq!(names(&s.rows), ["c", "b", "a"]);
        s.move_by(2, 10);
        assert_eq!(s.selected_row().map(|r| r.name.clone()), Some("a".into()));
        s.cycle_sort(true);
        s.refresh(t(0), 10);
        assert_eq!(s.selected, 0, "a moved to the top and stays selected");
        s.set_filter(Filter::parse("ch:b*").ok());
        s.refresh(t(0), 10);
        assert_eq!((names(&s.rows), s.total), (vec!["b".to_string()], 3));
        // An older poll answer is ignored.
        let mut old = poll(vec![]);
        old.generation = 0;
        s.on_poll(old);
        assert_eq!(s.poll.generation, 1);
    }

    #[test]
    fn ten_thousand_channels_sort_quickly() {
        let mut activity = ActivityTracker::default();
        let stats: Vec<ChannelStat> = (0..10_000)
            .map(|i| stat(ChannelKind::Channel, &format!("svc:{i}:events"), i % 17))
            .collect();
        for i in 0..10_000 {
            activity.record(
                ChannelKind::Channel,
                format!("svc:{i}:events").as_bytes(),
                t(i % 50),
            );
        }
        let p = poll(stats);
        let started = std::time::Instant::now();
        let mut rows = merge_rows(&p, &activity, t(60));
        sort_rows(&mut rows, SortColumn::Rate, true);
        assert_eq!(rows.len(), 10_000);
        // Not a benchmark: a generous bound that only catches an accidental quadratic.
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn visible_offset_moves_as_little_as_possible() {
        assert_eq!(visible_offset(0, 5, 10), 0);
        assert_eq!(visible_offset(0, 12, 10), 3);
        assert_eq!(visible_offset(8, 2, 10), 2);
        assert_eq!(visible_offset(0, 0, 0), 0);
    }
}
