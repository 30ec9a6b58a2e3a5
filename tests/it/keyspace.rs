//! `redtail tail --keyspace` against real servers: the events and their JSONL/text form,
//! filters, one line per event, every primary of a Cluster (and after a failover),
//! Sentinel, Valkey, the notify-keyspace-events check and `--enable-notifications`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::cluster::Cluster;
use common::sentinel::SentinelSetup;
use common::{
    subscriptions_on, tail_jsonl, wait_for, wait_subscribed, wait_subscribed_on, Proc, Server,
};

const T: Duration = Duration::from_secs(10);

fn json(p: &Proc) -> serde_json::Value {
    let l = p
        .line(T)
        .unwrap_or_else(|| panic!("no line within {T:?}; stderr: {}", p.stderr()));
    serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad json {l:?}: {e}"))
}

/// The next keyspace event line as (key bytes, event), skipping nothing.
fn event(p: &Proc) -> (Vec<u8>, String, serde_json::Value) {
    let v = json(p);
    assert_eq!(v["kind"], "keyspace", "{v}");
    let key = match v.get("key_b64").and_then(|k| k.as_str()) {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("valid base64"),
        None => v["key"].as_str().expect("key").as_bytes().to_vec(),
    };
    let ev = v["event"].as_str().expect("event").to_string();
    (key, ev, v)
}

/// notify-keyspace-events on `port`, read with a client of our own.
fn config_get(port: u16) -> String {
    let reply = common::query(port, &["CONFIG", "GET", "notify-keyspace-events"]);
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("CONFIG GET value: {other:?}"),
    };
    match reply {
        Ok(redis::Value::Array(items)) if items.len() == 2 => text(&items[1]),
        Ok(redis::Value::Map(pairs)) if pairs.len() == 1 => text(&pairs[0].1),
        other => panic!("CONFIG GET on {port}: {other:?}"),
    }
}

fn audit_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("audit.jsonl").display().to_string()
}

#[test]
fn keyspace_events_arrive_once_each_with_their_shape() {
    // Both channel forms on: redtail still prints each event once, also through two
    // overlapping globs.
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    let p = tail_jsonl(&server, &["--keyspace", "*", "--keyspace", "u*"], 4);
    let mut c = server.conn();
    redis::cmd("SET").arg("u1").arg("a").exec(&mut c).unwrap();
    redis::cmd("DEL").arg("u1").exec(&mut c).unwrap();
    redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .exec(&mut c)
        .unwrap();
    redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .exec(&mut c)
        .unwrap();
    redis::cmd("SET")
        .arg(b"bin\xff\x1b")
        .arg("x")
        .exec(&mut c)
        .unwrap();
    redis::cmd("SET")
        .arg("sess")
        .arg("1")
        .arg("PX")
        .arg("50")
        .exec(&mut c)
        .unwrap();
    let node = format!("127.0.0.1:{}", server.port);
    let mut got = Vec::new();
    for _ in 0..8 {
        let (key, ev, v) = event(&p);
        assert_eq!(v["node"], node.as_str(), "{v}");
        assert_eq!(v["db"], 0, "{v}");
        assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
        got.push((key, ev));
    }
    let expect: Vec<(Vec<u8>, String)> = [
        (&b"u1"[..], "set"),
        (b"u1", "del"),
        (b"h", "hset"),
        (b"s", "xadd"),
        (b"bin\xff\x1b", "set"),
        (b"sess", "set"),
        (b"sess", "expire"),
        (b"sess", "expired"),
    ]
    .iter()
    .map(|(k, e)| (k.to_vec(), e.to_string()))
    .collect();
    assert_eq!(got, expect);
    // Nothing more: no copy through the second glob or the keyevent form.
    redis::cmd("SET").arg("last").arg("1").exec(&mut c).unwrap();
    let (key, ev, _) = event(&p);
    assert_eq!((key.as_slice(), ev.as_str()), (&b"last"[..], "set"));
}

#[test]
fn keyspace_binary_keys_get_key_b64_and_escaped_text() {
    let server = Server::start_with(&["--notify-keyspace-events", "K$"]);
    let url = server.url();
    let p = tail_jsonl(&server, &["--keyspace", "b*", "--db", "0"], 1);
    let mut c = server.conn();
    redis::cmd("SET")
        .arg(b"b\xff\x1b[2J")
        .arg("x")
        .exec(&mut c)
        .unwrap();
    let line = p.line(T).expect("a line");
    assert!(!line.contains('\x1b'), "raw ESC in {line:?}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["key_b64"], "Yv8bWzJK");
    assert_eq!(v["key"], "b\\xff\\x1b[2J");
    // Text: HH:MM:SS.mmm node db key event, escaped.
    let t = Proc::spawn(&["tail", &url, "--keyspace", "b*", "--escape", "--db", "0"]);
    wait_subscribed(&server, 2);
    redis::cmd("SET")
        .arg(b"b\x1b]0;x\x07")
        .arg("x")
        .exec(&mut c)
        .unwrap();
    let line = t.line(T).expect("a text line");
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    assert_eq!(ts.len(), "00:00:00.000".len(), "{line}");
    assert_eq!(
        rest,
        format!("127.0.0.1:{} 0 b\\x1b]0;x\\x07 set", server.port)
    );
}

#[test]
fn keyspace_filters_match_key_as_channel_and_event_as_payload() {
    let server = Server::start_with(&["--notify-keyspace-events", "K$g"]);
    let p = tail_jsonl(
        &server,
        &[
            "--keyspace",
            "*",
            "--events",
            "set,del",
            "--filter",
            "ch:order:* and payload:del",
        ],
        2,
    );
    let mut c = server.conn();
    for k in ["order:1", "cart:1"] {
        redis::cmd("SET").arg(k).arg("1").exec(&mut c).unwrap();
        redis::cmd("EXPIRE").arg(k).arg("100").exec(&mut c).unwrap();
        redis::cmd("DEL").arg(k).exec(&mut c).unwrap();
    }
    redis::cmd("DEL").arg("order:9").exec(&mut c).unwrap(); // no such key: no event
    redis::cmd("SET")
        .arg("order:2")
        .arg("1")
        .exec(&mut c)
        .unwrap();
    redis::cmd("DEL").arg("order:2").exec(&mut c).unwrap();
    let (k1, e1, _) = event(&p);
    let (k2, e2, _) = event(&p);
    assert_eq!((k1.as_slice(), e1.as_str()), (&b"order:1"[..], "del"));
    assert_eq!((k2.as_slice(), e2.as_str()), (&b"order:2"[..], "del"));
    assert!(p.line(Duration::from_millis(300)).is_none());
}

#[test]
fn keyspace_notifications_off_names_the_setting_flags_and_a_working_command() {
    let server = Server::start();
    let url = server.url();
    let p = Proc::spawn(&[
        "tail",
        &url,
        "--keyspace",
        "*",
        "--events",
        "set,expired",
        "--format",
        "jsonl",
    ]);
    let expected = format!(
        "redis-cli -h 127.0.0.1 -p {} CONFIG SET notify-keyspace-events 'K$x'",
        server.port
    );
    assert!(p.wait_stderr(&expected, T), "stderr: {}", p.stderr());
    let err = p.stderr();
    assert!(
        err.contains("notify-keyspace-events is \"\" (off), lacking flags \"K$x\""),
        "{err}"
    );
    // The printed command is the fix: run it as printed, and events flow.
    let status = std::process::Command::new("sh")
        .args(["-c", &expected])
        .output()
        .expect("sh");
    assert!(status.status.success());
    wait_subscribed(&server, 2);
    server.cli(&["SET", "k", "v"]);
    let (key, ev, _) = event(&p);
    assert_eq!((key.as_slice(), ev.as_str()), (&b"k"[..], "set"));
}

#[test]
fn keyspace_enable_notifications_merges_flags_and_restores_on_exit() {
    let server = Server::start_with(&["--notify-keyspace-events", "Ex"]);
    let before = config_get(server.port);
    assert_eq!(before, "xE");
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_path(&dir);
    let url = server.url();
    // -n reached.
    let mut p = Proc::spawn_env(
        &[
            "tail",
            &url,
            "--keyspace",
            "*",
            "--events",
            "set",
            "--enable-notifications",
            "-n",
            "1",
            "--format",
            "jsonl",
        ],
        &[("REDTAIL_AUDIT_LOG", &audit)],
    );
    wait_subscribed(&server, 2);
    let during = config_get(server.port);
    for flag in ['E', 'x', 'K', '$'] {
        assert!(during.contains(flag), "{flag} missing from {during:?}");
    }
    server.cli(&["SET", "a", "1"]);
    let (key, ev, _) = event(&p);
    assert_eq!((key.as_slice(), ev.as_str()), (&b"a"[..], "set"));
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    assert_eq!(config_get(server.port), before);
    let err = p.stderr();
    assert!(
        err.contains(&format!(
            "restored notify-keyspace-events on 127.0.0.1:{} to \"xE\"",
            server.port
        )),
        "{err}"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    let actions: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            format!(
                "{} {}",
                v["action"].as_str().unwrap(),
                v["result"]["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(actions, ["notify-enable ok", "notify-restore ok"]);
}

/// `tail --keyspace '*' --enable-notifications` on `server`, auditing to `audit`, once
/// it has subscribed (the flags are set by then).
fn tail_enabling(server: &Server, audit: &str) -> Proc {
    let url = server.url();
    let p = Proc::spawn_env(
        &["tail", &url, "--keyspace", "*", "--enable-notifications"],
        &[("REDTAIL_AUDIT_LOG", audit)],
    );
    wait_subscribed(server, 2);
    assert!(config_get(server.port).contains('K'));
    p
}

/// Send `signal` (`-INT`, `-TERM`, …) to `p`.
fn signal(p: &Proc, signal: &str) {
    let pid = p.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill {signal}");
}

#[test]
fn keyspace_enable_notifications_restores_on_sigterm_and_sighup() {
    let server = Server::start_with(&["--notify-keyspace-events", "Ex"]);
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_path(&dir);
    // Ctrl-C, `kill` (and `timeout`, systemd, docker), a closed terminal.
    for sig in ["-INT", "-TERM", "-HUP"] {
        let mut p = tail_enabling(&server, &audit);
        signal(&p, sig);
        assert_eq!(p.wait_exit(T), Some(0), "{sig}: {}", p.stderr());
        assert_eq!(config_get(server.port), "xE", "put back on {sig}");
        assert!(p.stderr().contains("restored notify-keyspace-events"));
    }
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(log.matches("notify-restore").count(), 3, "{log}");
}

#[test]
fn keyspace_exit_leaves_a_setting_someone_changed_since() {
    let server = Server::start_with(&["--notify-keyspace-events", ""]);
    let dir = tempfile::tempdir().unwrap();
    let mut p = tail_enabling(&server, &audit_path(&dir));
    // Another operator sets their own value meanwhile: theirs stays on exit.
    server.cli(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    signal(&p, "-INT");
    assert_eq!(p.wait_exit(T), Some(0), "stderr: {}", p.stderr());
    assert_eq!(config_get(server.port), "xE");
    let err = p.stderr();
    assert!(
        err.contains("left at \"xE\", not put back to \"\": it was changed since"),
        "{err}"
    );
}

#[test]
fn keyspace_enable_notifications_is_refused_in_read_only_mode_and_audited() {
    let server = Server::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_path(&dir);
    for (flag, env) in [
        (Some("--read-only"), None),
        (None, Some(("REDTAIL_READ_ONLY", "1"))),
    ] {
        let mut args = vec![
            "tail",
            url.as_str(),
            "--keyspace",
            "*",
            "--enable-notifications",
        ];
        args.extend(flag);
        let mut envs = vec![("REDTAIL_AUDIT_LOG", audit.as_str())];
        envs.extend(env);
        let mut p = Proc::spawn_env(&args, &envs);
        assert_eq!(p.wait_exit(T), Some(1), "stderr: {}", p.stderr());
        let err = p.stderr();
        assert!(err.contains("refused: read-only mode is on"), "{err}");
        assert_eq!(config_get(server.port), "");
    }
    let log = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    for l in &lines {
        assert_eq!(l["action"], "notify-enable");
        assert_eq!(l["result"]["status"], "refused");
    }
}

#[test]
fn keyspace_node_refusing_config_is_reported_and_events_still_arrive() {
    let server = Server::start_with(&["--notify-keyspace-events", "K$"]);
    server.cli(&[
        "ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config",
    ]);
    let url = format!("redis://noconfig:pw@127.0.0.1:{}", server.port);
    let p = Proc::spawn(&[
        "tail",
        &url,
        "--keyspace",
        "*",
        "--format",
        "jsonl",
        "--enable-notifications",
    ]);
    assert!(
        p.wait_stderr("cannot read notify-keyspace-events", T),
        "{}",
        p.stderr()
    );
    let err = p.stderr();
    assert!(err.contains("NOPERM"), "{err}");
    assert!(err.contains("parameter group or console"), "{err}");
    wait_subscribed(&server, 2);
    server.cli(&["SET", "k", "v"]);
    let (key, ev, _) = event(&p);
    assert_eq!((key.as_slice(), ev.as_str()), (&b"k"[..], "set"));
}

#[test]
fn keyspace_on_valkey_where_installed() {
    let Some(server) = Server::start_valkey() else {
        eprintln!("valkey-server not installed: skipped");
        return;
    };
    server.cli(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let p = tail_jsonl(&server, &["--keyspace", "v:*"], 2);
    server.cli(&["SET", "v:1", "x"]);
    server.cli(&["HSET", "v:h", "f", "v"]);
    let (k1, e1, _) = event(&p);
    let (k2, e2, _) = event(&p);
    assert_eq!((k1.as_slice(), e1.as_str()), (&b"v:1"[..], "set"));
    assert_eq!((k2.as_slice(), e2.as_str()), (&b"v:h"[..], "hset"));
}

/// Read keyspace lines until `done` says so, collecting events and gap lines.
fn collect_until(
    p: &Proc,
    timeout: Duration,
    mut done: impl FnMut(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    while !done(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out; got {lines:?}; stderr: {}",
            p.stderr()
        );
        if let Some(l) = p.line(left.min(Duration::from_millis(500))) {
            lines.push(serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l:?}: {e}")));
        }
    }
    lines
}

#[test]
fn keyspace_cluster_every_primary_reports_its_keys_and_a_failover_leaves_a_gap() {
    let cluster = Cluster::start();
    let primaries: Vec<u16> = cluster.primaries().iter().map(|n| n.port).collect();
    assert_eq!(primaries.len(), 3);
    // One primary publishes events but refuses CONFIG to redtail's user (as managed
    // services do): it is reported, and its events still arrive.
    let locked = primaries[1];
    cluster.cli(locked, &["CONFIG", "SET", "notify-keyspace-events", "K$"]);
    cluster.cli(locked, &["ACL", "SETUSER", "default", "-config"]);
    let url = format!("redis://127.0.0.1:{}", primaries[0]);
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_path(&dir);
    let p = Proc::spawn_env(
        &[
            "tail",
            &url,
            "--keyspace",
            "ks:*",
            "--events",
            "set",
            "--format",
            "jsonl",
            "--enable-notifications",
        ],
        &[("REDTAIL_AUDIT_LOG", &audit)],
    );
    for &port in &primaries {
        wait_subscribed_on(port, 2);
    }
    // Every other node (replicas too, for failovers) got the flags.
    for &port in cluster.ports().iter().filter(|&&p| p != locked) {
        assert!(config_get(port).contains('K'), "node {port}");
    }
    let err = p.stderr();
    assert!(
        err.contains(&format!(
            "node 127.0.0.1:{locked}: cannot read notify-keyspace-events"
        )) && err.contains("NOPERM"),
        "{err}"
    );
    // 30 keys spread over all three primaries, each written on its owner.
    let keys: Vec<String> = (0..30).map(|i| format!("ks:{i}")).collect();
    let mut owner: BTreeMap<String, u16> = BTreeMap::new();
    for k in &keys {
        let port = cluster.port_for_key(k);
        cluster.cli(port, &["SET", k, "v"]);
        owner.insert(k.clone(), port);
    }
    assert_eq!(owner.values().collect::<BTreeSet<_>>().len(), 3);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..30 {
        let (key, ev, v) = event(&p);
        assert_eq!(ev, "set");
        let key = String::from_utf8(key).unwrap();
        assert!(seen
            .insert(key, v["node"].as_str().unwrap().to_string())
            .is_none());
    }
    let expected: BTreeMap<String, String> = owner
        .iter()
        .map(|(k, port)| (k.clone(), format!("127.0.0.1:{port}")))
        .collect();
    assert_eq!(seen, expected);

    // Kill a primary: its replica takes over, events resume from it, and the feed says
    // which node's events were lost and for how long.
    let victim = primaries[0];
    cluster.kill_primary(victim);
    let promoted = cluster.wait_failover(victim);
    wait_subscribed_on(promoted, 2);
    let key = (0..)
        .map(|i| format!("ks:after:{i}"))
        .find(|k| cluster.port_for_key(k) == promoted)
        .unwrap();
    cluster.cli(promoted, &["SET", &key, "v"]);
    let node = format!("127.0.0.1:{promoted}");
    let lost = format!("node 127.0.0.1:{victim}:");
    let lines = collect_until(&p, Duration::from_secs(20), |lines| {
        let event = lines.iter().any(|v| {
            v["kind"] == "keyspace" && v["key"] == key.as_str() && v["node"] == node.as_str()
        });
        let gap = lines.iter().any(|v| {
            v["kind"] == "gap" && v["reason"].as_str().is_some_and(|r| r.starts_with(&lost))
        });
        event && gap
    });
    assert!(lines
        .iter()
        .all(|v| v["kind"] == "keyspace" || v["kind"] == "gap"));
    // "reconnected to" names the nodes followed now — the live primaries, as redis-cli
    // sees tail's patterns on them — not the dead node the URL gave.
    assert!(p.wait_stderr("reconnected to", T), "{}", p.stderr());
    let err = p.stderr();
    let line = err.lines().rfind(|l| l.contains("reconnected to")).unwrap();
    let named: BTreeSet<String> = line
        .split("reconnected to ")
        .nth(1)
        .unwrap_or_default()
        .split(", ")
        .map(str::to_string)
        .collect();
    let followed: BTreeSet<String> = cluster
        .primaries()
        .iter()
        .filter(|n| subscriptions_on(n.port) > 0)
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    assert_eq!(followed.len(), 3, "{followed:?}");
    assert!(followed.contains(&node), "{followed:?}");
    assert_eq!(named, followed, "{line}");
}

#[test]
fn keyspace_through_sentinel_follows_the_primary() {
    let setup = SentinelSetup::start();
    for port in setup.data_ports() {
        common::query(port, &["CONFIG", "SET", "notify-keyspace-events", "K$"]).unwrap();
    }
    let sentinels = setup.sentinel_addrs().join(",");
    let url = format!("redis+sentinel://{sentinels}/{}", setup.master_name());
    let p = Proc::spawn(&["tail", &url, "--keyspace", "*", "--format", "jsonl"]);
    let first = setup.primary_port();
    wait_subscribed_on(first, 2);
    common::query(first, &["SET", "s1", "v"]).unwrap();
    let (key, _, v) = event(&p);
    assert_eq!(key, b"s1");
    assert_eq!(v["node"], format!("127.0.0.1:{first}").as_str());
    let second = setup.failover();
    wait_subscribed_on(second, 2);
    // The old primary (now a replica) is left: only the new one reports.
    wait_for("redtail to leave the old primary", T, || {
        (subscriptions_on(first) == 0).then_some(())
    });
    common::query(second, &["SET", "s2", "v"]).unwrap();
    // …and says that events may have been lost while it moved.
    let old = format!("node 127.0.0.1:{first}");
    let lines = collect_until(&p, T, |lines| {
        let gap = lines.iter().any(|v| {
            v["kind"] == "gap" && v["reason"].as_str().is_some_and(|r| r.starts_with(&old))
        });
        gap && lines
            .iter()
            .any(|v| v["kind"] == "keyspace" && v["key"] == "s2")
    });
    let s2 = lines.iter().find(|v| v["key"] == "s2").unwrap();
    assert_eq!(s2["node"], format!("127.0.0.1:{second}").as_str());
}

#[test]
fn keyspace_db_limits_to_one_database_and_names_it() {
    let server = Server::start_with(&["--notify-keyspace-events", "K$"]);
    let url = server.url();
    let one = Proc::spawn(&[
        "tail",
        &url,
        "--db",
        "1",
        "--keyspace",
        "*",
        "--format",
        "jsonl",
    ]);
    let every = Proc::spawn(&["tail", &url, "--keyspace", "*", "--format", "jsonl"]);
    wait_subscribed(&server, 3);
    for (db, key) in [("0", "in0"), ("1", "in1"), ("12", "in12")] {
        server.cli(&["-n", db, "SET", key, "v"]);
    }
    let (key, _, v) = event(&one);
    assert_eq!((key.as_slice(), v["db"].as_u64()), (&b"in1"[..], Some(1)));
    assert!(one.line(Duration::from_millis(300)).is_none());
    let got: Vec<(Vec<u8>, Option<u64>)> = (0..3)
        .map(|_| {
            let (key, _, v) = event(&every);
            (key, v["db"].as_u64())
        })
        .collect();
    assert_eq!(
        got,
        [
            (b"in0".to_vec(), Some(0)),
            (b"in1".to_vec(), Some(1)),
            (b"in12".to_vec(), Some(12))
        ]
    );
}

/// README (keyspace, "The setting"): through Sentinel the check is made on every new
/// primary after a failover, and `--enable-notifications` adds the flags there too (put
/// back on exit like the first's). Only the first primary has flags here: the old code
/// checked only it, so after the failover no event came again.
#[test]
fn keyspace_through_sentinel_enables_the_flags_on_each_new_primary() {
    let (setup, [first, second], first_setting) = sentinel_with_flags_on_the_first_only();
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_path(&dir);
    let sentinels = setup.sentinel_addrs().join(",");
    let mut p = Proc::spawn_env(
        &[
            "tail",
            "--sentinel",
            &sentinels,
            "--master",
            setup.master_name(),
            "--keyspace",
            "*",
            "--events",
            "set",
            "--enable-notifications",
            "--format",
            "jsonl",
        ],
        &[("REDTAIL_AUDIT_LOG", audit.as_str())],
    );
    wait_subscribed_on(first, 2);
    common::query(first, &["SET", "before", "v"]).unwrap();
    assert_eq!(event(&p).0, b"before");
    assert_eq!(setup.failover(), second);
    wait_for(
        "redtail to enable notifications on the new primary",
        T,
        || config_get(second).contains('K').then_some(()),
    );
    wait_subscribed_on(second, 2);
    common::query(second, &["SET", "after", "v"]).unwrap();
    let lines = collect_until(&p, T, |lines| {
        lines
            .iter()
            .any(|v| v["kind"] == "keyspace" && v["key"] == "after")
    });
    let after = lines.iter().find(|v| v["key"] == "after").unwrap();
    assert_eq!(after["node"], format!("127.0.0.1:{second}").as_str());
    // Put back on exit, with the first's (which had what it needed: untouched).
    signal(&p, "-TERM");
    assert_eq!(p.wait_exit(T), Some(0), "{}", p.stderr());
    check_put_back([first, second], &first_setting, &audit, &p.stderr());
}

/// The same promise through the TUI's entry point: launched with
/// `--enable-notifications`, the keyspace pane enables the flags on the primary a
/// failover promotes (audited), shows its events with its node, and puts both primaries'
/// settings back on quit.
#[test]
fn keyspace_tui_through_sentinel_enables_the_flags_on_each_new_primary() {
    let (setup, [first, second], first_setting) = sentinel_with_flags_on_the_first_only();
    let sentinels = setup.sentinel_addrs().join(",");
    let (mut tui, audit) = common::tui_audited_sized(
        &[
            "--sentinel",
            &sentinels,
            "--master",
            setup.master_name(),
            "--keyspace",
            "*",
            "--events",
            "set",
            "--enable-notifications",
        ],
        false,
        (160, 30),
    );
    let numpat = |port: u16| {
        common::query_text(port, &["PUBSUB", "NUMPAT"])
            .and_then(|n| n.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
    };
    wait_for("the keyspace subscription on the first primary", T, || {
        numpat(first)
    });
    common::query(first, &["SET", "before", "v"]).unwrap();
    tui.wait_for("before", T);
    assert_eq!(setup.failover(), second);
    wait_for(
        "the TUI to enable notifications on the new primary",
        T,
        || config_get(second).contains('K').then_some(()),
    );
    wait_for("the keyspace subscription on the new primary", T, || {
        numpat(second)
    });
    common::query(second, &["SET", "after", "v"]).unwrap();
    tui.wait_until("the new primary's event with its node", T, |s| {
        s.lines()
            .any(|l| l.contains("after") && l.contains(&format!("127.0.0.1:{second}")))
    });
    tui.send(b"q");
    tui.wait_exit(T);
    let audit = audit.path.display().to_string();
    check_put_back([first, second], &first_setting, &audit, "put back on quit");
}

/// Sentinels over two data nodes, only the first primary (the one named first) with the
/// keyspace flags (`K$`): its setting, for the check that it is left as it was.
fn sentinel_with_flags_on_the_first_only() -> (SentinelSetup, [u16; 2], String) {
    let setup = SentinelSetup::start();
    let [first, second] = setup.data_ports();
    common::query(first, &["CONFIG", "SET", "notify-keyspace-events", "K$"]).unwrap();
    let first_setting = config_get(first);
    assert_eq!(config_get(second), "");
    (setup, [first, second], first_setting)
}

/// After redtail ended: the promoted primary's setting put back (empty), the first's
/// untouched, and one enable and one restore in the audit log at `audit`.
fn check_put_back([first, second]: [u16; 2], first_setting: &str, audit: &str, why: &str) {
    assert_eq!(config_get(second), "", "{why}");
    assert_eq!(config_get(first), first_setting);
    let log = std::fs::read_to_string(audit).unwrap();
    assert_eq!(log.matches("notify-enable").count(), 1, "{log}");
    assert_eq!(log.matches("notify-restore").count(), 1, "{log}");
}

/// Without `--enable-notifications`, a new primary that lacks the flags gets the same
/// warning and fix as the first one; redtail keeps following it, and events flow once
/// the setting is made there.
#[test]
fn keyspace_through_sentinel_warns_about_a_new_primary_without_flags() {
    let setup = SentinelSetup::start();
    let [first, second] = setup.data_ports();
    common::query(first, &["CONFIG", "SET", "notify-keyspace-events", "K$"]).unwrap();
    let sentinels = setup.sentinel_addrs().join(",");
    let url = format!("redis+sentinel://{sentinels}/{}", setup.master_name());
    let p = Proc::spawn(&[
        "tail",
        &url,
        "--keyspace",
        "*",
        "--events",
        "set",
        "--format",
        "jsonl",
    ]);
    wait_subscribed_on(first, 2);
    assert!(!p.stderr().contains("lacking flags"), "{}", p.stderr());
    assert_eq!(setup.failover(), second);
    let warning =
        format!("node 127.0.0.1:{second}: notify-keyspace-events is \"\" (off), lacking flags");
    assert!(p.wait_stderr(&warning, T), "{}", p.stderr());
    assert!(
        p.stderr().contains(&format!(
            "redis-cli -h 127.0.0.1 -p {second} CONFIG SET notify-keyspace-events"
        )),
        "{}",
        p.stderr()
    );
    wait_subscribed_on(second, 2);
    common::query(second, &["CONFIG", "SET", "notify-keyspace-events", "KA"]).unwrap();
    common::query(second, &["SET", "after", "v"]).unwrap();
    collect_until(&p, T, |lines| {
        lines
            .iter()
            .any(|v| v["kind"] == "keyspace" && v["key"] == "after")
    });
}
