//! Building the Pending pane's confirmations: each names what will change and holds the
//! exact action (target and ids as shown) that `y` sends.

use bytes::Bytes;

use super::dialog::{entries, list_ids, ClaimPurpose, Confirm, PendingModal};
use super::{PendingAction, PendingTarget, AUTOCLAIM_MAX};
use crate::redis::actions::{dlq_key_for, AutoclaimPreview, TrimPreview, MAX_TRIM_ENTRIES};
use crate::redis::pending::StreamId;
use crate::state::{AppState, Effect};
use crate::text::duration_ms;
use crate::text::escape::escape_line;

impl AppState {
    pub(super) fn picker_done(
        &mut self,
        target: PendingTarget,
        purpose: ClaimPurpose,
        consumer: Bytes,
        min_idle_ms: u64,
        effects: &mut Vec<Effect>,
    ) {
        match purpose {
            ClaimPurpose::Claim { ids } => {
                let name = escape_line(&consumer).into_owned();
                let guard = if min_idle_ms == 0 {
                    super::dialog::MIN_IDLE_ZERO_WARNING.into()
                } else {
                    "An entry a live worker took back more recently stays with it.".into()
                };
                let lines = vec![
                    format!(
                        "Claim {} for consumer {name}, only those idle at least {}?",
                        entries(ids.len()),
                        duration_ms(min_idle_ms)
                    ),
                    guard,
                    format!("ids: {}", list_ids(&ids)),
                ];
                self.pending.modal = Some(PendingModal::Confirm(Confirm {
                    title: format!("claim {}", entries(ids.len())),
                    lines,
                    target,
                    action: PendingAction::Claim {
                        consumer,
                        min_idle_ms,
                        ids,
                    },
                }));
            }
            ClaimPurpose::Autoclaim => {
                self.pending.modal = Some(PendingModal::Waiting("autoclaim"));
                let action = PendingAction::AutoclaimPreview {
                    consumer,
                    min_idle_ms,
                };
                self.dispatch(target, action, effects);
            }
        }
    }

    pub(super) fn dead_letter_confirm(&mut self, target: PendingTarget, ids: Vec<StreamId>) {
        let dlq = Bytes::from(dlq_key_for(&target.stream, self.config.cluster));
        let lines = vec![
            format!(
                "Move {} to the dead-letter stream {} and ack them in group {}?",
                entries(ids.len()),
                escape_line(&dlq),
                escape_line(&target.group)
            ),
            "Each copy keeps its fields plus dlq_original_id, dlq_consumer, dlq_deliveries.".into(),
            format!("ids: {}", list_ids(&ids)),
        ];
        self.pending.modal = Some(PendingModal::Confirm(Confirm {
            title: format!("dead-letter {}", entries(ids.len())),
            lines,
            target,
            action: PendingAction::DeadLetter { dlq, ids },
        }));
    }

    pub(super) fn delete_confirm(&mut self, target: PendingTarget, ids: Vec<StreamId>) {
        let lines = vec![
            format!(
                "Delete (XDEL) {} from the stream {}, for every group?",
                entries(ids.len()),
                escape_line(&target.stream)
            ),
            "Groups keep listing them as pending until acked; contents go to the audit log.".into(),
            format!("ids: {}", list_ids(&ids)),
        ];
        self.pending.modal = Some(PendingModal::Confirm(Confirm {
            title: format!("delete {}", entries(ids.len())),
            lines,
            target,
            action: PendingAction::Delete { ids },
        }));
    }

    pub(super) fn autoclaim_confirm(
        &mut self,
        target: PendingTarget,
        consumer: Bytes,
        p: AutoclaimPreview,
    ) {
        let name = escape_line(&consumer).into_owned();
        if p.entries.is_empty() {
            self.info(format!(
                "autoclaim: no entry is idle at least {}; nothing would move to {name}",
                duration_ms(p.min_idle_ms)
            ));
            return;
        }
        let losers: Vec<String> = p
            .by_consumer
            .iter()
            .take(6)
            .map(|(c, n)| format!("{} loses {n}", escape_line(c)))
            .collect();
        let mut losers = losers.join(", ");
        if p.by_consumer.len() > 6 {
            losers.push_str(&format!(", and {} more consumers", p.by_consumer.len() - 6));
        }
        let more = if p.truncated {
            format!(" (at least; the sweep stops at {AUTOCLAIM_MAX})")
        } else {
            String::new()
        };
        let mut lines = vec![
            format!(
                "{}{more} idle at least {} would move to {name}:",
                entries(p.entries.len()),
                duration_ms(p.min_idle_ms)
            ),
            losers,
            "Counted just now; the sweep takes what qualifies when it runs.".into(),
        ];
        if p.min_idle_ms == 0 {
            lines.push(super::dialog::MIN_IDLE_ZERO_WARNING.into());
        }
        self.pending.modal = Some(PendingModal::Confirm(Confirm {
            title: "autoclaim sweep".into(),
            lines,
            target,
            action: PendingAction::Autoclaim {
                consumer,
                min_idle_ms: p.min_idle_ms,
            },
        }));
    }

    pub(super) fn trim_confirm(&mut self, target: PendingTarget, p: TrimPreview) {
        let stream = escape_line(&target.stream).into_owned();
        if p.over_limit {
            self.error(format!(
                "trim {}: it would remove more than {} entries — more than redtail removes \
                 (and records in its audit log) in one action; trim in steps",
                p.strategy, MAX_TRIM_ENTRIES
            ));
            return;
        }
        if p.would_remove == 0 {
            self.info(format!(
                "trim {}: nothing to remove ({stream} has {} entries)",
                p.strategy, p.length
            ));
            return;
        }
        let lines = vec![
            format!(
                "XTRIM {stream} {} (exact): {} of {} would be removed, oldest first.",
                p.strategy,
                entries(p.would_remove as usize),
                p.length
            ),
            "Pending ones stay listed (as deleted) until acked; contents go to the audit log."
                .into(),
        ];
        self.pending.modal = Some(PendingModal::Confirm(Confirm {
            title: format!("trim {stream}"),
            lines,
            target,
            action: PendingAction::Trim {
                strategy: p.strategy,
            },
        }));
    }
}
