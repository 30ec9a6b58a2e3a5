//! Keyspace events from the nodes that own keys: in a Redis Cluster one engine per
//! serving primary (each publishes only its own keys' events), through Sentinel one on
//! the primary the Sentinels name; all feed one inbox. The set is read from the route
//! (topology / Sentinel answer) and re-checked on a tick and whenever an engine loses
//! its node, so a failover (a replica promoted) or a new primary after resharding gets
//! its own engine, and an engine whose node stopped serving is stopped — reporting its
//! outage as a gap that names the node. (An engine that followed the route by itself
//! would stay on a demoted primary: it keeps its connection, and as a replica it emits
//! the replicated writes' events, expirations as `del`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::decode::KeyspaceSpec;
use crate::redis::conn::Target;
use crate::redis::inbox::Inbox;
use crate::redis::message::{Delivery, Gap};
use crate::redis::route::Route;
use crate::redis::subscriber::{
    spawn_engine, Child, ConnState, Control, Notice, Status, Subscriber, SubscriberConfig,
};

/// How often the merged status is republished and the primaries re-checked.
const TICK: Duration = Duration::from_millis(250);
/// While some node's engine is down, the topology is read again this often (a failover
/// takes a few seconds; the promoted replica is picked up within this delay).
const DOWN_REFRESH: Duration = Duration::from_secs(1);
/// How old the route's topology or Sentinel answer may be (its cache lifetime).
const ROUTE_CACHE: Duration = Duration::from_secs(5);

pub(super) fn spawn(
    route: Arc<Route>,
    config: SubscriberConfig,
    spec: Arc<KeyspaceSpec>,
) -> Subscriber {
    let inbox = Arc::new(Inbox::new(config.caps));
    let wanted = super::subscriptions(&spec);
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(Status {
        conn: ConnState::Connecting,
        wanted: wanted.clone(),
    });
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let supervisor = Supervisor {
        route,
        config,
        spec,
        inbox: inbox.clone(),
        status: status_tx,
        control: control_rx,
        notices_tx,
        notices,
        nodes: BTreeMap::new(),
        spawned: 0,
        last_place: chrono::Utc::now(),
    };
    let task = tokio::spawn(supervisor.run());
    Subscriber::from_child(
        Child {
            control: control_tx,
            status: status_rx,
            task,
        },
        inbox,
    )
}

struct Supervisor {
    route: Arc<Route>,
    config: SubscriberConfig,
    spec: Arc<KeyspaceSpec>,
    inbox: Arc<Inbox>,
    status: watch::Sender<Status>,
    control: mpsc::UnboundedReceiver<Control>,
    notices_tx: mpsc::UnboundedSender<Notice>,
    notices: mpsc::UnboundedReceiver<Notice>,
    /// One engine per serving primary, by address.
    nodes: BTreeMap<String, Child>,
    spawned: u64,
    /// When the set of nodes was last read and found unchanged.
    last_place: chrono::DateTime<chrono::Utc>,
}

impl Supervisor {
    async fn run(mut self) {
        self.place().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_down_refresh = tokio::time::Instant::now();
        loop {
            tokio::select! {
                ctl = self.control.recv() => match ctl {
                    None | Some(Control::Shutdown) => break,
                    Some(Control::Retry) => {
                        for child in self.nodes.values() {
                            let _ = child.control.send(Control::Retry);
                        }
                    }
                    // The keyspace patterns are fixed for the run.
                    Some(Control::Subscribe(..) | Control::Unsubscribe(..)) => {}
                },
                Some(_notice) = self.notices.recv() => {
                    while self.notices.try_recv().is_ok() {}
                    self.route.invalidate();
                    self.place().await;
                    self.publish_status();
                }
                _ = tick.tick() => {
                    let some_down = self.nodes.values().any(|c| {
                        matches!(c.status.borrow().conn, ConnState::Disconnected { .. })
                    });
                    if some_down && last_down_refresh.elapsed() >= DOWN_REFRESH {
                        last_down_refresh = tokio::time::Instant::now();
                        self.route.invalidate();
                    }
                    self.place().await;
                    self.publish_status();
                }
            }
        }
        let children: Vec<Child> = std::mem::take(&mut self.nodes).into_values().collect();
        for c in children {
            stop(c).await;
        }
        self.status.send_modify(|s| s.conn = ConnState::Stopped);
    }

    /// One engine on every serving primary, none elsewhere. New engines start before
    /// old ones stop, so a moved node's gap ends when its successor already listens.
    async fn place(&mut self) {
        let Some(desired) = self.desired().await else {
            return;
        };
        let mut added = Vec::new();
        for (addr, target) in &desired {
            if self.nodes.contains_key(addr) {
                continue;
            }
            self.spawned += 1;
            let mut config = self.config.clone();
            config.route = None;
            config.target = target.clone();
            // Each connection numbers its events in its own range.
            let base = (self.spawned % 255 + 1) << 40;
            let child = spawn_engine(
                config,
                super::subscriptions(&self.spec),
                self.inbox.clone(),
                Some(self.notices_tx.clone()),
                base,
            );
            self.nodes.insert(addr.clone(), child);
            added.push(addr.clone());
        }
        let gone: Vec<String> = self
            .nodes
            .keys()
            .filter(|a| !desired.contains_key(*a))
            .cloned()
            .collect();
        let mut handed_over = Vec::new();
        for addr in gone {
            if let Some(child) = self.nodes.remove(&addr) {
                if matches!(child.status.borrow().conn, ConnState::Connected { .. }) {
                    handed_over.push(addr);
                }
                stop(child).await;
            }
        }
        let now = chrono::Utc::now();
        if !handed_over.is_empty() && !added.is_empty() {
            self.handover_gap(&handed_over, &added, now);
        }
        self.last_place = now;
    }

    /// A node we were still connected to stopped serving and another took over (a
    /// Sentinel failover, a manual cluster failover, resharding to a new primary): its
    /// engine saw no outage, but events on the new node before its engine subscribed are
    /// lost. The route's answers are cached for up to [`ROUTE_CACHE`], so the window
    /// starts that long before the last reading that still named the old node.
    fn handover_gap(&self, old: &[String], new: &[String], now: chrono::DateTime<chrono::Utc>) {
        let from = self.last_place - chrono::TimeDelta::from_std(ROUTE_CACHE).unwrap_or_default();
        self.inbox.push_batch(&mut vec![Delivery::Gap(Gap {
            from,
            to: now,
            reason: format!(
                "node {}: no longer serving, {} took over; events there before redtail \
                 subscribed are lost",
                old.join(", "),
                new.join(", ")
            ),
        })]);
    }

    /// Where events come from now, by address; `None` when the route cannot tell (keep
    /// what runs).
    async fn desired(&self) -> Option<BTreeMap<String, Target>> {
        if !self.route.is_cluster() {
            let target = self.route.target(0).await.ok()?;
            return Some(BTreeMap::from([(target.addr(), target)]));
        }
        let topo = self.route.topology().await?;
        Some(
            topo.serving_primaries()
                .into_iter()
                .map(|n| (n.addr(), self.route.node_target(n)))
                .collect(),
        )
    }

    /// Connected when every node's engine is; otherwise the first that is not, named.
    fn publish_status(&self) {
        let mut conn = if self.nodes.is_empty() {
            ConnState::Connecting
        } else {
            ConnState::Connected {
                since: chrono::Utc::now(),
            }
        };
        let mut earliest = None;
        for (addr, child) in &self.nodes {
            let mut c = child.status.borrow().conn.clone();
            match &mut c {
                ConnState::Connected { since } => {
                    earliest =
                        Some(earliest.map_or(*since, |e: chrono::DateTime<_>| e.min(*since)));
                }
                ConnState::Disconnected { error, .. } => {
                    *error = format!("keyspace events from {addr}: {error}");
                    conn = c;
                    break;
                }
                ConnState::Connecting | ConnState::Stopped => {
                    conn = ConnState::Connecting;
                }
            }
        }
        if let (ConnState::Connected { since }, Some(e)) = (&mut conn, earliest) {
            *since = e;
        }
        self.status.send_if_modified(|s| {
            let changed = s.conn != conn;
            s.conn = conn;
            changed
        });
    }
}

async fn stop(child: Child) {
    let _ = child.control.send(Control::Shutdown);
    let mut task = child.task;
    if tokio::time::timeout(Duration::from_secs(2), &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
}
