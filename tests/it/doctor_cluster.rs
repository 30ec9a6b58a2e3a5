//! `redtail doctor` on the real 3+3 test cluster: stuck work on streams owned by two
//! different shards is found, and every finding names the node that holds its stream,
//! in `--json` and in text.

use crate::common;

use std::time::Duration;

use common::cluster::Cluster;
use common::Proc;

const T: Duration = Duration::from_secs(20);

/// Two hash tags whose keys live on two different primaries: (tag, owner port).
fn two_shards(cluster: &Cluster) -> [(String, u16); 2] {
    let first = ("doc0".to_string(), cluster.port_for_key("{doc0}"));
    for i in 1..200 {
        let tag = format!("doc{i}");
        let port = cluster.port_for_key(&format!("{{{tag}}}"));
        if port != first.1 {
            return [first, (tag, port)];
        }
    }
    panic!("no second shard found");
}

fn doctor(url: &str, json: bool) -> (String, Option<i32>) {
    let mut args = vec!["doctor", url, "--streams", "doc:*"];
    if json {
        args.push("--json");
    }
    let mut p = Proc::spawn(&args);
    let mut out = String::new();
    while let Some(line) = p.line(T) {
        out.push_str(&line);
        out.push('\n');
    }
    let code = p.wait_exit(T);
    assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    (out, code)
}

#[test]
fn doctor_on_a_cluster_names_the_node_of_each_finding() {
    let cluster = Cluster::shared();
    let [(poison_tag, poison_node), (lonely_tag, lonely_node)] = two_shards(cluster);
    // Shard one: an entry redelivered 6 times (poison).
    let jobs = format!("doc:{{{poison_tag}}}");
    let id = cluster.cli(poison_node, &["XADD", &jobs, "*", "task", "boom"]);
    let id = id.trim();
    cluster.cli(poison_node, &["XGROUP", "CREATE", &jobs, "workers", "0"]);
    cluster.cli(
        poison_node,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "1",
            "STREAMS",
            &jobs,
            ">",
        ],
    );
    for _ in 0..5 {
        cluster.cli(poison_node, &["XCLAIM", &jobs, "workers", "w1", "0", id]);
    }
    // Shard two: a group with lag and no consumer.
    let orphans = format!("doc:{{{lonely_tag}}}");
    for n in 0..3 {
        cluster.cli(lonely_node, &["XADD", &orphans, "*", "n", &n.to_string()]);
    }
    cluster.cli(lonely_node, &["XGROUP", "CREATE", &orphans, "nobody", "0"]);

    let url = cluster.seed_url();
    let (out, code) = doctor(&url, true);
    assert_eq!(code, Some(1), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("bad json {out:?}: {e}"));
    let find = |kind: &str| {
        doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {doc:#}"))
            .clone()
    };
    let poison = find("poison");
    assert_eq!(poison["stream"], jobs.as_str(), "{doc:#}");
    assert_eq!(poison["id"], id, "{doc:#}");
    assert_eq!(
        poison["node"],
        format!("127.0.0.1:{poison_node}"),
        "{doc:#}"
    );
    let lonely = find("no_consumers");
    assert_eq!(lonely["stream"], orphans.as_str(), "{doc:#}");
    assert_eq!(
        lonely["node"],
        format!("127.0.0.1:{lonely_node}"),
        "{doc:#}"
    );
    assert_ne!(poison["node"], lonely["node"]);
    assert_eq!(doc["checked"]["streams"], 2, "{doc:#}");

    let (text, code) = doctor(&url, false);
    assert_eq!(code, Some(1), "{text}");
    let head = |kind: &str| {
        text.lines()
            .find(|l| l.contains(kind) && l.contains("stream "))
            .unwrap_or_else(|| panic!("no {kind} line:\n{text}"))
            .to_string()
    };
    assert!(
        head("poison").contains(&format!("node 127.0.0.1:{poison_node}")),
        "{text}"
    );
    assert!(
        head("no_consumers").contains(&format!("node 127.0.0.1:{lonely_node}")),
        "{text}"
    );
}
