//! What the panes' off-loop work shares: command connections (one per node; opened on
//! first use, dropped when broken so the next call reconnects; in a cluster each stream's
//! commands go to the node that owns its slot), the audit log (opened once — every
//! change redtail makes must be traceable) and the read-only switch.

use std::collections::HashMap;
use std::sync::Arc;

use redis::aio::MultiplexedConnection;

use crate::audit::AuditLog;
use crate::redis::actions::{self, ActionContext, ReadOnly};
use crate::redis::route::Route;

#[derive(Clone)]
pub(super) struct Backend {
    route: Arc<Route>,
    read_only: ReadOnly,
    /// When the log cannot be opened, mutating actions say so instead of running.
    audit: Result<Arc<AuditLog>, String>,
    conns: Arc<tokio::sync::Mutex<HashMap<String, MultiplexedConnection>>>,
}

impl Backend {
    pub(super) fn new(route: Arc<Route>, read_only: ReadOnly) -> Backend {
        // Opened in read-only mode too: refusals are recorded like everything else.
        let audit = AuditLog::open_default()
            .map(Arc::new)
            .map_err(|e| format!("{e:#}"));
        Backend {
            route,
            read_only,
            audit,
            conns: Arc::default(),
        }
    }

    /// A connection to the node that serves `key` (the one server outside a cluster).
    pub(super) async fn connection(&self, key: &[u8]) -> Result<MultiplexedConnection, String> {
        let target = self
            .route
            .target_for_key(key)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let mut conns = self.conns.lock().await;
        if let Some(conn) = conns.get(&target.addr()) {
            return Ok(conn.clone());
        }
        let conn = target
            .command_connection()
            .await
            .map_err(|e| format!("{e:#}"))?;
        conns.insert(target.addr(), conn.clone());
        Ok(conn)
    }

    /// A multiplexed connection does not reconnect by itself: drop a broken one.
    pub(super) async fn forget_connection(&self, broken: bool) {
        if broken {
            self.conns.lock().await.clear();
            self.route.invalidate();
        }
    }

    /// [`Backend::forget_connection`] from a place that cannot wait for the lock: if a
    /// request holds it right now, the next failure drops the connection instead.
    pub(super) fn forget_now(&self) {
        if let Ok(mut conns) = self.conns.try_lock() {
            conns.clear();
        }
        self.route.invalidate();
    }

    /// The context every mutating action on `key` needs, or why no change may be made.
    /// The audit record names the server the command goes to (in a cluster, the node
    /// that owns the key).
    pub(super) async fn context(&self, key: &[u8]) -> Result<ActionContext<'_>, String> {
        let server = match self.route.target_for_key(key).await {
            Ok(t) => t.to_string(),
            Err(_) => self.route.template().to_string(),
        };
        self.context_at(server)
    }

    /// The context with `server` as the name the audit record starts with.
    pub(super) fn context_at(&self, server: String) -> Result<ActionContext<'_>, String> {
        let audit = self.audit.as_ref().map_err(|e| {
            format!(
                "not run: the audit log cannot be opened ({e}); redtail records every \
                 change it makes — fix that or set REDTAIL_AUDIT_LOG"
            )
        })?;
        Ok(ActionContext {
            server,
            read_only: self.read_only.clone(),
            cluster: self.route.is_cluster(),
            audit,
        })
    }

    /// Audit a refusal the state made before an action's dialog opened (read-only mode).
    pub(super) async fn audit_refusal(
        &self,
        action: &str,
        stream: Option<&[u8]>,
        group: Option<&[u8]>,
    ) {
        if let Ok(ctx) = self.context(stream.unwrap_or(b"")).await {
            actions::refuse_read_only(&ctx, action, stream, group);
        }
    }

    /// PUBLISH / SPUBLISH through the action layer (read-only guard, audit record).
    pub(super) async fn publish(
        &self,
        channel: &[u8],
        payload: &[u8],
        shard: bool,
    ) -> Result<actions::PublishOutcome, String> {
        // The publish action routes itself and records the node it sent to.
        let ctx = self.context_at(self.route.template().to_string())?;
        actions::publish(&ctx, &self.route, channel, payload, shard)
            .await
            .map_err(|e| e.message)
    }

    /// The marked messages again, in order, as one batch through the action layer
    /// (read-only refusal, bounded audit); which of them the server accepted.
    pub(super) async fn publish_marked(
        &self,
        messages: Vec<crate::redis::message::Message>,
    ) -> Result<crate::state::marks::MarkedDone, String> {
        let ctx = self.context_at(self.route.template().to_string())?;
        let batch: Vec<actions::ReplayMessage> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| actions::ReplayMessage {
                line: i as u64 + 1,
                channel: m.channel.clone(),
                payload: m.payload.clone(),
                shard: m.kind == crate::redis::message::Kind::SMessage,
            })
            .collect();
        let (outcome, failures) = actions::publish_marked(&ctx, &self.route, &batch)
            .await
            .map_err(|e| e.message)?;
        // Messages are answered in order: the first `sent + errors` were answered, the
        // rest never went out. After a stop, refusals before it are not itemised, so
        // nothing is taken as sent (every mark stays) rather than guess.
        let answered = (outcome.sent + outcome.errors) as usize;
        let refused: std::collections::HashSet<u64> = failures.iter().map(|f| f.line).collect();
        let unsure = outcome.stopped.is_some() && outcome.errors > 0;
        let sent = messages
            .iter()
            .enumerate()
            .take(if unsure { 0 } else { answered })
            .filter(|(i, _)| !refused.contains(&(*i as u64 + 1)))
            .map(|(_, m)| m.seq)
            .collect();
        Ok(crate::state::marks::MarkedDone {
            sent,
            receivers: outcome.receivers,
            zero_receivers: outcome.zero_receivers,
            errors: outcome.errors,
            first_error: failures.first().map(|f| f.error.message.clone()),
            stopped: outcome.stopped,
        })
    }
}
