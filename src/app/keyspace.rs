//! The Keyspace pane's engine side: starts (or replaces) the keyspace engine
//! (`redis::keyspace::spawn`: one server, every Cluster primary, the Sentinel's primary),
//! forwards its deliveries to the loop, reads `notify-keyspace-events` on every node
//! (`keyspace::check`, the same check `tail --keyspace` makes), enables missing flags
//! through the action layer on request, and puts the old values back on quit. Through
//! Sentinel the check (and, once asked for, the enabling) is made again on each new
//! primary after a failover.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::backend::Backend;
use crate::redis::actions::{self, ActionErrorKind, ActionOutcome};
use crate::redis::conn::Target;
use crate::redis::keyspace::check::{self, NodeSetting};
use crate::redis::keyspace::flags::Flags;
use crate::redis::keyspace::{self as engine, KeyspaceSpec};
use crate::redis::message::Delivery;
use crate::redis::route::{Mode, Route};
use crate::redis::subscriber::{Subscriber, SubscriberConfig};
use crate::state::keyspace::{KeyspaceEffect, KeyspaceEvent};
use crate::text::escape::escape_str;

/// Deliveries forwarded per message to the loop.
const BATCH: usize = 2048;

/// Settings changed from the TUI, to put back on quit. Cloned into the runner; `run`
/// keeps one to restore after the terminal is back.
#[derive(Clone, Default)]
pub(super) struct Restorer {
    inner: Arc<Mutex<RestoreList>>,
}

#[derive(Default)]
struct RestoreList {
    backend: Option<Backend>,
    /// Each node changed: its value before, and the value set.
    changed: Vec<(Target, String, String)>,
}

impl Restorer {
    fn lock(&self) -> std::sync::MutexGuard<'_, RestoreList> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Put every changed node's previous value back; lines for stderr.
    pub(super) async fn restore(&self) -> Vec<String> {
        let (backend, changed) = {
            let mut list = self.lock();
            (list.backend.clone(), std::mem::take(&mut list.changed))
        };
        let Some(backend) = backend else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        // Newest change first: a node enabled twice (a second subscription needing more
        // flags) ends on the value it had before the first.
        for (target, previous, set) in changed.into_iter().rev() {
            let result = match backend.context_at(target.to_string()) {
                Ok(ctx) => actions::restore_notifications(&ctx, &target, &previous, &set)
                    .await
                    .map_err(|e| e.message),
                Err(e) => Err(e),
            };
            lines.push(actions::restore_report(&target, &previous, result));
        }
        lines
    }
}

/// What the loop needs to start the runner.
pub(super) struct KeyspaceSetup {
    /// `--keyspace` given: start at once.
    pub spec: Option<KeyspaceSpec>,
    /// `--enable-notifications`: enable without asking (the flag is the consent).
    pub enable_at_start: bool,
    pub config: SubscriberConfig,
    pub restorer: Restorer,
}

pub(super) struct KeyspaceRunner {
    config: SubscriberConfig,
    jobs: Jobs,
    /// The running engine, the task forwarding its deliveries, and (through Sentinel)
    /// the one checking each new primary.
    running: Option<(Subscriber, JoinHandle<()>, Option<JoinHandle<()>>)>,
}

/// What the setting checks and enabling jobs work with (cloned into each).
#[derive(Clone)]
struct Jobs {
    route: Arc<Route>,
    backend: Backend,
    tx: mpsc::Sender<KeyspaceEvent>,
    restorer: Restorer,
    /// The setting as last read, and the flags the running spec needs.
    settings: Arc<Mutex<(Vec<NodeSetting>, Flags)>>,
    /// Enabling was asked for (`--enable-notifications`, or `E` confirmed): a new
    /// primary after a failover gets the flags too.
    enable_asked: Arc<AtomicBool>,
}

impl KeyspaceRunner {
    pub(super) fn new(
        route: Arc<Route>,
        setup: KeyspaceSetup,
        backend: Backend,
        tx: mpsc::Sender<KeyspaceEvent>,
    ) -> KeyspaceRunner {
        setup.restorer.lock().backend = Some(backend.clone());
        let mut runner = KeyspaceRunner {
            config: setup.config,
            jobs: Jobs {
                route,
                backend,
                tx,
                restorer: setup.restorer,
                settings: Arc::default(),
                enable_asked: Arc::default(),
            },
            running: None,
        };
        if let Some(spec) = setup.spec {
            runner.start(spec, setup.enable_at_start);
        }
        runner
    }

    pub(super) fn run(&mut self, effect: KeyspaceEffect) {
        match effect {
            KeyspaceEffect::Start(spec) => self.start(spec, false),
            KeyspaceEffect::Enable => {
                self.jobs.enable_asked.store(true, Ordering::Relaxed);
                tokio::spawn(self.jobs.enable());
            }
        }
    }

    /// Replace the running engine with one for `spec`, and read the setting.
    fn start(&mut self, spec: KeyspaceSpec, enable: bool) {
        if let Some((old, forward, follow)) = self.running.take() {
            forward.abort();
            // Only waits for changes: the checks it started run on by themselves.
            if let Some(follow) = follow {
                follow.abort();
            }
            tokio::spawn(old.shutdown());
        }
        if enable {
            self.jobs.enable_asked.store(true, Ordering::Relaxed);
        }
        let needed = spec.required_flags();
        let subscriber = engine::spawn(self.config.clone(), spec);
        let inbox = subscriber.inbox();
        let tx = self.jobs.tx.clone();
        let forward = tokio::spawn(async move {
            let mut batch: Vec<Delivery> = Vec::with_capacity(BATCH);
            loop {
                inbox.notified().await;
                while inbox.drain_into(BATCH, &mut batch) > 0 {
                    let sent = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(KeyspaceEvent::Deliveries(sent)).await.is_err() {
                        return;
                    }
                }
            }
        });
        let follow = self.jobs.follow_primary(needed.clone());
        self.running = Some((subscriber, forward, follow));
        tokio::spawn(self.jobs.check(needed, enable));
    }
}

impl Jobs {
    /// Read the setting where events come from and show what is missing; then, when
    /// `enable`, add it.
    fn check(
        &self,
        needed: Flags,
        enable: bool,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (route, tx, settings) = (self.route.clone(), self.tx.clone(), self.settings.clone());
        let enable_job = enable.then(|| self.enable());
        async move {
            let read = check::read_all(&route).await.unwrap_or_default();
            let findings = check::findings(&read, &needed);
            let _ = tx
                .send(KeyspaceEvent::Sources(sources(&route, &read)))
                .await;
            *settings.lock().unwrap_or_else(|e| e.into_inner()) = (read, needed);
            let _ = tx.send(KeyspaceEvent::Settings(findings)).await;
            if let Some(job) = enable_job {
                job.await;
            }
        }
    }

    /// Through Sentinel: each time the Sentinels name another primary (a failover), the
    /// start's check there, and the enabling if it was asked for — a promoted replica
    /// publishes events only if its own setting has the flags.
    fn follow_primary(&self, needed: Flags) -> Option<JoinHandle<()>> {
        if !matches!(self.route.mode(), Mode::Sentinel(_)) {
            return None;
        }
        let jobs = self.clone();
        let mut primary = self.route.watch_primary();
        Some(tokio::spawn(async move {
            // The start's check covers the primary named first.
            let mut checked = primary.borrow_and_update().clone();
            while primary.changed().await.is_ok() {
                let now = primary.borrow_and_update().clone();
                if now == checked || now.is_none() {
                    continue;
                }
                let first = checked.is_none();
                checked = now;
                if !first {
                    let enable = jobs.enable_asked.load(Ordering::Relaxed);
                    tokio::spawn(jobs.check(needed.clone(), enable));
                }
            }
        }))
    }

    /// Add the missing flags on every node that lacks them (action layer: read-only
    /// guard, audit record), remember the old values, and read the setting again.
    fn enable(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (route, tx, settings) = (self.route.clone(), self.tx.clone(), self.settings.clone());
        let backend = self.backend.clone();
        let restorer = self.restorer.clone();
        async move {
            let (nodes, needed) = settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut lines = Vec::new();
            let mut failed = false;
            for node in &nodes {
                let lacking = node
                    .value
                    .as_ref()
                    .is_ok_and(|v| !needed.missing_from(&Flags::parse(v)).is_empty());
                if !lacking {
                    continue;
                }
                let result = match backend.context_at(node.target.to_string()) {
                    Ok(ctx) => actions::enable_notifications(&ctx, &node.target, &needed)
                        .await
                        .map_err(|e| (e.kind == ActionErrorKind::ReadOnly, e.message)),
                    Err(e) => Err((false, e)),
                };
                match result {
                    Ok(o) => {
                        if o.changed {
                            restorer.lock().changed.push((
                                node.target.clone(),
                                o.previous.clone(),
                                o.value.clone(),
                            ));
                        }
                        lines.push(format!("{} (put back on quit)", o.summary()));
                    }
                    Err((read_only, message)) => {
                        failed = true;
                        let hint = if read_only {
                            String::new()
                        } else {
                            " — managed services often refuse CONFIG SET; set it in the provider's console".into()
                        };
                        lines.push(format!(
                            "node {}: could not enable keyspace notifications: {}{hint}",
                            node.addr,
                            escape_str(&message)
                        ));
                    }
                }
            }
            if lines.is_empty() {
                lines.push("every node already has the flags these events need".into());
            }
            let _ = tx.send(KeyspaceEvent::Enabled { lines, failed }).await;
            let read = check::read_all(&route).await.unwrap_or_default();
            let findings = check::findings(&read, &needed);
            *settings.lock().unwrap_or_else(|e| e.into_inner()) = (read, needed);
            let _ = tx.send(KeyspaceEvent::Settings(findings)).await;
        }
    }
}

/// Where events come from, as the status line says it: every primary of a Cluster
/// (replicas are read for the setting check but emit nothing), the primary a Sentinel
/// names, else the one server.
fn sources(route: &Route, settings: &[NodeSetting]) -> String {
    if let crate::redis::route::Mode::Sentinel(_) = route.mode() {
        // The check reads the one primary the Sentinels name.
        let at = settings
            .first()
            .map_or(String::new(), |s| format!(" {}", s.addr));
        return format!("the Sentinels' primary{at}");
    }
    if !route.is_cluster() {
        return "the server".into();
    }
    let primaries = settings
        .iter()
        .filter(|s| s.role == Some(crate::redis::cluster::Role::Primary))
        .count();
    let s = if primaries == 1 { "y" } else { "ies" };
    format!("{primaries} primar{s}")
}
