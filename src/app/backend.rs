//! What the panes' off-loop work shares: one command connection (opened on first use,
//! dropped when broken so the next call reconnects), the audit log (opened once — every
//! change redtail makes must be traceable) and the read-only switch.

use std::sync::Arc;

use redis::aio::MultiplexedConnection;

use crate::audit::AuditLog;
use crate::redis::actions::ActionContext;
use crate::redis::conn::Target;

#[derive(Clone)]
pub(super) struct Backend {
    target: Target,
    read_only: bool,
    /// When the log cannot be opened, mutating actions say so instead of running.
    audit: Result<Arc<AuditLog>, String>,
    conn: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
}

impl Backend {
    pub(super) fn new(target: Target, read_only: bool) -> Backend {
        // Read-only mode changes nothing, so it need not create an audit log either.
        let audit = if read_only {
            Err("read-only mode".to_string())
        } else {
            AuditLog::open_default()
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        };
        Backend {
            target,
            read_only,
            audit,
            conn: Arc::default(),
        }
    }

    pub(super) async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self
            .target
            .command_connection()
            .await
            .map_err(|e| format!("{e:#}"))?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// A multiplexed connection does not reconnect by itself: drop a broken one.
    pub(super) async fn forget_connection(&self, broken: bool) {
        if broken {
            *self.conn.lock().await = None;
        }
    }

    /// [`Backend::forget_connection`] from a place that cannot wait for the lock: if a
    /// request holds it right now, the next failure drops the connection instead.
    pub(super) fn forget_now(&self) {
        if let Ok(mut slot) = self.conn.try_lock() {
            *slot = None;
        }
    }

    /// The context every mutating action needs, or why no change may be made.
    pub(super) fn context(&self) -> Result<ActionContext<'_>, String> {
        let audit = self.audit.as_ref().map_err(|e| {
            format!(
                "not run: the audit log cannot be opened ({e}); redtail records every \
                 change it makes — fix that or set REDTAIL_AUDIT_LOG"
            )
        })?;
        Ok(ActionContext {
            server: self.target.to_string(),
            read_only: self.read_only,
            audit,
        })
    }
}
