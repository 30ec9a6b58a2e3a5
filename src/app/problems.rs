//! Findings for the Problems list and the header, off the event loop: after each
//! streams poll (the Streams pane's own poller, never a poll of our own), the doctor's
//! bounded pending reads (`redis::doctor::read_details_via_route`: two pipelined round
//! trips per node), then the pure [`crate::state::problems::build`]. The result is a
//! latest-value update: a slow UI skips intermediate ones, never queues them.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::redis::doctor::{read_details_via_route, DoctorConfig};
use crate::redis::route::{Pool, Route};
use crate::redis::streams::StreamsState;
use crate::state::problems::{build, ProblemsUpdate};

/// The findings task; stops when dropped.
pub(super) struct ProblemsTask {
    task: JoinHandle<()>,
    updates: watch::Receiver<ProblemsUpdate>,
}

impl ProblemsTask {
    pub(super) fn spawn(
        route: Arc<Route>,
        polls: watch::Receiver<StreamsState>,
        config: DoctorConfig,
    ) -> ProblemsTask {
        let (tx, updates) = watch::channel(ProblemsUpdate::default());
        // Fix commands in the evidence name the server like `redtail doctor` does.
        let prefix = crate::redis::doctor::command_prefix(&route);
        let task = tokio::spawn(run(route, polls, config, prefix, tx));
        ProblemsTask { task, updates }
    }

    pub(super) fn updates(&self) -> watch::Receiver<ProblemsUpdate> {
        self.updates.clone()
    }
}

impl Drop for ProblemsTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    route: Arc<Route>,
    mut polls: watch::Receiver<StreamsState>,
    config: DoctorConfig,
    prefix: String,
    tx: watch::Sender<ProblemsUpdate>,
) {
    let mut pool = Pool::new();
    while polls.changed().await.is_ok() {
        let state = polls.borrow_and_update().clone();
        // A failed poll keeps the last findings: they are about the last snapshot read.
        let Some(snapshot) = state.last_ok.as_ref().filter(|_| !state.is_stale()) else {
            continue;
        };
        let (details, notes) = read_details_via_route(&route, &mut pool, snapshot).await;
        let problems = build(snapshot, &details, &config, &prefix);
        let update = ProblemsUpdate {
            generation: state.generation,
            problems,
            notes,
            taken_at: Some(snapshot.taken_at),
        };
        if tx.send(update).is_err() {
            return;
        }
    }
}
