//! Where each connection goes: one server, the primary a Sentinel names, or the right
//! node of a Redis Cluster. Every engine task asks a shared [`Route`] for its target
//! when it (re)connects, so failovers and resharding are followed in one place.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use redis::Value;
use tokio::sync::watch;

use super::cluster::{key_slot, Node, Topology};
use super::conn::{describe_error, Refusal, Target};
use super::sentinel::{self, SentinelSpec};

/// How long a fetched topology is trusted before it is read again.
const TOPOLOGY_TTL: Duration = Duration::from_secs(5);
/// Per node, when refreshing the topology: a dead node must not stall everyone.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);
/// How old the Sentinels' answer may be before it is confirmed again (one
/// `SENTINEL get-master-addr-by-name` on a kept connection). A failover that leaves the
/// old primary running goes unnoticed by its clients until the Sentinels reconfigure it,
/// up to 10 s later: asking this often is what moves subscriptions promptly.
pub const SENTINEL_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub enum Mode {
    Single,
    Sentinel(SentinelSpec),
    Cluster,
}

struct Cache {
    topology: Option<Arc<Topology>>,
    fetched: Option<Instant>,
    /// Set by a consumer that saw MOVED, a dead node or a server-side unsubscribe.
    stale: bool,
    /// The last master address a Sentinel gave (for display).
    sentinel_master: Option<String>,
    /// …and the target built from it, reused until invalidated; confirmed again with
    /// one question to a Sentinel once older than [`SENTINEL_RECHECK`].
    sentinel_target: Option<(Target, Instant)>,
    /// When the Sentinels last named each address as the primary (the time just before
    /// asking): where a failover's gap starts.
    sentinel_named: BTreeMap<String, DateTime<Utc>>,
    /// The Sentinel that answered the last confirmation, asked first next time (a dead
    /// one first in the list would cost its timeout every second).
    sentinel_first: usize,
}

/// [`Route::probe`]'s error for a server that accepted the connection (or never
/// completed it) and did not answer within the deadline: what `tail` ends with, as its
/// engine would after waiting as long again.
#[derive(Debug)]
pub struct Unanswered(String);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unanswered {}

pub struct Route {
    template: Target,
    mode: Mode,
    cache: Mutex<Cache>,
    /// Held while the topology is read again (one refresh at a time); keeps the
    /// connections used for it, so a refresh every few seconds does not connect anew.
    refresh: tokio::sync::Mutex<Pool>,
    /// Set when a login was refused (or the port is not Redis): pollers do not connect
    /// while it is set, so a wrong password costs one failed AUTH, not one per task
    /// per backoff step. Cleared by a successful connect after an explicit retry.
    refused: Mutex<Option<Refusal>>,
    /// The primary the Sentinels named last, for whoever must act when it changes (the
    /// keyspace setting check); `None` until first asked, and outside Sentinel mode.
    primary: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("template", &self.template)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Route {
    fn new(template: Target, mode: Mode, topology: Option<Topology>) -> Arc<Route> {
        let fetched = topology.as_ref().map(|_| Instant::now());
        Arc::new(Route {
            template,
            mode,
            cache: Mutex::new(Cache {
                topology: topology.map(Arc::new),
                fetched,
                stale: false,
                sentinel_master: None,
                sentinel_target: None,
                sentinel_named: BTreeMap::new(),
                sentinel_first: 0,
            }),
            refresh: tokio::sync::Mutex::new(Pool::new()),
            refused: Mutex::new(None),
            primary: watch::channel(None).0,
        })
    }

    /// Why connects are on hold, if a login was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused.lock().unwrap().clone()
    }

    /// Put connects on hold if `e` is a refusal; returns it.
    pub fn note_refusal(&self, e: &anyhow::Error) -> Option<Refusal> {
        let refusal = Refusal::of(e)?.clone();
        *self.refused.lock().unwrap() = Some(refusal.clone());
        Some(refusal)
    }

    /// A connect succeeded: connects are no longer on hold.
    pub fn clear_refusal(&self) {
        *self.refused.lock().unwrap() = None;
    }

    /// The refusal as an error for a task that would connect now, if on hold.
    pub fn check_refusal(&self) -> Result<()> {
        match self.refusal() {
            Some(r) => Err(anyhow::Error::new(r)),
            None => Ok(()),
        }
    }

    /// A plain single server, no detection.
    pub fn single(target: Target) -> Arc<Route> {
        Route::new(target, Mode::Single, None)
    }

    pub fn sentinel(template: Target, spec: SentinelSpec) -> Arc<Route> {
        Route::new(template, Mode::Sentinel(spec), None)
    }

    /// Ask the server whether it is a cluster node (`CLUSTER SHARDS`, or `CLUSTER NODES`
    /// on servers before 7.0). A server that cannot be reached is treated as a single
    /// server: the engines report the connection error themselves.
    pub async fn detect(target: Target) -> Arc<Route> {
        let fallback = target.clone();
        Route::probe(target, super::conn::CONNECT_TIMEOUT)
            .await
            .unwrap_or_else(|_| Route::single(fallback))
    }

    /// [`Route::detect`] with one deadline for the whole exchange (connect, handshake,
    /// `CLUSTER SHARDS`), and an error when the server cannot be reached or does not
    /// answer within it: the message names the server and the time waited, so a one-shot
    /// command can end with it instead of connecting again and waiting as long a second
    /// time. A refused login is not an error here: the route holds it
    /// ([`Route::check_refusal`]). A server that answers but not to `CLUSTER` (an ACL
    /// without `+cluster`) is a single server.
    pub async fn probe(target: Target, deadline: Duration) -> Result<Arc<Route>> {
        // (A server that did not answer in time is an [`Unanswered`] error.)
        // Cluster nodes refuse SELECT: ask on database 0 whatever the URL says.
        let probe = Target {
            db: 0,
            ..target.clone()
        };
        let asked = tokio::time::timeout(deadline, async {
            // The deadline bounds the connect: no second, shorter timeout inside it.
            let mut conn = probe
                .command_connection_within(None)
                .await
                .map_err(|e| (true, e))?;
            read_topology(&mut conn).await.map_err(|e| (false, e))
        })
        .await;
        let Ok(asked) = asked else {
            let mut text = format!(
                "cannot connect to {target}: the server did not answer within {} s",
                deadline.as_secs_f64()
            );
            text.push_str(if target.tls {
                " (is this port serving TLS? if not, use redis:// without --tls)"
            } else {
                " (check the host and port, and whether a firewall or an overloaded server holds it up)"
            });
            return Err(anyhow::Error::new(Unanswered(text)));
        };
        match asked {
            Ok(Some(t)) => Ok(Route::new(target, Mode::Cluster, Some(t))),
            Ok(None) => Ok(Route::single(target)),
            Err((connecting, e)) => {
                // A refused login here puts every engine on hold before it starts.
                let route = Route::single(target);
                if route.note_refusal(&e).is_none() && connecting {
                    return Err(e);
                }
                Ok(route)
            }
        }
    }

    pub fn template(&self) -> &Target {
        &self.template
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.mode, Mode::Cluster)
    }

    /// The connection target for a node of the cluster: its address with the seed's
    /// credentials and TLS settings.
    pub fn node_target(&self, node: &Node) -> Target {
        let mut t = self.template.clone();
        t.host = node.host.clone();
        t.port = match (self.template.tls, node.tls_port) {
            (true, Some(p)) if p != 0 => p,
            _ => node.port,
        };
        // Cluster nodes only have database 0.
        t.db = 0;
        t
    }

    /// The server as a person names it in a header: the URL for one server or a cluster
    /// seed; for Sentinel the `redis+sentinel://SENTINELS/MASTER[/DB]` form, because the
    /// template's host is only a placeholder the Sentinels fill in (see
    /// [`Route::describe`] for the primary they named).
    pub fn label(&self) -> String {
        let Mode::Sentinel(spec) = &self.mode else {
            return self.template.to_string();
        };
        use crate::text::escape::escape_str;
        let t = &self.template;
        let scheme = if t.tls { "rediss" } else { "redis" };
        let mut out = format!("{scheme}+sentinel://");
        if let Some(u) = &t.username {
            out.push_str(&escape_str(u));
            out.push('@');
        }
        let sentinels: Vec<String> = spec
            .sentinels
            .iter()
            .map(|(host, port)| {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            })
            .collect();
        out.push_str(&escape_str(&sentinels.join(",")));
        out.push('/');
        out.push_str(&escape_str(&spec.master));
        if t.db != 0 {
            out.push_str(&format!("/{}", t.db));
        }
        out
    }

    /// What the status bar says about the deployment.
    pub fn describe(&self) -> Option<String> {
        match &self.mode {
            Mode::Single => None,
            Mode::Sentinel(spec) => {
                let master = self.cache.lock().unwrap().sentinel_master.clone();
                Some(match master {
                    Some(addr) => format!("sentinel · {} at {addr}", spec.master),
                    None => format!("sentinel · {}", spec.master),
                })
            }
            Mode::Cluster => self.cached_topology().map(|t| t.summary()),
        }
    }

    /// Forget the cached topology: the next [`Route::topology`] reads it again.
    pub fn invalidate(&self) {
        let mut c = self.cache.lock().unwrap();
        c.stale = true;
        c.sentinel_target = None;
    }

    pub fn cached_topology(&self) -> Option<Arc<Topology>> {
        self.cache.lock().unwrap().topology.clone()
    }

    /// The cluster topology, read again when older than a few seconds or invalidated.
    /// `None` outside cluster mode. When no node answers, the last known one is kept.
    pub async fn topology(&self) -> Option<Arc<Topology>> {
        if !self.is_cluster() {
            return None;
        }
        let fresh = |c: &Cache| !c.stale && c.fetched.is_some_and(|f| f.elapsed() < TOPOLOGY_TTL);
        {
            let c = self.cache.lock().unwrap();
            if fresh(&c) {
                return c.topology.clone();
            }
        }
        // One refresh at a time; whoever waited finds it done.
        let mut pool = self.refresh.lock().await;
        {
            let c = self.cache.lock().unwrap();
            if fresh(&c) {
                return c.topology.clone();
            }
        }
        let known = self.cached_topology();
        let mut candidates: Vec<Target> = Vec::new();
        if let Some(t) = &known {
            // Healthy primaries first: they know the slot map best.
            let mut nodes: Vec<&Node> = t.nodes.iter().collect();
            nodes.sort_by_key(|n| (!n.is_healthy(), n.role));
            candidates.extend(nodes.into_iter().map(|n| self.node_target(n)));
        }
        candidates.push(self.template.clone());
        for target in candidates {
            let read = async {
                let mut conn = pool.get(&target).await?;
                read_topology(&mut conn).await
            };
            let read = tokio::time::timeout(NODE_TIMEOUT, read).await;
            if !matches!(read, Ok(Ok(_))) {
                pool.drop_conn(&target);
            }
            if let Ok(Ok(Some(t))) = read {
                let t = Arc::new(t);
                let mut c = self.cache.lock().unwrap();
                c.topology = Some(t.clone());
                c.fetched = Some(Instant::now());
                c.stale = false;
                return Some(t);
            }
        }
        // Nobody answered: keep what we had, try again on the next call.
        let mut c = self.cache.lock().unwrap();
        c.fetched = Some(Instant::now() - TOPOLOGY_TTL + Duration::from_secs(1));
        c.topology.clone()
    }

    /// Where server-wide things go (classic SUBSCRIBE/PSUBSCRIBE, commands without a
    /// key). `attempt` counts failed connects, so a cluster client moves on to the next
    /// node when one is down.
    pub async fn target(&self, attempt: u32) -> Result<Target> {
        match &self.mode {
            Mode::Single => Ok(self.template.clone()),
            Mode::Sentinel(spec) => {
                if attempt == 0 {
                    if let Some(t) = self.confirmed_primary(spec).await {
                        return Ok(t);
                    }
                }
                let asked = Utc::now();
                let t = sentinel::resolve_master(spec, &self.template).await?;
                self.note_primary(&t, asked);
                Ok(t)
            }
            Mode::Cluster => {
                if attempt > 0 {
                    self.invalidate();
                }
                let Some(topo) = self.topology().await else {
                    return Ok(self.template.clone());
                };
                // Healthy primaries, then healthy replicas; rotate with the attempt.
                let mut nodes: Vec<&Node> = topo.nodes.iter().filter(|n| n.is_healthy()).collect();
                nodes.sort_by_key(|n| n.role);
                if nodes.is_empty() {
                    return Ok(self.template.clone());
                }
                let n = nodes[attempt as usize % nodes.len()];
                Ok(self.node_target(n))
            }
        }
    }

    /// The cached Sentinel primary, if still current: as it is while younger than
    /// [`SENTINEL_RECHECK`], else after the first Sentinel that answers names it again.
    /// `None`: nothing cached, invalidated, or the Sentinels now name another node (or
    /// none answers) — resolve afresh, with the ROLE check.
    async fn confirmed_primary(&self, spec: &sentinel::SentinelSpec) -> Option<Target> {
        let cached = || self.cache.lock().unwrap().sentinel_target.clone();
        let (target, at) = cached()?;
        if at.elapsed() < SENTINEL_RECHECK {
            return Some(target);
        }
        // One question at a time; whoever waited finds it answered.
        let mut pool = self.refresh.lock().await;
        let (target, at) = cached()?;
        if at.elapsed() < SENTINEL_RECHECK {
            return Some(target);
        }
        let asked = Utc::now();
        let count = spec.sentinels.len();
        let first = self.cache.lock().unwrap().sentinel_first;
        for index in (0..count).map(|i| (first + i) % count) {
            let (host, port) = &spec.sentinels[index];
            let sentinel = sentinel::sentinel_target(spec, &self.template, host, *port);
            let ask = async {
                let mut conn = pool.get(&sentinel).await?;
                sentinel::named_primary(&mut conn, &spec.master).await
            };
            match tokio::time::timeout(NODE_TIMEOUT, ask).await {
                Ok(Ok(Some(addr))) if addr == target.addr() => {
                    self.cache.lock().unwrap().sentinel_first = index;
                    self.note_primary(&target, asked);
                    return Some(target);
                }
                Ok(Ok(_)) => return None,
                _ => pool.drop_conn(&sentinel),
            }
        }
        None
    }

    /// The Sentinels named `target` as the primary (asked at `asked`).
    fn note_primary(&self, target: &Target, asked: DateTime<Utc>) {
        let addr = target.addr();
        let mut c = self.cache.lock().unwrap();
        c.sentinel_master = Some(addr.clone());
        c.sentinel_target = Some((target.clone(), Instant::now()));
        c.sentinel_named.insert(addr.clone(), asked);
        drop(c);
        self.primary.send_if_modified(|p| {
            let changed = p.as_deref() != Some(addr.as_str());
            *p = Some(addr);
            changed
        });
    }

    /// When the Sentinels last named `addr` as the primary; `None` if never (or outside
    /// Sentinel mode). After a failover, the old primary's time is when it was last
    /// known to be the primary.
    pub fn last_named_primary(&self, addr: &str) -> Option<DateTime<Utc>> {
        self.cache.lock().unwrap().sentinel_named.get(addr).copied()
    }

    /// The address of the primary the Sentinels named last; changes on a failover.
    pub fn watch_primary(&self) -> watch::Receiver<Option<String>> {
        self.primary.subscribe()
    }

    /// Where a command on `key` goes: its slot's primary in a cluster.
    pub async fn target_for_key(&self, key: &[u8]) -> Result<Target> {
        if !self.is_cluster() {
            return self.target(0).await;
        }
        self.target_for_slot(key_slot(key)).await
    }

    /// The primary serving hash `slot` (cluster mode), per the topology.
    pub async fn target_for_slot(&self, slot: u16) -> Result<Target> {
        let topo = self
            .topology()
            .await
            .ok_or_else(|| anyhow!("no cluster node answered CLUSTER SHARDS: are the nodes up and reachable from here?"))?;
        let node = topo
            .owner(slot)
            .ok_or_else(|| anyhow!("no primary serves hash slot {slot} (cluster down?)"))?;
        Ok(self.node_target(node))
    }

    /// Every node (primaries and replicas) with its target, or the one server.
    pub async fn all_nodes(&self) -> Result<Vec<(Option<Node>, Target)>> {
        if !self.is_cluster() {
            return Ok(vec![(None, self.target(0).await?)]);
        }
        let topo = self
            .topology()
            .await
            .ok_or_else(|| anyhow!("no cluster node answered CLUSTER SHARDS: are the nodes up and reachable from here?"))?;
        Ok(topo
            .nodes
            .iter()
            .map(|n| (Some(n.clone()), self.node_target(n)))
            .collect())
    }
}

/// `Ok(None)`: the server is not a cluster node.
pub async fn fetch_topology(target: &Target) -> Result<Option<Topology>> {
    read_topology(&mut target.command_connection().await?).await
}

/// [`fetch_topology`] on an open connection.
async fn read_topology(conn: &mut redis::aio::MultiplexedConnection) -> Result<Option<Topology>> {
    let reply: redis::RedisResult<Value> =
        redis::cmd("CLUSTER").arg("SHARDS").query_async(conn).await;
    match reply {
        Ok(v) => Ok(Some(Topology::from_shards(&v)?)),
        Err(e) => {
            let text = describe_error(&e);
            if text.contains("cluster support disabled") {
                return Ok(None);
            }
            // Redis 6 and older: no SHARDS subcommand.
            let nodes: redis::RedisResult<String> =
                redis::cmd("CLUSTER").arg("NODES").query_async(conn).await;
            match nodes {
                Ok(text) => Ok(Some(Topology::from_nodes_text(&text)?)),
                Err(e2) if describe_error(&e2).contains("cluster support disabled") => Ok(None),
                Err(_) => Err(anyhow!("cannot read the cluster topology: {text}")),
            }
        }
    }
}

/// Command connections to the nodes of a deployment, opened on first use and dropped
/// when they fail (the next use reconnects). Keyed by address.
#[derive(Default)]
pub struct Pool {
    conns: std::collections::HashMap<String, redis::aio::MultiplexedConnection>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// A connection to `target` (cheap clone of a multiplexed connection).
    pub async fn get(&mut self, target: &Target) -> Result<redis::aio::MultiplexedConnection> {
        let addr = target.addr();
        if let Some(c) = self.conns.get(&addr) {
            return Ok(c.clone());
        }
        let c = target.command_connection().await?;
        self.conns.insert(addr, c.clone());
        Ok(c)
    }

    /// Forget the connection to `target` after it failed.
    pub fn drop_conn(&mut self, target: &Target) {
        self.conns.remove(&target.addr());
    }

    /// Keep only connections to these addresses (nodes that left the cluster).
    pub fn retain(&mut self, addrs: &[String]) {
        self.conns.retain(|a, _| addrs.contains(a));
    }
}

/// A Sentinel URL taken apart: the Sentinels, the primary's name, and a plain URL for
/// the data nodes (credentials, TLS and database; the host is filled in by the Sentinels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    pub sentinels: Vec<String>,
    pub master: String,
    pub template: String,
}

/// `redis+sentinel://[user[:pass]@]host[:port][,host[:port]…]/master[/db]` (or
/// `rediss+sentinel://` for TLS). `Ok(None)` for any other URL.
pub fn split_sentinel_url(url: &str) -> Result<Option<SentinelUrl>> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("redis+sentinel") => ("redis", r),
        Some((s, r)) if s.eq_ignore_ascii_case("rediss+sentinel") => ("rediss", r),
        _ => return Ok(None),
    };
    // The userinfo runs to the last `@` (a pasted password may hold `/` or `@`), as in
    // `Target::parse_url`, which later reads it from the template.
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let after = after.split_once('?').map_or(after, |(before, _)| before);
    let (hosts, path) = after.split_once('/').unwrap_or((after, ""));
    let sentinels: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if sentinels.is_empty() {
        anyhow::bail!(
            "the Sentinel URL names no Sentinel: use {scheme}+sentinel://HOST:PORT[,HOST:PORT]/MASTER"
        );
    }
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let Some(master) = parts.next() else {
        anyhow::bail!(
            "the Sentinel URL names no primary: use {scheme}+sentinel://HOST:PORT/MASTER[/DB]"
        );
    };
    let master = percent_encoding::percent_decode_str(master)
        .decode_utf8()
        .map_err(|_| anyhow!("the primary's name in the Sentinel URL is not valid UTF-8"))?
        .into_owned();
    let db = parts.next();
    if parts.next().is_some() {
        anyhow::bail!("the Sentinel URL has extra path parts: use …/MASTER[/DB]");
    }
    let mut template = format!("{scheme}://");
    if let Some(u) = userinfo {
        template.push_str(u);
        template.push('@');
    }
    template.push_str("127.0.0.1");
    if let Some(db) = db {
        template.push('/');
        template.push_str(db);
    }
    Ok(Some(SentinelUrl {
        sentinels,
        master,
        template,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentinel_route_is_labelled_by_its_sentinels_not_the_placeholder() {
        let mut spec = SentinelSpec::parse(&["s1:26379,[::1]:26380".into()], "mymaster").unwrap();
        spec.password = Some("sentinel-secret".into());
        let template = Target::parse_url("redis://app:secret@127.0.0.1/2").unwrap();
        let label = Route::sentinel(template.clone(), spec).label();
        assert_eq!(
            label,
            "redis+sentinel://app@s1:26379,[::1]:26380/mymaster/2"
        );
        assert_eq!(
            Route::single(template).label(),
            "redis://app@127.0.0.1:6379/2"
        );
    }

    /// Where a failover's gap starts: the last time the Sentinels named the old primary,
    /// kept when they name another; the watch reports each change once.
    #[test]
    fn the_sentinels_last_naming_of_each_primary_is_kept() {
        let spec = SentinelSpec::parse(&["s1:26379".into()], "mymaster").unwrap();
        let route = Route::sentinel(Target::default(), spec);
        let mut primary = route.watch_primary();
        let node = |port| Target {
            port,
            ..Target::default()
        };
        let t0 = Utc::now();
        let t1 = t0 + chrono::TimeDelta::seconds(1);
        let t2 = t0 + chrono::TimeDelta::seconds(2);
        route.note_primary(&node(7001), t0);
        assert!(primary.has_changed().unwrap());
        assert_eq!(
            primary.borrow_and_update().as_deref(),
            Some("127.0.0.1:7001")
        );
        route.note_primary(&node(7001), t1);
        assert!(!primary.has_changed().unwrap(), "the same primary again");
        route.note_primary(&node(7002), t2);
        assert_eq!(
            primary.borrow_and_update().as_deref(),
            Some("127.0.0.1:7002")
        );
        assert_eq!(route.last_named_primary("127.0.0.1:7001"), Some(t1));
        assert_eq!(route.last_named_primary("127.0.0.1:7002"), Some(t2));
        assert_eq!(route.last_named_primary("127.0.0.1:7003"), None);
        assert_eq!(
            route.describe().as_deref(),
            Some("sentinel · mymaster at 127.0.0.1:7002")
        );
    }

    #[test]
    fn sentinel_urls_are_taken_apart() {
        let s = split_sentinel_url("redis+sentinel://u:p%40ss@s1:26379,s2:26380/my%20master/3")
            .unwrap()
            .unwrap();
        assert_eq!(s.sentinels, vec!["s1:26379", "s2:26380"]);
        assert_eq!(s.master, "my master");
        assert_eq!(s.template, "redis://u:p%40ss@127.0.0.1/3");
        let t = Target::parse_url(&s.template).unwrap();
        assert_eq!((t.password.as_deref(), t.db), (Some("p@ss"), 3));
        let s = split_sentinel_url("rediss+sentinel://s1/m")
            .unwrap()
            .unwrap();
        assert_eq!(s.template, "rediss://127.0.0.1");
        assert_eq!(split_sentinel_url("redis://h:1").unwrap(), None);
        assert!(split_sentinel_url("redis+sentinel://s1").is_err());
        assert!(split_sentinel_url("redis+sentinel:///m").is_err());
        assert!(split_sentinel_url("redis+sentinel://s/m/0/x").is_err());
        let s = split_sentinel_url("redis+sentinel://app:K9x/Qz@b#c?@s1:26379/mymaster/2")
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.sentinels, s.master.as_str()),
            (vec!["s1:26379".to_string()], "mymaster")
        );
        let t = Target::parse_url(&s.template).unwrap();
        assert_eq!((t.password.as_deref(), t.db), (Some("K9x/Qz@b#c?"), 2));
    }
}
