//! The Problems list: the doctor's findings ([`crate::redis::doctor::findings`]) over the
//! Streams poller's latest snapshot, each with the fix redtail can apply itself (ids and
//! names as raw bytes, so the fix acts on exactly what was found) or only advice.
//!
//! The findings are computed off the event loop (app/problems.rs reads the bounded
//! pending details after each streams poll, then calls [`build`]) and arrive as
//! [`ProblemsUpdate`]s; this module only keeps them, filters, selects and builds the
//! confirmation. Selection is by finding identity (kind, stream, group, consumer), never
//! by row: the list is rebuilt on every poll.

pub mod keys;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::pending::{PendingAction, PendingTarget};
use crate::filter::Filter;
use crate::redis::actions::dlq_key_for;
use crate::redis::doctor::{
    findings, Context, DoctorConfig, Finding, Kind, PendingDetails, Severity, MAX_IDS_IN_FIX,
};
use crate::redis::pending::StreamId;
use crate::redis::streams::StreamsSnapshot;

/// A finding and, when redtail can repair it safely by itself, the repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub finding: Finding,
    pub fix: Option<Fix>,
}

/// A repair with raw names and the exact ids (at most [`MAX_IDS_IN_FIX`], the oldest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Poison entries: copy to the dead-letter stream, then XACK (one script).
    DeadLetter { ids: Vec<StreamId> },
    /// Pending ids whose entries no longer exist: XACK them.
    Ack { ids: Vec<StreamId> },
    /// A zombie's entries to a live consumer, only those idle at least `min_idle_ms`.
    Claim {
        to: Bytes,
        min_idle_ms: u64,
        ids: Vec<StreamId>,
    },
}

/// What the problems task sends after each streams poll.
#[derive(Debug, Clone, Default)]
pub struct ProblemsUpdate {
    /// The streams state's generation the findings were computed from.
    pub generation: u64,
    pub problems: Vec<Problem>,
    /// What could not be checked (a node, a denied XPENDING).
    pub notes: Vec<String>,
    pub taken_at: Option<DateTime<Utc>>,
}

/// Every finding in `snapshot` (the doctor's, in its order: most severe first, then
/// stream, group, kind) with its fix. Pure: app/problems.rs calls it off the loop.
pub fn build(
    snapshot: &StreamsSnapshot,
    details: &PendingDetails,
    config: &DoctorConfig,
    command: &str,
) -> Vec<Problem> {
    let cx = Context {
        config,
        details,
        command,
        single_poll: false,
    };
    findings(snapshot, &cx)
        .into_iter()
        .map(|finding| {
            let fix = fix_for(&finding, snapshot, details, config);
            Problem { finding, fix }
        })
        .collect()
}

fn fix_for(
    f: &Finding,
    snapshot: &StreamsSnapshot,
    details: &PendingDetails,
    config: &DoctorConfig,
) -> Option<Fix> {
    let ids: Vec<StreamId> = f.ids.iter().take(MAX_IDS_IN_FIX).copied().collect();
    if ids.is_empty() {
        return None;
    }
    match f.kind {
        Kind::Poison => Some(Fix::DeadLetter { ids }),
        Kind::Dangling => Some(Fix::Ack { ids }),
        Kind::Zombie => {
            let group_name = f.group.as_ref()?;
            let zombie = f.consumer.as_ref()?;
            let group = snapshot.stream(&f.stream)?.group(group_name)?;
            // The doctor's choice: the most recently active consumer under the threshold.
            let live = group
                .consumer_list
                .iter()
                .filter(|c| c.activity_age_ms() < config.zombie_after_ms && c.name != *zombie)
                .min_by_key(|c| c.activity_age_ms())?;
            let rows = match details.get(&(f.stream.clone(), group_name.clone())) {
                Some(Ok(pending)) => &pending.rows,
                _ => return None,
            };
            // The guard: every listed entry qualifies now (idle only grows), and one a
            // live worker takes back meanwhile is left with it.
            let min_idle_ms = rows
                .iter()
                .filter(|r| ids.binary_search(&r.id).is_ok())
                .map(|r| r.idle_ms)
                .min()?;
            Some(Fix::Claim {
                to: live.name.clone(),
                min_idle_ms,
                ids,
            })
        }
        _ => None,
    }
}

/// Which finding a selection follows across polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemKey {
    pub kind: Kind,
    pub stream: Bytes,
    pub group: Option<Bytes>,
    pub consumer: Option<Bytes>,
}

impl ProblemKey {
    fn of(f: &Finding) -> ProblemKey {
        ProblemKey {
            kind: f.kind,
            stream: f.stream.clone(),
            group: f.group.clone(),
            consumer: f.consumer.clone(),
        }
    }
}

/// The fix dialog: what will be sent, line by line, and the action `y` sends (none when
/// the finding has advice only).
#[derive(Debug, Clone, PartialEq)]
pub struct FixDialog {
    pub title: String,
    pub lines: Vec<String>,
    pub send: Option<(PendingTarget, PendingAction)>,
}

#[derive(Debug, Default)]
pub struct ProblemsView {
    /// The list is on screen (over the pane of the current tab).
    pub open: bool,
    /// A findings update has arrived.
    pub received: bool,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    pub generation: u64,
    pub taken_at: Option<DateTime<Utc>>,
    /// Indices into `problems`: filtered, in the doctor's order.
    pub rows: Vec<usize>,
    /// Index into `rows`.
    pub selected: usize,
    selected_key: Option<ProblemKey>,
    /// First row on screen.
    pub offset: usize,
    filter: Option<Filter>,
    pub dialog: Option<FixDialog>,
}

impl ProblemsView {
    /// Take an update; an older one (a reordered send) is ignored.
    pub fn on_update(&mut self, update: ProblemsUpdate) {
        if self.received && update.generation < self.generation {
            return;
        }
        self.received = true;
        self.generation = update.generation;
        self.problems = update.problems;
        self.notes = update.notes;
        self.taken_at = update.taken_at;
        self.rebuild();
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild();
    }

    /// Findings that are problems (warning or critical); info findings are listed but
    /// not counted.
    pub fn count(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.finding.severity.is_problem())
            .count()
    }

    /// The most severe problem's severity, for the header's colour.
    pub fn worst(&self) -> Option<Severity> {
        self.problems
            .iter()
            .map(|p| p.finding.severity)
            .filter(|s| s.is_problem())
            .min()
    }

    pub fn selected_problem(&self) -> Option<&Problem> {
        self.rows
            .get(self.selected)
            .and_then(|&i| self.problems.get(i))
    }

    fn rebuild(&mut self) {
        let filter = self.filter.as_ref();
        self.rows = (0..self.problems.len())
            .filter(|&i| filter.is_none_or(|f| matches(f, &self.problems[i].finding)))
            .collect();
        let found = self.selected_key.as_ref().and_then(|key| {
            self.rows
                .iter()
                .position(|&i| ProblemKey::of(&self.problems[i].finding) == *key)
        });
        self.selected = found.unwrap_or(self.selected.min(self.rows.len().saturating_sub(1)));
        self.remember_selection();
    }

    fn remember_selection(&mut self) {
        self.selected_key = self.selected_problem().map(|p| ProblemKey::of(&p.finding));
    }

    /// Move the selection and keep it on a page of `page` rows.
    pub fn move_by(&mut self, delta: isize, page: usize) {
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.offset = super::streams::visible_offset(self.offset, self.selected, page);
        self.remember_selection();
    }
}

/// The filter sees a finding as a message: the stream is the channel, and kind,
/// severity, group, consumer and evidence are the payload, so `/poison`,
/// `ch:orders*` or `/billing` all narrow the list.
fn matches(filter: &Filter, f: &Finding) -> bool {
    let mut text = format!("{} {} ", f.kind.as_str(), f.severity.as_str()).into_bytes();
    for name in [&f.group, &f.consumer].into_iter().flatten() {
        text.extend_from_slice(name);
        text.push(b' ');
    }
    text.extend_from_slice(f.evidence.as_bytes());
    filter.matches(&f.stream, &text)
}

/// The dead-letter stream a poison fix writes to (the Pending pane's default).
pub fn dlq_for(stream: &[u8], cluster: bool) -> Bytes {
    Bytes::from(dlq_key_for(stream, cluster))
}
