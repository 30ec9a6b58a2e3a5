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
//!   row to see whether its entry still exists. Ids older than the stream's first entry
//!   are known to be gone without a read.
//! - [`findings`]: a pure function of a [`StreamsSnapshot`], those details and the
//!   thresholds, unit-tested over synthetic snapshots.
//!
//! Nothing here changes server state (no XCLAIM / XAUTOCLAIM: they reset idle times and
//! delivery counts).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use redis::Value;

use super::error::PollError;
use super::pending::{parse_pending_row, redis_error, server_error, PendingRow, StreamId};
use super::reply::into_items;
use super::streams::{GroupInfo, ReportedLag, Status, StreamInfo, StreamsSnapshot};
use crate::render_text::escape_line;

/// Most XPENDING rows read per group (the oldest ids first): a pending list can hold
/// millions of entries. Poison and dangling findings cover these rows only, and say so.
pub const MAX_PENDING_PER_GROUP: usize = 1000;
/// Most ids a fix command lists; the evidence says when there are more.
pub const MAX_IDS_IN_FIX: usize = 100;
/// Commands per pipeline; bigger rounds are split and sent together (one round trip).
const PIPELINE_CHUNK: usize = 1000;

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

/// The groups of `snapshot` worth a pending read: pending > 0.
pub fn groups_with_pending(snapshot: &StreamsSnapshot) -> Vec<GroupRef<'_>> {
    snapshot
        .streams
        .iter()
        .flat_map(|s| s.groups.iter().map(move |g| (s, g)))
        .filter(|(_, g)| g.pending > 0)
        .collect()
}

/// Read the pending details of `groups` (all on the node behind `conn`) in two round
/// trips. A per-group error reply (NOGROUP after a concurrent destroy, NOPERM) becomes
/// that group's error; a lost connection fails the whole read.
pub async fn read_pending_details(
    conn: &MultiplexedConnection,
    groups: &[GroupRef<'_>],
) -> Result<PendingDetails, PollError> {
    let mut details = PendingDetails::new();
    if groups.is_empty() {
        return Ok(details);
    }
    // Round 1: XPENDING key group - + COUNT for every group.
    let xpending: Vec<redis::Cmd> = groups
        .iter()
        .map(|(s, g)| {
            let mut cmd = redis::cmd("XPENDING");
            cmd.arg(s.key.as_ref())
                .arg(g.name.as_ref())
                .arg("-")
                .arg("+")
                .arg(MAX_PENDING_PER_GROUP);
            cmd
        })
        .collect();
    let replies = run_round(conn, xpending, "XPENDING").await?;
    let mut read: Vec<(usize, GroupPending)> = Vec::new();
    for (i, reply) in replies.into_iter().enumerate() {
        let (stream, group) = groups[i];
        let key = (stream.key.clone(), group.name.clone());
        match parse_rows(reply) {
            Ok(rows) => {
                let truncated = group.pending > rows.len() as u64;
                read.push((
                    i,
                    GroupPending {
                        rows,
                        deleted: Vec::new(),
                        truncated,
                    },
                ));
            }
            Err(message) => {
                details.insert(key, Err(message));
            }
        }
    }
    // Round 2: does each pending entry still exist? Ids before the first entry were
    // trimmed away (or the stream is empty): no read needed for those.
    let mut checks = Vec::new();
    let mut owners = Vec::new();
    for (slot, (i, pending)) in read.iter_mut().enumerate() {
        let stream = groups[*i].0;
        for row in &pending.rows {
            let gone_for_sure = match stream.first_entry_id {
                None => true,
                Some(first) => {
                    row.id
                        < StreamId {
                            ms: first.ms,
                            seq: first.seq,
                        }
                }
            };
            if gone_for_sure {
                pending.deleted.push(row.id);
                continue;
            }
            let id = row.id.to_string();
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(stream.key.as_ref())
                .arg(&id)
                .arg(&id)
                .arg("COUNT")
                .arg(1);
            checks.push(cmd);
            owners.push((slot, row.id));
        }
    }
    let replies = run_round(conn, checks, "XRANGE").await?;
    for ((slot, id), reply) in owners.into_iter().zip(replies) {
        let gone = match reply {
            Value::ServerError(_) => false,
            v => into_items(v).is_some_and(|items| items.is_empty()),
        };
        if gone {
            read[slot].1.deleted.push(id);
        }
    }
    for (i, mut pending) in read {
        pending.deleted.sort();
        let (stream, group) = groups[i];
        details.insert((stream.key.clone(), group.name.clone()), Ok(pending));
    }
    Ok(details)
}

fn parse_rows(reply: Value) -> Result<Vec<PendingRow>, String> {
    if let Value::ServerError(e) = reply {
        return Err(server_error("XPENDING", e.code(), e.details().unwrap_or("")).message);
    }
    let bad = || "XPENDING: expected a list of [id, consumer, idle, deliveries]".to_string();
    into_items(reply)
        .ok_or_else(bad)?
        .into_iter()
        .map(|row| parse_pending_row(row).ok_or_else(bad))
        .collect()
}

/// Send `commands` as pipelines of at most [`PIPELINE_CHUNK`], all in flight together;
/// replies in order, error replies kept in place.
async fn run_round(
    conn: &MultiplexedConnection,
    commands: Vec<redis::Cmd>,
    what: &str,
) -> Result<Vec<Value>, PollError> {
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let chunks = commands.chunks(PIPELINE_CHUNK).map(|chunk| {
        let mut conn = conn.clone();
        let mut pipe = redis::pipe();
        for cmd in chunk {
            pipe.add_command(cmd.clone());
        }
        let expected = chunk.len();
        async move {
            let replies: Vec<Value> = pipe
                .ignore_errors()
                .query_async(&mut conn)
                .await
                .map_err(|e| redis_error(what, &e))?;
            if replies.len() != expected {
                return Err(PollError::reply(what, "fewer replies than commands"));
            }
            Ok(replies)
        }
    });
    Ok(try_join_all(chunks).await?.into_iter().flatten().collect())
}

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

/// `orders:dlq` or `{orders}:dlq`: the names `dead-letter` writes by default.
pub fn is_dlq(key: &[u8]) -> bool {
    key.ends_with(b":dlq")
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
            "dead-letter stream {} holds {} entries{age}; one check cannot tell whether it is \
             growing (`redtail metrics` exports its length over time)",
            escape_line(&stream.key),
            stream.length
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
    let detail = cx.details.get(&(stream.key.clone(), group.name.clone()));
    if let Some(Ok(pending)) = detail {
        pending_findings(group, pending, cx, base, &names, &target, out);
    }
    let lag = group.effective_lag();
    if group.consumers == 0 && (lag.unwrap_or(0) > 0 || group.pending > 0) {
        let lag_text = lag.map_or_else(|| "unknown".to_string(), |n| n.to_string());
        out.push(Finding {
            kind: Kind::NoConsumers,
            severity: Severity::Warning,
            evidence: format!(
                "{names} has no consumers, with lag {lag_text} and {} pending entries: nobody \
                 will read them",
                group.pending
            ),
            fix: format!(
                "start a consumer for the group (XREADGROUP GROUP {} <name> …), or, if the \
                 group is abandoned, destroy it (Streams pane, or XGROUP DESTROY)",
                escape_line(&group.name)
            ),
            ..base.clone()
        });
    }
    let one_poll = if cx.single_poll {
        " (from one poll: judged from the consumers' idle times as the server reports them; \
         a trend needs more than one poll, see `redtail metrics`)"
    } else {
        ""
    };
    match group.health.status {
        Status::Stalled => out.push(Finding {
            kind: Kind::Stalled,
            severity: Severity::Critical,
            evidence: format!("{names} is stalled: {}{one_poll}", group.health.reason),
            fix: format!(
                "restart the group's consumers; see what they hold with {} pending {target}",
                cx.command
            ),
            ..base.clone()
        }),
        Status::FallingBehind => out.push(Finding {
            kind: Kind::FallingBehind,
            severity: Severity::Warning,
            evidence: format!("{names} is falling behind: {}", group.health.reason),
            fix: "add consumers to the group or make them faster: entries arrive faster than \
                  they are read"
                .into(),
            ..base.clone()
        }),
        _ => {}
    }
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
            out.push(Finding {
                kind: Kind::LagAnomaly,
                severity: Severity::Info,
                evidence: format!(
                    "{names}: the server reports lag as nil (XGROUP SETID to an arbitrary id, \
                     or entries deleted after last-delivered-id {}); {estimate}. Exporters that \
                     read nil as 0 hide this lag",
                    group.last_delivered_id
                ),
                fix: "nothing to repair: the server counts lag again once the group reads past \
                      the deleted entries; alert on redtail_group_lag_estimate meanwhile"
                    .into(),
                ..base.clone()
            });
        }
        ReportedLag::Known(n) if n > stream.length => out.push(Finding {
            kind: Kind::LagAnomaly,
            severity: Severity::Warning,
            evidence: format!(
                "{names}: the server reports lag {n} but the stream holds only {} entries \
                 (entries-read {} is stale, e.g. after XGROUP SETID with ENTRIESREAD)",
                stream.length,
                group
                    .entries_read
                    .map_or_else(|| "unknown".to_string(), |e| e.to_string())
            ),
            fix: format!(
                "set the group's position with a correct ENTRIESREAD (XGROUP SETID {} {} <id> \
                 ENTRIESREAD <n>)",
                escape_line(&stream.key),
                escape_line(&group.name)
            ),
            ..base.clone()
        }),
        _ => {}
    }
}

fn pending_findings(
    group: &GroupInfo,
    pending: &GroupPending,
    cx: &Context<'_>,
    base: &Finding,
    names: &str,
    target: &str,
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
    let poison: Vec<&PendingRow> = pending
        .rows
        .iter()
        .filter(|r| r.deliveries >= cx.config.poison_deliveries)
        .filter(|r| pending.deleted.binary_search(&r.id).is_err())
        .collect();
    if !poison.is_empty() {
        let worst = poison
            .iter()
            .max_by_key(|r| (r.deliveries, std::cmp::Reverse(r.id)))
            .map_or((0, StreamId::ZERO), |r| (r.deliveries, r.id));
        let ids: Vec<StreamId> = poison.iter().map(|r| r.id).collect();
        out.push(Finding {
            kind: Kind::Poison,
            severity: Severity::Critical,
            consumer: single_consumer(&poison),
            evidence: format!(
                "{names}: {} pending entries delivered at least {} times{scope} (most: {} \
                 deliveries, {}){}",
                poison.len(),
                cx.config.poison_deliveries,
                worst.0,
                worst.1,
                more_ids(ids.len())
            ),
            fix: format!("{} dead-letter {target} {}", cx.command, id_list(&ids)),
            ids,
            ..base.clone()
        });
    }
    if !pending.deleted.is_empty() {
        let ids = pending.deleted.clone();
        let holders: Vec<&PendingRow> = pending
            .rows
            .iter()
            .filter(|r| ids.binary_search(&r.id).is_ok())
            .collect();
        out.push(Finding {
            kind: Kind::Dangling,
            severity: Severity::Warning,
            consumer: single_consumer(&holders),
            evidence: format!(
                "{names}: {} pending ids{scope} refer to entries that no longer exist (XDEL \
                 or trimmed while pending); no consumer can process them{}",
                ids.len(),
                more_ids(ids.len())
            ),
            fix: format!("{} ack {target} {}", cx.command, id_list(&ids)),
            ids,
            ..base.clone()
        });
    }
    let live = group
        .consumer_list
        .iter()
        .filter(|c| c.activity_age_ms() < cx.config.zombie_after_ms)
        .min_by_key(|c| c.activity_age_ms());
    for consumer in &group.consumer_list {
        let age = consumer.activity_age_ms();
        if consumer.pending == 0 || age < cx.config.zombie_after_ms {
            continue;
        }
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
        out.push(Finding {
            kind: Kind::Zombie,
            severity: Severity::Warning,
            consumer: Some(consumer.name.clone()),
            evidence: format!(
                "{names}: consumer {} holds {} pending entries and has been {measure} for {} \
                 (threshold {}){listed}{to_note}{}",
                escape_line(&consumer.name),
                consumer.pending,
                crate::text::duration_ms(age),
                crate::text::duration_ms(cx.config.zombie_after_ms),
                more_ids(ids.len())
            ),
            fix: format!(
                "{} claim {target} {to} --min-idle {min_idle} {}",
                cx.command,
                id_list(&ids)
            ),
            ids,
            ..base.clone()
        });
    }
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
                .all(|c| !c.is_control() && !crate::render_text::is_unsafe_char(c));
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

/// Findings counted by (kind, severity), every possible pair present (zeros included).
pub fn count_by_kind(findings: &[Finding]) -> BTreeMap<(Kind, Severity), u64> {
    let mut counts: BTreeMap<(Kind, Severity), u64> =
        POSSIBLE.iter().map(|&pair| (pair, 0)).collect();
    for f in findings {
        *counts.entry((f.kind, f.severity)).or_default() += 1;
    }
    counts
}

/// [`read_pending_details`] for every group with pending entries, on the node that holds
/// each stream (a cluster's nodes are read concurrently, two round trips each). A node
/// that cannot be read leaves its groups without details and adds a note saying so.
pub async fn read_details_via_route(
    route: &super::route::Route,
    pool: &mut super::route::Pool,
    snapshot: &StreamsSnapshot,
) -> (PendingDetails, Vec<String>) {
    let groups = groups_with_pending(snapshot);
    let mut notes = Vec::new();
    let mut details = PendingDetails::new();
    if groups.is_empty() {
        return (details, notes);
    }
    // Group by node: one target for a single server or Sentinel primary.
    let mut by_node: BTreeMap<String, (super::conn::Target, Vec<GroupRef<'_>>)> = BTreeMap::new();
    let single = if route.is_cluster() {
        None
    } else {
        match route.target(0).await {
            Ok(t) => Some(t),
            Err(e) => {
                notes.push(format!("pending entries not read: {e:#}"));
                return (details, notes);
            }
        }
    };
    for (stream, group) in groups {
        let target = match &single {
            Some(t) => t.clone(),
            None => match route.target_for_key(&stream.key).await {
                Ok(t) => t,
                Err(e) => {
                    notes.push(format!(
                        "pending entries of stream {} not read: {e:#}",
                        escape_line(&stream.key)
                    ));
                    continue;
                }
            },
        };
        by_node
            .entry(target.addr())
            .or_insert_with(|| (target, Vec::new()))
            .1
            .push((stream, group));
    }
    let mut reads = Vec::new();
    for (addr, (target, groups)) in &by_node {
        match pool.get(target).await {
            Ok(conn) => {
                reads.push(async move { (addr, target, read_pending_details(&conn, groups).await) })
            }
            Err(e) => notes.push(format!("pending entries on {addr} not read: {e:#}")),
        }
    }
    for (addr, target, result) in futures_util::future::join_all(reads).await {
        match result {
            Ok(d) => details.extend(d),
            Err(e) => {
                pool.drop_conn(target);
                notes.push(format!("pending entries on {addr} not read: {e}"));
            }
        }
    }
    for ((stream, group), d) in &details {
        if let Err(e) = d {
            notes.push(format!(
                "pending entries of group {} of stream {} not read: {e}",
                escape_line(group),
                escape_line(stream)
            ));
        }
    }
    notes.sort();
    (details, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::streams::{
        ConsumerInfo, GroupHealth, LagEstimate, LagMethod, ScanProgress, StreamId as Sid,
    };

    fn consumer(
        name: &'static str,
        pending: u64,
        idle_ms: u64,
        inactive: Option<i64>,
    ) -> ConsumerInfo {
        ConsumerInfo {
            name: Bytes::from_static(name.as_bytes()),
            pending,
            idle_ms,
            inactive_ms: inactive,
            flagged: false,
        }
    }

    fn group(name: &'static str, consumers: Vec<ConsumerInfo>, lag: ReportedLag) -> GroupInfo {
        GroupInfo {
            name: Bytes::from_static(name.as_bytes()),
            consumers: consumers.len() as u64,
            pending: consumers.iter().map(|c| c.pending).sum(),
            last_delivered_id: Sid::new(100, 0),
            entries_read: None,
            reported_lag: lag,
            lag_estimate: None,
            oldest_undelivered_id: None,
            time_lag_ms: None,
            consumer_list: consumers,
            consumers_error: None,
            health: GroupHealth::default(),
        }
    }

    fn snapshot(groups: Vec<GroupInfo>) -> StreamsSnapshot {
        StreamsSnapshot {
            streams: vec![StreamInfo {
                key: Bytes::from_static(b"q"),
                length: 10,
                first_entry_id: Some(Sid::new(1, 0)),
                last_entry_id: Some(Sid::new(200, 0)),
                last_generated_id: Sid::new(200, 0),
                entries_added: Some(10),
                max_deleted_entry_id: None,
                recorded_first_entry_id: None,
                groups_count: groups.len() as u64,
                groups,
                groups_error: None,
                append_rate: None,
            }],
            problems: Vec::new(),
            warnings: Vec::new(),
            scan: ScanProgress::default(),
            server_time_ms: 1_000_000,
            taken_at: chrono::DateTime::from_timestamp(1_000, 0).unwrap_or_default(),
            took: std::time::Duration::from_millis(1),
            commands_sent: 0,
            round_trips: 0,
            stream_nodes: Default::default(),
        }
    }

    fn row(ms: u64, consumer: &'static str, idle_ms: u64, deliveries: u64) -> PendingRow {
        PendingRow {
            id: StreamId { ms, seq: 0 },
            consumer: Bytes::from_static(consumer.as_bytes()),
            idle_ms,
            deliveries,
        }
    }

    fn run(snap: &StreamsSnapshot, details: &PendingDetails) -> Vec<Finding> {
        let config = DoctorConfig {
            poison_deliveries: 5,
            zombie_after_ms: 60_000,
        };
        findings(
            snap,
            &Context {
                config: &config,
                details,
                command: "redtail",
                single_poll: true,
            },
        )
    }

    #[test]
    fn poison_dangling_and_zombie_come_from_the_pending_rows() {
        let g = group(
            "g",
            vec![
                // inactive (7.2+) wins over idle: a blocked XREADGROUP resets idle only.
                consumer("stuck", 3, 10, Some(120_000)),
                consumer("live", 1, 5, Some(500)),
                consumer("idle-but-empty", 0, 900_000, None),
            ],
            ReportedLag::Known(0),
        );
        let snap = snapshot(vec![g]);
        let mut details = PendingDetails::new();
        details.insert(
            (Bytes::from_static(b"q"), Bytes::from_static(b"g")),
            Ok(GroupPending {
                rows: vec![
                    row(10, "stuck", 130_000, 5),
                    row(11, "stuck", 125_000, 9),
                    row(12, "stuck", 121_000, 1),
                    row(13, "live", 100, 4),
                ],
                deleted: vec![StreamId { ms: 11, seq: 0 }],
                truncated: false,
            }),
        );
        let found = run(&snap, &details);
        let kinds: Vec<_> = found.iter().map(|f| (f.severity, f.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (Severity::Critical, Kind::Poison),
                (Severity::Warning, Kind::Dangling),
                (Severity::Warning, Kind::Zombie),
            ]
        );
        // 5 deliveries reaches the threshold; the deleted entry is dangling, not poison.
        assert_eq!(found[0].ids, vec![StreamId { ms: 10, seq: 0 }]);
        assert_eq!(found[0].fix, "redtail dead-letter q g 10-0");
        assert_eq!(found[1].fix, "redtail ack q g 11-0");
        let zombie = &found[2];
        assert_eq!(zombie.consumer.as_deref(), Some(&b"stuck"[..]));
        assert!(
            zombie.evidence.contains("inactive for 2min00s"),
            "{}",
            zombie.evidence
        );
        // To the most recently active consumer; the guard is the smallest idle listed.
        assert_eq!(
            zombie.fix,
            "redtail claim q g live --min-idle 121000 10-0 12-0"
        );
    }

    #[test]
    fn group_level_findings_and_what_is_not_one() {
        let mut nil = group("nil", vec![consumer("c", 0, 1, None)], ReportedLag::Nil);
        nil.lag_estimate = Some(LagEstimate {
            value: 7,
            exact: false,
            method: LagMethod::IdInterpolation,
        });
        let mut nobody = group("nobody", vec![], ReportedLag::Known(3));
        nobody.health.status = Status::NoConsumers;
        let mut stalled = group(
            "stalled",
            vec![consumer("c", 0, 99_000, None)],
            ReportedLag::Known(4),
        );
        stalled.health.status = Status::Stalled;
        stalled.health.reason = "lag 4 and no consumer has read for 99s".into();
        let too_much = group(
            "too-much",
            vec![consumer("c", 0, 1, None)],
            ReportedLag::Known(11),
        );
        let fine = group(
            "fine",
            vec![consumer("c", 0, 1, None)],
            ReportedLag::Known(0),
        );
        let empty_nobody = group("empty-nobody", vec![], ReportedLag::Known(0));
        let snap = snapshot(vec![nil, nobody, stalled, too_much, fine, empty_nobody]);
        let found = run(&snap, &PendingDetails::new());
        let got: Vec<_> = found
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.severity,
                    String::from_utf8_lossy(f.group.as_deref().unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Stalled, Severity::Critical, "stalled".to_string()),
                (Kind::NoConsumers, Severity::Warning, "nobody".to_string()),
                (Kind::LagAnomaly, Severity::Warning, "too-much".to_string()),
                (Kind::LagAnomaly, Severity::Info, "nil".to_string()),
            ]
        );
        assert!(
            found[0].evidence.contains("from one poll"),
            "{}",
            found[0].evidence
        );
        assert!(found[3]
            .evidence
            .contains("estimated at 7 (method id-interpolation)"));
        assert!(found[2]
            .evidence
            .contains("lag 11 but the stream holds only 10"));
    }

    #[test]
    fn dead_letter_streams_are_info_and_names_in_fixes_are_shell_safe() {
        assert!(is_dlq(b"orders:dlq") && is_dlq(b"{orders}:dlq") && !is_dlq(b"dlq"));
        assert_eq!(shell_word(b"orders:v1"), "orders:v1");
        assert_eq!(shell_word(b"it's here"), r"'it'\''s here'");
        assert_eq!(shell_word(b"-x"), "'-x'");
        assert_eq!(shell_word(b"a\x1b]0;x\x07"), "b64:YRtdMDt4Bw==");
        assert_eq!(shell_word(b"\xff"), "b64:/w==");
        assert_eq!(shell_word(b"b64:x"), "b64:YjY0Ong=");
        assert_eq!(
            shell_word("caf\u{e9} \u{202e}".as_bytes()),
            "b64:Y2Fmw6kg4oCu"
        );
        let counts = count_by_kind(&[]);
        assert_eq!(counts.len(), POSSIBLE.len());
        assert!(counts.values().all(|&n| n == 0));
    }
}
