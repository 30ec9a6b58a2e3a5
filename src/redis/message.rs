//! What the subscription engine delivers: messages as raw bytes, plus gap and server
//! notices that every consumer must show in order with the messages.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// SUBSCRIBE → `message`
    Message,
    /// PSUBSCRIBE → `pmessage`
    PMessage,
    /// SSUBSCRIBE → `smessage`
    SMessage,
    /// A stream entry read with XREAD (never a group read) → `xentry`; the channel is
    /// the stream key (see `stream_tail` for the payload).
    #[serde(rename = "xentry")]
    StreamEntry,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::PMessage => "pmessage",
            Kind::SMessage => "smessage",
            Kind::StreamEntry => "xentry",
        }
    }
}

/// The kind of subscription that produces a kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubKind {
    Channel,
    Pattern,
    Shard,
}

impl SubKind {
    pub fn subscribe_cmd(self) -> &'static str {
        match self {
            SubKind::Channel => "SUBSCRIBE",
            SubKind::Pattern => "PSUBSCRIBE",
            SubKind::Shard => "SSUBSCRIBE",
        }
    }
    pub fn unsubscribe_cmd(self) -> &'static str {
        match self {
            SubKind::Channel => "UNSUBSCRIBE",
            SubKind::Pattern => "PUNSUBSCRIBE",
            SubKind::Shard => "SUNSUBSCRIBE",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SubKind::Channel => "channel",
            SubKind::Pattern => "pattern",
            SubKind::Shard => "shard channel",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Engine-wide sequence number; consecutive unless messages were evicted.
    pub seq: u64,
    pub received: DateTime<Utc>,
    pub kind: Kind,
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

/// Bookkeeping overhead per retained message besides its byte strings.
pub const MESSAGE_OVERHEAD: usize = 96;

impl Message {
    /// What this message costs in a bounded buffer.
    pub fn approx_bytes(&self) -> usize {
        MESSAGE_OVERHEAD
            + self.payload.len()
            + self.channel.len()
            + self.pattern.as_ref().map_or(0, |p| p.len())
    }
}

/// The subscription was down between `from` and `to`: messages published then are lost
/// (Pub/Sub is at-most-once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    /// No connection dropped: the node subscribed to stopped serving and another took
    /// over (a failover), and redtail moved there.
    pub handover: bool,
}

impl Gap {
    pub fn duration(&self) -> Duration {
        (self.to - self.from).to_std().unwrap_or_default()
    }
    /// "disconnected 3.2 s — messages in this window are lost (reason)", or for a
    /// handover "moved to the new primary after 1.3 s — …": the connection never dropped,
    /// so "disconnected" would be wrong.
    pub fn describe(&self) -> String {
        self.describe_lost("messages")
    }

    /// [`Gap::describe`] naming what was lost (`events` for keyspace notifications).
    pub fn describe_lost(&self, lost: &str) -> String {
        let what = if self.handover {
            "moved to the new primary after"
        } else {
            "disconnected"
        };
        format!(
            "{what} {:.1} s — {lost} in this window are lost ({})",
            self.duration().as_secs_f64(),
            self.reason
        )
    }
}

/// One keyspace notification (`__keyspace@<db>__:<key>` → event), decoded, with the
/// node that emitted it: in a Cluster each primary reports only its own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Engine-wide sequence number, like [`Message::seq`].
    pub seq: u64,
    pub received: DateTime<Utc>,
    /// `host:port` of the node the event came from.
    pub node: std::sync::Arc<str>,
    pub db: u32,
    pub key: Bytes,
    /// `set`, `del`, `expired`, … (what the server sent, untrusted bytes like the key).
    pub event: Bytes,
}

impl KeyEvent {
    pub fn approx_bytes(&self) -> usize {
        MESSAGE_OVERHEAD + self.key.len() + self.event.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Message(Message),
    /// A keyspace notification (`tail --keyspace`).
    Keyspace(KeyEvent),
    Gap(Gap),
    /// An error reply from the server, e.g. NOPERM on SUBSCRIBE. Already escaped.
    ServerError(String),
    /// The server confirmed (un)subscription; `count` is the connection's total.
    Subscription {
        kind: SubKind,
        name: Bytes,
        subscribed: bool,
        count: i64,
    },
}

impl Delivery {
    /// Data the server published (a message or a keyspace event), as opposed to the
    /// engine's own notices: what the inbox counts as received and evicted.
    pub fn is_data(&self) -> bool {
        matches!(self, Delivery::Message(_) | Delivery::Keyspace(_))
    }

    pub fn approx_bytes(&self) -> usize {
        match self {
            Delivery::Message(m) => m.approx_bytes(),
            Delivery::Keyspace(e) => e.approx_bytes(),
            Delivery::Gap(g) => MESSAGE_OVERHEAD + g.reason.len(),
            Delivery::ServerError(e) => MESSAGE_OVERHEAD + e.len(),
            Delivery::Subscription { name, .. } => MESSAGE_OVERHEAD + name.len(),
        }
    }
}
