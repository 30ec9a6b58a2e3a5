//! A private Redis Cluster for tests: six `redis-server` nodes on loopback (three
//! primaries, each with one replica), formed by the same code as `redtail demo --cluster`
//! (`redtail::commands::demo::cluster::form`: SET-CONFIG-EPOCH, ADDSLOTSRANGE, MEET,
//! REPLICATE) rather than with `redis-cli --cluster create`, which sleeps a whole second
//! between its checks and shuffles replicas between primaries.
//!
//! Layout right after [`Cluster::start`]: node 0, 1, 2 are primaries owning slots
//! 0-5460, 5461-10922 and 10923-16383; node 3, 4, 5 replicate node 0, 1, 2. The
//! accessors read the live topology (CLUSTER NODES), so they stay right after a failover.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{at_exit, info_field, query, query_text, spawn_child, wait_for, wait_ready};

/// Milliseconds without an answer before a node is suspected (and, with a majority,
/// failed over). Low so a failover test takes seconds, high enough not to flap on a
/// loaded two-core machine.
pub const NODE_TIMEOUT_MS: u64 = 1500;

const SLOTS: u32 = 16384;

/// Client ports come from this range; the bus port is port + 10000. Both ends stay below
/// Linux's ephemeral range (32768+), so neither collides with `free_port()` servers or
/// with outgoing connections.
const PORT_LOW: u16 = 20000;
const PORT_SPAN: u16 = 2700;
const BUS_OFFSET: u16 = 10000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

/// One node as CLUSTER NODES describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub port: u16,
    pub id: String,
    pub role: Role,
    /// For a replica: the port of the primary it follows.
    pub primary_of: Option<u16>,
    /// Slot ranges (inclusive) this node serves; empty for replicas.
    pub slots: Vec<(u16, u16)>,
    /// Flagged `fail` or `fail?` (or still in handshake), or its link is down, as seen by
    /// the node that answered.
    pub failed: bool,
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// A failover we are expecting: who was killed and which replicas may take over.
struct Killed {
    port: u16,
    replicas: Vec<u16>,
}

pub struct Cluster {
    /// In start order (see the module comment for the initial layout).
    ports: Vec<u16>,
    nodes: Mutex<Vec<Node>>,
    killed: Mutex<Vec<Killed>>,
    dir: tempfile::TempDir,
    shared: bool,
}

impl Cluster {
    /// Start six nodes and form the cluster; returns once every node says
    /// `cluster_state:ok`, all nodes agree on the slot map and every replica is in sync.
    pub fn start() -> Cluster {
        let mut last_error = String::new();
        // A node exits at once if another test binary took its port (or bus port)
        // between our check and its bind: start over on other ports.
        for _ in 0..5 {
            match Cluster::try_start() {
                Ok(cluster) => return cluster,
                Err(e) => last_error = e,
            }
        }
        panic!("cannot start a test cluster: {last_error}");
    }

    /// One cluster per test binary, started on first use and killed when the binary
    /// exits. For tests that only read and write keys: killing or reconfiguring nodes
    /// here would break the other tests, so [`Cluster::kill_primary`] refuses it.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        fn shutdown_shared() {
            if let Some(c) = SHARED.get() {
                c.shutdown();
            }
        }
        SHARED.get_or_init(|| {
            let mut c = Cluster::start();
            c.shared = true;
            at_exit(shutdown_shared);
            c
        })
    }

    fn try_start() -> Result<Cluster, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let ports = pick_ports(6);
        let cluster = Cluster {
            ports: ports.clone(),
            nodes: Mutex::new(Vec::new()),
            killed: Mutex::new(Vec::new()),
            dir,
            shared: false,
        };
        for &port in &ports {
            let node_dir = cluster.dir.path().join(format!("node-{port}"));
            std::fs::create_dir(&node_dir).map_err(|e| format!("node dir: {e}"))?;
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(node_dir.join("nodes.conf"))
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .args(["--appendonly", "no", "--save", ""])
                // Diskless full sync waits 5 s for more replicas by default.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--daemonize", "no", "--protected-mode", "no", "--dir"])
                .arg(&node_dir);
            let child = spawn_child(cmd).map_err(|e| format!("redis-server: {e}"))?;
            cluster.lock_nodes().push(Node {
                port,
                child: Some(child),
            });
        }
        for node in cluster.lock_nodes().iter_mut() {
            if let Some(child) = node.child.as_mut() {
                wait_ready(node.port, child, Duration::from_secs(10))?;
            }
        }
        cluster.form()?;
        Ok(cluster)
    }

    /// Slots, mesh, replication (the demo's formation, `redtail::commands::demo::cluster::form`);
    /// then wait until every node agrees on roles and links.
    fn form(&self) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        runtime
            .block_on(redtail::commands::demo::cluster::form(&self.ports))
            .map_err(|e| format!("{e:#}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.settled().is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "cluster did not settle within 30 s: {}",
                    self.settled().err().unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn lock_nodes(&self) -> std::sync::MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ports of the nodes we have not killed, in start order.
    fn live_ports(&self) -> Vec<u16> {
        self.lock_nodes()
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// Ok when every live node says `cluster_state:ok` with all slots served, all live
    /// nodes describe the same topology (roles, primaries, slot ranges, which nodes have
    /// failed), every live node is seen as healthy, killed nodes as failed, and every
    /// live replica's link to its primary is up. Err says what is not there yet.
    fn settled(&self) -> Result<Vec<NodeInfo>, String> {
        let live = self.live_ports();
        let mut agreed: Option<Vec<NodeInfo>> = None;
        for &port in &live {
            let info =
                query_text(port, &["CLUSTER", "INFO"]).ok_or(format!("{port}: no CLUSTER INFO"))?;
            if info_field(&info, "cluster_state") != Some("ok")
                || info_field(&info, "cluster_slots_ok") != Some("16384")
            {
                return Err(format!("{port}: cluster_state not ok yet"));
            }
            let v = view(port).ok_or(format!("{port}: no CLUSTER NODES"))?;
            match &agreed {
                None => agreed = Some(v),
                Some(a) if *a == v => {}
                Some(_) => return Err(format!("{port} disagrees with {}", live[0])),
            }
        }
        let agreed = agreed.ok_or("no live nodes")?;
        let covered: u32 = agreed
            .iter()
            .filter(|n| n.role == Role::Primary && !n.failed)
            .flat_map(|n| &n.slots)
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum();
        if covered != SLOTS {
            return Err(format!("{covered} slots covered by healthy primaries"));
        }
        for n in &agreed {
            let alive = live.contains(&n.port);
            if n.failed == alive {
                return Err(format!("{} is seen failed={}", n.port, n.failed));
            }
            if alive && n.role == Role::Replica {
                let primary_alive = n.primary_of.is_some_and(|p| live.contains(&p));
                let info = query_text(n.port, &["INFO", "replication"]).unwrap_or_default();
                if primary_alive && info_field(&info, "master_link_status") != Some("up") {
                    return Err(format!("replica {} not in sync yet", n.port));
                }
            }
        }
        Ok(agreed)
    }

    /// The topology as the first live node describes it (CLUSTER NODES), in start order.
    /// Includes killed nodes (`failed: true`) until the cluster forgets them.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut nodes = self
            .live_ports()
            .into_iter()
            .find_map(view)
            .expect("no node of the cluster answers CLUSTER NODES");
        nodes.sort_by_key(|n| self.ports.iter().position(|p| *p == n.port));
        nodes
    }

    /// Healthy primaries, in start order.
    pub fn primaries(&self) -> Vec<NodeInfo> {
        self.nodes()
            .into_iter()
            .filter(|n| n.role == Role::Primary && !n.failed)
            .collect()
    }

    /// Healthy replicas, in start order.
    pub fn replicas(&self) -> Vec<NodeInfo> {
        self.nodes()
            .into_iter()
            .filter(|n| n.role == Role::Replica && !n.failed)
            .collect()
    }

    /// All node ports in start order, killed ones included.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:port` of the first healthy primary.
    pub fn seed_url(&self) -> String {
        let primary = self.primaries().first().map(|n| n.port);
        format!("redis://127.0.0.1:{}", primary.expect("a healthy primary"))
    }

    /// The hash slot of `key` (asks a node: CLUSTER KEYSLOT).
    pub fn slot_for_key(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        match query(port, &["CLUSTER", "KEYSLOT", key]) {
            Ok(redis::Value::Int(slot)) => u16::try_from(slot).expect("slot in range"),
            other => panic!("CLUSTER KEYSLOT {key:?}: {other:?}"),
        }
    }

    /// Port of the healthy primary that currently serves `key`'s slot.
    pub fn port_for_key(&self, key: &str) -> u16 {
        let slot = self.slot_for_key(key);
        self.primaries()
            .iter()
            .find(|n| n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no healthy primary serves slot {slot} ({key:?})"))
    }

    /// Run redis-cli against one node (no redirects followed) and return stdout.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        run_cli(&["-p", &port.to_string()], args)
    }

    /// Run `redis-cli -c` (follows MOVED/ASK) starting at a healthy primary.
    pub fn cli_c(&self, args: &[&str]) -> String {
        let port = self.primaries().first().map(|n| n.port).expect("a primary");
        run_cli(&["-c", "-p", &port.to_string()], args)
    }

    /// SIGKILL the primary on `port`. Follow with [`Cluster::wait_failover`]. Not on the
    /// shared cluster (other tests use it).
    pub fn kill_primary(&self, port: u16) {
        assert!(
            !self.shared,
            "kill_primary on Cluster::shared() would break the other tests: use Cluster::start()"
        );
        let nodes = self.nodes();
        let me = nodes.iter().find(|n| n.port == port);
        assert!(
            me.is_some_and(|n| n.role == Role::Primary && !n.failed),
            "{port} is not a healthy primary of this cluster: {nodes:?}"
        );
        let replicas = nodes
            .iter()
            .filter(|n| n.primary_of == Some(port) && !n.failed)
            .map(|n| n.port)
            .collect();
        let mut all = self.lock_nodes();
        let node = all.iter_mut().find(|n| n.port == port).expect("our node");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(all);
        self.killed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Killed { port, replicas });
    }

    /// After [`Cluster::kill_primary`]`(old)`: wait until one of its replicas has been
    /// promoted and the cluster is settled again (state ok everywhere, everyone agrees,
    /// the old primary marked failed). Returns the new primary's port.
    pub fn wait_failover(&self, old_primary: u16) -> u16 {
        let replicas = self
            .killed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|k| k.port == old_primary)
            .map(|k| k.replicas.clone())
            .unwrap_or_else(|| panic!("{old_primary} was not killed with kill_primary"));
        assert!(
            !replicas.is_empty(),
            "{old_primary} had no replica to promote"
        );
        wait_for(
            &format!("a replica of {old_primary} to take over"),
            Duration::from_secs(30),
            || {
                let nodes = self.settled().ok()?;
                nodes
                    .iter()
                    .find(|n| {
                        replicas.contains(&n.port) && n.role == Role::Primary && !n.slots.is_empty()
                    })
                    .map(|n| n.port)
            },
        )
    }

    /// Kill every node and remove the temp dir; for the shared cluster at exit, where
    /// Drop never runs.
    fn shutdown(&self) {
        for node in self.lock_nodes().iter_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The TempDir field removes the directory after this.
        for node in self.lock_nodes().iter_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn run_cli(conn_args: &[&str], args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(conn_args)
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `count` ports P with both P and P + 10000 free right now. The start point is random
/// per process and advances per call, so clusters started in parallel (in this binary or
/// another) rarely reach for the same ports; [`Cluster::start`] retries if they do.
fn pick_ports(count: usize) -> Vec<u16> {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        AtomicU32::new(nanos ^ std::process::id().wrapping_mul(2_654_435_761))
    });
    let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let mut ports = Vec::with_capacity(count);
    for _ in 0..PORT_SPAN {
        let port = PORT_LOW + (next.fetch_add(1, Ordering::Relaxed) % u32::from(PORT_SPAN)) as u16;
        if free(port) && free(port + BUS_OFFSET) {
            ports.push(port);
            if ports.len() == count {
                return ports;
            }
        }
    }
    panic!(
        "no {count} free port pairs in {PORT_LOW}..{}",
        PORT_LOW + PORT_SPAN
    );
}

/// CLUSTER NODES from `port`, parsed and sorted by port; None if it does not answer.
fn view(port: u16) -> Option<Vec<NodeInfo>> {
    let text = query_text(port, &["CLUSTER", "NODES"])?;
    parse_nodes(&text)
}

/// `<id> <ip:port@cport[,host]> <flags> <primary-id|-> <ping> <pong> <epoch> <link> <slots…>`
pub fn parse_nodes(text: &str) -> Option<Vec<NodeInfo>> {
    struct Line<'a> {
        id: &'a str,
        port: u16,
        flags: Vec<&'a str>,
        primary: &'a str,
        link: &'a str,
        slots: Vec<(u16, u16)>,
    }
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            return None;
        }
        let addr = f[1].split(['@', ',']).next()?;
        let port = addr.rsplit_once(':')?.1.parse().ok()?;
        let mut slots = Vec::new();
        // `[slot->-id]` / `[slot-<-id]` are migrations in progress: not served yet.
        for s in f[8..].iter().filter(|s| !s.starts_with('[')) {
            let range = match s.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => (s.parse().ok()?, s.parse().ok()?),
            };
            slots.push(range);
        }
        lines.push(Line {
            id: f[0],
            port,
            flags: f[2].split(',').collect(),
            primary: f[3],
            link: f[7],
            slots,
        });
    }
    let port_of: BTreeMap<&str, u16> = lines.iter().map(|l| (l.id, l.port)).collect();
    let mut nodes: Vec<NodeInfo> = lines
        .iter()
        .map(|l| {
            let has = |flag: &str| l.flags.contains(&flag);
            NodeInfo {
                port: l.port,
                id: l.id.to_string(),
                role: if has("slave") {
                    Role::Replica
                } else {
                    Role::Primary
                },
                primary_of: port_of.get(l.primary).copied(),
                slots: l.slots.clone(),
                failed: has("fail")
                    || has("fail?")
                    || has("handshake")
                    || has("noaddr")
                    || (l.link != "connected" && !has("myself")),
            }
        })
        .collect();
    nodes.sort_by_key(|n| n.port);
    Some(nodes)
}
