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

use tokio::sync::watch;

use super::decode::KeyspaceSpec;
use crate::redis::conn::Target;
use crate::redis::inbox::Inbox;
use crate::redis::message::{Delivery, Gap};
use crate::redis::per_node::{first_down, Nodes, Placement, Reaction, Supervisor};
use crate::redis::route::Route;
use crate::redis::subscriber::{
    ConnState, Control, Status, Subscriber, SubscriberConfig, Subscriptions,
};

/// How old the route's topology or Sentinel answer may be (its cache lifetime).
const ROUTE_CACHE: Duration = Duration::from_secs(5);

pub(super) fn spawn(
    route: Arc<Route>,
    config: SubscriberConfig,
    spec: Arc<KeyspaceSpec>,
) -> Subscriber {
    let inbox = Arc::new(Inbox::new(config.caps));
    let wanted = super::subscriptions(&spec);
    let child = Supervisor::<EveryPrimary>::spawn(route, config, wanted, inbox.clone());
    Subscriber::from_child(child, inbox)
}

/// One engine on every serving primary (through Sentinel: the one it names), each with
/// the same keyspace patterns.
struct EveryPrimary {
    wanted: Subscriptions,
    /// When the set of nodes was last read and found unchanged.
    last_place: chrono::DateTime<chrono::Utc>,
}

impl Placement for EveryPrimary {
    /// The patterns are the same on every node: nothing per node.
    type Held = ();

    fn new(_config: &SubscriberConfig, wanted: Subscriptions) -> EveryPrimary {
        EveryPrimary {
            wanted,
            last_place: chrono::Utc::now(),
        }
    }

    /// Where events come from now, by address.
    async fn desired(
        &self,
        route: &Route,
        _running: &Nodes<()>,
    ) -> Option<BTreeMap<String, (Target, ())>> {
        if !route.is_cluster() {
            let target = route.target(0).await.ok()?;
            return Some(BTreeMap::from([(target.addr(), (target, ()))]));
        }
        let topo = route.topology().await?;
        Some(
            topo.serving_primaries()
                .into_iter()
                .map(|n| (n.addr(), (route.node_target(n), ())))
                .collect(),
        )
    }

    fn subscriptions(&self, _held: &()) -> Subscriptions {
        self.wanted.clone()
    }

    fn placed(&mut self, handed_over: &[String], added: &[String], inbox: &Inbox) {
        let now = chrono::Utc::now();
        if !handed_over.is_empty() && !added.is_empty() {
            inbox.push_batch(&mut vec![self.handover_gap(handed_over, added, now)]);
        }
        self.last_place = now;
    }

    /// The keyspace patterns are fixed for the run.
    fn control(&mut self, _ctl: Control) -> Reaction {
        Reaction::None
    }

    /// Connected when every node's engine is; otherwise the first that is not, named.
    /// With the nodes the engines really reached (after a failover, the promoted one).
    fn publish_status(&self, nodes: &Nodes<()>, status: &watch::Sender<Status>) {
        let conn =
            first_down(nodes, "keyspace events from").unwrap_or_else(|| all_connected(nodes));
        let reached = connected_nodes(nodes);
        status.send_if_modified(|s| {
            let changed = s.conn != conn || s.keyspace_nodes != reached;
            s.conn = conn;
            s.keyspace_nodes = reached;
            changed
        });
    }
}

impl EveryPrimary {
    /// A node we were still connected to stopped serving and another took over (a
    /// Sentinel failover, a manual cluster failover, resharding to a new primary): its
    /// engine saw no outage, but events on the new node before its engine subscribed are
    /// lost. The route's answers are cached for up to [`ROUTE_CACHE`], so the window
    /// starts that long before the last reading that still named the old node.
    fn handover_gap(
        &self,
        old: &[String],
        new: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Delivery {
        let from = self.last_place - chrono::TimeDelta::from_std(ROUTE_CACHE).unwrap_or_default();
        Delivery::Gap(Gap {
            from,
            to: now,
            reason: format!(
                "node {}: no longer serving, {} took over; events there before redtail \
                 subscribed are lost",
                old.join(", "),
                new.join(", ")
            ),
        })
    }
}

/// The nodes (host:port, as each engine's connection reached them) whose engines are
/// connected, in address order.
fn connected_nodes(nodes: &Nodes<()>) -> Vec<String> {
    nodes
        .values()
        .filter_map(|node| {
            let status = node.child.status.borrow();
            match status.conn {
                ConnState::Connected { .. } => status.node.clone(),
                _ => None,
            }
        })
        .collect()
}

/// Connected since the earliest engine connected when all are (and there is one);
/// otherwise still connecting.
fn all_connected(nodes: &Nodes<()>) -> ConnState {
    let mut earliest: Option<chrono::DateTime<chrono::Utc>> = None;
    for node in nodes.values() {
        match node.child.status.borrow().conn {
            ConnState::Connected { since } => {
                earliest = Some(earliest.map_or(since, |e| e.min(since)));
            }
            _ => return ConnState::Connecting,
        }
    }
    match earliest {
        Some(since) => ConnState::Connected { since },
        None => ConnState::Connecting,
    }
}
