//! `redtail demo` end to end: the real binary in a pseudo-terminal starts its own server
//! and workload, every pane shows live data, and quitting (or being killed) leaves no
//! server process behind.

use crate::common;

use std::time::Duration;

use common::pty::Tui;

const T: Duration = Duration::from_secs(30);

/// Server processes started by the demo: children of redtail named like a server.
/// (redis-server rewrites its process title, so we find it by parentage.)
fn demo_servers(redtail_pid: u32) -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-P", &redtail_pid.to_string()])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/comm"))
                .map(|c| c.contains("redis-server") || c.contains("valkey-server"))
                .unwrap_or(false)
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purpose; /proc/<pid>/stat's state field says Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn wait_gone(servers: &[u32]) {
    common::wait_for("the demo server to stop", Duration::from_secs(10), || {
        servers.iter().all(|p| !alive(*p)).then_some(())
    });
}

#[test]
fn demo_shows_live_data_in_every_pane_and_cleans_up() {
    let mut tui = Tui::spawn(&["demo"], 160, 45);
    let pid = tui.pid();
    tui.wait_for("connected", T);
    let servers = demo_servers(pid);
    assert_eq!(servers.len(), 1, "exactly one private server runs");

    // Feed: token streams and broadcasts arrive.
    tui.wait_for("ai:stream:sess-", T);
    tui.wait_for("cache:invalidate", T);
    // The Protobuf channel, decoded by the demo's schema (field and enum names).
    tui.wait_until("orders:proto decoded by its type", T, |s| {
        s.lines().any(|l| {
            l.contains("orders:proto")
                && l.contains("[protobuf:demo.OrderEvent]")
                && l.contains("\"state\":\"")
        })
    });

    // Channels: the demo's four API subscribers are counted.
    tui.send(b"2");
    tui.wait_until("channels with subscriber counts", T, |s| {
        s.lines()
            .any(|l| l.contains("cache:invalidate") && l.split_whitespace().any(|w| w == "4"))
    });

    // Streams: the work queues and their groups.
    tui.send(b"3");
    tui.wait_for("ai:inference:queue", T);
    tui.wait_for("docs:pipeline", T);

    // Pending: the crashing worker's entries, for the inference queue's group.
    tui.send(b"4");
    tui.send(b"t");
    // The prompt starts with the current target (Ctrl-U clears the line).
    tui.send(b"\x15");
    tui.send(b"ai:inference:queue inference-workers");
    tui.send(b"\r");
    tui.wait_until("worker-3's pending entries", T, |s| {
        s.lines()
            .any(|l| l.contains("worker-3") && l.contains("request_id="))
    });

    tui.send(b"q");
    let code = tui.wait_exit(T);
    assert_eq!(code, Some(0), "screen after q:\n{}", tui.screen());
    wait_gone(&servers);
}

#[test]
fn killing_the_demo_takes_its_server_down_too() {
    let tui = Tui::spawn(&["demo"], 120, 30);
    let pid = tui.pid();
    tui.wait_for("connected", T);
    let servers = demo_servers(pid);
    assert_eq!(servers.len(), 1);
    // SIGKILL: no destructor runs; the kernel's parent-death signal must do it.
    assert!(std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill")
        .success());
    wait_gone(&servers);
}

#[test]
fn cluster_demo_spreads_the_workload_over_six_nodes_and_cleans_up() {
    let mut tui = Tui::spawn(&["demo", "--cluster"], 160, 40);
    let pid = tui.pid();
    tui.wait_for("cluster · 3 primaries · 3 replicas", T);
    let servers = demo_servers(pid);
    assert_eq!(servers.len(), 6, "three primaries and three replicas");
    // Shard channels are delivered from their own slot owners.
    tui.wait_for("orders:{eu}:created", T);
    tui.wait_for("orders:{us}:created", T);
    // The nodes view lists them all.
    tui.send(b"2");
    tui.send(b"n");
    tui.wait_until("six nodes", T, |s| {
        s.matches(" primary ").count() == 3 && s.matches(" replica ").count() == 3
    });
    // Streams live on different primaries; each row says where.
    tui.send(b"3");
    tui.wait_until("both queues with their node", T, |s| {
        ["ai:inference:queue", "docs:pipeline"]
            .iter()
            .all(|k| s.lines().any(|l| l.contains(k) && l.contains("127.0.0.1:")))
    });
    tui.send(b"q");
    assert_eq!(tui.wait_exit(T), Some(0), "screen:\n{}", tui.screen());
    wait_gone(&servers);
}

#[test]
fn demo_refuses_a_proto_flag_it_would_ignore_and_says_why() {
    // The demo's traffic is its own: a schema given with --proto would decode nothing,
    // and ignoring it silently left a user wondering why it did not apply.
    let mut p = common::Proc::spawn(&["demo", "--proto", "missing.proto"]);
    assert_eq!(p.wait_exit(T), Some(1));
    let err = p.stderr();
    assert!(
        err.contains("--proto does not apply") && err.contains("orders:proto"),
        "{err}"
    );
}

#[test]
fn demo_refuses_a_server_it_would_ignore_and_says_why() {
    // The demo never connects to a server it was given: say so rather than run silently
    // on its own one while the user believes they watch theirs.
    for args in [
        &["demo", "-u", "redis://127.0.0.1:7810"][..],
        &["-u", "redis://127.0.0.1:7810", "demo"],
        &["demo", "--port", "7810"],
    ] {
        let mut p = common::Proc::spawn(args);
        assert_eq!(p.wait_exit(T), Some(1), "{args:?}");
        let err = p.stderr();
        assert!(err.contains("never connects to another"), "{args:?}: {err}");
    }
}
