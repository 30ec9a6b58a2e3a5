//! The Streams pane's I/O: the background [`StreamsPoller`], and the entries browser's
//! page reads run off the event loop on one shared command connection. State decides;
//! this only carries out [`StreamsEffect`]s and answers with [`StreamsEvent`]s.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::backend::Backend;
use crate::cli::TuiArgs;
use crate::redis::actions::{self, ActionError, ActionErrorKind, ActionOutcome};
use crate::redis::poller::PollError;
use crate::redis::route::Route;
use crate::redis::streams::{read_page, StreamEntry, StreamsConfig, StreamsPoller, StreamsState};
use crate::state::streams::entries::{EntriesRequest, PAGE_SIZE};
use crate::state::streams::manage::GroupAction;
use crate::state::streams::{StreamsEffect, StreamsEvent};

/// What to poll and how often: `--streams` / `--stream` (or the profile's), and the
/// poll interval the Channels pane uses too.
pub(super) fn config(args: &TuiArgs) -> StreamsConfig {
    args.streams.poll_config(args.poll_interval)
}

#[derive(Clone)]
pub(super) struct StreamsRunner {
    poller: Arc<StreamsPoller>,
    backend: Backend,
    tx: mpsc::Sender<StreamsEvent>,
}

impl StreamsRunner {
    /// Starts polling at once (the pane's health windows fill while other panes are shown,
    /// so status and sparklines have history when the user looks). Must run in a runtime.
    pub(super) fn spawn(
        route: Arc<Route>,
        config: StreamsConfig,
        backend: Backend,
        tx: mpsc::Sender<StreamsEvent>,
    ) -> StreamsRunner {
        StreamsRunner {
            poller: Arc::new(StreamsPoller::spawn_route(route, config)),
            backend,
            tx,
        }
    }

    pub(super) fn state(&self) -> watch::Receiver<StreamsState> {
        self.poller.state()
    }

    pub(super) fn run(&self, effect: StreamsEffect) {
        match effect {
            StreamsEffect::PollNow => self.poller.poll_now(),
            StreamsEffect::Rediscover => self.poller.rediscover(),
            // app.rs owns the stream follower and handles this before we are asked.
            StreamsEffect::Follow { .. } => {}
            StreamsEffect::Entries {
                generation,
                key,
                request,
            } => {
                let runner = self.clone();
                // Off the loop: a slow server must not stall keys or drawing.
                tokio::spawn(async move {
                    let result = runner.read(&key, request).await;
                    let _ = runner
                        .tx
                        .send(StreamsEvent::Entries {
                            key,
                            generation,
                            request,
                            result,
                        })
                        .await;
                });
            }
            StreamsEffect::Act(action) => {
                let runner = self.clone();
                tokio::spawn(async move {
                    let name = action.name();
                    let result = runner.act(action).await;
                    let _ = runner
                        .tx
                        .send(StreamsEvent::Done {
                            action: name,
                            result,
                        })
                        .await;
                });
            }
        }
    }

    async fn act(&self, action: GroupAction) -> Result<String, String> {
        let key = match &action {
            GroupAction::Create { stream, .. }
            | GroupAction::SetId { stream, .. }
            | GroupAction::Destroy { stream, .. }
            | GroupAction::DeleteConsumer { stream, .. } => stream.clone(),
        };
        let ctx = self.backend.context(&key).await?;
        let mut conn = self.backend.connection(&key).await?;
        let c = &mut conn;
        let result = match &action {
            GroupAction::Create {
                stream,
                group,
                start,
            } => summary(actions::create_group(&ctx, c, stream, group, *start, false).await),
            GroupAction::SetId {
                stream,
                group,
                start,
            } => summary(actions::set_group_id(&ctx, c, stream, group, *start).await),
            GroupAction::Destroy { stream, group } => {
                summary(actions::destroy_group(&ctx, c, stream, group).await)
            }
            GroupAction::DeleteConsumer {
                stream,
                group,
                consumer,
            } => summary(actions::delete_consumer(&ctx, c, stream, group, consumer).await),
        };
        result.map_err(|e| {
            if e.kind == ActionErrorKind::Connection {
                self.backend.forget_now();
            }
            e.message
        })
    }

    async fn read(&self, key: &[u8], request: EntriesRequest) -> Result<Vec<StreamEntry>, String> {
        let mut conn = self.backend.connection(key).await?;
        let c = &mut conn;
        let result: Result<Vec<StreamEntry>, PollError> =
            read_page(c, key, request, PAGE_SIZE).await;
        result.map_err(|e| {
            // A multiplexed connection does not reconnect by itself: drop a broken one.
            if e.is_connection() {
                self.backend.forget_now();
            }
            e.message
        })
    }
}

fn summary<T: ActionOutcome>(result: Result<T, ActionError>) -> Result<String, ActionError> {
    result.map(|outcome| outcome.summary())
}
