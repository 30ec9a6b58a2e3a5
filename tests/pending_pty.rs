//! The Pending pane end to end: select a pending entry in the real TUI, press `a`, and
//! exactly that id is acked on the server — not a row index that shifted meanwhile.

mod common;

use std::time::Duration;

use common::pty::Tui;
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
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            server
                .cli(&["XADD", "jobs", "*", "task", &format!("t{i}")])
                .trim()
                .to_string(),
        );
    }
    server.cli(&["XGROUP", "CREATE", "jobs", "workers", "0"]);
    server.cli(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "crashed",
        "COUNT",
        "10",
        "STREAMS",
        "jobs",
        ">",
    ]);
    assert_eq!(pending_ids(&server).len(), 3);

    let audit = tempfile::tempdir().expect("tempdir");
    let audit_path = audit.path().join("audit.jsonl");
    let audit_env = audit_path.to_string_lossy().into_owned();
    let mut tui = Tui::spawn_env(
        &[&server.url(), "-c", "unused"],
        &[("REDTAIL_AUDIT_LOG", audit_env.as_str())],
        140,
        30,
    );
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
    let newcomer = server
        .cli(&["XADD", "jobs", "*", "task", "late"])
        .trim()
        .to_string();
    server.cli(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "alive",
        "COUNT",
        "10",
        "STREAMS",
        "jobs",
        ">",
    ]);
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
