//! The Streams pane's I/O: the background [`StreamsPoller`], and the entries browser's
//! page reads run off the event loop on one shared command connection. State decides;
//! this only carries out [`StreamsEffect`]s and answers with [`StreamsEvent`]s.

use std::sync::Arc;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, watch};

use crate::cli::TuiArgs;
use crate::redis::conn::Target;
use crate::redis::poller::PollError;
use crate::redis::streams::{
    entries_newer, entries_page, jump_to_id, jump_to_time, StreamEntry, StreamsConfig,
    StreamsPoller, StreamsState,
};
use crate::state::streams::entries::{EntriesRequest, PAGE_SIZE};
use crate::state::streams::{StreamsEffect, StreamsEvent};

/// What to poll and how often: `--streams` / `--stream` (or the profile's), and the
/// poll interval the Channels pane uses too.
pub(super) fn config(args: &TuiArgs) -> StreamsConfig {
    StreamsConfig {
        globs: args.streams.stream_globs.clone(),
        keys: args
            .streams
            .stream_keys
            .iter()
            .map(|k| Bytes::from(k.clone().into_bytes()))
            .collect(),
        interval: args.poll_interval,
        ..StreamsConfig::default()
    }
}

#[derive(Clone)]
pub(super) struct StreamsRunner {
    poller: Arc<StreamsPoller>,
    target: Target,
    conn: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
    tx: mpsc::Sender<StreamsEvent>,
}

impl StreamsRunner {
    /// Starts polling at once (the pane's health windows fill while other panes are shown,
    /// so status and sparklines have history when the user looks). Must run in a runtime.
    pub(super) fn spawn(
        target: Target,
        config: StreamsConfig,
        tx: mpsc::Sender<StreamsEvent>,
    ) -> StreamsRunner {
        StreamsRunner {
            poller: Arc::new(StreamsPoller::spawn(target.clone(), config)),
            target,
            conn: Arc::default(),
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
        }
    }

    async fn read(&self, key: &[u8], request: EntriesRequest) -> Result<Vec<StreamEntry>, String> {
        let mut conn = {
            let mut slot = self.conn.lock().await;
            match slot.as_ref() {
                Some(conn) => conn.clone(),
                None => {
                    let conn = self
                        .target
                        .command_connection()
                        .await
                        .map_err(|e| format!("{e:#}"))?;
                    *slot = Some(conn.clone());
                    conn
                }
            }
        };
        let c = &mut conn;
        let result: Result<Vec<StreamEntry>, PollError> = match request {
            EntriesRequest::Newest => entries_page(c, key, None, PAGE_SIZE).await,
            EntriesRequest::Older(id) => entries_page(c, key, Some(id), PAGE_SIZE).await,
            EntriesRequest::Newer(id) => entries_newer(c, key, id, PAGE_SIZE).await,
            EntriesRequest::AtId(id) => jump_to_id(c, key, id, PAGE_SIZE).await,
            EntriesRequest::AtTime(ms) => jump_to_time(c, key, ms, PAGE_SIZE).await,
        };
        result.map_err(|e| {
            // A multiplexed connection does not reconnect by itself: drop a broken one.
            if e.is_connection() {
                if let Ok(mut slot) = self.conn.try_lock() {
                    *slot = None;
                }
            }
            e.message
        })
    }
}
