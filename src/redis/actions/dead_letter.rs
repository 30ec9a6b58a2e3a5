//! Dead-letter: copy pending entries to a dead-letter stream with where they came from,
//! then XACK them — in one server-side script per batch.
//!
//! Why a script (EVAL) and not MULTI/EXEC: the copy needs the entry's fields and its
//! pending info, which a transaction cannot read and use inside itself (it would need
//! WATCH, which is unsafe on a shared multiplexed connection), and MULTI/EXEC does not
//! roll back: if XADD failed at run time, the queued XACK would still run and the entry
//! would be lost. In the script, phase 1 only reads and validates (key types, group,
//! pending info, contents), so the usual failures abort before anything is written;
//! phase 2 copies, then acks, and if the ack is refused (e.g. an ACL without +xack) it
//! deletes its own copies again. Because it is one command, redtail dying midway cannot
//! leave half the work done: the server runs all of it or none.
//!
//! Cluster: both keys must hash to one slot for EVAL; `<stream>:dlq` usually does not,
//! so the default there is a derived key checked to share the slot, if one exists
//! ([`same_slot_dlq_key`]).

use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

use super::{
    audit_fields, list_ids, script_command_error, ActionContext, ActionError, ActionOutcome,
    Attempt,
};
use crate::audit::{AuditEntry, BinText};
use crate::redis::pending::{
    bytes_of, id_of, into_items, parse_fields, redis_error, reply_error, u64_of, Fields, StreamId,
};
use crate::text::escape::escape_line;

/// Ids per EVAL: a script blocks the server while it runs, so batches stay small.
const BATCH: usize = 100;

const COMMAND: &str = "EVAL (XPENDING, XRANGE, XADD, XACK)";

/// KEYS[1] stream, KEYS[2] dead-letter stream; ARGV[1] group, ARGV[2..] ids.
const SCRIPT: &str = r#"
local stream, dlq, group = KEYS[1], KEYS[2], ARGV[1]
local function failed(command, reply, leftover)
  return {'error', command, reply.err or tostring(reply), leftover or ''}
end
local st = redis.pcall('TYPE', stream)
if st.err then return failed('TYPE', st) end
if st.ok ~= 'stream' then return {'wrongtype', 'stream', st.ok} end
local dt = redis.pcall('TYPE', dlq)
if dt.err then return failed('TYPE', dt) end
if dt.ok ~= 'stream' and dt.ok ~= 'none' then return {'wrongtype', 'dlq', dt.ok} end

-- Phase 1: read and validate; nothing is written.
local plan = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local p = redis.pcall('XPENDING', stream, group, 'IDLE', 0, id, id, 1)
  if p.err then return failed('XPENDING', p) end
  if #p == 0 then
    plan[#plan + 1] = {id, 'not_pending'}
  else
    local e = redis.pcall('XRANGE', stream, id, id, 'COUNT', 1)
    if e.err then return failed('XRANGE', e) end
    local fields, status = {}, 'moved_deleted'
    if #e > 0 then fields, status = e[1][2], 'moved' end
    -- unpack() below has a stack limit; refuse before writing anything.
    if #fields > 7000 then return {'too_big', id, #fields} end
    plan[#plan + 1] = {id, status, p[1][2], p[1][4], fields}
  end
end

-- Phase 2: copy, then ack; undo the copies if anything fails.
local added, to_ack, out = {}, {}, {'ok'}
local function undo()
  if #added == 0 then return '' end
  local r
  if dt.ok == 'none' then r = redis.pcall('DEL', dlq) else r = redis.pcall('XDEL', dlq, unpack(added)) end
  if type(r) == 'table' and r.err then return table.concat(added, ' ') end
  return ''
end
for _, item in ipairs(plan) do
  if item[2] == 'not_pending' then
    out[#out + 1] = {item[1], 'not_pending', '', '', 0, {}}
  else
    local args = {}
    for _, x in ipairs(item[5]) do args[#args + 1] = x end
    local meta = {'dlq_original_id', item[1], 'dlq_stream', stream, 'dlq_group', group,
                  'dlq_consumer', item[3], 'dlq_deliveries', tostring(item[4])}
    for _, x in ipairs(meta) do args[#args + 1] = x end
    if item[2] == 'moved_deleted' then
      args[#args + 1] = 'dlq_entry_deleted'
      args[#args + 1] = '1'
    end
    local r = redis.pcall('XADD', dlq, '*', unpack(args))
    if type(r) == 'table' and r.err then return failed('XADD', r, undo()) end
    added[#added + 1] = r
    to_ack[#to_ack + 1] = item[1]
    out[#out + 1] = {item[1], item[2], r, item[3], item[4], item[5]}
  end
end
if #to_ack > 0 then
  local r = redis.pcall('XACK', stream, group, unpack(to_ack))
  if type(r) == 'table' and r.err then return failed('XACK', r, undo()) end
end
return out
"#;

/// `<stream>:dlq`.
pub fn default_dlq_key(stream: &[u8]) -> Vec<u8> {
    let mut key = stream.to_vec();
    key.extend_from_slice(b":dlq");
    key
}

/// A dead-letter key derived from `stream`'s name that shares its hash slot, checked
/// with [`key_slot`] itself: `<stream>:dlq` when that keeps the slot (a tagged stream
/// such as `{sb}x`, whose suffix keeps the tag), else `{<stream>}:dlq`. A tag cannot
/// hold a `}` (Redis closes it at the first one), so an untagged name with braces of
/// its own (`x}y`, `{}z`, `a{}{b}`) gets `<stream>:dlq:<n>` with the smallest `n` that
/// hashes to its slot (such a name is hashed whole, and so is the key: the suffix adds
/// no brace). About 16,000 tries on average (about a millisecond); `None` only if
/// none of the first [`SLOT_SEARCH`] does (never seen: each try has a 1 in 16,384 chance).
///
/// [`key_slot`]: crate::redis::cluster::key_slot
pub fn same_slot_dlq_key(stream: &[u8]) -> Option<Vec<u8>> {
    use crate::redis::cluster::key_slot;
    let slot = key_slot(stream);
    let plain = default_dlq_key(stream);
    if key_slot(&plain) == slot {
        return Some(plain);
    }
    let mut tagged = b"{".to_vec();
    tagged.extend_from_slice(stream);
    tagged.extend_from_slice(b"}:dlq");
    if key_slot(&tagged) == slot {
        return Some(tagged);
    }
    let mut numbered = plain;
    numbered.push(b':');
    let base = numbered.len();
    (0..SLOT_SEARCH).find_map(|n| {
        numbered.truncate(base);
        numbered.extend_from_slice(n.to_string().as_bytes());
        (key_slot(&numbered) == slot).then(|| numbered.clone())
    })
}

/// Numbered dead-letter keys tried for a name no tag can keep in its slot.
const SLOT_SEARCH: u32 = 1 << 22;

/// The default dead-letter stream: the one `dead-letter` without `--to`, the Pending
/// pane's `d` and the Problems pane's poison fix (and so doctor's printed fix) all use.
/// In a cluster the script touches both keys, so they must share a hash slot: the
/// [`same_slot_dlq_key`]. When there is none it is still `<stream>:dlq`, and
/// [`check_target`] refuses it before anything is sent, saying that `--to` must name a
/// key in the stream's slot.
pub fn dlq_key_for(stream: &[u8], cluster: bool) -> Vec<u8> {
    if cluster {
        if let Some(key) = same_slot_dlq_key(stream) {
            return key;
        }
    }
    default_dlq_key(stream)
}

/// The dead-letter stream must be another, named stream, and in a cluster one in the
/// stream's hash slot (the script touches both keys). Checked before anything is sent.
pub fn check_target(stream: &[u8], dlq: &[u8], cluster: bool) -> Result<(), ActionError> {
    use crate::redis::cluster::key_slot;
    let refuse = |why: String| {
        Err(ActionError::refused(
            "dead-letter",
            format!("dead-letter refused: {why}; nothing was changed"),
        ))
    };
    if dlq.is_empty() {
        return refuse(format!(
            "the dead-letter stream name is empty — name one with --to, or leave --to out \
             for {}",
            escape_line(&dlq_key_for(stream, cluster))
        ));
    }
    if dlq == stream {
        return refuse(format!(
            "the dead-letter stream is the stream itself ({}): the copies would be handed \
             out to the group again, a poison loop — pick another key",
            escape_line(stream)
        ));
    }
    let slot = key_slot(stream);
    if cluster && key_slot(dlq) != slot {
        // Only ever suggest a key that really shares the slot: a derived one that fails
        // the same way would send the user round in circles.
        let advice = match same_slot_dlq_key(stream) {
            Some(key) => format!("use a key in its slot, e.g. {}", escape_line(&key)),
            None => format!(
                "no key derived from the stream's name shares its slot (Redis hashes only \
                 the text between the first {{ and the first }} after it, so this name \
                 cannot be wrapped in a tag that keeps its slot) — name a dead-letter stream \
                 in slot {slot} with --to, one for which CLUSTER KEYSLOT answers {slot}"
            ),
        };
        return refuse(format!(
            "in a cluster both keys must be in one hash slot, and {} is in slot {} but {} \
             in slot {slot} — {advice}",
            escape_line(dlq),
            key_slot(dlq),
            escape_line(stream),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod dlq_key_tests {
    use super::*;
    use crate::redis::cluster::key_slot;

    #[test]
    fn cluster_default_shares_the_streams_slot() {
        assert_eq!(dlq_key_for(b"jobs", false), b"jobs:dlq");
        let k = dlq_key_for(b"jobs", true);
        assert_eq!(k, b"{jobs}:dlq");
        assert_eq!(key_slot(&k), key_slot(b"jobs"));
        // Already tagged: the plain suffix keeps the tag, so the slot.
        assert_eq!(dlq_key_for(b"jobs:{eu}", true), b"jobs:{eu}:dlq");
    }

    #[test]
    fn same_slot_default_is_checked_or_absent() {
        // The tester's names and the cluster spec's examples: the derived key, and its
        // slot is the stream's.
        let cases: [(&[u8], Option<&[u8]>); 11] = [
            (b"x}y", Some(b"x}y:dlq:23974")),
            (b"{}z", Some(b"{}z:dlq:10777")),
            (b"a{}{b}", Some(b"a{}{b}:dlq:355")),
            (b"q{r", Some(b"{q{r}:dlq")),
            (b"{sb}x", Some(b"{sb}x:dlq")),
            (b"{user1000}.following", Some(b"{user1000}.following:dlq")),
            (b"foo{}{bar}", Some(b"foo{}{bar}:dlq:9336")),
            (b"foo{{bar}}zap", Some(b"foo{{bar}}zap:dlq")),
            (b"foo{bar}{zap}", Some(b"foo{bar}{zap}:dlq")),
            (b"jobs", Some(b"{jobs}:dlq")),
            (b"jobs:{eu}", Some(b"jobs:{eu}:dlq")),
        ];
        for (stream, expected) in cases {
            let name = String::from_utf8_lossy(stream);
            let derived = same_slot_dlq_key(stream);
            assert_eq!(derived.as_deref(), expected, "{name}");
            if let Some(key) = &derived {
                assert_eq!(key_slot(key), key_slot(stream), "{name}");
            }
            // Outside a cluster the default never changes.
            assert_eq!(
                dlq_key_for(stream, false),
                default_dlq_key(stream),
                "{name}"
            );
            let default = dlq_key_for(stream, true);
            match &derived {
                Some(key) => assert_eq!(&default, key, "{name}"),
                // No key shares the slot: the default is refused before anything is sent.
                None => assert!(check_target(stream, &default, true).is_err(), "{name}"),
            }
        }
    }

    /// Any name, braces and all, has a derived key in its slot (random names over the
    /// bytes the hash-tag rule cares about).
    #[test]
    fn every_stream_name_has_a_default_dead_letter_key_in_its_slot() {
        let mut rng = crate::test_rng::XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let len = 1 + rng.below(8);
            let name: Vec<u8> = (0..len).map(|_| b"{}ab:"[rng.below(5)]).collect();
            let key = dlq_key_for(&name, true);
            let shown = String::from_utf8_lossy(&name);
            assert_eq!(key_slot(&key), key_slot(&name), "{shown}");
            assert!(check_target(&name, &key, true).is_ok(), "{shown}");
        }
    }

    #[test]
    fn refusal_never_suggests_a_key_in_another_slot() {
        // The tester's case: it suggested x}y:dlq, the very key it had just refused; then
        // no key at all, only "name one with --to". Now the key it suggests is checked.
        for stream in [&b"x}y"[..], b"{}z", b"a{}{b}"] {
            let name = String::from_utf8_lossy(stream);
            let e = check_target(stream, &default_dlq_key(stream), true).unwrap_err();
            let suggested = (e.message.split("e.g. ").nth(1))
                .and_then(|rest| rest.split(';').next())
                .unwrap_or_else(|| panic!("{name}: no key suggested: {}", e.message));
            assert_eq!(
                key_slot(suggested.as_bytes()),
                key_slot(stream),
                "{name}: {}",
                e.message
            );
        }
        let e = check_target(b"q{r", b"q{r:dlq", true).unwrap_err();
        assert!(e.message.contains("e.g. {q{r}:dlq"), "{}", e.message);
        assert!(check_target(b"q{r", b"{q{r}:dlq", true).is_ok());
    }

    #[test]
    fn dead_letter_target_must_be_another_named_key_in_the_same_slot() {
        assert!(check_target(b"jobs", b"jobs:dlq", false).is_ok());
        let same = check_target(b"jobs", b"jobs", false).unwrap_err();
        assert!(same.message.contains("poison loop"), "{}", same.message);
        let empty = check_target(b"jobs", b"", false).unwrap_err();
        assert!(empty.message.contains("empty"), "{}", empty.message);
        assert!(check_target(b"jobs", b"other", false).is_ok());
        let slot = check_target(b"jobs", b"jobs:dlq", true).unwrap_err();
        assert!(slot.message.contains("{jobs}:dlq"), "{}", slot.message);
        assert!(check_target(b"jobs", b"{jobs}:dlq", true).is_ok());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Copied with its fields and acked.
    Moved,
    /// Pending, but its entry had been deleted from the stream: the pending info was
    /// copied (field `dlq_entry_deleted=1`) and the id acked.
    MovedDeleted,
    /// Not pending in this group (acked already, or never delivered): left alone.
    NotPending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterResult {
    pub id: StreamId,
    pub status: DeadLetterStatus,
    /// The copy's id in the dead-letter stream.
    pub dlq_id: Option<StreamId>,
    /// Who held it, and how often it had been delivered.
    pub consumer: Option<BinText>,
    pub deliveries: Option<u64>,
    #[serde(skip)]
    pub fields: Option<Fields>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterOutcome {
    pub dlq: BinText,
    pub results: Vec<DeadLetterResult>,
}

impl DeadLetterOutcome {
    pub fn moved(&self) -> impl Iterator<Item = &DeadLetterResult> {
        self.results
            .iter()
            .filter(|r| r.status != DeadLetterStatus::NotPending)
    }
}

impl ActionOutcome for DeadLetterOutcome {
    fn summary(&self) -> String {
        let moved = self.moved().count();
        let mut s = format!(
            "moved {moved} of {} entries to {} and acked them",
            self.results.len(),
            escape_line(&self.dlq.0)
        );
        let gone = self
            .results
            .iter()
            .filter(|r| r.status == DeadLetterStatus::MovedDeleted)
            .count();
        if gone > 0 {
            s.push_str(&format!(
                " ({gone} had been deleted from the stream: only their pending info was copied)"
            ));
        }
        let not_pending: Vec<StreamId> = self
            .results
            .iter()
            .filter(|r| r.status == DeadLetterStatus::NotPending)
            .map(|r| r.id)
            .collect();
        if !not_pending.is_empty() {
            s.push_str(&format!(
                "; not pending (acked already, or never delivered), left alone: {}",
                list_ids(&not_pending)
            ));
        }
        s
    }
    fn is_complete(&self) -> bool {
        self.results
            .iter()
            .all(|r| r.status != DeadLetterStatus::NotPending)
    }
}

/// Move pending `ids` of `group` to the stream `dlq` (see [`default_dlq_key`]) with fields
/// `dlq_original_id`, `dlq_stream`, `dlq_group`, `dlq_consumer`, `dlq_deliveries` after
/// the original ones, then XACK them. Each batch of 100 ids is all-or-nothing.
pub async fn dead_letter(
    ctx: &ActionContext<'_>,
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    ids: &[String],
    dlq: &[u8],
) -> Result<DeadLetterOutcome, ActionError> {
    let mut attempt = Attempt::start(ctx, "dead-letter", COMMAND, stream, Some(group));
    let ids = match attempt
        .admit(ids)
        .and_then(|ids| check_target(stream, dlq, ctx.cluster).map(|()| ids))
    {
        Ok(ids) => ids,
        Err(e) => return attempt.finish(Err(e), None),
    };
    let mut outcome = DeadLetterOutcome {
        dlq: BinText::from(dlq),
        results: Vec::new(),
    };
    let mut failure = None;
    for batch in ids.chunks(BATCH) {
        match run_batch(conn, stream, group, dlq, batch).await {
            Ok(results) => outcome.results.extend(results),
            Err(mut e) => {
                let moved: Vec<StreamId> = outcome.moved().map(|r| r.id).collect();
                if !moved.is_empty() {
                    e.message.push_str(&format!(
                        " (earlier batches were moved and acked: {})",
                        list_ids(&moved)
                    ));
                }
                failure = Some(e);
                break;
            }
        }
    }
    let entries: Vec<AuditEntry> = outcome
        .moved()
        .map(|r| AuditEntry {
            id: r.id.to_string(),
            fields: r.fields.as_ref().map(audit_fields),
        })
        .collect();
    let result = match failure {
        None => Ok(outcome),
        Some(e) => Err(e),
    };
    attempt.finish(result, Some(entries))
}

async fn run_batch(
    conn: &mut MultiplexedConnection,
    stream: &[u8],
    group: &[u8],
    dlq: &[u8],
    ids: &[StreamId],
) -> Result<Vec<DeadLetterResult>, ActionError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SCRIPT).arg(2).arg(stream).arg(dlq).arg(group);
    for id in ids {
        cmd.arg(id.to_string());
    }
    let reply: Value = cmd
        .query_async(conn)
        .await
        .map_err(|e| redis_error("EVAL", &e))?;
    let bad = || reply_error("EVAL", "dead-letter script answered something unexpected");
    let mut parts = into_items(reply).ok_or_else(bad)?;
    if parts.is_empty() {
        return Err(bad().into());
    }
    let status = bytes_of(&parts.remove(0)).ok_or_else(bad)?;
    if status.as_ref() == b"ok" {
        return parts
            .into_iter()
            .map(|item| parse_result(item).ok_or_else(|| bad().into()))
            .collect();
    }
    let raw = |i: usize| parts.get(i).and_then(bytes_of).unwrap_or_default();
    let text = |i: usize| escape_line(&raw(i)).into_owned();
    match status.as_ref() {
        b"wrongtype" => {
            let (which, key) = if text(0) == "dlq" {
                ("dead-letter stream", escape_line(dlq).into_owned())
            } else {
                ("stream", escape_line(stream).into_owned())
            };
            let found = text(1);
            let message = if found == "none" {
                format!("dead-letter refused: the stream {key} does not exist; nothing was changed")
            } else {
                format!(
                    "dead-letter refused: the {which} key {key} holds a {found}, not a stream; \
                     nothing was changed — pick another key (--to) or remove that one"
                )
            };
            Err(ActionError::refused("XADD", message))
        }
        b"too_big" => Err(ActionError::refused(
            "XADD",
            format!(
                "dead-letter refused: entry {} has {} field names and values, too many to copy \
                 in one script; nothing was changed",
                text(0),
                text(1)
            ),
        )),
        b"error" => {
            let command = text(0);
            let error = String::from_utf8_lossy(&raw(1)).into_owned();
            let mut e = script_command_error(&command, &error);
            let leftover = text(2);
            if leftover.is_empty() {
                e.message
                    .push_str(" — dead-letter undone: nothing was copied or acked");
            } else {
                e.message.push_str(&format!(
                    " — the entries are still pending, but copies could not be removed from \
                     the dead-letter stream (ids {leftover}); delete them with XDEL before \
                     retrying"
                ));
            }
            Err(e)
        }
        _ => Err(bad().into()),
    }
}

fn parse_result(item: Value) -> Option<DeadLetterResult> {
    let mut it = into_items(item)?.into_iter();
    let (Some(id), Some(status), Some(dlq_id), Some(consumer), Some(deliveries), Some(fields)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let status = match bytes_of(&status)?.as_ref() {
        b"moved" => DeadLetterStatus::Moved,
        b"moved_deleted" => DeadLetterStatus::MovedDeleted,
        b"not_pending" => DeadLetterStatus::NotPending,
        _ => return None,
    };
    let pending = status != DeadLetterStatus::NotPending;
    Some(DeadLetterResult {
        id: id_of(&id)?,
        status,
        dlq_id: if pending { Some(id_of(&dlq_id)?) } else { None },
        consumer: if pending {
            Some(BinText::from(bytes_of(&consumer)?.as_ref()))
        } else {
            None
        },
        deliveries: if pending { u64_of(&deliveries) } else { None },
        fields: if status == DeadLetterStatus::Moved {
            Some(parse_fields(fields)?)
        } else {
            None
        },
    })
}
