//! Exit codes of every command: one table, documented in `--help` and the README.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: everything asked for was done |
//! | 1 | error: connection, authentication, permission (NOPERM), server error, or a refusal (read-only mode, a safety check) |
//! | 2 | partial: the command ran, but some ids were skipped (each printed with its reason); `publish --from`: some lines malformed or messages refused |
//! | 3 | unavailable (`doctor`): the check could not run — connection, authentication or permission error; 1 then means "problems found" |
//! | 64 | usage: bad arguments, a filter that does not parse, an invalid id or name (nothing was sent) |

/// Everything asked for was done.
pub const SUCCESS: i32 = 0;
/// Connection, authentication or permission error, server error, or a refusal.
pub const ERROR: i32 = 1;
/// Some ids were skipped (not pending, re-taken by a live consumer, …), or a replay
/// skipped malformed lines / had messages refused.
pub const PARTIAL: i32 = 2;
/// `doctor` could not check: connection, authentication or permission error (distinct
/// from 1, which `doctor` uses for "problems found").
pub const UNAVAILABLE: i32 = 3;
/// Bad arguments: nothing was sent (sysexits' EX_USAGE).
pub const USAGE: i32 = 64;

/// The table, for `--help`.
pub const HELP: &str = "Exit codes: 0 success · 1 error (connection, authentication, \
permission, server, or refused: read-only mode or a safety check) · 2 some ids skipped \
(ack/claim/dead-letter) or replay lines malformed/refused (publish --from) · 3 doctor could not check (connection, authentication, \
permission; doctor's 1 means problems found) · 64 usage (bad arguments, filter or ids; nothing was sent)";

/// An error caused by what the user typed, not by the server: exit code [`USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for a command that failed with `error`.
pub fn code_for(error: &anyhow::Error) -> i32 {
    use crate::redis::actions::{ActionError, ActionErrorKind};
    if error.downcast_ref::<UsageError>().is_some() {
        return USAGE;
    }
    match error.downcast_ref::<ActionError>() {
        Some(e) if e.kind == ActionErrorKind::InvalidInput => USAGE,
        _ => ERROR,
    }
}

/// The exit code for `doctor` failing with `error`: anything that stopped the check
/// (connection, login, permission, a broken config file) is [`UNAVAILABLE`], since
/// `doctor`'s 1 means "problems found"; usage mistakes stay [`USAGE`].
pub fn code_for_check(error: &anyhow::Error) -> i32 {
    match code_for(error) {
        ERROR => UNAVAILABLE,
        code => code,
    }
}
