//! `tail --keyspace`: check `notify-keyspace-events` on every node before following,
//! say what is missing (or add it with `--enable-notifications`), start the engine, and
//! put changed settings back on exit.

use std::io::Write as _;

use std::sync::Arc;

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

/// Check the setting, enable it if asked, and start following. `Err(code)`: stop with
/// that exit code (the reason is already on stderr).
pub(super) async fn start(
    args: &TailArgs,
    route: &Arc<Route>,
    config: SubscriberConfig,
) -> Result<(Subscriber, Option<Restore>), i32> {
    let mut spec = args.keyspace.spec();
    let url_db = u32::try_from(route.template().db).ok().filter(|&d| d > 0);
    spec.db = spec.db.or(url_db);
    warn_unknown_events(&spec);
    let needed = spec.required_flags();
    let settings = match check::read_all(route).await {
        Ok(s) => s,
        Err(e) => {
            // The engine reports an unreachable deployment itself.
            eprintln!("redtail: cannot check {SETTING}: {e:#}");
            Vec::new()
        }
    };
    let restore = if args.keyspace.enable_notifications {
        Some(enable(args, route, &settings, &needed).await?)
    } else {
        for f in check::findings(&settings, &needed) {
            if let Some(text) = f.describe() {
                eprintln!("redtail: {text}");
            }
        }
        None
    };
    announce(&spec, route, &settings);
    Ok((engine::spawn(config, spec), restore))
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

/// `--enable-notifications`: add the missing flags on every node that lacks them.
async fn enable(
    args: &TailArgs,
    route: &Route,
    settings: &[NodeSetting],
    needed: &Flags,
) -> Result<Restore, i32> {
    let audit = match AuditLog::open_default() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("redtail: {e:#}");
            return Err(crate::exit::ERROR);
        }
    };
    let mut restore = Restore {
        audit,
        read_only: args.read_only.clone(),
        server: route.template().to_string(),
        changed: Vec::new(),
    };
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
        if let Err(code) = restore.enable_one(node, needed).await {
            // Put back what was already changed before stopping.
            restore.restore().await;
            return Err(code);
        }
    }
    Ok(restore)
}

impl Restore {
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
    pub(super) async fn restore(self) {
        for (target, previous, set) in &self.changed {
            let ctx = self.ctx();
            let result = actions::restore_notifications(&ctx, target, previous, set).await;
            let line = actions::restore_report(target, previous, result.map_err(|e| e.message));
            // Stderr may be gone (SIGHUP): the other nodes are put back all the same.
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
