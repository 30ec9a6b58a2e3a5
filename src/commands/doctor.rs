//! Headless `doctor`: one streams poll, the bounded pending reads of
//! [`crate::redis::doctor`], and every finding with the command that fixes it.
//!
//! Exit codes: 0 when no finding is a warning or critical (info findings — a nil lag
//! with its estimate, a non-empty dead-letter stream — do not count); 1 when at least
//! one is; 3 when the check could not run (connection, login, permission:
//! `exit::code_for_check`); 64 on usage errors.
//!
//! One poll means no trend: `stalled` comes from the consumers' idle times the server
//! reports (the evidence says so), and `falling_behind` needs a window of polls, so only
//! `redtail metrics` (which keeps polling) can report it.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use chrono::SecondsFormat;

use crate::cli::{ConnArgs, DoctorArgs};
use crate::commands::stats::{collect_cluster_streams, collect_streams, json_name};
use crate::commands::write_stdout;
use crate::redis::doctor::{
    findings, read_details_via_route, Context, DoctorConfig, Finding, PendingDetails,
    MAX_PENDING_PER_GROUP,
};
use crate::redis::route::{Pool, Route};
use crate::redis::streams::StreamsSnapshot;
use crate::text::escape::escape_line;

/// The `doctor --json` document.
#[derive(Debug, serde::Serialize)]
pub struct DoctorDocument {
    pub findings: Vec<FindingJson>,
    pub checked: Checked,
}

#[derive(Debug, serde::Serialize)]
pub struct Checked {
    pub streams: usize,
    pub groups: usize,
    /// Groups whose pending entries were read (those with pending > 0).
    pub pending_groups_read: usize,
    /// XPENDING rows read, at most `max_pending_per_group` per group.
    pub pending_entries_read: usize,
    pub max_pending_per_group: usize,
    /// One poll: `stalled` from server-reported idle times, no `falling_behind`.
    pub polls: u32,
    pub server: String,
    pub taken_at: String,
    /// What could not be checked (a node, a denied XPENDING, an incomplete discovery).
    pub notes: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct FindingJson {
    pub kind: &'static str,
    pub severity: &'static str,
    /// Names as real strings when UTF-8, else escaped text with the bytes in `*_b64`.
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_b64: Option<String>,
    /// The first (oldest) id concerned; `ids` has them all (bounded by the read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Cluster only: the node holding the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub evidence: String,
    pub fix: String,
}

impl From<&Finding> for FindingJson {
    fn from(f: &Finding) -> Self {
        let (stream, stream_b64) = json_name(&f.stream);
        let (group, group_b64) = f.group.as_deref().map(json_name).unzip();
        let (consumer, consumer_b64) = f.consumer.as_deref().map(json_name).unzip();
        FindingJson {
            kind: f.kind.as_str(),
            severity: f.severity.as_str(),
            stream,
            stream_b64,
            group,
            group_b64: group_b64.flatten(),
            consumer,
            consumer_b64: consumer_b64.flatten(),
            id: f.ids.first().map(|id| id.to_string()),
            ids: f.ids.iter().map(|id| id.to_string()).collect(),
            node: f.node.clone(),
            evidence: f.evidence.clone(),
            fix: f.fix.clone(),
        }
    }
}

/// `redtail` plus the flags that reach the same server, for fix commands (the one rule:
/// [`crate::redis::doctor::command_prefix`], shared with the TUI's Problems list).
pub fn fix_prefix(route: &Route, _conn: &ConnArgs) -> String {
    crate::redis::doctor::command_prefix(route)
}

pub async fn run(args: DoctorArgs, route: Arc<Route>, conn: &ConnArgs) -> Result<i32> {
    let config = DoctorConfig {
        poison_deliveries: args.poison_deliveries,
        zombie_after_ms: u64::try_from(args.zombie_after.as_millis()).unwrap_or(u64::MAX),
    };
    // The server checked: a cluster's seed, or the one server (through Sentinel, the
    // primary it names; the template's host is only a placeholder there).
    let (server, snapshot) = if route.is_cluster() {
        let server = route.template().to_string();
        (server, collect_cluster_streams(&route, &args.streams).await)
    } else {
        let target = route.target(0).await?;
        (
            target.to_string(),
            collect_streams(&target, &args.streams).await,
        )
    };
    let snapshot = snapshot.map_err(|e| anyhow!("cannot read streams from {server}: {e}"))?;
    let (details, mut notes) = read_details_via_route(&route, &mut Pool::new(), &snapshot).await;
    notes.extend(snapshot_notes(&snapshot));
    let prefix = fix_prefix(&route, conn);
    let cx = Context {
        config: &config,
        details: &details,
        command: &prefix,
        single_poll: true,
    };
    let found = findings(&snapshot, &cx);
    let checked = checked(&snapshot, &details, server, notes);
    let mut out = Vec::new();
    if args.json {
        let doc = DoctorDocument {
            findings: found.iter().map(FindingJson::from).collect(),
            checked,
        };
        crate::json::to_writer_safe(&mut out, &doc)?;
        out.push(b'\n');
    } else {
        format_report(&found, &checked, &mut out);
    }
    write_stdout(&out)?;
    Ok(exit_code(&found))
}

/// 1 when a finding is a warning or critical, else 0.
pub fn exit_code(found: &[Finding]) -> i32 {
    if found.iter().any(|f| f.severity.is_problem()) {
        crate::exit::ERROR
    } else {
        crate::exit::SUCCESS
    }
}

fn snapshot_notes(snapshot: &StreamsSnapshot) -> Vec<String> {
    let mut notes = Vec::new();
    if !snapshot.scan.complete {
        notes.push("stream discovery did not finish: some streams were not checked".into());
    }
    notes.extend(snapshot.scan.note.iter().cloned());
    notes.extend(snapshot.warnings.iter().cloned());
    notes.extend(snapshot.problems.iter().map(|p| p.message.clone()));
    for s in &snapshot.streams {
        if let Some(e) = &s.groups_error {
            notes.push(format!("groups of {} not read: {e}", escape_line(&s.key)));
        }
        for g in &s.groups {
            if let Some(e) = &g.consumers_error {
                notes.push(format!(
                    "consumers of group {} of {} not read: {e}",
                    escape_line(&g.name),
                    escape_line(&s.key)
                ));
            }
        }
    }
    notes
}

fn checked(
    snapshot: &StreamsSnapshot,
    details: &PendingDetails,
    server: String,
    notes: Vec<String>,
) -> Checked {
    Checked {
        streams: snapshot.streams.len(),
        groups: snapshot.streams.iter().map(|s| s.groups.len()).sum(),
        pending_groups_read: details.values().filter(|d| d.is_ok()).count(),
        pending_entries_read: details
            .values()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| d.rows.len())
            .sum(),
        max_pending_per_group: MAX_PENDING_PER_GROUP,
        polls: 1,
        server,
        taken_at: snapshot.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        notes,
    }
}

/// One block per finding, most severe first; every name escaped.
pub fn format_report(found: &[Finding], checked: &Checked, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let count =
        |s: crate::redis::doctor::Severity| found.iter().filter(|f| f.severity == s).count();
    use crate::redis::doctor::Severity;
    let _ = writeln!(
        out,
        "{}  {}  checked {} streams, {} groups; pending entries read for {} groups ({} entries, at most {} per group)",
        escape_line(checked.server.as_bytes()),
        checked.taken_at,
        checked.streams,
        checked.groups,
        checked.pending_groups_read,
        checked.pending_entries_read,
        checked.max_pending_per_group
    );
    for note in &checked.notes {
        let _ = writeln!(out, "note: {}", escape_line(note.as_bytes()));
    }
    if found.is_empty() {
        let _ = writeln!(out, "no findings: healthy");
        return;
    }
    let _ = writeln!(
        out,
        "{} findings: {} critical, {} warning, {} info",
        found.len(),
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for f in found {
        let _ = writeln!(out);
        let mut head = format!(
            "{:<8} {}  stream {}",
            f.severity.as_str().to_ascii_uppercase(),
            f.kind.as_str(),
            escape_line(&f.stream)
        );
        if let Some(g) = &f.group {
            head.push_str(&format!("  group {}", escape_line(g)));
        }
        if let Some(c) = &f.consumer {
            head.push_str(&format!("  consumer {}", escape_line(c)));
        }
        if let Some(n) = &f.node {
            head.push_str(&format!("  node {}", escape_line(n.as_bytes())));
        }
        let _ = writeln!(out, "{head}");
        let _ = writeln!(out, "  evidence: {}", escape_line(f.evidence.as_bytes()));
        let _ = writeln!(out, "  fix: {}", escape_line(f.fix.as_bytes()));
    }
}
