//! Redis Cluster topology: which nodes exist, their roles and health, and which primary
//! owns each of the 16384 hash slots. Read with `CLUSTER SHARDS` (Redis 7+), falling back
//! to `CLUSTER NODES` on older servers. Pure parsing lives here; fetching is in
//! [`super::route`].

use anyhow::{anyhow, bail, Result};
use redis::Value;

pub const SLOTS: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub host: String,
    pub port: u16,
    /// The TLS port when the cluster serves TLS on a separate port.
    pub tls_port: Option<u16>,
    pub role: Role,
    /// "online", "failed" or "loading" (as CLUSTER SHARDS says; CLUSTER NODES is mapped
    /// onto the same words).
    pub health: String,
    /// Index into [`Topology::shards`].
    pub shard: usize,
}

impl Node {
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// CLUSTER SHARDS calls a replica "loading" until its replication offset moves from
    /// zero — also when its shard has simply not been written to. It serves reads and
    /// subscriptions, so only failed (or unreachable) nodes are unhealthy.
    pub fn is_healthy(&self) -> bool {
        matches!(self.health.as_str(), "online" | "loading")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
    /// Indexes into [`Topology::nodes`].
    pub nodes: Vec<usize>,
}

impl Shard {
    pub fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|(a, b)| usize::from(*b) - usize::from(*a) + 1)
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub shards: Vec<Shard>,
    /// Slot → index of the owning primary in `nodes` (`u16::MAX`: nobody).
    owner: Vec<u16>,
}

const NOBODY: u16 = u16::MAX;

impl Topology {
    fn build(nodes: Vec<Node>, shards: Vec<Shard>) -> Topology {
        let mut owner = vec![NOBODY; SLOTS];
        for shard in &shards {
            // The serving primary: a healthy primary, else any primary of the shard.
            let primary = shard
                .nodes
                .iter()
                .copied()
                .find(|&i| nodes[i].role == Role::Primary && nodes[i].is_healthy())
                .or_else(|| {
                    shard
                        .nodes
                        .iter()
                        .copied()
                        .find(|&i| nodes[i].role == Role::Primary)
                });
            if let Some(p) = primary {
                for &(a, b) in &shard.slots {
                    for s in a..=b.min(SLOTS as u16 - 1) {
                        owner[usize::from(s)] = p as u16;
                    }
                }
            }
        }
        Topology {
            nodes,
            shards,
            owner,
        }
    }

    /// The primary serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        match self.owner.get(usize::from(slot)) {
            Some(&i) if i != NOBODY => self.nodes.get(usize::from(i)),
            _ => None,
        }
    }

    pub fn owner_of_key(&self, key: &[u8]) -> Option<&Node> {
        self.owner(key_slot(key))
    }

    /// The primaries that serve at least one slot: where keys live.
    pub fn serving_primaries(&self) -> Vec<&Node> {
        let mut seen: Vec<u16> = self
            .owner
            .iter()
            .copied()
            .filter(|&i| i != NOBODY)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.iter().map(|&i| &self.nodes[usize::from(i)]).collect()
    }

    /// Healthy primaries. After a failover Redis 7.0 still lists the dead ex-primary as a
    /// master (`health: fail` in CLUSTER SHARDS, `master,fail` in CLUSTER NODES) until it
    /// comes back as a replica: it serves nothing, so it is counted as not online instead.
    pub fn primaries(&self) -> usize {
        self.healthy(Role::Primary)
    }

    /// Healthy replicas (a failed one is counted as not online).
    pub fn replicas(&self) -> usize {
        self.healthy(Role::Replica)
    }

    fn healthy(&self, role: Role) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.role == role && n.is_healthy())
            .count()
    }

    pub fn slots_covered(&self) -> usize {
        self.owner.iter().filter(|&&i| i != NOBODY).count()
    }

    /// Slots owned by the node at `index` (0 for replicas).
    pub fn slots_of(&self, index: usize) -> usize {
        self.owner
            .iter()
            .filter(|&&i| usize::from(i) == index)
            .count()
    }

    /// "cluster · 3 primaries · 3 replicas", plus what is wrong when something is
    /// ("· 1 not online": failed or unreachable nodes, counted in neither role).
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut s = format!(
            "cluster · {} · {}",
            plural(self.primaries(), "primary", "primaries"),
            plural(self.replicas(), "replica", "replicas")
        );
        let failed = self.nodes.iter().filter(|n| !n.is_healthy()).count();
        if failed > 0 {
            s.push_str(&format!(" · {failed} not online"));
        }
        let uncovered = SLOTS - self.slots_covered();
        if uncovered > 0 {
            s.push_str(&format!(" · {uncovered} slots unserved"));
        }
        s
    }

    /// Parse a `CLUSTER SHARDS` reply (RESP2 flat key/value arrays or RESP3 maps).
    pub fn from_shards(reply: &Value) -> Result<Topology> {
        let shards_v = as_items(reply).ok_or_else(|| anyhow!("CLUSTER SHARDS: not an array"))?;
        let mut nodes = Vec::new();
        let mut shards = Vec::new();
        for shard_v in shards_v {
            let fields = pairs(shard_v).ok_or_else(|| anyhow!("CLUSTER SHARDS: bad shard"))?;
            let mut slots = Vec::new();
            let mut members = Vec::new();
            for (k, v) in fields {
                match k.as_str() {
                    "slots" => {
                        let nums: Vec<i64> = as_items(v)
                            .unwrap_or_default()
                            .iter()
                            .filter_map(int_of)
                            .collect();
                        for pair in nums.chunks(2) {
                            if let [a, b] = pair {
                                if (0..SLOTS as i64).contains(a) && (0..SLOTS as i64).contains(b) {
                                    slots.push((*a as u16, *b as u16));
                                }
                            }
                        }
                    }
                    "nodes" => {
                        for node_v in as_items(v).unwrap_or_default() {
                            let f =
                                pairs(node_v).ok_or_else(|| anyhow!("CLUSTER SHARDS: bad node"))?;
                            let get =
                                |name: &str| f.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
                            let text = |name: &str| get(name).and_then(text_of).unwrap_or_default();
                            let port = get("port").and_then(int_of).unwrap_or(0);
                            let tls_port = get("tls-port").and_then(int_of);
                            let endpoint = text("endpoint");
                            let host = if endpoint.is_empty() || endpoint == "?" {
                                text("ip")
                            } else {
                                endpoint
                            };
                            members.push(Node {
                                id: text("id"),
                                host,
                                port: u16::try_from(port).unwrap_or(0),
                                tls_port: tls_port.and_then(|p| u16::try_from(p).ok()),
                                role: if text("role") == "master" {
                                    Role::Primary
                                } else {
                                    Role::Replica
                                },
                                health: text("health"),
                                shard: 0,
                            });
                        }
                    }
                    _ => {}
                }
            }
            let shard_index = shards.len();
            let mut indexes = Vec::new();
            for mut n in members {
                n.shard = shard_index;
                indexes.push(nodes.len());
                nodes.push(n);
            }
            slots.sort_unstable();
            shards.push(Shard {
                slots,
                nodes: indexes,
            });
        }
        if nodes.is_empty() {
            bail!("CLUSTER SHARDS listed no nodes");
        }
        Ok(Topology::build(nodes, shards))
    }

    /// Parse `CLUSTER NODES` text (servers before 7.0).
    pub fn from_nodes_text(text: &str) -> Result<Topology> {
        let mut lines = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(parsed) = NodesLine::parse(line)? {
                lines.push(parsed);
            }
        }
        if lines.is_empty() {
            bail!("CLUSTER NODES listed no nodes");
        }
        let mut nodes = Vec::new();
        let mut shards = Vec::new();
        for p in lines.iter().filter(|l| l.node.role == Role::Primary) {
            let shard = shards.len();
            let mut members = Vec::new();
            let mut n = p.node.clone();
            n.shard = shard;
            members.push(nodes.len());
            nodes.push(n);
            for r in lines
                .iter()
                .filter(|l| l.primary_of.as_deref() == Some(p.node.id.as_str()))
            {
                let mut n = r.node.clone();
                n.shard = shard;
                members.push(nodes.len());
                nodes.push(n);
            }
            let mut slots = p.slots.clone();
            slots.sort_unstable();
            shards.push(Shard {
                slots,
                nodes: members,
            });
        }
        // Replicas whose primary is unknown still exist: give them a shard of their own.
        let orphans: Vec<&NodesLine> = lines
            .iter()
            .filter(|l| {
                l.node.role == Role::Replica && !nodes.iter().any(|n: &Node| n.id == l.node.id)
            })
            .collect();
        for r in orphans {
            let mut n = r.node.clone();
            n.shard = shards.len();
            shards.push(Shard {
                slots: Vec::new(),
                nodes: vec![nodes.len()],
            });
            nodes.push(n);
        }
        Ok(Topology::build(nodes, shards))
    }
}

fn as_items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// Key/value pairs from a RESP2 flat array or a RESP3 map, keys as text.
fn pairs(v: &Value) -> Option<Vec<(String, &Value)>> {
    match v {
        Value::Array(items) => Some(
            items
                .chunks(2)
                .filter_map(|c| match c {
                    [k, v] => Some((text_of(k)?, v)),
                    _ => None,
                })
                .collect(),
        ),
        Value::Map(m) => Some(
            m.iter()
                .filter_map(|(k, v)| Some((text_of(k)?, v)))
                .collect(),
        ),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// CRC16/XMODEM, as Redis Cluster uses for key slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash tag Redis Cluster hashes instead of the whole key (`keyHashSlot` in the
/// cluster spec): the bytes after the FIRST `{` up to the first `}` after it, if there is
/// such a `}` and the part between is not empty. `None`: the whole key is hashed — also
/// for `x}y` (no `{`), `q{r` (no `}` after it) and `{}z` or `a{}{b}` (the first `{` is
/// closed at once; a later `{b}` does not count).
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let len = rest.iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &rest[..len])
}

/// The hash slot of a key (or shard channel): its [`hash_tag`] if it has one, else the
/// whole key.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % SLOTS as u16
}

/// One line of CLUSTER NODES: the node, the primary it replicates, the slots it serves.
struct NodesLine {
    node: Node,
    primary_of: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl NodesLine {
    /// `None` for a node without an address yet (`noaddr`, `handshake`).
    fn parse(line: &str) -> Result<Option<NodesLine>> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 8 {
            bail!("CLUSTER NODES: short line {line:?}");
        }
        let flags: Vec<&str> = parts[2].split(',').collect();
        if flags.contains(&"noaddr") || flags.contains(&"handshake") {
            return Ok(None);
        }
        // ip:port@cport[,hostname]
        let addr = parts[1].split(',').next().unwrap_or_default();
        let addr = addr.split('@').next().unwrap_or_default();
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("CLUSTER NODES: bad address {addr:?}"))?;
        let role = if flags.contains(&"master") {
            Role::Primary
        } else {
            Role::Replica
        };
        let health = if flags.contains(&"fail") {
            "failed"
        } else if parts[7] == "connected" || flags.contains(&"myself") {
            "online"
        } else {
            "disconnected"
        };
        let mut slots = Vec::new();
        for s in &parts[8..] {
            if s.starts_with('[') {
                continue; // migrating/importing marker
            }
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                if usize::from(a) < SLOTS && usize::from(b) < SLOTS {
                    slots.push((a, b));
                }
            }
        }
        Ok(Some(NodesLine {
            node: Node {
                id: parts[0].to_string(),
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: port.parse().unwrap_or(0),
                tls_port: None,
                role,
                health: health.to_string(),
                shard: 0,
            },
            primary_of: (parts[3] != "-").then(|| parts[3].to_string()),
            slots,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"foo{}{bar}"), 8363);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b""), 0);
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_tags_follow_the_cluster_spec() {
        // The spec's own examples.
        assert_eq!(hash_tag(b"{user1000}.following"), Some(&b"user1000"[..]));
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
        assert_eq!(hash_tag(b"foo{bar}{zap}"), Some(&b"bar"[..]));
        // Names a tester found treated as tagged: a `}` without a `{` before it, an
        // empty first tag, an empty first tag followed by a full one, no closing `}`.
        assert_eq!(hash_tag(b"x}y"), None);
        assert_eq!(hash_tag(b"{}z"), None);
        assert_eq!(hash_tag(b"a{}{b}"), None);
        assert_eq!(hash_tag(b"q{r"), None);
        assert_eq!(hash_tag(b"{sb}x"), Some(&b"sb"[..]));
        assert_eq!(hash_tag(b"{x}y}:dlq"), Some(&b"x"[..]));
        assert_eq!(hash_tag(b""), None);
        // Slots from `CLUSTER KEYSLOT` on Redis 7.0.15.
        for (key, slot) in [
            (&b"x}y"[..], 8210),
            (b"x}y:dlq", 2801),
            (b"{x}y}:dlq", 16287),
            (b"{}z", 2337),
            (b"{}z:dlq", 15521),
            (b"{{}z}:dlq", 4092),
            (b"a{}{b}", 15033),
            (b"a{}{b}:dlq", 10664),
            (b"{a{}{b}}:dlq", 14311),
            (b"q{r", 9550),
            (b"{q{r}:dlq", 9550),
            (b"{sb}x", 4590),
            (b"{sb}x:dlq", 4590),
        ] {
            assert_eq!(key_slot(key), slot, "{}", String::from_utf8_lossy(key));
        }
    }

    fn parse(resp: &[u8]) -> Value {
        redis::parse_redis_value(resp).expect("valid RESP")
    }

    fn bulk(s: &str) -> String {
        format!("${}\r\n{s}\r\n", s.len())
    }

    fn node(id: &str, port: i64, role: &str, health: &str) -> String {
        let mut s = String::from("*12\r\n");
        for (k, v) in [("id", id), ("ip", "127.0.0.1"), ("endpoint", "127.0.0.1")] {
            s += &bulk(k);
            s += &bulk(v);
        }
        s += &bulk("port");
        s += &format!(":{port}\r\n");
        s += &bulk("role");
        s += &bulk(role);
        s += &bulk("health");
        s += &bulk(health);
        s
    }

    fn shard(slots: &[(i64, i64)], nodes: &[String]) -> String {
        let mut s = String::from("*4\r\n");
        s += &bulk("slots");
        s += &format!("*{}\r\n", slots.len() * 2);
        for (a, b) in slots {
            s += &format!(":{a}\r\n:{b}\r\n");
        }
        s += &bulk("nodes");
        s += &format!("*{}\r\n", nodes.len());
        for n in nodes {
            s += n;
        }
        s
    }

    #[test]
    fn shards_reply_gives_owners_roles_and_summary() {
        let reply = format!(
            "*3\r\n{}{}{}",
            shard(
                &[(0, 5460)],
                &[
                    node("a", 7000, "master", "online"),
                    node("d", 7003, "replica", "online")
                ]
            ),
            shard(
                &[(5461, 10922)],
                &[
                    node("b", 7001, "master", "online"),
                    node("e", 7004, "replica", "online")
                ]
            ),
            shard(
                &[(10923, 16383)],
                &[
                    node("c", 7002, "master", "online"),
                    node("f", 7005, "replica", "online")
                ]
            ),
        );
        let t = Topology::from_shards(&parse(reply.as_bytes())).unwrap();
        assert_eq!(t.summary(), "cluster · 3 primaries · 3 replicas");
        assert_eq!(t.owner(0).unwrap().port, 7000);
        assert_eq!(t.owner(5461).unwrap().port, 7001);
        assert_eq!(t.owner(16383).unwrap().port, 7002);
        assert_eq!(t.owner_of_key(b"foo").unwrap().port, 7002);
        assert_eq!(t.serving_primaries().len(), 3);
        assert_eq!(t.slots_covered(), SLOTS);
        assert_eq!(t.slots_of(0), 5461);
        assert_eq!(t.slots_of(1), 0, "a replica owns no slots");
    }

    #[test]
    fn failed_primary_is_passed_over_and_reported() {
        let reply = format!(
            "*1\r\n{}",
            shard(
                &[(0, 16383)],
                &[
                    node("a", 7000, "master", "failed"),
                    node("d", 7003, "master", "online")
                ]
            ),
        );
        let t = Topology::from_shards(&parse(reply.as_bytes())).unwrap();
        assert_eq!(t.owner(42).unwrap().port, 7003);
        assert_eq!(
            t.summary(),
            "cluster · 1 primary · 0 replicas · 1 not online"
        );
    }

    #[test]
    fn a_dead_ex_primary_after_failover_is_not_counted_as_a_primary() {
        // Redis 7.0.15's CLUSTER SHARDS after a failover: the killed primary keeps a shard
        // of its own (no slots, role master, health fail); its replica serves the slots.
        let reply = format!(
            "*4\r\n{}{}{}{}",
            shard(&[], &[node("a", 7000, "master", "fail")]),
            shard(&[(0, 5460)], &[node("d", 7003, "master", "online")]),
            shard(
                &[(5461, 10922)],
                &[
                    node("b", 7001, "master", "online"),
                    node("e", 7004, "replica", "online")
                ]
            ),
            shard(
                &[(10923, 16383)],
                &[
                    node("c", 7002, "master", "online"),
                    node("f", 7005, "replica", "loading")
                ]
            ),
        );
        let t = Topology::from_shards(&parse(reply.as_bytes())).unwrap();
        assert_eq!(
            t.summary(),
            "cluster · 3 primaries · 2 replicas · 1 not online"
        );
        assert_eq!(t.owner(0).unwrap().port, 7003);
        // The same state as CLUSTER NODES shows it (servers before 7.0).
        let text = "\
a 127.0.0.1:7000@17000 master,fail - 1 1 1 disconnected
d 127.0.0.1:7003@17003 myself,master - 0 0 7 connected 0-5460
b 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
e 127.0.0.1:7004@17004 slave b 0 0 2 connected
c 127.0.0.1:7002@17002 master - 0 0 3 connected 10923-16383
f 127.0.0.1:7005@17005 slave c 0 0 3 connected
";
        let t = Topology::from_nodes_text(text).unwrap();
        assert_eq!(
            t.summary(),
            "cluster · 3 primaries · 2 replicas · 1 not online"
        );
    }

    #[test]
    fn nodes_text_fallback() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383 [77->-e7d1]
6ec2 127.0.0.1:30005@40005 slave 67ed 0 1426238316232 5 connected
824f 127.0.0.1:30006@40006 slave 292f 0 1426238317741 6 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
";
        let t = Topology::from_nodes_text(text).unwrap();
        assert_eq!(t.summary(), "cluster · 3 primaries · 3 replicas");
        assert_eq!(t.owner(0).unwrap().port, 30001);
        assert_eq!(t.owner(10922).unwrap().port, 30002);
        assert_eq!(t.owner(16383).unwrap().port, 30003);
        let shard0 = &t.shards[t.owner(0).unwrap().shard];
        assert_eq!(shard0.nodes.len(), 2, "primary and its replica");
        assert!(Topology::from_nodes_text("garbage").is_err());
        assert!(Topology::from_shards(&parse(b"*0\r\n")).is_err());
        assert!(Topology::from_shards(&parse(b":1\r\n")).is_err());
    }
}
