//! Channel subscriptions through Sentinel: one engine on the primary the Sentinels name,
//! placed and moved by the per-node supervisor like keyspace events (`per_node`'s
//! `Primaries`). After a failover the old primary keeps our connection open until the
//! Sentinels reconfigure it as a replica (up to 10 s later), while everything is
//! published on the new one: an engine that only reconnected when dropped would miss
//! all of it and report a gap of only its reconnect.

use std::sync::Arc;

use super::{Subscriber, SubscriberConfig, Subscriptions};
use crate::redis::inbox::Inbox;
use crate::redis::per_node::{primaries::Primaries, Supervisor};
use crate::redis::route::Route;

pub(super) fn spawn(
    route: Arc<Route>,
    config: SubscriberConfig,
    initial: Subscriptions,
    inbox: Arc<Inbox>,
) -> Subscriber {
    let child = Supervisor::<Primaries>::spawn(route, config, initial, inbox.clone());
    Subscriber::from_child(child, inbox)
}
