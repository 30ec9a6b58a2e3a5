//! The Pending pane's I/O: page reads, the consumer list, previews and actions, run off
//! the event loop on one shared command connection. State decides; this only carries out
//! [`PendingEffect`]s and answers with [`PendingEvent`]s.

use tokio::sync::mpsc;

use super::backend::Backend;
use crate::redis::actions::{self, ActionError, ActionErrorKind, ActionOutcome};
use crate::redis::pending::{
    pending_page, pending_sorted_page, pending_summary, PendingOrder, PendingQuery, StreamId,
};
use crate::redis::poller::PollErrorKind;
use crate::redis::streams::read_consumers;
use crate::state::pending::{
    ActionReport, ConsumerRow, PageLoad, PendingAction, PendingEffect, PendingEvent, PendingTarget,
    AUTOCLAIM_MAX,
};

/// Runs the Pending pane's reads and actions off the loop on one shared command
/// connection (opened on first use, reopened after a connection error); every answer
/// comes back as a [`PendingEvent`].
#[derive(Clone)]
pub(super) struct PendingRunner {
    backend: Backend,
    tx: mpsc::Sender<PendingEvent>,
}

impl PendingRunner {
    pub(super) fn new(backend: Backend, tx: mpsc::Sender<PendingEvent>) -> PendingRunner {
        PendingRunner { backend, tx }
    }

    pub(super) fn run(&self, effect: PendingEffect) {
        let runner = self.clone();
        tokio::spawn(async move {
            let event = runner.execute(effect).await;
            let _ = runner.tx.send(event).await;
        });
    }

    async fn execute(&self, effect: PendingEffect) -> PendingEvent {
        match effect {
            PendingEffect::Fetch {
                generation,
                target,
                query,
                order,
            } => PendingEvent::Page {
                generation,
                result: self.fetch(&target, &query, order).await,
            },
            PendingEffect::Consumers { target } => PendingEvent::Consumers {
                result: self.consumers(&target).await,
                target,
            },
            PendingEffect::Act { target, action } => self.act(target, action).await,
        }
    }

    async fn fetch(
        &self,
        t: &PendingTarget,
        query: &PendingQuery,
        order: Option<PendingOrder>,
    ) -> Result<PageLoad, String> {
        let mut conn = self.backend.connection(&t.stream).await?;
        let read = match order {
            Some(order) => pending_sorted_page(&mut conn, &t.stream, &t.group, query, order).await,
            None => pending_page(&mut conn, &t.stream, &t.group, query).await,
        };
        let page = match read {
            Ok(page) => page,
            Err(e) => {
                self.backend
                    .forget_connection(e.kind == PollErrorKind::Connection)
                    .await;
                return Err(e.message);
            }
        };
        // The group's totals are extra; the page stands without them.
        let summary = pending_summary(&mut conn, &t.stream, &t.group).await.ok();
        Ok(PageLoad { page, summary })
    }

    async fn consumers(&self, t: &PendingTarget) -> Result<Vec<ConsumerRow>, String> {
        let mut conn = self.backend.connection(&t.stream).await?;
        let consumers = read_consumers(&mut conn, &t.stream, &t.group).await?;
        Ok(consumers
            .into_iter()
            .map(|c| ConsumerRow {
                name: c.name,
                pending: c.pending,
                idle_ms: Some(c.idle_ms),
            })
            .collect())
    }

    async fn act(&self, target: PendingTarget, action: PendingAction) -> PendingEvent {
        let name = action.name();
        let mut conn = match self.backend.connection(&target.stream).await {
            Ok(conn) => conn,
            Err(e) => {
                return PendingEvent::Done {
                    action: name,
                    result: Err(e),
                }
            }
        };
        let (stream, group) = (&target.stream[..], &target.group[..]);
        // Previews only read: no audit record, their own answer.
        match action {
            PendingAction::AutoclaimPreview {
                consumer,
                min_idle_ms,
            } => {
                let result = actions::autoclaim_preview(
                    &mut conn,
                    stream,
                    group,
                    min_idle_ms,
                    AUTOCLAIM_MAX,
                )
                .await
                .map_err(|e| e.message);
                return PendingEvent::AutoclaimPreview {
                    target,
                    consumer,
                    result,
                };
            }
            PendingAction::TrimPreview { strategy } => {
                let result = actions::trim_preview(&mut conn, stream, strategy)
                    .await
                    .map_err(|e| e.message);
                return PendingEvent::TrimPreview { target, result };
            }
            _ => {}
        }
        let ctx = match self.backend.context(stream).await {
            Ok(ctx) => ctx,
            Err(e) => {
                return PendingEvent::Done {
                    action: name,
                    result: Err(e),
                }
            }
        };
        let text = |ids: &[StreamId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        let c = &mut conn;
        let (result, broken) = match action {
            PendingAction::Ack { ids } => {
                report(actions::ack(&ctx, c, stream, group, &text(&ids)).await)
            }
            PendingAction::Claim {
                consumer,
                min_idle_ms,
                ids,
            } => report(
                actions::claim(&ctx, c, stream, group, &consumer, min_idle_ms, &text(&ids)).await,
            ),
            PendingAction::Autoclaim {
                consumer,
                min_idle_ms,
            } => report(
                actions::autoclaim(
                    &ctx,
                    c,
                    stream,
                    group,
                    &consumer,
                    min_idle_ms,
                    AUTOCLAIM_MAX,
                )
                .await,
            ),
            PendingAction::DeadLetter { dlq, ids } => {
                report(actions::dead_letter(&ctx, c, stream, group, &text(&ids), &dlq).await)
            }
            PendingAction::Delete { ids } => {
                report(actions::xdel(&ctx, c, stream, &text(&ids)).await)
            }
            PendingAction::Trim { strategy } => {
                report(actions::trim(&ctx, c, stream, strategy).await)
            }
            PendingAction::AutoclaimPreview { .. } | PendingAction::TrimPreview { .. } => {
                (Err("a preview is not an action".to_string()), false)
            }
        };
        self.backend.forget_connection(broken).await;
        PendingEvent::Done {
            action: name,
            result,
        }
    }
}

/// An action's outcome as its summary; and whether the connection broke.
fn report<T: ActionOutcome>(
    result: Result<T, ActionError>,
) -> (Result<ActionReport, String>, bool) {
    match result {
        Ok(outcome) => (
            Ok(ActionReport {
                summary: outcome.summary(),
                complete: outcome.is_complete(),
            }),
            false,
        ),
        Err(e) => (Err(e.message), e.kind == ActionErrorKind::Connection),
    }
}
