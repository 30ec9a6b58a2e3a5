//! The Pending pane end to end: select a pending entry in the real TUI, press `a`, and
//! exactly that id is acked on the server — not a row index that shifted meanwhile.

use crate::common;

use std::time::Duration;

use common::pty::Tui;
use common::python::audit_records;
use common::Server;

const T: Duration = Duration::from_secs(20);

fn pending_ids(server: &Server) -> Vec<String> {
    server
        .cli(&["XPENDING", "jobs", "workers", "-", "+", "100"])
        .lines()
        .filter(|l| l.contains('-') && l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn ack_acts_on_the_entry_the_user_selected() {
    let server = Server::start();
    let ids = server.crashed_worker("jobs", "workers", "crashed", 3);
    assert_eq!(pending_ids(&server).len(), 3);

    let (mut tui, audit) =
        common::tui_audited_sized(&[&server.url(), "-c", "unused"], false, (140, 30));
    let audit_path = audit.path.clone();
    tui.wait_for("connected", T);
    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15"); // clear any prefilled target
    tui.send(b"jobs workers");
    tui.send(b"\r");
    let screen = tui.wait_until("all three pending entries", T, |s| {
        ids.iter().all(|id| s.contains(id.as_str()))
    });
    // The selected row is marked with '›'; take its id from the screen, as a person would.
    let selected_line = screen
        .lines()
        .find(|l| l.trim_start().starts_with('›'))
        .unwrap_or_else(|| panic!("no selected row:\n{screen}"))
        .to_string();
    let selected = ids
        .iter()
        .find(|id| selected_line.contains(id.as_str()))
        .unwrap_or_else(|| panic!("selected row has no known id: {selected_line}"))
        .clone();

    // Another entry arrives and is delivered while the pane is on screen.
    let newcomer = server.xadd("jobs", &["task", "late"]);
    server.read_group("jobs", "workers", "alive", 10);
    tui.wait_for(&newcomer, T);

    tui.send(b"a");
    common::wait_for("the selected id to be acked", T, || {
        (!pending_ids(&server).contains(&selected)).then_some(())
    });
    let left = pending_ids(&server);
    assert_eq!(left.len(), 3, "exactly one entry acked: {left:?}");
    assert!(
        left.contains(&newcomer),
        "the newcomer was touched: {left:?}"
    );
    for id in ids.iter().filter(|id| **id != selected) {
        assert!(left.contains(id), "{id} was acked but not selected");
    }
    let log = std::fs::read_to_string(&audit_path).expect("audit log written");
    let record: serde_json::Value =
        serde_json::from_str(log.lines().last().expect("one record")).expect("json");
    assert_eq!(record["ids"][0], selected.as_str(), "{record}");
    tui.send(b"q");
    tui.wait_exit(T);
}

#[test]
fn redtail_read_only_env_refuses_every_tui_mutation_and_audits_the_refusal() {
    let server = Server::start();
    server.crashed_worker("jobs", "workers", "crashed", 3);
    let before = pending_ids(&server);
    let (tui, audit) = common::tui_audited_sized(&[&server.url(), "-c", "unused"], true, (140, 30));
    refuses_ack_and_publish(tui, &server, &audit.path, &before, "REDTAIL_READ_ONLY=1");
}

/// In a read-only TUI over `server`'s `jobs`/`workers` (pending ids `before`): `a` on the
/// Pending pane and `p` on the Channels pane are refused because of `why`, both refusals
/// are audited, and nothing is acked.
fn refuses_ack_and_publish(
    mut tui: Tui,
    server: &Server,
    audit_path: &std::path::Path,
    before: &[String],
    why: &str,
) {
    tui.wait_for("connected", T);
    tui.wait_for("READ-ONLY", T);
    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15");
    tui.send(b"jobs workers");
    tui.send(b"\r");
    tui.wait_until("the pending entries", T, |s| {
        before.iter().all(|id| s.contains(id.as_str()))
    });
    tui.send(b"a");
    tui.wait_for(&format!("ack is disabled ({why}"), T);
    tui.send(b"2");
    tui.send(b"p");
    tui.wait_for(&format!("publish is disabled ({why}"), T);
    let records = common::wait_for("two audited refusals", T, || {
        let r = audit_records(audit_path);
        (r.len() == 2).then_some(r)
    });
    assert_eq!(records[0]["action"], "ack", "{}", records[0]);
    assert_eq!(records[0]["stream"], "jobs", "{}", records[0]);
    assert_eq!(records[0]["group"], "workers", "{}", records[0]);
    assert_eq!(records[1]["action"], "publish", "{}", records[1]);
    for r in &records {
        assert_eq!(r["result"]["status"], "refused", "{r}");
    }
    assert_eq!(pending_ids(server), before, "nothing was acked");
    tui.send(b"q");
    tui.wait_exit(T);
}

/// `[defaults] read_only = true` with the chosen profile saying `read_only = false`: the
/// TUI is still read-only, refuses a mutation key and audits the refusal.
#[test]
fn read_only_in_defaults_is_kept_by_a_profile_saying_false_in_the_tui() {
    let server = Server::start();
    server.crashed_worker("jobs", "workers", "crashed", 3);
    let before = pending_ids(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let text = format!(
        "[defaults]\nread_only = true\n\n[profiles.p]\nurl = \"{}\"\nread_only = false\n\
         channels = [\"unused\"]\n",
        server.url()
    );
    std::fs::write(&config, text).expect("config");
    let config = config.to_string_lossy().into_owned();
    // REDTAIL_READ_ONLY=0: only the config file can make this TUI read-only.
    let (tui, audit) =
        common::tui_audited_sized(&["--config", &config, "-P", "p"], false, (140, 30));
    let why = "[defaults] read_only = true";
    refuses_ack_and_publish(tui, &server, &audit.path, &before, why);
}

#[test]
fn a_publish_from_the_tui_composer_is_audited() {
    let server = Server::start();
    let (mut tui, audit) =
        common::tui_audited_sized(&[&server.url(), "-c", "news"], false, (140, 30));
    let audit_path = audit.path.clone();
    tui.wait_for("connected", T);
    common::wait_subscribed(&server, 1);
    tui.send(b"2");
    tui.wait_for("› news", T);
    // The composer opens on the selected channel (the only one), in the payload field.
    tui.send(b"p");
    tui.wait_for("channel  news", T);
    tui.send(b"hello from the composer");
    tui.send(b"\x13"); // Ctrl-S: send
    let records = common::wait_for("the publish's audit line", T, || {
        let r = audit_records(&audit_path);
        (!r.is_empty()).then_some(r)
    });
    let r = &records[0];
    assert_eq!(r["action"], "publish", "{r}");
    assert_eq!(r["command"], "PUBLISH", "{r}");
    assert_eq!(r["channel"], "news", "{r}");
    assert_eq!(r["result"]["status"], "ok", "{r}");
    assert_eq!(
        r["result"]["details"]["receivers"], 1,
        "redtail itself: {r}"
    );
    assert_eq!(r["message"]["payload"], "hello from the composer", "{r}");
    tui.send(b"\x1b");
    tui.send(b"q");
    tui.wait_exit(T);
}

/// `o` sorts the whole pending list, not the page on screen: with 250 pending entries,
/// the oldest-idle one is on XPENDING's third page of 100, and after sorting by idle it
/// is the first row, with the title saying the sort covered all 250.
#[test]
fn sorting_by_idle_covers_the_whole_pending_list() {
    let server = Server::start();
    let ids: Vec<String> = server
        .cli(&[
            "EVAL",
            "local ids = {} for i = 1, 250 do ids[i] = redis.call('XADD', KEYS[1], '*', 'n', i) end return ids",
            "1",
            "jobs",
        ])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(ids.len(), 250);
    server.create_group("jobs", "workers");
    server.read_group("jobs", "workers", "w1", 250);
    let set_idle = |ids: &[String], idle: &str| {
        let mut args = vec!["XCLAIM", "jobs", "workers", "w1", "0"];
        args.extend(ids.iter().map(String::as_str));
        args.extend(["IDLE", idle, "JUSTID"]);
        server.cli(&args);
    };
    set_idle(&ids, "1000");
    let oldest = ids[230].clone();
    set_idle(std::slice::from_ref(&oldest), "900000");

    let mut tui = Tui::spawn_env(&[&server.url(), "-c", "unused"], &[], 140, 30);
    tui.wait_for("connected", T);
    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15");
    tui.send(b"jobs workers");
    tui.send(b"\r");
    let first_page = tui.wait_for(&ids[0], T);
    assert!(
        !first_page.contains(oldest.as_str()),
        "page 1 is ids 1..100"
    );
    tui.send(b"o");
    let screen = tui.wait_until("the whole list sorted by idle", T, |s| {
        // The first row under the column names (the selection stays on its id).
        let mut lines = s.lines().skip_while(|l| !l.contains("CONSUMER"));
        s.contains("over all 250") && lines.nth(1).is_some_and(|l| l.contains(oldest.as_str()))
    });
    assert!(screen.contains("sort idle ↓"), "{screen}");
    tui.send(b"q");
    tui.wait_exit(T);
}

/// Claim from the Pending pane, of a live entry and one whose entry was deleted: the live
/// one moves, the deleted one stays pending with its holder (Redis 7 would have dropped it
/// from the pending list had it been sent to XCLAIM), and the pane says why.
#[test]
fn claim_in_the_pending_pane_leaves_a_deleted_entry_pending_and_says_so() {
    let server = Server::start();
    let ids = server.crashed_worker("jobs", "workers", "crashed", 3);
    server.cli(&["XGROUP", "CREATECONSUMER", "jobs", "workers", "healthy"]);
    server.cli(&["XDEL", "jobs", &ids[1]]);

    let (mut tui, audit) =
        common::tui_audited_sized(&[&server.url(), "-c", "unused"], false, (140, 30));
    let audit_path = audit.path.clone();
    tui.wait_for("connected", T);
    tui.send(b"4");
    tui.send(b"t");
    tui.send(b"\x15");
    tui.send(b"jobs workers");
    tui.send(b"\r");
    tui.wait_until("the pending entries, one deleted", T, |s| {
        ids.iter().all(|id| s.contains(id.as_str())) && s.contains("(deleted from the stream)")
    });
    // Mark the first two rows (space marks and moves down): ids[0] and the deleted ids[1].
    tui.send(b" ");
    tui.wait_for("1 marked", T);
    tui.send(b" ");
    tui.wait_for("2 marked", T);
    tui.send(b"c");
    // The picker preselects the consumer not holding these entries once the list is in.
    tui.wait_for("healthy", T);
    tui.send(b"\t");
    tui.send(b"\x7f\x7f\x7f\x7f\x7f0"); // min idle: 60000 -> 0
    tui.send(b"\r");
    tui.wait_for("Claim 2 entries for consumer healthy", T);
    tui.send(b"y");
    let records = common::wait_for("the claim's audit line", T, || {
        let r = audit_records(&audit_path);
        (!r.is_empty()).then_some(r)
    });
    let details = &records[0]["result"]["details"];
    assert_eq!(records[0]["action"], "claim", "{}", records[0]);
    assert_eq!(details["claimed"][0], ids[0].as_str(), "{details}");
    assert_eq!(details["skipped"][0]["id"], ids[1].as_str(), "{details}");
    assert_eq!(details["skipped"][0]["reason"], "deleted", "{details}");
    tui.wait_until("the result saying why", T, |s| {
        let text = s.split_whitespace().collect::<Vec<_>>().join(" ");
        text.contains(&format!(
            "{} was deleted from the stream (left pending; ack clears it)",
            ids[1]
        ))
    });

    // XPENDING agrees: the deleted entry's id is still pending, held by `crashed`.
    let rows = server.cli(&["XPENDING", "jobs", "workers", "-", "+", "100"]);
    let rows: Vec<&str> = rows.lines().map(str::trim).collect();
    let holder = |id: &str| rows.iter().position(|l| *l == id).map(|i| rows[i + 1]);
    assert_eq!(holder(&ids[1]), Some("crashed"), "{rows:?}");
    assert_eq!(holder(&ids[0]), Some("healthy"), "{rows:?}");
    assert_eq!(pending_ids(&server).len(), 3);
    tui.send(b"q");
    tui.wait_exit(T);
}
