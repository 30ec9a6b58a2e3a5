//! One subscription engine per node, supervised: what the sharded subscriber (one engine
//! per shard channel owner), keyspace events (one per serving primary) and channel
//! subscriptions through Sentinel (one on the primary, [`primaries`]) share.
//!
//! The supervisor asks its [`Placement`] which nodes should run an engine and what each
//! should hold, starts the missing engines, hands the running ones their new set, and
//! stops those whose node is no longer wanted. It places again on a tick, at once when an
//! engine reports that its node redirected, dropped a subscription or went away (reading
//! the topology afresh), and more often while some engine is down, so a failover or a
//! resharding moves the work to the new node. Every engine feeds the one inbox and
//! reports its own outages as gaps; the placement merges their states into one status.
//! A node stopped while still connected (another took over) leaves a gap too: the
//! placement words it ([`Placement::handover`]) and the successor's engine reports it
//! when it has subscribed, before its first message.

pub(super) mod primaries;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::conn::Target;
use super::inbox::Inbox;
use super::route::Route;
use super::subscriber::{
    spawn_engine, Child, ConnState, Control, Notice, PendingGap, Status, SubscriberConfig,
    Subscriptions,
};

/// How often the merged status is republished and the placement re-checked.
const TICK: Duration = Duration::from_millis(250);
/// While some node's engine is down, the topology is read again this often (a failover
/// takes a few seconds; the new node is picked up within this delay).
const DOWN_REFRESH: Duration = Duration::from_secs(1);
/// How long a stopping engine may take before its task is aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// One node's engine and what it holds now (its shard channels; nothing for keyspace
/// events, whose patterns are fixed).
pub(super) struct NodeEngine<H> {
    pub(super) child: Child,
    pub(super) held: H,
}

/// The running engines, by node address.
pub(super) type Nodes<H> = BTreeMap<String, NodeEngine<H>>;

/// What a control message asks of the supervisor once the placement has handled it.
pub(super) enum Reaction {
    /// Nothing to do.
    None,
    /// Republish the merged status.
    Status,
    /// Place again, then republish.
    Place,
}

/// What differs between the per-node supervisors: which nodes, holding what, and how
/// their states merge into one.
pub(super) trait Placement: Send + 'static {
    /// What one node's engine subscribes to.
    type Held: Send + Sync + 'static;

    /// The placement for a supervisor that starts out wanting `wanted`.
    fn new(config: &SubscriberConfig, wanted: Subscriptions) -> Self;

    /// Engines outside the per-node set that the placement runs itself (the sharded
    /// subscriber's classic connection); started before the first placement.
    fn start(&mut self, _inbox: &Arc<Inbox>) {}

    /// Ask those extra engines to connect now.
    fn retry_extra(&self) {}

    /// Those extra engines, to stop with the rest.
    fn take_extra(&mut self) -> Vec<Child> {
        Vec::new()
    }

    /// Where engines should run now and what each should hold, by address; `None` when
    /// the route cannot tell (keep what runs).
    fn desired(
        &self,
        route: &Route,
        running: &Nodes<Self::Held>,
    ) -> impl Future<Output = Option<BTreeMap<String, (Target, Self::Held)>>> + Send;

    /// The subscriptions a new engine starts with.
    fn subscriptions(&self, held: &Self::Held) -> Subscriptions;

    /// Hand a running engine its new set (subscribe what is new, drop what left).
    fn update(&self, _engine: &mut NodeEngine<Self::Held>, _want: Self::Held) {}

    /// The gap (start, reason) when the engines on `old` are stopped while still
    /// connected and `new` nodes get one (another node took over): reported by the first
    /// new engine once it has subscribed. `None`: no gap for this placement.
    fn handover(&self, _route: &Route, _old: &[String], _new: &[String]) -> Option<PendingGap> {
        None
    }

    /// The gap for the node at `addr` about to hold `held`, for what moved there from a
    /// node that still answered (a migrated slot): a running engine is told before its
    /// new subscriptions, a new one starts with it. `None`: nothing moved in.
    fn moved_in(&self, _addr: &str, _held: &Self::Held) -> Option<PendingGap> {
        None
    }

    /// A placement has been read and applied (or found unchanged).
    fn placed(&mut self) {}

    /// A subscribe or unsubscribe request; `nodes` are the running engines.
    fn control(&mut self, ctl: Control, nodes: &mut Nodes<Self::Held>) -> Reaction;

    /// Publish one status for the whole set.
    fn publish_status(&self, nodes: &Nodes<Self::Held>, status: &watch::Sender<Status>);
}

/// The supervisor task's state.
pub(super) struct Supervisor<P: Placement> {
    route: Arc<Route>,
    config: SubscriberConfig,
    placement: P,
    inbox: Arc<Inbox>,
    status: watch::Sender<Status>,
    control: mpsc::UnboundedReceiver<Control>,
    notices_tx: mpsc::UnboundedSender<Notice>,
    notices: mpsc::UnboundedReceiver<Notice>,
    nodes: Nodes<P::Held>,
    spawned: u64,
}

impl<P: Placement> Supervisor<P> {
    pub(super) fn new(
        route: Arc<Route>,
        config: SubscriberConfig,
        wanted: Subscriptions,
        inbox: Arc<Inbox>,
        status: watch::Sender<Status>,
        control: mpsc::UnboundedReceiver<Control>,
    ) -> Supervisor<P> {
        let (notices_tx, notices) = mpsc::unbounded_channel();
        Supervisor {
            placement: P::new(&config, wanted),
            route,
            config,
            inbox,
            status,
            control,
            notices_tx,
            notices,
            nodes: BTreeMap::new(),
            spawned: 0,
        }
    }

    /// Run the supervisor as a task, returning the handle a `Subscriber` wraps.
    pub(super) fn spawn(
        route: Arc<Route>,
        config: SubscriberConfig,
        wanted: Subscriptions,
        inbox: Arc<Inbox>,
    ) -> Child {
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (status_tx, status_rx) = watch::channel(Status::connecting(wanted.clone()));
        let supervisor = Supervisor::<P>::new(route, config, wanted, inbox, status_tx, control_rx);
        Child {
            control: control_tx,
            status: status_rx,
            task: tokio::spawn(supervisor.run()),
        }
    }

    pub(super) async fn run(mut self) {
        self.placement.start(&self.inbox);
        self.place().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_down_refresh = tokio::time::Instant::now();
        loop {
            tokio::select! {
                ctl = self.control.recv() => match ctl {
                    None | Some(Control::Shutdown) => break,
                    Some(Control::Retry) => self.retry(),
                    Some(ctl) => match self.placement.control(ctl, &mut self.nodes) {
                        Reaction::None => {}
                        Reaction::Status => self.publish_status(),
                        Reaction::Place => {
                            self.place().await;
                            self.publish_status();
                        }
                    },
                },
                Some(_notice) = self.notices.recv() => {
                    // Collapse a burst of notices into one refresh.
                    while self.notices.try_recv().is_ok() {}
                    self.route.invalidate();
                    self.place().await;
                    self.publish_status();
                }
                _ = tick.tick() => {
                    let some_down = self.nodes.values().any(|n| {
                        matches!(n.child.status.borrow().conn, ConnState::Disconnected { .. })
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
        self.stop_all().await;
    }

    fn retry(&self) {
        for node in self.nodes.values() {
            let _ = node.child.control.send(Control::Retry);
        }
        self.placement.retry_extra();
    }

    async fn stop_all(&mut self) {
        let mut children: Vec<Child> = std::mem::take(&mut self.nodes)
            .into_values()
            .map(|n| n.child)
            .collect();
        children.extend(self.placement.take_extra());
        for child in children {
            stop(child).await;
        }
        self.status.send_modify(|s| s.conn = ConnState::Stopped);
    }

    /// An engine wherever the placement wants one, holding what it wants there, and none
    /// elsewhere. New engines start before old ones stop, so a moved node's gap ends when
    /// its successor already listens.
    async fn place(&mut self) {
        let Some(desired) = self.placement.desired(&self.route, &self.nodes).await else {
            return;
        };
        let gone: Vec<String> = self
            .nodes
            .keys()
            .filter(|addr| !desired.contains_key(*addr))
            .cloned()
            .collect();
        // Stopped while still connected: its node stopped serving without dropping us.
        let handed_over: Vec<String> = gone
            .iter()
            .filter(|a| {
                self.nodes.get(*a).is_some_and(|n| {
                    matches!(n.child.status.borrow().conn, ConnState::Connected { .. })
                })
            })
            .cloned()
            .collect();
        let added: Vec<String> = desired
            .keys()
            .filter(|a| !self.nodes.contains_key(*a))
            .cloned()
            .collect();
        let mut handover = (!handed_over.is_empty() && !added.is_empty())
            .then(|| self.placement.handover(&self.route, &handed_over, &added))
            .flatten();
        for (addr, (target, want)) in desired {
            let moved_in = self.placement.moved_in(&addr, &want);
            match self.nodes.get_mut(&addr) {
                Some(engine) => {
                    if let Some(gap) = moved_in {
                        let _ = engine.child.control.send(Control::OpenGap(gap));
                    }
                    self.placement.update(engine, want);
                }
                None => {
                    let gap = handover.take().or(moved_in);
                    let child = self.spawn_engine(target, &want, gap);
                    self.nodes.insert(addr, NodeEngine { child, held: want });
                }
            }
        }
        for addr in gone {
            if let Some(node) = self.nodes.remove(&addr) {
                stop(node.child).await;
            }
        }
        self.placement.placed();
    }

    /// A new engine on `target`, without a route of its own: the supervisor moves it.
    fn spawn_engine(
        &mut self,
        target: Target,
        held: &P::Held,
        handover: Option<PendingGap>,
    ) -> Child {
        self.spawned += 1;
        let mut config = self.config.clone();
        config.route = None;
        config.target = target;
        // Each connection numbers its messages in its own range.
        let base = (self.spawned % 255 + 1) << 40;
        spawn_engine(
            config,
            self.placement.subscriptions(held),
            self.inbox.clone(),
            Some(self.notices_tx.clone()),
            base,
            handover,
        )
    }

    fn publish_status(&self) {
        self.placement.publish_status(&self.nodes, &self.status);
    }
}

/// Ask an engine to stop; abort it if it has not within [`STOP_TIMEOUT`].
pub(super) async fn stop(child: Child) {
    let _ = child.control.send(Control::Shutdown);
    let mut task = child.task;
    if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
        task.abort();
    }
}

/// The first engine that is down, its error prefixed with `what` and its node's address
/// (`keyspace events from 10.0.0.1:7000: connection refused`).
pub(super) fn first_down<H>(nodes: &Nodes<H>, what: &str) -> Option<ConnState> {
    nodes.iter().find_map(|(addr, node)| {
        let mut conn = node.child.status.borrow().conn.clone();
        match &mut conn {
            ConnState::Disconnected { error, .. } => {
                *error = format!("{what} {addr}: {error}");
                Some(conn)
            }
            _ => None,
        }
    })
}
