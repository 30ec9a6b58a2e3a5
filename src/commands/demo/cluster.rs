//! `redtail demo --cluster`: six private servers formed into a Redis Cluster (3
//! primaries, 3 replicas) the same way `redis-cli --cluster create` would, without
//! needing redis-cli: slots assigned with ADDSLOTSRANGE, nodes introduced with MEET,
//! replicas attached with REPLICATE.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::DemoServer;

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
    form(&servers).await.context("forming the demo cluster")?;
    Ok(servers)
}

async fn form(servers: &[DemoServer]) -> Result<()> {
    let mut conns = Vec::new();
    for s in servers {
        conns.push(s.target().command_connection().await?);
    }
    let query = |args: Vec<String>| {
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a);
        }
        cmd
    };
    let cluster = |words: &[&str]| {
        let mut v = vec!["CLUSTER".to_string()];
        v.extend(words.iter().map(|w| w.to_string()));
        query(v)
    };
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
    for s in &servers[1..] {
        let () = cluster(&["MEET", "127.0.0.1", &s.port.to_string()])
            .query_async(&mut conns[0])
            .await
            .map_err(|e| anyhow!("CLUSTER MEET: {e}"))?;
    }
    let mut ids = Vec::new();
    for c in conns.iter_mut() {
        let id: String = cluster(&["MYID"]).query_async(c).await?;
        ids.push(id);
    }
    // A replica can follow its primary once it knows it (gossip takes a moment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for r in PRIMARIES..NODES {
        loop {
            let res: redis::RedisResult<()> = cluster(&["REPLICATE", &ids[r - PRIMARIES]])
                .query_async(&mut conns[r])
                .await;
            if res.is_ok() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "a replica could not follow its primary: {}",
                    res.unwrap_err()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        let mut ok = true;
        for c in conns.iter_mut() {
            let info: String = cluster(&["INFO"]).query_async(c).await?;
            ok &= info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6");
        }
        if ok {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the cluster did not reach cluster_state:ok within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
