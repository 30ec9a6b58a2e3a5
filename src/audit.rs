//! The audit log: one JSON line per mutating action redtail attempted (publish, ack,
//! claim, dead-letter, delete, trim, group changes), whether it succeeded, failed or was
//! refused.
//!
//! It exists so that what redtail changed on a server can always be traced afterwards,
//! including the contents of entries it deleted, trimmed or moved. Records are appended
//! with `O_APPEND` (each record is a single `write` of one line, so concurrent redtail
//! processes do not interleave within a line on local file systems) and synced before
//! the action returns.
//!
//! Location: `$REDTAIL_AUDIT_LOG` if set, else `<platform data dir>/audit.jsonl`
//! (`~/.local/share/redtail/audit.jsonl` on Linux).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use chrono::{SecondsFormat, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// Environment variable that overrides where the audit log is written.
pub const AUDIT_LOG_ENV: &str = "REDTAIL_AUDIT_LOG";

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// `$REDTAIL_AUDIT_LOG`, else the platform data directory. Creates the directory and
    /// the file now, so an unwritable log is reported before any action runs rather than
    /// after it changed the server.
    pub fn open_default() -> Result<AuditLog> {
        let path = match std::env::var_os(AUDIT_LOG_ENV).filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => directories::ProjectDirs::from("dev", "redtail", "redtail")
                .map(|dirs| dirs.data_dir().join("audit.jsonl"))
                .ok_or_else(|| {
                    anyhow!(
                        "cannot find a data directory for the audit log (no home directory?); \
                         set {AUDIT_LOG_ENV} to a file path"
                    )
                })?,
        };
        AuditLog::open(path)
    }

    /// An audit log at `path`, created (with its directory) if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<AuditLog> {
        let log = AuditLog { path: path.into() };
        if let Some(dir) = log.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the audit log directory {} — fix its permissions or set \
                     {AUDIT_LOG_ENV}",
                    dir.display()
                )
            })?;
        }
        log.open_file().with_context(|| {
            format!(
                "cannot open the audit log {} for appending — fix its permissions or set \
                 {AUDIT_LOG_ENV}",
                log.path.display()
            )
        })?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record as one line and sync it to disk. Reopens the file each time so
    /// a rotated or deleted log is recreated instead of written into an unlinked inode.
    pub fn append(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = crate::json::to_vec_safe(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.open_file()?;
        file.write_all(&line)?;
        file.flush()?;
        file.sync_data()
    }

    fn open_file(&self) -> std::io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        // Records hold entry contents, which may be private: keep them from other users.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&self.path)
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The target as displayed everywhere (user, host, port, db; never the password).
    pub server: String,
    /// What the user asked for: `ack`, `claim`, `autoclaim`, `dead-letter`, `xdel`,
    /// `trim`, `group-create`, `group-setid`, `group-destroy`, `consumer-delete`,
    /// `publish`.
    pub action: String,
    /// The Redis command(s) that carry it out, e.g. `XACK` or `EVAL (XADD + XACK)`.
    pub command: String,
    /// The stream acted on; absent for a publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<BinText>,
    /// The channel published to; only for a publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<BinText>,
    pub group: Option<BinText>,
    pub ids: Vec<String>,
    /// The consumer the action concerns (claim target, deleted consumer).
    pub consumer: Option<BinText>,
    pub result: AuditResult,
    /// For actions that remove data (XDEL, trim, dead-letter): what was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<AuditEntry>>,
    /// For a publish: what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<AuditMessage>,
}

/// Most payload bytes a publish record keeps (the size is always recorded in full).
pub const AUDIT_PAYLOAD_MAX: usize = 1024;

/// A published message as the audit log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditMessage {
    /// `PUBLISH` or `SPUBLISH`.
    pub kind: String,
    /// The payload's full size in bytes.
    pub payload_bytes: usize,
    /// Its first [`AUDIT_PAYLOAD_MAX`] bytes.
    pub payload: BinText,
    /// True when `payload` is a prefix.
    pub payload_truncated: bool,
}

impl AuditMessage {
    pub fn new(kind: &str, payload: &[u8]) -> AuditMessage {
        let kept = &payload[..payload.len().min(AUDIT_PAYLOAD_MAX)];
        AuditMessage {
            kind: kind.to_string(),
            payload_bytes: payload.len(),
            payload: BinText::from(kept),
            payload_truncated: kept.len() < payload.len(),
        }
    }
}

impl AuditRecord {
    pub fn new(server: &str, action: &str, command: &str, stream: &[u8]) -> AuditRecord {
        AuditRecord {
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            server: server.to_string(),
            action: action.to_string(),
            command: command.to_string(),
            stream: Some(BinText::from(stream)),
            channel: None,
            group: None,
            ids: Vec::new(),
            consumer: None,
            result: AuditResult {
                status: AuditStatus::Error,
                message: String::new(),
                details: serde_json::Value::Null,
            },
            entries: None,
            message: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    pub status: AuditStatus,
    /// The same sentence the user was shown.
    pub message: String,
    /// The structured outcome (per-id results, counts), or null.
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStatus {
    Ok,
    Error,
    /// Not attempted: read-only mode or a safety check said no.
    Refused,
}

/// A stream entry as it was when redtail removed or moved it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    /// Field/value pairs in stream order; null when the entry was already deleted.
    pub fields: Option<Vec<(BinText, BinText)>>,
}

/// Bytes from the server or the user, recorded losslessly: a JSON string when they are
/// UTF-8 (JSON escaping keeps control characters harmless), else `{"b64": "…"}` (the
/// convention of every JSON redtail writes: stream entries, Protobuf bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinText(pub Vec<u8>);

impl From<&[u8]> for BinText {
    fn from(b: &[u8]) -> Self {
        BinText(b.to_vec())
    }
}

impl Serialize for BinText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(
                    "b64",
                    &base64::engine::general_purpose::STANDARD.encode(&self.0),
                )?;
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_are_kept_losslessly() {
        let text = serde_json::to_string(&BinText(b"ok\x1b".to_vec())).unwrap();
        assert_eq!(text, r#""ok\u001b""#);
        let bin = serde_json::to_string(&BinText(vec![0xff, 0x00])).unwrap();
        assert_eq!(bin, r#"{"b64":"/wA="}"#);
    }

    #[test]
    fn appends_one_line_per_record() {
        let dir = std::env::temp_dir().join(format!("redtail-audit-{}", std::process::id()));
        let log = AuditLog::open(dir.join("sub").join("audit.jsonl")).unwrap();
        let mut record = AuditRecord::new("redis://h:1", "ack", "XACK", b"s");
        record.ids = vec!["1-0".into()];
        log.append(&record).unwrap();
        log.append(&record).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["command"], "XACK");
        assert_eq!(v["ids"][0], "1-0");
        let _ = std::fs::remove_dir_all(dir);
    }
}
