//! The Problems list end to end in a real terminal against a real server: `!` lists a
//! poison entry (redelivered via XCLAIM), a dangling pending id (XDEL of a pending
//! entry), a zombie consumer (short `--zombie-after`) and a consumerless group; `x`
//! previews a fix, `y` applies it, and redis-cli shows that exactly the previewed ids
//! moved and nothing else. Read-only mode refuses the fix and audits the refusal.

use crate::common;

use std::time::Duration;

use common::pty::Tui;
use common::Server;

const T: Duration = Duration::from_secs(30);

fn pending_ids(server: &Server) -> Vec<String> {
    server
        .cli(&["XPENDING", "jobs", "workers", "-", "+", "100"])
        .lines()
        .map(str::trim)
        .filter(|l| l.contains('-') && l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Values of field `name` in every entry of `redis-cli XRANGE key - +`.
fn dlq_field(server: &Server, key: &str, name: &str) -> Vec<String> {
    let text = server.cli(&["XRANGE", key, "-", "+"]);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].to_string())
        .collect()
}

/// `jobs`/`workers`: "busy" holds ids 0..4 (id 0 delivered 6 times, id 1 deleted) and
/// then stops; "fresh" takes id 4 after the zombie threshold. `orphans`/`nobody`: a
/// group with lag and no consumer. Returns the ids of `jobs`.
fn stuck_work(server: &Server) -> Vec<String> {
    let ids: Vec<String> = (0..6)
        .map(|i| server.xadd("jobs", &["task", &format!("t{i}")]))
        .collect();
    server.create_group("jobs", "workers");
    let read = |consumer: &str, count: usize| server.read_group("jobs", "workers", consumer, count);
    read("busy", 4);
    for _ in 0..5 {
        server.cli(&["XCLAIM", "jobs", "workers", "busy", "0", &ids[0]]);
    }
    server.cli(&["XDEL", "jobs", &ids[1]]);
    for i in 0..3 {
        server.cli(&["XADD", "orphans", "*", "n", &i.to_string()]);
    }
    server.cli(&["XGROUP", "CREATE", "orphans", "nobody", "0"]);
    // Past the 1s zombie threshold, then a live consumer takes one entry.
    std::thread::sleep(Duration::from_millis(1300));
    read("fresh", 1);
    ids
}

/// Move the selection (`j`) until the selected row names `kind`.
fn select(tui: &mut Tui, kind: &str) {
    for _ in 0..10 {
        let screen = tui.screen();
        let selected = screen.lines().find(|l| l.starts_with('▸'));
        if selected.is_some_and(|l| l.contains(kind)) {
            return;
        }
        tui.send(b"j");
    }
    panic!("no {kind} row could be selected:\n{}", tui.screen());
}

#[test]
fn problems_list_fixes_exactly_the_previewed_ids() {
    let server = Server::start();
    let ids = stuck_work(&server);
    let before = pending_ids(&server);
    assert_eq!(before, ids[..5].to_vec());
    let (mut tui, audit) = common::tui_audited_sized(
        &[&server.url(), "-c", "unused", "--zombie-after", "1s"],
        false,
        (160, 36),
    );
    let audit_path = audit.path.clone();
    tui.wait_for("connected", T);
    tui.wait_for(" problems (!)", T);
    tui.send(b"!");
    let screen = tui.wait_until("every finding", T, |s| {
        ["poison", "dangling", "zombie", "no_consumers"]
            .iter()
            .all(|k| s.contains(k))
    });
    assert!(screen.contains("orphans"), "{screen}");

    // Poison: dead-letter exactly its one id.
    select(&mut tui, "poison");
    tui.send(b"x");
    let preview = tui.wait_for("fix: dead-letter", T);
    assert!(
        preview.contains(&format!("ids: {}", ids[0])),
        "the preview names the id:\n{preview}"
    );
    assert_eq!(pending_ids(&server), before, "nothing sent before y");
    tui.send(b"y");
    common::wait_for("the poison entry to leave the pending list", T, || {
        (!pending_ids(&server).contains(&ids[0])).then_some(())
    });
    assert_eq!(pending_ids(&server), before[1..].to_vec());
    assert_eq!(
        dlq_field(&server, "jobs:dlq", "dlq_original_id"),
        vec![ids[0].clone()],
        "exactly the previewed id went to the dead-letter stream"
    );

    // Dangling: ack exactly the deleted id, once the list has caught up.
    tui.wait_until("the poison finding to go", T, |s| !s.contains("poison"));
    select(&mut tui, "dangling");
    tui.send(b"x");
    let preview = tui.wait_for("fix: ack dangling ids", T);
    assert!(
        preview.contains(&format!("XACK jobs workers {}", ids[1])),
        "{preview}"
    );
    tui.send(b"y");
    common::wait_for("the dangling id to be acked", T, || {
        (!pending_ids(&server).contains(&ids[1])).then_some(())
    });
    assert_eq!(pending_ids(&server), before[2..].to_vec());
    assert_eq!(dlq_field(&server, "jobs:dlq", "dlq_original_id").len(), 1);

    let log = std::fs::read_to_string(&audit_path).expect("audit log written");
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    assert_eq!(records.len(), 2, "{log}");
    assert_eq!(records[0]["action"], "dead-letter", "{}", records[0]);
    assert_eq!(records[0]["ids"][0], ids[0].as_str(), "{}", records[0]);
    assert_eq!(records[1]["action"], "ack", "{}", records[1]);
    assert_eq!(records[1]["ids"][0], ids[1].as_str(), "{}", records[1]);
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn problems_fix_is_refused_and_audited_in_read_only_mode() {
    let server = Server::start();
    stuck_work(&server);
    let before = pending_ids(&server);
    let (mut tui, audit) = common::tui_audited_sized(
        &[&server.url(), "-c", "unused", "--zombie-after", "1s"],
        true,
        (160, 36),
    );
    let audit_path = audit.path.clone();
    tui.wait_for("READ-ONLY", T);
    tui.wait_for(" problems (!)", T);
    tui.send(b"!");
    tui.wait_for("poison", T);
    select(&mut tui, "poison");
    tui.send(b"x");
    tui.wait_for("dead-letter is disabled (REDTAIL_READ_ONLY=1)", T);
    let records = common::wait_for("the audited refusal", T, || {
        let log = std::fs::read_to_string(&audit_path).unwrap_or_default();
        let records: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (!records.is_empty()).then_some(records)
    });
    let r = &records[0];
    assert_eq!(r["action"], "dead-letter", "{r}");
    assert_eq!(r["stream"], "jobs", "{r}");
    assert_eq!(r["group"], "workers", "{r}");
    assert_eq!(r["result"]["status"], "refused", "{r}");
    assert_eq!(pending_ids(&server), before, "nothing changed");
    assert_eq!(server.cli(&["EXISTS", "jobs:dlq"]).trim(), "0");
    tui.send(b"q");
    tui.wait_exit(T);
}
