//! The Pending pane's I/O: page reads, the consumer list, previews and actions, run off
//! the event loop on one shared command connection. State decides; this only carries out
//! [`PendingEffect`]s and answers with [`PendingEvent`]s.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::backend::Backend;
use crate::redis::actions::{self, ActionError, ActionErrorKind, ActionOutcome};
use crate::redis::pending::{
    bytes_of, into_items, pending_page, pending_sorted_page, pending_summary, redis_error, u64_of,
    PendingOrder, PendingQuery, StreamId,
};
use crate::redis::poller::PollErrorKind;
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
        let reply: redis::Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&t.stream[..])
            .arg(&t.group[..])
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error("XINFO CONSUMERS", &e).message)?;
        parse_consumers(reply)
            .ok_or_else(|| "XINFO CONSUMERS: unexpected reply; is this a Redis server?".into())
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

/// XINFO CONSUMERS (RESP2 flat pairs or RESP3 maps): name, pending count, idle ms.
fn parse_consumers(reply: redis::Value) -> Option<Vec<ConsumerRow>> {
    into_items(reply)?
        .into_iter()
        .map(|consumer| {
            let pairs: Vec<(redis::Value, redis::Value)> = match consumer {
                redis::Value::Map(pairs) => pairs,
                other => into_items(other)?
                    .chunks(2)
                    .filter_map(|kv| Some((kv.first()?.clone(), kv.get(1)?.clone())))
                    .collect(),
            };
            let mut row = ConsumerRow {
                name: Bytes::new(),
                pending: 0,
                idle_ms: None,
            };
            for (field, value) in pairs {
                match bytes_of(&field)?.as_ref() {
                    b"name" => row.name = bytes_of(&value)?,
                    b"pending" => row.pending = u64_of(&value).unwrap_or(0),
                    b"idle" => row.idle_ms = u64_of(&value),
                    _ => {}
                }
            }
            Some(row)
        })
        .collect()
}
