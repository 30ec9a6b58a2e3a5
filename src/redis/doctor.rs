//! Findings about stuck work in streams: poison entries, dangling pending ids, zombie
//! consumers, consumerless groups, stalled or falling-behind groups, lag the server cannot
//! count, and dead-letter streams with entries. `redtail doctor` prints them once;
//! `redtail metrics` counts them on every poll.
//!
//! Two parts:
//! - [`read_pending_details`]: the only extra reads beyond a streams poll, bounded — for
//!   groups with pending > 0 only, at most [`MAX_PENDING_PER_GROUP`] XPENDING rows each
//!   (the oldest ids), in two round trips per node whatever the number of groups:
//!   XPENDING (extended form) for every such group, then `XRANGE id id COUNT 1` for every
//!   row that may have been deleted, to see whether its entry still exists. Ids older
//!   than the stream's first entry are known to be gone, and ids newer than the stream's
//!   `max-deleted-entry-id` (XINFO STREAM, 7.0+) known to exist, without a read.
//! - [`findings`]: a pure function of a [`StreamsSnapshot`], those details and the
//!   thresholds, unit-tested over synthetic snapshots.
//!
//! Nothing here changes server state (no XCLAIM / XAUTOCLAIM: they reset idle times and
//! delivery counts).

use std::collections::{BTreeMap, HashMap};

mod read;
pub use read::{groups_with_pending, read_details_via_route, read_pending_details};

use bytes::Bytes;

use super::pending::{PendingRow, StreamId};
use super::streams::{ConsumerInfo, GroupInfo, ReportedLag, Status, StreamInfo, StreamsSnapshot};
use crate::text::escape::escape_line;

/// Most XPENDING rows read per group (the oldest ids first): a pending list can hold
/// millions of entries. Poison and dangling findings cover these rows only, and say so.
pub const MAX_PENDING_PER_GROUP: usize = 1000;
/// Most ids a fix command lists; the evidence says when there are more.
pub const MAX_IDS_IN_FIX: usize = 100;

/// Thresholds, from `--poison-deliveries` and `--zombie-after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoctorConfig {
    /// A pending entry delivered at least this many times is poison.
    pub poison_deliveries: u64,
    /// A consumer holding pending entries that has not read for this long is a zombie.
    pub zombie_after_ms: u64,
}

impl Default for DoctorConfig {
    fn default() -> Self {
        DoctorConfig {
            poison_deliveries: 5,
            zombie_after_ms: 5 * 60 * 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Poison,
    Dangling,
    Zombie,
    NoConsumers,
    Stalled,
    FallingBehind,
    LagAnomaly,
    DlqGrowing,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Poison => "poison",
            Kind::Dangling => "dangling",
            Kind::Zombie => "zombie",
            Kind::NoConsumers => "no_consumers",
            Kind::Stalled => "stalled",
            Kind::FallingBehind => "falling_behind",
            Kind::LagAnomaly => "lag_anomaly",
            Kind::DlqGrowing => "dlq_growing",
        }
    }
}

/// Ordered most severe first, so sorting by severity lists critical findings first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Warnings and critical findings are problems (`doctor` exits 1); info is not.
    pub fn is_problem(self) -> bool {
        self != Severity::Info
    }
}

/// Every (kind, severity) a finding can have: metrics report each, zeros included, so an
/// alert on "poison present" has a series to watch before the first poison entry.
pub const POSSIBLE: [(Kind, Severity); 9] = [
    (Kind::Poison, Severity::Critical),
    (Kind::Dangling, Severity::Warning),
    (Kind::Zombie, Severity::Warning),
    (Kind::NoConsumers, Severity::Warning),
    (Kind::Stalled, Severity::Critical),
    (Kind::FallingBehind, Severity::Warning),
    (Kind::LagAnomaly, Severity::Warning),
    (Kind::LagAnomaly, Severity::Info),
    (Kind::DlqGrowing, Severity::Info),
];

/// One finding. Names are raw bytes: escape them (text) or send them through the JSON
/// writer; `evidence` and `fix` are already safe text (names in them are escaped, and in
/// `fix` quoted for a shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    pub stream: Bytes,
    pub group: Option<Bytes>,
    pub consumer: Option<Bytes>,
    /// The entries concerned (poison, dangling, zombie), oldest first; may be empty.
    pub ids: Vec<StreamId>,
    /// Cluster only: the node (address) holding the stream.
    pub node: Option<String>,
    /// A sentence with the numbers.
    pub evidence: String,
    /// The redtail command that fixes it, or what to do when no command can.
    pub fix: String,
}

/// What was read about one group's pending entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupPending {
    /// The oldest pending entries, at most [`MAX_PENDING_PER_GROUP`].
    pub rows: Vec<PendingRow>,
    /// Ids among `rows` whose entry no longer exists in the stream.
    pub deleted: Vec<StreamId>,
    /// The group has more pending entries than were read.
    pub truncated: bool,
}

/// Pending details by (stream, group); a group whose reads failed has an error message.
pub type PendingDetails = HashMap<(Bytes, Bytes), Result<GroupPending, String>>;

/// A stream and one of its groups, as the snapshot holds them.
pub type GroupRef<'a> = (&'a StreamInfo, &'a GroupInfo);

/// Everything `findings` needs besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a DoctorConfig,
    pub details: &'a PendingDetails,
    /// Prefix of every fix command: `redtail` plus connection flags (`-u URL`).
    pub command: &'a str,
    /// The health verdicts come from a single poll (no window): say so in the evidence.
    pub single_poll: bool,
}

/// Every finding in `snapshot`, most severe first, then by stream, group and kind.
pub fn findings(snapshot: &StreamsSnapshot, cx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for stream in &snapshot.streams {
        let node = snapshot.stream_nodes.get(&stream.key).cloned();
        let base = Finding {
            kind: Kind::DlqGrowing,
            severity: Severity::Info,
            stream: stream.key.clone(),
            group: None,
            consumer: None,
            ids: Vec::new(),
            node,
            evidence: String::new(),
            fix: String::new(),
        };
        if is_dlq(&stream.key) && stream.length > 0 {
            out.push(dlq_finding(stream, snapshot.server_time_ms, cx, &base));
        }
        for group in &stream.groups {
            let base = Finding {
                group: Some(group.name.clone()),
                ..base.clone()
            };
            group_findings(stream, group, cx, &base, &mut out);
        }
    }
    out.sort_by(|a, b| {
        (a.severity, &a.stream, &a.group, a.kind, &a.consumer).cmp(&(
            b.severity,
            &b.stream,
            &b.group,
            b.kind,
            &b.consumer,
        ))
    });
    out
}

/// `orders:dlq`, `{orders}:dlq` or `x}y:dlq:23974`: the names `dead-letter` writes by default.
pub fn is_dlq(key: &[u8]) -> bool {
    // `<stream>:dlq:<n>`: the default in a cluster for a name no hash tag keeps in its
    // slot (see `actions::same_slot_dlq_key`).
    let numbered = |key: &[u8]| {
        let digits = key.iter().rev().take_while(|b| b.is_ascii_digit()).count();
        digits > 0 && key[..key.len() - digits].ends_with(b":dlq:")
    };
    key.ends_with(b":dlq") || numbered(key)
}

fn dlq_finding(
    stream: &StreamInfo,
    server_time_ms: i64,
    cx: &Context<'_>,
    base: &Finding,
) -> Finding {
    let age = stream
        .last_entry_age_ms(server_time_ms)
        .map_or_else(String::new, |ms| {
            format!(", the newest added {} ago", crate::text::duration_ms(ms))
        });
    Finding {
        kind: Kind::DlqGrowing,
        severity: Severity::Info,
        evidence: format!(
            "dead-letter stream {} holds {}{age}; one check cannot tell whether it is \
             growing (`redtail metrics` exports its length over time)",
            escape_line(&stream.key),
            crate::text::plural(stream.length, "entry", "entries")
        ),
        fix: format!(
            "look at why they failed: {} --stream {}",
            cx.command,
            shell_word(&stream.key)
        ),
        ..base.clone()
    }
}

fn group_findings(
    stream: &StreamInfo,
    group: &GroupInfo,
    cx: &Context<'_>,
    base: &Finding,
    out: &mut Vec<Finding>,
) {
    let names = format!(
        "group {} of stream {}",
        escape_line(&group.name),
        escape_line(&stream.key)
    );
    let target = format!("{} {}", shell_word(&stream.key), shell_word(&group.name));
    let frame = Frame {
        cx,
        base,
        names: &names,
        target: &target,
    };
    let detail = cx.details.get(&(stream.key.clone(), group.name.clone()));
    if let Some(Ok(pending)) = detail {
        pending_findings(group, pending, &frame, out);
    }
    out.extend(no_consumers_finding(group, &frame));
    out.extend(health_finding(group, &frame));
    out.extend(lag_anomaly_finding(stream, group, &frame));
}

/// A group with work waiting and nobody to do it.
fn no_consumers_finding(group: &GroupInfo, frame: &Frame<'_>) -> Option<Finding> {
    let names = frame.names;
    let lag = group.effective_lag();
    if group.consumers != 0 || (lag.unwrap_or(0) == 0 && group.pending == 0) {
        return None;
    }
    let lag_text = lag.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    Some(frame.finding(
        Kind::NoConsumers,
        Severity::Warning,
        format!(
            "{names} has no consumers, with lag {lag_text} and {}: nobody will read them",
            crate::text::plural(group.pending, "pending entry", "pending entries")
        ),
        format!(
            "start a consumer for the group (XREADGROUP GROUP {} <name> …), or, if the \
             group is abandoned, destroy it (Streams pane, or XGROUP DESTROY)",
            escape_line(&group.name)
        ),
    ))
}

/// A stalled or falling-behind group, as its health says.
fn health_finding(group: &GroupInfo, frame: &Frame<'_>) -> Option<Finding> {
    let Frame {
        cx, names, target, ..
    } = frame;
    let one_poll = if cx.single_poll {
        " (from one poll: judged from the consumers' idle times as the server reports them; \
         a trend needs more than one poll, see `redtail metrics`)"
    } else {
        ""
    };
    match group.health.status {
        Status::Stalled => Some(frame.finding(
            Kind::Stalled,
            Severity::Critical,
            format!("{names} is stalled: {}{one_poll}", group.health.reason),
            format!(
                "restart the group's consumers; see what they hold with {} pending {target}",
                cx.command
            ),
        )),
        Status::FallingBehind => Some(
            frame.finding(
                Kind::FallingBehind,
                Severity::Warning,
                format!("{names} is falling behind: {}", group.health.reason),
                "add consumers to the group or make them faster: entries arrive faster than \
                  they are read"
                    .into(),
            ),
        ),
        _ => None,
    }
}

/// A lag the server reports as nil, or larger than the stream.
fn lag_anomaly_finding(
    stream: &StreamInfo,
    group: &GroupInfo,
    frame: &Frame<'_>,
) -> Option<Finding> {
    let names = frame.names;
    match group.reported_lag {
        ReportedLag::Nil => {
            let estimate = group.lag_estimate.map_or_else(
                || "it could not be estimated".to_string(),
                |e| {
                    format!(
                        "{} {} (method {})",
                        if e.exact { "counted" } else { "estimated at" },
                        e.value,
                        e.method.as_str()
                    )
                },
            );
            Some(
                frame.finding(
                    Kind::LagAnomaly,
                    Severity::Info,
                    format!(
                        "{names}: the server reports lag as nil (XGROUP SETID to an arbitrary id, \
                     or entries deleted after last-delivered-id {}); {estimate}. Exporters that \
                     read nil as 0 hide this lag",
                        group.last_delivered_id
                    ),
                    "nothing to repair: the server counts lag again once the group reads past \
                      the deleted entries; alert on redtail_group_lag_estimate meanwhile"
                        .into(),
                ),
            )
        }
        ReportedLag::Known(n) if n > stream.length => Some(frame.finding(
            Kind::LagAnomaly,
            Severity::Warning,
            format!(
                "{names}: the server reports lag {n} but the stream holds only {} entries \
                 (entries-read {} is stale, e.g. after XGROUP SETID with ENTRIESREAD)",
                stream.length,
                group
                    .entries_read
                    .map_or_else(|| "unknown".to_string(), |e| e.to_string())
            ),
            format!(
                "set the group's position with a correct ENTRIESREAD (XGROUP SETID {} {} <id> \
                 ENTRIESREAD <n>)",
                escape_line(&stream.key),
                escape_line(&group.name)
            ),
        )),
        _ => None,
    }
}

fn pending_findings(
    group: &GroupInfo,
    pending: &GroupPending,
    frame: &Frame<'_>,
    out: &mut Vec<Finding>,
) {
    let scope = if pending.truncated {
        format!(
            " among the oldest {} of {} pending entries read",
            pending.rows.len(),
            group.pending
        )
    } else {
        String::new()
    };
    out.extend(poison_finding(pending, frame, &scope));
    out.extend(dangling_finding(pending, frame, &scope));
    for consumer in &group.consumer_list {
        out.extend(zombie_finding(group, consumer, pending, frame));
    }
}

/// What every finding about one group shares.
struct Frame<'a> {
    cx: &'a Context<'a>,
    base: &'a Finding,
    /// "stream / group", for the evidence.
    names: &'a str,
    /// The stream and group as shell words, for the fix.
    target: &'a str,
}

impl Frame<'_> {
    fn finding(&self, kind: Kind, severity: Severity, evidence: String, fix: String) -> Finding {
        Finding {
            kind,
            severity,
            evidence,
            fix,
            ..self.base.clone()
        }
    }
}

/// Entries delivered at least `poison_deliveries` times that still exist.
fn poison_finding(pending: &GroupPending, frame: &Frame<'_>, scope: &str) -> Option<Finding> {
    let Frame {
        cx, names, target, ..
    } = frame;
    let poison: Vec<&PendingRow> = pending
        .rows
        .iter()
        .filter(|r| r.deliveries >= cx.config.poison_deliveries)
        .filter(|r| pending.deleted.binary_search(&r.id).is_err())
        .collect();
    if poison.is_empty() {
        return None;
    }
    let worst = poison
        .iter()
        .max_by_key(|r| (r.deliveries, std::cmp::Reverse(r.id)))
        .map_or((0, StreamId::ZERO), |r| (r.deliveries, r.id));
    let ids: Vec<StreamId> = poison.iter().map(|r| r.id).collect();
    let finding = frame.finding(
        Kind::Poison,
        Severity::Critical,
        format!(
            "{names}: {} pending entries delivered at least {} times{scope} (most: {} \
             deliveries, {}){}",
            poison.len(),
            cx.config.poison_deliveries,
            worst.0,
            worst.1,
            more_ids(ids.len())
        ),
        format!("{} dead-letter {target} {}", cx.command, id_list(&ids)),
    );
    Some(Finding {
        consumer: single_consumer(&poison),
        ids,
        ..finding
    })
}

/// Pending ids whose entries no longer exist.
fn dangling_finding(pending: &GroupPending, frame: &Frame<'_>, scope: &str) -> Option<Finding> {
    let Frame {
        cx, names, target, ..
    } = frame;
    if pending.deleted.is_empty() {
        return None;
    }
    let ids = pending.deleted.clone();
    let holders: Vec<&PendingRow> = pending
        .rows
        .iter()
        .filter(|r| ids.binary_search(&r.id).is_ok())
        .collect();
    let finding = frame.finding(
        Kind::Dangling,
        Severity::Warning,
        format!(
            "{names}: {}{scope} {} to {} that no longer {} (XDEL or trimmed while pending); \
             no consumer can process {}{}",
            crate::text::plural(ids.len() as u64, "pending id", "pending ids"),
            if ids.len() == 1 { "refers" } else { "refer" },
            if ids.len() == 1 {
                "an entry"
            } else {
                "entries"
            },
            if ids.len() == 1 { "exists" } else { "exist" },
            if ids.len() == 1 { "it" } else { "them" },
            more_ids(ids.len())
        ),
        format!("{} ack {target} {}", cx.command, id_list(&ids)),
    );
    Some(Finding {
        consumer: single_consumer(&holders),
        ids,
        ..finding
    })
}

/// `consumer` when it holds pending entries and has not been active for the threshold.
fn zombie_finding(
    group: &GroupInfo,
    consumer: &ConsumerInfo,
    pending: &GroupPending,
    frame: &Frame<'_>,
) -> Option<Finding> {
    let Frame {
        cx, names, target, ..
    } = frame;
    let age = consumer.activity_age_ms();
    if consumer.pending == 0 || age < cx.config.zombie_after_ms {
        return None;
    }
    let live = group
        .consumer_list
        .iter()
        .filter(|c| c.activity_age_ms() < cx.config.zombie_after_ms)
        .min_by_key(|c| c.activity_age_ms());
    // Dangling ids are left out: there is nothing to claim (the dangling finding acks them).
    let held: Vec<&PendingRow> = pending
        .rows
        .iter()
        .filter(|r| r.consumer == consumer.name)
        .filter(|r| pending.deleted.binary_search(&r.id).is_err())
        .collect();
    let ids: Vec<StreamId> = held.iter().map(|r| r.id).collect();
    // The claim guard: every listed entry qualifies, none a live worker just took.
    let min_idle = held
        .iter()
        .map(|r| r.idle_ms)
        .min()
        .unwrap_or(cx.config.zombie_after_ms);
    let measure = match consumer.inactive_ms {
        Some(n) if n >= 0 => "inactive",
        _ => "idle",
    };
    let (to, to_note) = match live {
        Some(c) => (shell_word(&c.name), String::new()),
        None => (
            "<consumer>".to_string(),
            "; no consumer of the group is active: name the one that takes them".to_string(),
        ),
    };
    let listed = if ids.len() < consumer.pending as usize {
        format!(
            "; the fix lists the {} of them that were read and still exist",
            ids.len()
        )
    } else {
        String::new()
    };
    let finding = frame.finding(
        Kind::Zombie,
        Severity::Warning,
        format!(
            "{names}: consumer {} holds {} and has been {measure} for {} \
             (threshold {}){listed}{to_note}{}",
            escape_line(&consumer.name),
            crate::text::plural(consumer.pending, "pending entry", "pending entries"),
            crate::text::duration_ms(age),
            crate::text::duration_ms(cx.config.zombie_after_ms),
            more_ids(ids.len())
        ),
        format!(
            "{} claim {target} {to} --min-idle {min_idle} {}",
            cx.command,
            id_list(&ids)
        ),
    );
    Some(Finding {
        consumer: Some(consumer.name.clone()),
        ids,
        ..finding
    })
}

fn single_consumer(rows: &[&PendingRow]) -> Option<Bytes> {
    let first = rows.first()?;
    rows.iter()
        .all(|r| r.consumer == first.consumer)
        .then(|| first.consumer.clone())
}

fn id_list(ids: &[StreamId]) -> String {
    ids.iter()
        .take(MAX_IDS_IN_FIX)
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn more_ids(n: usize) -> String {
    if n > MAX_IDS_IN_FIX {
        format!("; the fix lists the oldest {MAX_IDS_IN_FIX}, run doctor again for the rest")
    } else {
        String::new()
    }
}

/// A name as one shell word that redtail reads back as the same bytes: plain when it is
/// made of unremarkable characters, single-quoted when it is printable UTF-8, and
/// `b64:BASE64` (decoded by every redtail name argument) otherwise — so a fix command is
/// safe to show and to paste.
pub fn shell_word(name: &[u8]) -> String {
    use base64::Engine as _;
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_-.:{}@/+=,%".contains(&b);
    if !name.is_empty()
        && name.iter().all(|&b| plain(b))
        && name[0] != b'-'
        && !name.starts_with(crate::cli::NAME_B64_PREFIX.as_bytes())
    {
        // Checked ASCII above.
        return String::from_utf8_lossy(name).into_owned();
    }
    if let Ok(text) = std::str::from_utf8(name) {
        let printable = !text.is_empty()
            && !text.starts_with(crate::cli::NAME_B64_PREFIX)
            && text
                .chars()
                .all(|c| !c.is_control() && !crate::text::escape::is_unsafe_char(c));
        if printable {
            return format!("'{}'", text.replace('\'', r"'\''"));
        }
    }
    format!(
        "{}{}",
        crate::cli::NAME_B64_PREFIX,
        base64::engine::general_purpose::STANDARD.encode(name)
    )
}

/// `redtail` plus the flags that reach the server `route` follows, for fix commands
/// (`redtail doctor`, `redtail metrics` and the TUI's Problems list). Passwords are never
/// included: give them with REDISCLI_AUTH as for any redtail command.
pub fn command_prefix(route: &crate::redis::route::Route) -> String {
    use crate::redis::route::Mode;
    let text = |t: &str| shell_word(t.as_bytes());
    let mut words = vec!["redtail".to_string()];
    let template = route.template();
    if let Mode::Sentinel(spec) = route.mode() {
        for (host, port) in &spec.sentinels {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            words.push(format!("--sentinel {}", text(&format!("{host}:{port}"))));
        }
        words.push(format!("--master {}", text(&spec.master)));
        if template.db != 0 {
            words.push(format!("--db {}", template.db));
        }
        if template.tls {
            words.push("--tls".into());
        }
    } else {
        words.push(format!("-u {}", text(&template.to_string())));
    }
    for (flag, path) in [
        ("--cacert", &template.ca_cert),
        ("--cert", &template.client_cert),
        ("--key", &template.client_key),
    ] {
        if let Some(p) = path {
            words.push(format!("{flag} {}", text(&p.to_string_lossy())));
        }
    }
    if template.insecure {
        words.push("--insecure".into());
    }
    words.join(" ")
}

/// Findings counted by (kind, severity), every possible pair present (zeros included).
pub fn count_by_kind(findings: &[Finding]) -> BTreeMap<(Kind, Severity), u64> {
    let mut counts: BTreeMap<(Kind, Severity), u64> =
        POSSIBLE.iter().map(|&pair| (pair, 0)).collect();
    for f in findings {
        *counts.entry((f.kind, f.severity)).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
