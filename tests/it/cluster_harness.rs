//! The cluster test harness itself: it must build a real 3+3 cluster, route keys to the
//! right shards and fail over when a primary dies. Other cluster tests build on this.

use crate::common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::cluster::{parse_nodes, Cluster, Role};

#[test]
fn three_primaries_three_replicas_cover_every_slot() {
    let cluster = Cluster::shared();
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    let primaries = cluster.primaries();
    let replicas = cluster.replicas();
    assert_eq!(primaries.len(), 3, "{nodes:?}");
    assert_eq!(replicas.len(), 3, "{nodes:?}");
    // Each primary has exactly one replica.
    let followed: BTreeSet<u16> = replicas.iter().filter_map(|r| r.primary_of).collect();
    let primary_ports: BTreeSet<u16> = primaries.iter().map(|p| p.port).collect();
    assert_eq!(followed, primary_ports);
    // Every slot is served exactly once.
    let mut served = vec![0u8; 16384];
    for p in &primaries {
        for &(first, last) in &p.slots {
            for slot in first..=last {
                served[usize::from(slot)] += 1;
            }
        }
    }
    assert!(
        served.iter().all(|&n| n == 1),
        "slots not covered exactly once"
    );
    for n in &nodes {
        let info = cluster.cli(n.port, &["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{}: {info}", n.port);
    }
    assert!(cluster.seed_url().starts_with("redis://127.0.0.1:"));
}

#[test]
fn keys_on_three_shards_are_written_through_redirects_and_read_from_their_owner() {
    let cluster = Cluster::shared();
    // Find hash tags that land on three different primaries (computed, not guessed).
    let mut tags: Vec<(String, u16)> = Vec::new();
    for tag in (b'a'..=b'z').map(|c| (c as char).to_string()) {
        let port = cluster.port_for_key(&format!("{{{tag}}}"));
        if tags.iter().all(|(_, p)| *p != port) {
            tags.push((tag, port));
        }
        if tags.len() == 3 {
            break;
        }
    }
    assert_eq!(tags.len(), 3, "no three shards among a..z: {tags:?}");
    for (tag, owner) in &tags {
        let key = format!("harness:{{{tag}}}:greeting");
        let value = format!("hello from {tag}");
        assert_eq!(cluster.cli_c(&["SET", &key, &value]).trim(), "OK");
        assert_eq!(cluster.port_for_key(&key), *owner);
        // No -c: the owner must answer itself, not redirect.
        assert_eq!(cluster.cli(*owner, &["GET", &key]).trim(), value);
        // …while another primary redirects.
        let other = tags.iter().find(|(_, p)| p != owner).map(|(_, p)| *p);
        let reply = cluster.cli(other.expect("another shard"), &["GET", &key]);
        assert!(reply.contains("MOVED"), "{reply}");
    }
}

#[test]
fn killing_a_primary_promotes_its_replica() {
    let started = Instant::now();
    let cluster = Cluster::start();
    eprintln!("cluster started in {:?}", started.elapsed());
    let victim = cluster.primaries()[0].clone();
    let replica = cluster
        .replicas()
        .into_iter()
        .find(|r| r.primary_of == Some(victim.port))
        .expect("the victim has a replica");
    // A key on the victim's shard, replicated before the kill (WAIT 1 replica).
    let key = (b'a'..=b'z')
        .map(|c| format!("{{{}}}:survivor", c as char))
        .find(|k| cluster.port_for_key(k) == victim.port)
        .expect("a key on the victim's shard");
    assert_eq!(
        cluster
            .cli(victim.port, &["SET", &key, "still here"])
            .trim(),
        "OK"
    );
    assert_eq!(cluster.cli(victim.port, &["WAIT", "1", "2000"]).trim(), "1");

    let killed = Instant::now();
    cluster.kill_primary(victim.port);
    let new_primary = cluster.wait_failover(victim.port);
    eprintln!("failover took {:?}", killed.elapsed());

    assert_eq!(new_primary, replica.port);
    assert_eq!(cluster.port_for_key(&key), new_primary);
    assert_eq!(cluster.cli_c(&["GET", &key]).trim(), "still here");
    assert_eq!(cluster.primaries().len(), 3);
    let nodes = cluster.nodes();
    let dead = nodes
        .iter()
        .find(|n| n.port == victim.port)
        .expect("still listed");
    assert!(dead.failed && dead.slots.is_empty(), "{dead:?}");
    for n in nodes.iter().filter(|n| !n.failed) {
        let info = cluster.cli(n.port, &["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{}: {info}", n.port);
    }
    assert!(nodes
        .iter()
        .any(|n| n.port == new_primary && n.role == Role::Primary));
}

#[test]
fn parses_cluster_nodes() {
    let text = "\
a1 127.0.0.1:20001@30001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:20002@30002,host master,fail - 0 0 2 disconnected
c3 127.0.0.1:20003@30003 slave a1 0 0 1 connected
d4 127.0.0.1:20004@30004 master - 0 0 4 connected 5461-10922 16383 [77->-a1]
";
    let nodes = parse_nodes(text).expect("parses");
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes[0].slots, vec![(0, 5460)]);
    assert!(nodes[1].failed && nodes[1].slots.is_empty());
    assert_eq!(nodes[2].role, Role::Replica);
    assert_eq!(nodes[2].primary_of, Some(20001));
    assert_eq!(nodes[3].slots, vec![(5461, 10922), (16383, 16383)]);
    assert!(parse_nodes("garbage").is_none());
}
