//! One engine on each node that owns keys, holding the same subscriptions: through
//! Sentinel the primary the Sentinels name (channel subscriptions and keyspace events),
//! in a Redis Cluster every serving primary (keyspace events: each publishes only its
//! own keys'). The set is read from the route (topology / Sentinel answer, confirmed
//! at least every second) and re-checked on a tick and whenever an engine loses its
//! node, so a failover or a new primary after resharding gets its own engine, and an
//! engine whose node stopped serving is stopped. An engine that followed the route by
//! itself would stay on a demoted primary: it keeps its connection until the Sentinels
//! reconfigure the node, up to 10 s later, and meanwhile nothing published on the new
//! primary reaches it (and as a replica it would emit replicated keyspace events,
//! expirations as `del`). Moving leaves a gap from when the old node was last known to
//! serve to when the new engine has subscribed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::watch;

use super::{first_down, NodeEngine, Nodes, Placement, Reaction};
use crate::redis::conn::Target;
use crate::redis::message::SubKind;
use crate::redis::route::Route;
use crate::redis::subscriber::{
    ConnState, Control, PendingGap, Status, SubscriberConfig, Subscriptions,
};

/// How old a cluster topology may be (the route's cache lifetime): a handover's gap
/// starts that long before the last placement that still found the old node serving.
const ROUTE_CACHE: Duration = Duration::from_secs(5);

/// The same subscriptions on every node that owns keys.
pub(in crate::redis) struct Primaries {
    wanted: Subscriptions,
    /// What a status names when an engine is down ("keyspace events from").
    status_what: &'static str,
    /// Keyspace events (every primary of a cluster), not channels through Sentinel.
    keyspace: bool,
    /// When the set of nodes was last read.
    last_place: DateTime<Utc>,
    /// Since when, and why, the route cannot say where to go (no Sentinel answers, an
    /// unknown master name): the status while no engine runs yet.
    route_error: Mutex<Option<(DateTime<Utc>, String)>>,
}

impl Placement for Primaries {
    /// What that node's engine is subscribed to (the same everywhere).
    type Held = Subscriptions;

    fn new(config: &SubscriberConfig, wanted: Subscriptions) -> Primaries {
        Primaries {
            wanted,
            status_what: if config.keyspace.is_some() {
                "keyspace events from"
            } else {
                "subscriptions on"
            },
            keyspace: config.keyspace.is_some(),
            last_place: Utc::now(),
            route_error: Mutex::new(None),
        }
    }

    /// Where the subscriptions go now, by address.
    async fn desired(
        &self,
        route: &Route,
        _running: &Nodes<Subscriptions>,
    ) -> Option<BTreeMap<String, (Target, Subscriptions)>> {
        if !route.is_cluster() {
            let target = route.target(0).await;
            let mut error = self.route_error.lock().unwrap_or_else(|e| e.into_inner());
            let target = match target {
                Ok(target) => {
                    *error = None;
                    target
                }
                Err(e) => {
                    let since = error.as_ref().map_or_else(Utc::now, |(since, _)| *since);
                    *error = Some((since, format!("{e:#}")));
                    return None;
                }
            };
            return Some(BTreeMap::from([(
                target.addr(),
                (target, self.wanted.clone()),
            )]));
        }
        let topo = route.topology().await?;
        Some(
            topo.serving_primaries()
                .into_iter()
                .map(|n| (n.addr(), (route.node_target(n), self.wanted.clone())))
                .collect(),
        )
    }

    fn subscriptions(&self, held: &Subscriptions) -> Subscriptions {
        held.clone()
    }

    /// Subscribe what is new, drop what left.
    fn update(&self, engine: &mut NodeEngine<Subscriptions>, want: Subscriptions) {
        for kind in [SubKind::Channel, SubKind::Pattern, SubKind::Shard] {
            let (held, wanted) = (engine.held.set(kind), want.set(kind));
            let gone: Vec<_> = held.difference(wanted).cloned().collect();
            if !gone.is_empty() {
                let _ = engine.child.control.send(Control::Unsubscribe(kind, gone));
            }
            let new: Vec<_> = wanted.difference(held).cloned().collect();
            if !new.is_empty() {
                let _ = engine.child.control.send(Control::Subscribe(kind, new));
            }
        }
        engine.held = want;
    }

    /// A node we were still connected to stopped serving and another took over (a
    /// Sentinel failover, a manual cluster failover, resharding to a new primary): its
    /// engine saw no outage, but what was published on the new node before its engine
    /// subscribed is lost. The window starts when the Sentinels last named the old node;
    /// in a Cluster, a topology up to [`ROUTE_CACHE`] old before the last placement.
    fn handover(&self, route: &Route, old: &[String], new: &[String]) -> Option<PendingGap> {
        let cached = self.last_place - chrono::TimeDelta::from_std(ROUTE_CACHE).unwrap_or_default();
        let from = old
            .iter()
            .map(|a| route.last_named_primary(a).unwrap_or(cached))
            .min()
            .unwrap_or(cached);
        let reason = format!(
            "node {} no longer serves; {} took over",
            old.join(", "),
            new.join(", ")
        );
        Some(PendingGap {
            from,
            reason,
            handover: true,
        })
    }

    fn placed(&mut self) {
        self.last_place = Utc::now();
    }

    /// The same change on every node's engine.
    fn control(&mut self, ctl: Control, nodes: &mut Nodes<Subscriptions>) -> Reaction {
        if self.wanted.apply(&ctl).is_none() {
            return Reaction::None;
        }
        for node in nodes.values_mut() {
            self.update(node, self.wanted.clone());
        }
        Reaction::Status
    }

    /// Connected when every node's engine is; otherwise the first that is not, named.
    fn publish_status(&self, nodes: &Nodes<Subscriptions>, status: &watch::Sender<Status>) {
        let route_error = self.route_error.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match (nodes.is_empty(), route_error.as_ref()) {
            // Nowhere to go yet: say why (a consumer may stop when it never connected).
            (true, Some((since, error))) => ConnState::Disconnected {
                since: *since,
                error: error.clone(),
                retry_at: tokio::time::Instant::now() + super::TICK,
                attempt: 0,
                fatal: false,
                ever_connected: false,
            },
            _ => first_down(nodes, self.status_what).unwrap_or_else(|| all_connected(nodes)),
        };
        drop(route_error);
        // The primary reached: in a handover (two engines connected a moment) the one
        // not named before, the new primary's.
        let before = status.borrow().node.clone();
        let connected: Vec<String> = (nodes.values())
            .filter_map(|n| {
                let s = n.child.status.borrow();
                matches!(s.conn, ConnState::Connected { .. }).then(|| s.node.clone())?
            })
            .collect();
        let node = (connected.iter().find(|n| Some(*n) != before.as_ref()))
            .or(connected.first())
            .cloned()
            .or(before);
        // Keyspace events: every node followed (a cluster's primaries).
        let keyspace_nodes = if self.keyspace { connected } else { Vec::new() };
        status.send_if_modified(|s| {
            let changed = s.conn != conn
                || s.wanted != self.wanted
                || s.node != node
                || s.keyspace_nodes != keyspace_nodes;
            s.conn = conn;
            s.wanted = self.wanted.clone();
            s.node = node;
            s.keyspace_nodes = keyspace_nodes;
            changed
        });
    }
}

/// Connected since the earliest engine connected when all are (and there is one);
/// otherwise still connecting.
fn all_connected<H>(nodes: &Nodes<H>) -> ConnState {
    let mut earliest: Option<DateTime<Utc>> = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::keyspace::KeyspaceSpec;
    use crate::redis::sentinel::SentinelSpec;
    use crate::redis::subscriber::Child;
    use bytes::Bytes;
    use tokio::sync::mpsc;

    fn placement(keyspace: bool) -> Primaries {
        let mut config = SubscriberConfig::new(Target::default());
        if keyspace {
            config.keyspace = Some(std::sync::Arc::new(KeyspaceSpec {
                globs: vec![Bytes::from_static(b"*")],
                events: None,
                db: None,
            }));
        }
        Primaries::new(&config, Subscriptions::default())
    }

    /// A subscribe or unsubscribe reaches the engine on the primary as that one change,
    /// and is what a new engine (after a failover) starts with.
    #[tokio::test]
    async fn changes_reach_the_running_engine_and_the_next_one() {
        let mut p = placement(false);
        let (control, mut commands) = mpsc::unbounded_channel();
        let (_, status) = watch::channel(Status::connecting(Subscriptions::default()));
        let child = Child {
            control,
            status,
            task: tokio::spawn(async {}),
        };
        let mut nodes: Nodes<Subscriptions> = BTreeMap::new();
        nodes.insert(
            "127.0.0.1:7001".into(),
            NodeEngine {
                child,
                held: Subscriptions::default(),
            },
        );
        let ch = |n: &'static str| vec![Bytes::from_static(n.as_bytes())];
        p.control(Control::Subscribe(SubKind::Channel, ch("a")), &mut nodes);
        p.control(Control::Subscribe(SubKind::Pattern, ch("p:*")), &mut nodes);
        p.control(Control::Unsubscribe(SubKind::Channel, ch("a")), &mut nodes);
        let mut sent = Vec::new();
        while let Ok(c) = commands.try_recv() {
            sent.push(match c {
                Control::Subscribe(k, n) => format!("+{k:?} {n:?}"),
                Control::Unsubscribe(k, n) => format!("-{k:?} {n:?}"),
                _ => "other".into(),
            });
        }
        assert_eq!(
            sent,
            [
                r#"+Channel [b"a"]"#,
                r#"+Pattern [b"p:*"]"#,
                r#"-Channel [b"a"]"#
            ]
        );
        let held = &nodes["127.0.0.1:7001"].held;
        assert_eq!(p.subscriptions(held), p.wanted);
        assert!(p.wanted.channels.is_empty() && p.wanted.patterns.len() == 1);
    }

    /// The handover's gap starts when the Sentinels last named the old primary, and
    /// names both nodes (the row's wording, "moved to the new primary after …", comes
    /// from `Gap::describe`).
    #[test]
    fn a_handover_gap_starts_when_the_old_primary_was_last_named() {
        let spec = SentinelSpec::parse(&["s1:26379".into()], "mymaster").unwrap();
        let route = Route::sentinel(Target::default(), spec);
        // Never named (a cluster topology): a cache lifetime before the last placement.
        let p = placement(false);
        let gap = p
            .handover(
                &route,
                &["127.0.0.1:7001".into()],
                &["127.0.0.1:7002".into()],
            )
            .unwrap();
        let cached = p.last_place - chrono::TimeDelta::from_std(ROUTE_CACHE).unwrap();
        assert_eq!(gap.from, cached);
        assert_eq!(
            gap.reason,
            "node 127.0.0.1:7001 no longer serves; 127.0.0.1:7002 took over"
        );
        assert!(gap.handover);
    }
}
