//! Subscriptions in a Redis Cluster. Classic SUBSCRIBE/PSUBSCRIBE need one connection to
//! any node (PUBLISH reaches every node); SSUBSCRIBE must go to the node that owns the
//! shard channel's slot. The supervisor runs one engine for the classic subscriptions
//! (moving to another node when its node dies) and one engine per slot owner for shard
//! channels, all feeding the same inbox, and moves shard channels when the topology
//! changes (failover, resharding, MOVED, a server-side SUNSUBSCRIBE).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::{
    spawn_engine, Child, ConnState, Control, Notice, Status, SubscriberConfig, Subscriptions,
};
use crate::redis::conn::Target;
use crate::redis::inbox::Inbox;
use crate::redis::message::SubKind;
use crate::redis::route::Route;

/// How often the merged status is republished and the shard placement re-checked.
const TICK: Duration = Duration::from_millis(250);
/// While some shard connection is down, the topology is read again this often (a
/// failover takes a few seconds; the new owner is picked up within this delay).
const DOWN_REFRESH: Duration = Duration::from_secs(1);

struct ShardChild {
    child: Child,
    channels: BTreeSet<Bytes>,
}

pub(in crate::redis) struct Supervisor {
    route: Arc<Route>,
    config: SubscriberConfig,
    wanted: Subscriptions,
    inbox: Arc<Inbox>,
    status: watch::Sender<Status>,
    control: mpsc::UnboundedReceiver<Control>,
    notices_tx: mpsc::UnboundedSender<Notice>,
    notices: mpsc::UnboundedReceiver<Notice>,
    main: Option<Child>,
    /// By node address.
    shards: BTreeMap<String, ShardChild>,
    spawned: u64,
}

impl Supervisor {
    pub(in crate::redis) fn new(
        route: Arc<Route>,
        config: SubscriberConfig,
        wanted: Subscriptions,
        inbox: Arc<Inbox>,
        status: watch::Sender<Status>,
        control: mpsc::UnboundedReceiver<Control>,
    ) -> Supervisor {
        let (notices_tx, notices) = mpsc::unbounded_channel();
        Supervisor {
            route,
            config,
            wanted,
            inbox,
            status,
            control,
            notices_tx,
            notices,
            main: None,
            shards: BTreeMap::new(),
            spawned: 0,
        }
    }

    pub(in crate::redis) async fn run(mut self) {
        let classic = Subscriptions {
            channels: self.wanted.channels.clone(),
            patterns: self.wanted.patterns.clone(),
            shard_channels: BTreeSet::new(),
        };
        // The classic engine follows the route: a dead node makes it try the next one.
        self.main = Some(spawn_engine(
            self.config.clone(),
            classic,
            self.inbox.clone(),
            None,
            0,
        ));
        self.place().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_down_refresh = tokio::time::Instant::now();
        loop {
            tokio::select! {
                ctl = self.control.recv() => match ctl {
                    None | Some(Control::Shutdown) => break,
                    Some(Control::Retry) => {
                        let shards = self.shards.values().map(|s| &s.child);
                        for child in self.main.iter().chain(shards) {
                            let _ = child.control.send(Control::Retry);
                        }
                    }
                    Some(Control::Subscribe(kind, names)) => {
                        self.wanted.set_mut(kind).extend(names.iter().cloned());
                        if kind == SubKind::Shard {
                            self.place().await;
                        } else if let Some(m) = &self.main {
                            let _ = m.control.send(Control::Subscribe(kind, names));
                        }
                        self.publish_status();
                    }
                    Some(Control::Unsubscribe(kind, names)) => {
                        let set = self.wanted.set_mut(kind);
                        for n in &names {
                            set.remove(n);
                        }
                        if kind == SubKind::Shard {
                            self.place().await;
                        } else if let Some(m) = &self.main {
                            let _ = m.control.send(Control::Unsubscribe(kind, names));
                        }
                        self.publish_status();
                    }
                },
                Some(_notice) = self.notices.recv() => {
                    // Collapse a burst of notices into one refresh.
                    while self.notices.try_recv().is_ok() {}
                    self.route.invalidate();
                    self.place().await;
                }
                _ = tick.tick() => {
                    let some_down = self.shards.values().any(|s| {
                        matches!(s.child.status.borrow().conn, ConnState::Disconnected { .. })
                    });
                    if some_down && last_down_refresh.elapsed() >= DOWN_REFRESH {
                        last_down_refresh = tokio::time::Instant::now();
                        self.route.invalidate();
                    }
                    // Cheap when the cached topology is fresh.
                    self.place().await;
                    self.publish_status();
                }
            }
        }
        let mut children: Vec<Child> = self.shards.into_values().map(|s| s.child).collect();
        children.extend(self.main.take());
        for c in children {
            stop(c).await;
        }
        self.status.send_modify(|s| s.conn = ConnState::Stopped);
    }

    /// Put every wanted shard channel on its slot owner's connection.
    async fn place(&mut self) {
        if self.wanted.shard_channels.is_empty() && self.shards.is_empty() {
            return;
        }
        let Some(topo) = self.route.topology().await else {
            return;
        };
        let mut desired: BTreeMap<String, (Target, BTreeSet<Bytes>)> = BTreeMap::new();
        for ch in &self.wanted.shard_channels {
            // A slot nobody serves (cluster down): the channel stays where it is.
            let Some(node) = topo.owner_of_key(ch) else {
                if let Some((addr, _)) = self.shards.iter().find(|(_, s)| s.channels.contains(ch)) {
                    let addr = addr.clone();
                    let target = self.route.node_target(
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
                .or_insert_with(|| (self.route.node_target(node), BTreeSet::new()))
                .1
                .insert(ch.clone());
        }
        // Take channels away from connections that no longer own them.
        let mut retired = Vec::new();
        for (addr, shard) in self.shards.iter_mut() {
            let keep = desired.get(addr).map(|d| &d.1);
            let gone: Vec<Bytes> = shard
                .channels
                .iter()
                .filter(|c| keep.is_none_or(|k| !k.contains(*c)))
                .cloned()
                .collect();
            if !gone.is_empty() {
                for c in &gone {
                    shard.channels.remove(c);
                }
                let _ = shard
                    .child
                    .control
                    .send(Control::Unsubscribe(SubKind::Shard, gone));
            }
            if shard.channels.is_empty() {
                retired.push(addr.clone());
            }
        }
        for addr in retired {
            if let Some(s) = self.shards.remove(&addr) {
                stop(s.child).await;
            }
        }
        // …and give them to their owners.
        for (addr, (target, channels)) in desired {
            match self.shards.get_mut(&addr) {
                Some(shard) => {
                    let new: Vec<Bytes> = channels.difference(&shard.channels).cloned().collect();
                    if !new.is_empty() {
                        shard.channels.extend(new.iter().cloned());
                        let _ = shard
                            .child
                            .control
                            .send(Control::Subscribe(SubKind::Shard, new));
                    }
                }
                None => {
                    self.spawned += 1;
                    let mut config = self.config.clone();
                    config.route = None;
                    config.target = target;
                    let initial = Subscriptions {
                        shard_channels: channels.clone(),
                        ..Subscriptions::default()
                    };
                    // Each connection numbers its messages in its own range.
                    let base = (self.spawned % 255 + 1) << 40;
                    let child = spawn_engine(
                        config,
                        initial,
                        self.inbox.clone(),
                        Some(self.notices_tx.clone()),
                        base,
                    );
                    self.shards.insert(addr, ShardChild { child, channels });
                }
            }
        }
    }

    /// One status for the whole set: the classic connection's, unless a shard
    /// connection is down (then that, naming the node).
    fn publish_status(&self) {
        let main = self
            .main
            .as_ref()
            .map(|m| m.status.borrow().conn.clone())
            .unwrap_or(ConnState::Connecting);
        let mut conn = main;
        if matches!(conn, ConnState::Connected { .. }) {
            for (addr, s) in &self.shards {
                let mut c = s.child.status.borrow().conn.clone();
                if let ConnState::Disconnected { error, .. } = &mut c {
                    *error = format!("shard channels on {addr}: {error}");
                    conn = c;
                    break;
                }
            }
        }
        let wanted = self.wanted.clone();
        self.status.send_modify(|s| {
            s.conn = conn;
            s.wanted = wanted;
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
