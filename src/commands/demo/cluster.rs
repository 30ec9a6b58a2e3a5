//! `redtail demo --cluster`: six private servers formed into a Redis Cluster (3
//! primaries, 3 replicas) the same way `redis-cli --cluster create` would, without
//! needing redis-cli: slots assigned with ADDSLOTSRANGE, nodes introduced with MEET,
//! replicas attached with REPLICATE.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::DemoServer;
use crate::redis::target::Target;

const NODES: usize = 6;
const PRIMARIES: usize = 3;
/// Even thirds of the 16384 slots, as `redis-cli --cluster create` assigns them.
const RANGES: [(u16, u16); PRIMARIES] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// Ports for the nodes: each node also listens on port + 10000 (the cluster bus), so
/// both must be free. Both stay below Linux's ephemeral range (32768+), where an
/// outgoing connection could take a port between our check and the server's bind.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    const LOW: u16 = 20000;
    const HIGH: u16 = 22760;
    let offset = (std::process::id() % u32::from(HIGH - LOW)) as u16;
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let ports: Vec<u16> = (0..HIGH - LOW)
        .map(|i| LOW + (offset + i) % (HIGH - LOW))
        .filter(|&p| free(p) && free(p + 10000))
        .take(n)
        .collect();
    if ports.len() < n {
        bail!("no free ports for a demo cluster between {LOW} and {HIGH} (and +10000)");
    }
    Ok(ports)
}

pub async fn start(bin: &Path) -> Result<Vec<DemoServer>> {
    let ports = free_ports(NODES)?;
    let mut servers = Vec::with_capacity(NODES);
    for &port in &ports {
        servers.push(
            DemoServer::start_on(
                bin,
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--repl-diskless-sync-delay",
                    "0",
                ],
            )
            .await
            .context("starting a cluster node (cluster mode needs Redis 7 or Valkey)")?,
        );
    }
    form(&ports).await.context("forming the demo cluster")?;
    Ok(servers)
}

/// Form six fresh cluster-enabled nodes on loopback `ports` into 3 primaries (the first
/// three, even thirds of the slots) and 3 replicas (the rest, in order): distinct config
/// epochs, ADDSLOTSRANGE, a full mesh of MEETs (no waiting on gossip), REPLICATE once
/// every node knows every other, then until every node says `cluster_state:ok`.
/// The demo and the test kit (`tests/it/common/cluster.rs`) both build their clusters
/// with this.
pub async fn form(ports: &[u16]) -> Result<()> {
    if ports.len() != NODES {
        bail!(
            "a demo cluster has {NODES} nodes, got {} ports",
            ports.len()
        );
    }
    let mut conns = Vec::new();
    for &port in ports {
        let target = Target {
            port,
            ..Target::default()
        };
        conns.push(target.command_connection().await?);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        // Distinct epochs up front, so no node has to win a collision later.
        let _: redis::RedisResult<()> = cluster(&["SET-CONFIG-EPOCH", &(i + 1).to_string()])
            .query_async(c)
            .await;
    }
    for (i, (a, b)) in RANGES.iter().enumerate() {
        let () = cluster(&["ADDSLOTSRANGE", &a.to_string(), &b.to_string()])
            .query_async(&mut conns[i])
            .await
            .map_err(|e| anyhow!("ADDSLOTSRANGE: {e}"))?;
    }
    for i in 1..NODES {
        for &other in &ports[..i] {
            let () = cluster(&["MEET", "127.0.0.1", &other.to_string()])
                .query_async(&mut conns[i])
                .await
                .map_err(|e| anyhow!("CLUSTER MEET: {e}"))?;
        }
    }
    let mut ids = Vec::new();
    for c in conns.iter_mut() {
        let id: String = cluster(&["MYID"]).query_async(c).await?;
        ids.push(id);
    }
    let known = format!("cluster_known_nodes:{NODES}");
    wait_all(&mut conns, "every node to know the others", |info| {
        info.contains(&known)
    })
    .await?;
    for r in PRIMARIES..NODES {
        let () = cluster(&["REPLICATE", &ids[r - PRIMARIES]])
            .query_async(&mut conns[r])
            .await
            .map_err(|e| anyhow!("a replica could not follow its primary: {e}"))?;
    }
    wait_all(&mut conns, "cluster_state:ok", |info| {
        info.contains("cluster_state:ok") && info.contains(&known)
    })
    .await
}

fn cluster(words: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    for w in words {
        cmd.arg(*w);
    }
    cmd
}

/// Poll CLUSTER INFO on every node until `ok` holds for all of them (20 s at most).
async fn wait_all(
    conns: &mut [redis::aio::MultiplexedConnection],
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = true;
        for c in conns.iter_mut() {
            let info: String = cluster(&["INFO"]).query_async(c).await?;
            all &= ok(&info);
        }
        if all {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the cluster did not reach {what} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
