//! Keys of the Problems list: move, filter, jump to the evidence, and the fix with its
//! confirmation (acting on the previewed ids only, through the Pending pane's action
//! effects, so the action layer's read-only guard and audit line apply).

use bytes::Bytes;
use crossterm::event::KeyEvent;

use super::{dlq_for, Fix, FixDialog, Problem};
use crate::keymap::{Command, Scope};
use crate::redis::doctor::{Finding, Kind};
use crate::redis::pending::StreamId;
use crate::state::keys::movement;
use crate::state::pending::{PendingAction, PendingEffect, PendingTarget};
use crate::state::streams::{Level, Selection};
use crate::state::{AppState, Effect, Tab};
use crate::text::duration_ms;
use crate::text::escape::escape_line;

/// Rows above the list: the title line and the column names.
pub const TOP_ROWS: u16 = 2;
/// Rows under the list for the selected finding's evidence and fix.
pub const DETAIL_ROWS: u16 = 4;

impl AppState {
    /// `!`: open or close the list.
    pub(in crate::state) fn toggle_problems(&mut self) {
        self.problems.open = !self.problems.open;
        self.problems.dialog = None;
        if self.problems.open {
            self.overlay = None;
        }
    }

    /// Finding rows the list has on screen.
    pub fn problems_page(&self) -> usize {
        let body = self.areas().body.height;
        usize::from(body.saturating_sub(TOP_ROWS + DETAIL_ROWS)).max(1)
    }

    /// A click on a finding row selects it.
    pub(in crate::state) fn problems_click(&mut self, row: u16) {
        let top = self.areas().body.y + TOP_ROWS;
        let page = self.problems_page();
        let Some(at) = row.checked_sub(top).map(usize::from) else {
            return;
        };
        let view = &self.problems;
        let offset = crate::state::streams::visible_offset(view.offset, view.selected, page);
        let target = offset + at;
        if at < page && target < view.rows.len() {
            let delta = target as isize - view.selected as isize;
            self.problems.move_by(delta, page);
        }
    }

    pub(in crate::state) fn problems_key(
        &mut self,
        key: &KeyEvent,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if self.problems.dialog.is_some() {
            self.problems_dialog_key(key, effects);
            return true;
        }
        let page = self.problems_page();
        match self.keymap.lookup(Scope::Problems, key) {
            Some(Command::ProblemsList) => self.toggle_problems(),
            Some(Command::ShowEvidence) => self.show_evidence(),
            Some(Command::Fix) => self.fix_selected(),
            Some(Command::Filter) => {
                let source = self.problems.filter().map(|f| f.source().to_string());
                self.open_filter(source);
            }
            _ => match movement(self.keymap.lookup(Scope::Navigation, key), page) {
                Some(step) => self.problems.move_by(step.delta(), page),
                None => return false,
            },
        }
        true
    }

    fn problems_dialog_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) {
        let confirm = self.keymap.lookup(Scope::Dialog, key) == Some(Command::Confirm);
        let cancel = matches!(
            self.keymap.lookup(Scope::Dialog, key),
            Some(Command::Cancel)
        ) || matches!(self.keymap.lookup(Scope::Input, key), Some(Command::Cancel));
        if cancel {
            self.problems.dialog = None;
            return;
        }
        if !confirm {
            return;
        }
        let Some(dialog) = self.problems.dialog.take() else {
            return;
        };
        if let Some((target, action)) = dialog.send {
            self.info(format!("{}: sending…", action.name()));
            effects.push(Effect::Pending(PendingEffect::Act { target, action }));
        }
    }

    /// Enter: the finding's group, consumer or entry, selected in its pane.
    fn show_evidence(&mut self) {
        let Some(problem) = self.problems.selected_problem().cloned() else {
            return;
        };
        let f = problem.finding;
        self.problems.open = false;
        match (&f.group, f.ids.first()) {
            (Some(group), Some(&first)) => {
                self.set_pending_target(f.stream.clone(), group.clone());
                if f.kind == Kind::Zombie && self.pending.consumer != f.consumer {
                    // The zombie's own entries, not the group's.
                    self.pending.consumer = f.consumer.clone();
                    self.pending.first_page();
                }
                self.pending.selected = Some(first);
                self.pending.open_entry = None;
                self.tab = Tab::Pending;
            }
            _ => self.show_in_streams(&f),
        }
    }

    fn show_in_streams(&mut self, f: &Finding) {
        let named = |name: &Option<Bytes>| Selection {
            name: name.clone(),
            ..Selection::default()
        };
        let pane = &mut self.streams;
        pane.entries = None;
        pane.modal = None;
        pane.streams_sel = named(&Some(f.stream.clone()));
        pane.groups_sel = named(&f.group);
        pane.consumers_sel = named(&f.consumer);
        pane.level = match (&f.group, &f.consumer) {
            (Some(_), Some(_)) => Level::Consumers,
            (Some(_), None) => Level::Groups,
            _ => Level::Streams,
        };
        if pane.level == Level::Streams && pane.filter().is_some() {
            // The filter could hide the stream the finding is about.
            pane.set_filter(None);
        }
        pane.mark_stale();
        self.tab = Tab::Streams;
    }

    /// The fix key: a confirmation naming exactly what will be sent, or the advice when
    /// no automatic fix is safe. Refused (and audited) in read-only mode.
    fn fix_selected(&mut self) {
        let Some(problem) = self.problems.selected_problem().cloned() else {
            return;
        };
        let f = &problem.finding;
        let (Some(fix), Some(group)) = (&problem.fix, &f.group) else {
            self.problems.dialog = Some(advice(&problem));
            return;
        };
        if self.config.read_only.is_on() {
            let action = fix_action_name(fix);
            self.refuse_read_only(action, Some(f.stream.clone()), Some(group.clone()));
            return;
        }
        let target = PendingTarget {
            stream: f.stream.clone(),
            group: group.clone(),
        };
        let dialog = fix_dialog(f, fix, target, self.config.cluster);
        self.problems.dialog = Some(dialog);
    }
}

fn fix_action_name(fix: &Fix) -> &'static str {
    match fix {
        Fix::DeadLetter { .. } => "dead-letter",
        Fix::Ack { .. } => "ack",
        Fix::Claim { .. } => "claim",
    }
}

/// The ids as sent, space-separated.
fn id_words(ids: &[StreamId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fix_dialog(f: &Finding, fix: &Fix, target: PendingTarget, cluster: bool) -> FixDialog {
    let stream = escape_line(&target.stream).into_owned();
    let group = escape_line(&target.group).into_owned();
    let (title, lines, action) = match fix {
        Fix::DeadLetter { ids } => {
            let dlq = dlq_for(&target.stream, cluster);
            let lines = vec![
                format!(
                    "Dead-letter {} poison entries of stream {stream}, group {group}:",
                    ids.len()
                ),
                format!(
                    "one EVAL script: XADD {} * <fields> dlq_original_id … for each, then \
                     XACK {stream} {group} <ids> (all or nothing)",
                    escape_line(&dlq)
                ),
                format!("ids: {}", id_words(ids)),
            ];
            let action = PendingAction::DeadLetter {
                dlq,
                ids: ids.clone(),
            };
            ("fix: dead-letter", lines, action)
        }
        Fix::Ack { ids } => {
            let lines = vec![
                format!(
                    "Ack {} dangling pending ids of group {group} (their entries are gone):",
                    ids.len()
                ),
                format!("XACK {stream} {group} {}", id_words(ids)),
            ];
            (
                "fix: ack dangling ids",
                lines,
                PendingAction::Ack { ids: ids.clone() },
            )
        }
        Fix::Claim {
            to,
            min_idle_ms,
            ids,
        } => {
            let zombie = f
                .consumer
                .as_deref()
                .map_or_else(String::new, |c| escape_line(c).into_owned());
            let to_name = escape_line(to).into_owned();
            let lines = vec![
                format!(
                    "Claim {} entries of zombie consumer {zombie} for live consumer {to_name}, \
                     only those idle at least {} (an entry a live worker took back stays):",
                    ids.len(),
                    duration_ms(*min_idle_ms)
                ),
                format!(
                    "XCLAIM {stream} {group} {to_name} {min_idle_ms} {}",
                    id_words(ids)
                ),
                format!("Once {zombie} holds nothing, delete it: Streams pane, its consumer row."),
            ];
            let action = PendingAction::Claim {
                consumer: to.clone(),
                min_idle_ms: *min_idle_ms,
                ids: ids.clone(),
            };
            ("fix: claim from a zombie", lines, action)
        }
    };
    FixDialog {
        title: title.into(),
        lines,
        send: Some((target, action)),
    }
}

/// No automatic fix: what was found and what to do.
fn advice(problem: &Problem) -> FixDialog {
    let f = &problem.finding;
    let why = match f.kind {
        Kind::Zombie => "no live consumer to hand its entries to, or none of them could be read",
        Kind::Poison | Kind::Dangling => "no ids were read",
        _ => "no safe automatic fix",
    };
    FixDialog {
        title: format!("{}: advice only ({why})", f.kind.as_str()),
        lines: vec![f.evidence.clone(), format!("What to do: {}", f.fix)],
        send: None,
    }
}
