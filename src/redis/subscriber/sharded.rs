//! Subscriptions in a Redis Cluster. Classic SUBSCRIBE/PSUBSCRIBE need one connection to
//! any node (PUBLISH reaches every node); SSUBSCRIBE must go to the node that owns the
//! shard channel's slot. The supervisor runs one engine for the classic subscriptions
//! (moving to another node when its node dies) and one engine per slot owner for shard
//! channels, all feeding the same inbox, and moves shard channels when the topology
//! changes (failover, resharding, MOVED, a server-side SUNSUBSCRIBE).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use super::{
    spawn_engine, Child, ConnState, Control, PendingGap, Status, SubscriberConfig, Subscriptions,
};
use crate::redis::conn::Target;
use crate::redis::inbox::Inbox;
use crate::redis::message::SubKind;
use crate::redis::per_node::{self, first_down, NodeEngine, Nodes, Placement, Reaction};
use crate::redis::route::Route;

/// The cluster subscriber: the shared per-node supervisor with shard channels on their
/// slot owners.
pub(in crate::redis) type Supervisor = per_node::Supervisor<ShardOwners>;

/// One engine for the classic subscriptions, and one per node that owns the slot of a
/// wanted shard channel, holding those channels.
pub(in crate::redis) struct ShardOwners {
    config: SubscriberConfig,
    wanted: Subscriptions,
    /// The classic engine (channels and patterns).
    main: Option<Child>,
    /// Shard channels the last placement moved off a running, connected engine: the
    /// node each left.
    moved: std::sync::Mutex<BTreeMap<Bytes, String>>,
}

impl Placement for ShardOwners {
    /// The shard channels on that node's connection.
    type Held = BTreeSet<Bytes>;

    fn new(config: &SubscriberConfig, wanted: Subscriptions) -> ShardOwners {
        ShardOwners {
            config: config.clone(),
            wanted,
            main: None,
            moved: Default::default(),
        }
    }

    fn start(&mut self, inbox: &Arc<Inbox>) {
        let classic = Subscriptions {
            channels: self.wanted.channels.clone(),
            patterns: self.wanted.patterns.clone(),
            shard_channels: BTreeSet::new(),
        };
        // The classic engine follows the route: a dead node makes it try the next one.
        self.main = Some(spawn_engine(
            self.config.clone(),
            classic,
            inbox.clone(),
            None,
            0,
            None,
        ));
    }

    fn retry_extra(&self) {
        if let Some(main) = &self.main {
            let _ = main.control.send(Control::Retry);
        }
    }

    fn take_extra(&mut self) -> Vec<Child> {
        self.main.take().into_iter().collect()
    }

    /// Every wanted shard channel on its slot owner's connection.
    async fn desired(
        &self,
        route: &Route,
        running: &Nodes<Self::Held>,
    ) -> Option<BTreeMap<String, (Target, Self::Held)>> {
        if self.wanted.shard_channels.is_empty() && running.is_empty() {
            return None;
        }
        let topo = route.topology().await?;
        let mut desired: BTreeMap<String, (Target, BTreeSet<Bytes>)> = BTreeMap::new();
        for ch in &self.wanted.shard_channels {
            // A slot nobody serves (cluster down): the channel stays where it is.
            let Some(node) = topo.owner_of_key(ch) else {
                if let Some((addr, _)) = running.iter().find(|(_, s)| s.held.contains(ch)) {
                    let addr = addr.clone();
                    let target = route.node_target(
                        topo.nodes
                            .iter()
                            .find(|n| n.addr() == addr)
                            .unwrap_or(&topo.nodes[0]),
                    );
                    desired
                        .entry(addr)
                        .or_insert_with(|| (target, BTreeSet::new()))
                        .1
                        .insert(ch.clone());
                }
                continue;
            };
            desired
                .entry(node.addr())
                .or_insert_with(|| (route.node_target(node), BTreeSet::new()))
                .1
                .insert(ch.clone());
        }
        *self.moved.lock().unwrap_or_else(|e| e.into_inner()) = moved_off(&desired, running);
        Some(desired)
    }

    fn subscriptions(&self, held: &Self::Held) -> Subscriptions {
        Subscriptions {
            shard_channels: held.clone(),
            ..Subscriptions::default()
        }
    }

    /// Shard channels that moved here from a node that still had them, connected (their
    /// slot migrated, or a replica was promoted while the old primary answered): what was
    /// published on this node before redtail's SSUBSCRIBE is lost, so the engine reports
    /// a gap from now, when redtail saw the move, to its next confirmed subscription.
    fn moved_in(&self, addr: &str, held: &Self::Held) -> Option<PendingGap> {
        let moved = self.moved.lock().unwrap_or_else(|e| e.into_inner());
        let from: BTreeSet<&str> = (held.iter())
            .filter_map(|ch| moved.get(ch).map(String::as_str))
            .filter(|old| *old != addr)
            .collect();
        (!from.is_empty()).then(|| PendingGap {
            from: chrono::Utc::now(),
            reason: format!(
                "shard channels moved from {} to {addr}",
                from.into_iter().collect::<Vec<_>>().join(", ")
            ),
            handover: true,
        })
    }

    /// Take away the channels the node no longer owns, then give it the new ones.
    fn update(&self, engine: &mut NodeEngine<Self::Held>, want: Self::Held) {
        let gone: Vec<Bytes> = engine.held.difference(&want).cloned().collect();
        if !gone.is_empty() {
            let _ = engine
                .child
                .control
                .send(Control::Unsubscribe(SubKind::Shard, gone));
        }
        let new: Vec<Bytes> = want.difference(&engine.held).cloned().collect();
        if !new.is_empty() {
            let _ = engine
                .child
                .control
                .send(Control::Subscribe(SubKind::Shard, new));
        }
        engine.held = want;
    }

    fn control(&mut self, ctl: Control, _nodes: &mut Nodes<Self::Held>) -> Reaction {
        let Some((kind, _)) = self.wanted.apply(&ctl) else {
            return Reaction::None;
        };
        if kind == SubKind::Shard {
            return Reaction::Place;
        }
        if let Some(main) = &self.main {
            let _ = main.control.send(ctl);
        }
        Reaction::Status
    }

    /// One status for the whole set: the classic connection's, unless a shard
    /// connection is down (then that, naming the node); with the nodes they are on.
    fn publish_status(&self, nodes: &Nodes<Self::Held>, status: &watch::Sender<Status>) {
        let (main, node) = self
            .main
            .as_ref()
            .map_or((ConnState::Connecting, None), |m| {
                let s = m.status.borrow();
                (s.conn.clone(), s.node.clone())
            });
        let shard_nodes: Vec<String> = nodes.keys().cloned().collect();
        let conn = match main {
            ConnState::Connected { .. } => first_down(nodes, "shard channels on").unwrap_or(main),
            other => other,
        };
        let wanted = self.wanted.clone();
        status.send_modify(|s| {
            s.conn = conn;
            s.wanted = wanted;
            s.node = node;
            s.shard_nodes = shard_nodes;
        });
    }
}

/// The shard channels `desired` places on another node than the running, connected
/// engine holding them now: each with the node it leaves.
fn moved_off(
    desired: &BTreeMap<String, (Target, BTreeSet<Bytes>)>,
    running: &Nodes<BTreeSet<Bytes>>,
) -> BTreeMap<Bytes, String> {
    let mut moved = BTreeMap::new();
    for (old, engine) in running {
        if !matches!(
            engine.child.status.borrow().conn,
            ConnState::Connected { .. }
        ) {
            // Its own outage gap covers what it missed.
            continue;
        }
        for ch in &engine.held {
            let stays = desired
                .get(old)
                .is_some_and(|(_, chans)| chans.contains(ch));
            let placed = desired.values().any(|(_, chans)| chans.contains(ch));
            if !stays && placed {
                moved.insert(ch.clone(), old.clone());
            }
        }
    }
    moved
}
