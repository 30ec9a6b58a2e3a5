//! Keyspace notifications from every node (`tail --keyspace`).
//!
//! Notifications are node-local: in a Cluster each primary publishes events only for its
//! own keys, so redtail PSUBSCRIBEs on every serving primary (the per-node supervisor's
//! [`Primaries`] placement) and follows
//! failovers and resharding there; through Sentinel, on the primary it names. Replicas are left out on purpose: they do emit events
//! for replicated writes (checked on Redis 7.0), but that would show every write twice,
//! and a key that expires on the primary reaches a replica as `del`, not `expired`.
//!
//! Only the `__keyspace@<db>__:<key>` form (flag `K`) is subscribed: the key glob is then
//! matched by the server, and the event arrives as the payload. Subscribing to one form
//! means no event arrives twice through the two forms; overlapping globs (`user:*` and
//! `*`) would still deliver one event once per matching pattern, which [`Decoder`] folds
//! into one.
//!
//! [`flags`] knows which `notify-keyspace-events` flags each event needs; [`check`]
//! reads the setting on every node and says what is missing.

pub mod check;
pub(super) mod decode;
pub mod flags;

use std::sync::Arc;

pub use decode::{parse_channel, Decoded, Decoder, KeyspaceSpec};

use super::inbox::Inbox;
use super::per_node::{primaries::Primaries, Supervisor};
use super::route::{Mode, Route};
use super::subscriber::{spawn_engine, Subscriber, SubscriberConfig, Subscriptions};

/// Start following keyspace events: one PSUBSCRIBE connection on a single server or on
/// the primary a Sentinel names (moving to the new one after a failover), one per
/// serving primary in a Cluster. `config.route` decides which; events arrive in the
/// returned subscriber's inbox as [`super::message::Delivery::Keyspace`].
pub fn spawn(mut config: SubscriberConfig, spec: KeyspaceSpec) -> Subscriber {
    let spec = Arc::new(spec);
    config.keyspace = Some(spec.clone());
    let multi = |r: &Arc<Route>| r.is_cluster() || matches!(r.mode(), Mode::Sentinel(_));
    let inbox = Arc::new(Inbox::new(config.caps));
    if let Some(route) = config.route.clone().filter(multi) {
        let wanted = subscriptions(&spec);
        let child = Supervisor::<Primaries>::spawn(route, config, wanted, inbox.clone());
        return Subscriber::from_child(child, inbox);
    }
    let child = spawn_engine(config, subscriptions(&spec), inbox.clone(), None, 0, None);
    Subscriber::from_child(child, inbox)
}

/// The subscriptions an engine makes for `spec`.
fn subscriptions(spec: &KeyspaceSpec) -> Subscriptions {
    Subscriptions {
        patterns: spec.patterns(),
        ..Subscriptions::default()
    }
}
