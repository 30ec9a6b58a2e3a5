//! `tail --keyspace`: check `notify-keyspace-events` on every node before following,
//! say what is missing (or add it with `--enable-notifications`), start the engine, and
//! put changed settings back on exit. Through Sentinel the same check is made on each
//! new primary after a failover.

use std::io::Write as _;

use std::sync::Arc;

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::audit::AuditLog;
use crate::cli::TailArgs;
use crate::redis::actions::{self, ActionContext, ActionErrorKind, ReadOnly};
use crate::redis::conn::Target;
use crate::redis::keyspace::check::{self, Finding, NodeSetting, SETTING};
use crate::redis::keyspace::flags::{self, Flags};
use crate::redis::keyspace::{self as engine, KeyspaceSpec};
use crate::redis::route::Route;
use crate::redis::subscriber::{Subscriber, SubscriberConfig};
use crate::text::escape::escape_str;

/// Settings changed by `--enable-notifications`, to put back on exit.
pub(super) struct Restore {
    audit: AuditLog,
    read_only: ReadOnly,
    server: String,
    /// Node target and the value it had before.
    /// Each node changed: its value before, and the value set.
    changed: Vec<(Target, String, String)>,
}

/// What `tail --keyspace` keeps while it runs: the settings to put back, and through
/// Sentinel the task that checks each new primary.
pub(super) struct Notifications {
    restore: Option<Arc<Mutex<Restore>>>,
    /// The follower and how to stop it (between two checks, never in one).
    follow: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Notifications {
    /// Stop checking new primaries, then put every changed setting back.
    pub(super) async fn finish(self) {
        if let Some((stop, task)) = self.follow {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(restore) = self.restore {
            restore.lock().await.restore().await;
        }
    }
}

/// Check the setting, enable it if asked, and start following. `Err(code)`: stop with
/// that exit code (the reason is already on stderr).
pub(super) async fn start(
    args: &TailArgs,
    route: &Arc<Route>,
    config: SubscriberConfig,
) -> Result<(Subscriber, Option<Notifications>), i32> {
    let mut spec = args.keyspace.spec();
    let url_db = u32::try_from(route.template().db).ok().filter(|&d| d > 0);
    spec.db = spec.db.or(url_db);
    warn_unknown_events(&spec);
    let needed = spec.required_flags();
    let mut restore = match args.keyspace.enable_notifications {
        true => Some(Restore::open(args, route)?),
        false => None,
    };
    let settings = check_nodes(route, &needed, restore.as_mut()).await?;
    announce(&spec, route, &settings);
    let restore = restore.map(|r| Arc::new(Mutex::new(r)));
    let follow = follow_primary(route, needed, restore.clone());
    let notifications = Notifications { restore, follow };
    Ok((engine::spawn(config, spec), Some(notifications)))
}

/// Read the setting where events come from (every node; through Sentinel the primary
/// it names now), then enable what is missing (`restore` given: asked for) or say what
/// is missing. `Err(code)`: enabling was refused for every node (read-only mode), and
/// what was already changed has been put back.
async fn check_nodes(
    route: &Route,
    needed: &Flags,
    restore: Option<&mut Restore>,
) -> Result<Vec<NodeSetting>, i32> {
    let settings = match check::read_all(route).await {
        Ok(s) => s,
        Err(e) => {
            // The engine reports an unreachable deployment itself.
            eprintln!("redtail: cannot check {SETTING}: {e:#}");
            Vec::new()
        }
    };
    match restore {
        Some(restore) => restore.enable_missing(&settings, needed).await?,
        None => {
            for f in check::findings(&settings, needed) {
                if let Some(text) = f.describe() {
                    eprintln!("redtail: {text}");
                }
            }
        }
    }
    Ok(settings)
}

/// Through Sentinel: each time the Sentinels name another primary (a failover), make
/// the start's check there — a promoted replica publishes events only if its own
/// setting has the flags.
fn follow_primary(
    route: &Arc<Route>,
    needed: Flags,
    restore: Option<Arc<Mutex<Restore>>>,
) -> Option<(watch::Sender<bool>, JoinHandle<()>)> {
    if !matches!(route.mode(), crate::redis::route::Mode::Sentinel(_)) {
        return None;
    }
    let (stop_tx, mut stop) = watch::channel(false);
    let route = route.clone();
    let mut primary = route.watch_primary();
    let task = tokio::spawn(async move {
        let mut checked = primary.borrow_and_update().clone();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                changed = primary.changed() => if changed.is_err() { return },
            }
            let now = primary.borrow_and_update().clone();
            if now == checked || now.is_none() {
                continue;
            }
            if let Some(addr) = &now {
                eprintln!("redtail: the Sentinels now name {addr} as the primary: checking {SETTING} there");
            }
            checked = now;
            let mut guard = match &restore {
                Some(r) => Some(r.lock().await),
                None => None,
            };
            // A refusal (read-only mode) is on stderr already; events go on elsewhere.
            let _ = check_nodes(&route, &needed, guard.as_deref_mut()).await;
        }
    });
    Some((stop_tx, task))
}

fn warn_unknown_events(spec: &KeyspaceSpec) {
    let Some(events) = &spec.events else { return };
    let unknown = flags::unknown_events(events);
    if !unknown.is_empty() {
        eprintln!(
            "redtail: event(s) {} are not ones redtail knows (a typo, or a module's event?): \
             they are shown if the server emits them; the check asks for every class (A)",
            escape_str(&unknown.join(", "))
        );
    }
}

/// Where events will come from, on stderr.
fn announce(spec: &KeyspaceSpec, route: &Route, settings: &[NodeSetting]) {
    let globs: Vec<String> = spec
        .globs
        .iter()
        .map(|g| crate::text::escape::escape_line(g).into_owned())
        .collect();
    let db = spec
        .db
        .map_or_else(|| "every database".to_string(), |d| format!("database {d}"));
    let from = if route.is_cluster() {
        let primaries = settings
            .iter()
            .filter(|s| s.role == Some(crate::redis::cluster::Role::Primary))
            .count();
        format!("every primary of the cluster ({primaries} now; followed through failovers)")
    } else {
        "the server".to_string()
    };
    eprintln!(
        "redtail: following keyspace events of {} in {db} from {from}",
        globs.join(", ")
    );
}

impl Restore {
    /// For `--enable-notifications`: nothing changed yet, the audit log open.
    fn open(args: &TailArgs, route: &Route) -> Result<Restore, i32> {
        let audit = match AuditLog::open_default() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("redtail: {e:#}");
                return Err(crate::exit::ERROR);
            }
        };
        Ok(Restore {
            audit,
            read_only: args.read_only.clone(),
            server: route.template().to_string(),
            changed: Vec::new(),
        })
    }

    /// Add the missing flags on every node that lacks them.
    async fn enable_missing(
        &mut self,
        settings: &[NodeSetting],
        needed: &Flags,
    ) -> Result<(), i32> {
        for finding in check::findings(settings, needed) {
            let addr = match &finding {
                Finding::Ready { .. } => continue,
                Finding::Unreadable { .. } => {
                    if let Some(text) = finding.describe() {
                        eprintln!("redtail: {text}");
                    }
                    continue;
                }
                Finding::Missing { addr, .. } => addr,
            };
            let Some(node) = settings.iter().find(|s| &s.addr == addr) else {
                continue;
            };
            if let Err(code) = self.enable_one(node, needed).await {
                // Put back what was already changed before stopping.
                self.restore().await;
                return Err(code);
            }
        }
        Ok(())
    }

    fn ctx(&self) -> ActionContext<'_> {
        ActionContext {
            server: self.server.clone(),
            read_only: self.read_only.clone(),
            cluster: false,
            audit: &self.audit,
        }
    }

    /// `Err(code)` only for a refusal that concerns every node (read-only mode).
    async fn enable_one(&mut self, node: &NodeSetting, needed: &Flags) -> Result<(), i32> {
        let outcome = actions::enable_notifications(&self.ctx(), &node.target, needed).await;
        match outcome {
            Ok(o) if o.changed => {
                eprintln!(
                    "redtail: {}; the old value is put back on exit (Ctrl-C, kill, a closed terminal, -n reached, or an error)",
                    actions::ActionOutcome::summary(&o)
                );
                self.changed
                    .push((node.target.clone(), o.previous, o.value));
            }
            Ok(_) => {}
            Err(e) if e.kind == ActionErrorKind::ReadOnly => {
                eprintln!("redtail: --enable-notifications: {}", e.message);
                return Err(crate::exit::ERROR);
            }
            Err(e) => {
                let current = node.value.as_deref().unwrap_or("");
                let missing = needed.missing_from(&Flags::parse(current));
                let fix = check::fix_command(&node.target, &flags::merged(current, &missing));
                eprintln!(
                    "redtail: node {}: could not enable keyspace notifications: {} — managed \
                     services often refuse CONFIG SET (set {SETTING} in the provider's \
                     console); with the rights, run: {}; events from the other nodes are \
                     still shown",
                    node.addr,
                    e.message,
                    escape_str(&fix)
                );
            }
        }
        Ok(())
    }

    /// Put every changed node's previous value back, saying so on stderr.
    async fn restore(&mut self) {
        for (target, previous, set) in std::mem::take(&mut self.changed) {
            let (target, previous, set) = (&target, &previous, &set);
            let ctx = self.ctx();
            let result = actions::restore_notifications(&ctx, target, previous, set).await;
            let line = actions::restore_report(target, previous, result.map_err(|e| e.message));
            // Stderr may be gone (SIGHUP): the other nodes are put back all the same.
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
