//! The background streams poller: polls every `interval`, keeps the health windows, and
//! publishes the latest [`StreamsState`] in a `watch` channel (a slow UI never queues
//! stale snapshots). Mirrors the Pub/Sub [`crate::redis::poller::Poller`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use super::cluster::ClusterStreams;
use super::{
    poll_streams, Discovery, DiscoveryConfig, HealthConfig, HealthTracker, ScanProgress,
    StreamsConn, StreamsSnapshot,
};
use crate::redis::backoff::{clock_jitter, Backoff};
use crate::redis::conn::Target;
use crate::redis::route::Route;

#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Key globs for discovery; empty = every stream.
    pub globs: Vec<String>,
    /// Keys always polled, found by SCAN or not.
    pub keys: Vec<Bytes>,
    pub interval: Duration,
    pub discovery: DiscoveryConfig,
    pub health: HealthConfig,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            globs: Vec::new(),
            keys: Vec::new(),
            interval: Duration::from_secs(1),
            discovery: DiscoveryConfig::default(),
            health: HealthConfig::default(),
        }
    }
}

/// What the streams poller last saw. Cloned out of a `watch` channel.
#[derive(Debug, Clone, Default)]
pub struct StreamsState {
    /// Increases with every published state, so a consumer can tell new from seen.
    pub generation: u64,
    /// The last successful poll, health included; kept when a later poll fails, so
    /// compare its `taken_at` with now before calling its figures current.
    pub last_ok: Option<Arc<StreamsSnapshot>>,
    /// Set when the latest attempt failed (connect or poll); cleared by a success.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Discovery progress, also while polls fail.
    pub scan: ScanProgress,
}

impl StreamsState {
    /// True when `last_ok` is not the result of the latest attempt.
    pub fn is_stale(&self) -> bool {
        self.last_error.is_some()
    }
}

struct Control {
    wake: Notify,
    rediscover: AtomicBool,
}

/// Background task polling streams on one server. Stops when dropped.
pub struct StreamsPoller {
    state: watch::Receiver<StreamsState>,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamsPoller {
    /// Must be called inside a tokio runtime. The first poll starts at once.
    pub fn spawn(target: Target, config: StreamsConfig) -> StreamsPoller {
        StreamsPoller::spawn_route(Route::single(target), config)
    }

    /// Poll what the route leads to: every serving primary of a cluster, or the primary
    /// a Sentinel names.
    pub fn spawn_route(route: Arc<Route>, config: StreamsConfig) -> StreamsPoller {
        let (tx, rx) = watch::channel(StreamsState::default());
        let control = Arc::new(Control {
            wake: Notify::new(),
            rediscover: AtomicBool::new(false),
        });
        let task = tokio::spawn(run(route, config, control.clone(), tx));
        StreamsPoller {
            state: rx,
            control,
            task,
        }
    }

    pub fn state(&self) -> watch::Receiver<StreamsState> {
        self.state.clone()
    }

    /// Poll now instead of at the next tick; requests during a poll collapse into one.
    pub fn poll_now(&self) {
        self.control.wake.notify_one();
    }

    /// Start a new discovery pass now (new streams show up without waiting for the
    /// periodic pass), and poll.
    pub fn rediscover(&self) {
        self.control.rediscover.store(true, Ordering::Relaxed);
        self.control.wake.notify_one();
    }
}

impl Drop for StreamsPoller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    route: Arc<Route>,
    config: StreamsConfig,
    control: Arc<Control>,
    tx: watch::Sender<StreamsState>,
) {
    // A zero interval would spin the task and hammer the server.
    let interval = config.interval.max(Duration::from_millis(100));
    let backoff = Backoff::default();
    let mut cluster = route.is_cluster().then(|| {
        ClusterStreams::new(
            config.globs.clone(),
            config.keys.clone(),
            config.discovery.clone(),
        )
    });
    let mut discovery = Discovery::new(config.globs, config.keys, config.discovery);
    let mut tracker = HealthTracker::new(config.health);
    let mut conn: Option<StreamsConn> = None;
    let mut failed_connects: u32 = 0;
    let mut state = StreamsState::default();
    loop {
        let mut wait = interval;
        if control.rediscover.swap(false, Ordering::Relaxed) {
            discovery.restart();
            if let Some(c) = cluster.as_mut() {
                c.restart();
            }
        }
        if let Some(cluster) = cluster.as_mut() {
            match cluster.poll(&route, false, Some(&mut tracker)).await {
                Ok(snapshot) => {
                    state.scan = snapshot.scan.clone();
                    state.last_ok = Some(Arc::new(snapshot));
                    state.last_error = None;
                }
                Err(e) => state.last_error = Some((Utc::now(), e.message)),
            }
        } else {
            wait = single_cycle(
                &route,
                &mut conn,
                &mut failed_connects,
                &backoff,
                &mut discovery,
                &mut tracker,
                &mut state,
            )
            .await
            .unwrap_or(wait);
            state.scan = discovery.progress().clone();
        }
        state.generation += 1;
        tx.send_replace(state.clone());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = control.wake.notified() => {}
        }
    }
}

/// One poll of a single server (or the primary a Sentinel names), connecting first when
/// needed. Returns a different wait than the interval when one is due (backoff after a
/// failed connect, zero after a lost connection).
async fn single_cycle(
    route: &Route,
    conn: &mut Option<StreamsConn>,
    failed_connects: &mut u32,
    backoff: &Backoff,
    discovery: &mut Discovery,
    tracker: &mut HealthTracker,
    state: &mut StreamsState,
) -> Option<Duration> {
    let mut wait = None;
    if conn.is_none() {
        // While a login is refused, do not connect (see `Route::refusal`): the poll
        // interval passes without touching the server.
        let connected = async {
            route.check_refusal()?;
            StreamsConn::open(&route.target(*failed_connects).await?).await
        };
        match connected.await {
            Ok(c) => {
                *conn = Some(c);
                *failed_connects = 0;
            }
            Err(e) => {
                state.last_error = Some((Utc::now(), format!("{e:#}")));
                if route.note_refusal(&e).is_none() {
                    wait = Some(backoff.delay(*failed_connects, clock_jitter()));
                    *failed_connects = failed_connects.saturating_add(1);
                }
            }
        }
    }
    if let Some(c) = conn.as_mut() {
        match poll_streams(c, discovery).await {
            Ok(mut snapshot) => {
                let at = snapshot.taken_at.timestamp_millis();
                tracker.observe(&mut snapshot, at);
                state.last_ok = Some(Arc::new(snapshot));
                state.last_error = None;
            }
            Err(e) => {
                if e.is_connection() {
                    // The next cycle reconnects at once: this connection will not recover
                    // (and a Sentinel may name another primary by now).
                    *conn = None;
                    route.invalidate();
                    wait = Some(Duration::ZERO);
                }
                state.last_error = Some((Utc::now(), e.message));
            }
        }
    }
    wait
}
