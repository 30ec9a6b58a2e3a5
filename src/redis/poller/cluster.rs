//! Pub/Sub figures from every node of a cluster. `PUBSUB CHANNELS / NUMSUB / NUMPAT /
//! SHARDCHANNELS / SHARDNUMSUB` answer for the node they are sent to only, so each node
//! is asked (in parallel, two round trips each) and the answers are merged: a
//! subscriber is connected to exactly one node, so summing per-node counts counts each
//! subscriber once — replicas included, since clients may subscribe there too.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;

use super::{poll_pubsub, ChannelKind, ChannelStat, PollError, PubSubSnapshot};
use crate::redis::cluster::{Node, Role, Topology};
use crate::redis::conn::Target;
use crate::redis::route::{Pool, Route};

/// One node's share of the figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodePubSub {
    pub addr: String,
    pub id: String,
    pub role: Role,
    pub health: String,
    /// Slots this node serves (0 for replicas).
    pub slots: usize,
    pub channels: usize,
    pub subscribers: i64,
    pub shard_channels: usize,
    pub shard_subscribers: i64,
    pub numpat: i64,
    /// Why this node's figures are missing (they are then not in the totals).
    pub error: Option<String>,
}

/// A channel's cluster total and its (node index, subscribers there) parts.
type Merged = (i64, Vec<(u16, i64)>);

/// Poll every node the route knows. Fails only when no node answered.
pub async fn poll_route(route: &Route, pool: &mut Pool) -> Result<PubSubSnapshot, PollError> {
    let started = Instant::now();
    let taken_at = Utc::now();
    let nodes = route
        .all_nodes()
        .await
        .map_err(|e| PollError::reply("CLUSTER SHARDS", &format!("{e:#}")))?;
    let topo = route.cached_topology();
    let results = poll_nodes(&nodes, pool).await;
    let mut merge = Merge::default();
    for (i, ((node, target), result)) in nodes.iter().zip(results).enumerate() {
        let mut figures = node_figures(node.as_ref(), target, topo.as_deref());
        match result {
            Some(Ok(snap)) => merge.add(i, snap, &mut figures),
            Some(Err((is_conn, message))) => {
                if is_conn {
                    pool.drop_conn(target);
                    route.invalidate();
                }
                merge.first_error.get_or_insert_with(|| message.clone());
                figures.error = Some(message);
            }
            None => figures.error = Some("poll task failed".into()),
        }
        merge.per_node.push(figures);
    }
    if merge.answered == 0 {
        return Err(PollError::reply(
            "PUBSUB CHANNELS",
            &format!(
                "no cluster node answered: {}",
                merge.first_error.unwrap_or_default()
            ),
        ));
    }
    pool.retain(&nodes.iter().map(|(_, t)| t.addr()).collect::<Vec<_>>());
    let mut channels = Vec::with_capacity(merge.channels.len());
    let mut channel_nodes = Vec::with_capacity(merge.channels.len());
    for ((kind, name), (subscribers, where_)) in merge.channels {
        channels.push(ChannelStat {
            name,
            kind,
            subscribers,
        });
        channel_nodes.push(where_);
    }
    Ok(PubSubSnapshot {
        channels,
        numpat: merge.numpat,
        shard_supported: merge.shard_supported,
        taken_at,
        took: started.elapsed(),
        commands_sent: merge.commands_sent,
        round_trips: merge.round_trips,
        nodes: merge.per_node,
        channel_nodes,
    })
}

/// One node's answer: its figures, or (is it a connection error, the message).
type NodeResult = Result<PubSubSnapshot, (bool, String)>;

/// Ask every node in parallel; `None` where a node's task failed.
async fn poll_nodes(nodes: &[(Option<Node>, Target)], pool: &mut Pool) -> Vec<Option<NodeResult>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (_, target)) in nodes.iter().enumerate() {
        let conn = pool.get(target).await;
        tasks.spawn(async move {
            let result = match conn {
                Ok(mut c) => poll_pubsub(&mut c)
                    .await
                    .map_err(|e| (e.is_connection(), e.message)),
                Err(e) => Err((true, format!("{e:#}"))),
            };
            (i, result)
        });
    }
    let mut results: Vec<Option<NodeResult>> = vec![None; nodes.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
    }
    results
}

/// A node's row before its answer is counted in.
fn node_figures(node: Option<&Node>, target: &Target, topo: Option<&Topology>) -> NodePubSub {
    NodePubSub {
        addr: target.addr(),
        id: node.map(|n| n.id.clone()).unwrap_or_default(),
        role: node.map_or(Role::Primary, |n| n.role),
        health: node.map(|n| n.health.clone()).unwrap_or_default(),
        slots: match (topo, node) {
            (Some(t), Some(n)) => t
                .nodes
                .iter()
                .position(|m| m.id == n.id)
                .map_or(0, |idx| t.slots_of(idx)),
            _ => 0,
        },
        channels: 0,
        subscribers: 0,
        shard_channels: 0,
        shard_subscribers: 0,
        numpat: 0,
        error: None,
    }
}

/// The cluster's figures as the nodes' answers are added in.
struct Merge {
    channels: BTreeMap<(ChannelKind, Bytes), Merged>,
    per_node: Vec<NodePubSub>,
    numpat: i64,
    shard_supported: bool,
    commands_sent: usize,
    round_trips: usize,
    answered: usize,
    first_error: Option<String>,
}

impl Default for Merge {
    fn default() -> Self {
        Merge {
            channels: BTreeMap::new(),
            per_node: Vec::new(),
            numpat: 0,
            shard_supported: true,
            commands_sent: 0,
            round_trips: 0,
            answered: 0,
            first_error: None,
        }
    }
}

impl Merge {
    /// Count node `i`'s answer into the totals and into its own row.
    fn add(&mut self, i: usize, snap: PubSubSnapshot, figures: &mut NodePubSub) {
        self.answered += 1;
        self.numpat += snap.numpat;
        self.shard_supported &= snap.shard_supported;
        self.commands_sent += snap.commands_sent;
        self.round_trips = self.round_trips.max(snap.round_trips);
        figures.numpat = snap.numpat;
        for c in snap.channels {
            match c.kind {
                ChannelKind::Channel => {
                    figures.channels += 1;
                    figures.subscribers += c.subscribers;
                }
                ChannelKind::Shard => {
                    figures.shard_channels += 1;
                    figures.shard_subscribers += c.subscribers;
                }
            }
            let e = self.channels.entry((c.kind, c.name)).or_default();
            e.0 += c.subscribers;
            e.1.push((i as u16, c.subscribers));
        }
    }
}
