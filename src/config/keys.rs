//! `[keys]` → [`Keymap`]: the configured keys replace a command's default keys in every
//! place (scope) the command has them, keeping the table's order so help reads the same.

use std::collections::BTreeMap;
use std::ops::Range;

use crossterm::event::{KeyCode, KeyModifiers};
use toml::Spanned;

use super::values::{key_name, KeyList};
use crate::keymap::{Binding, Command, KeySpec, Keymap, Scope};

/// Scopes asked one after another for the same key press (see `state/keys.rs`): a key
/// given to two commands across one of these chains would make one of them unreachable.
const CHAINS: &[&[Scope]] = &[
    &[Scope::Feed, Scope::Navigation, Scope::Global],
    &[Scope::Detail, Scope::Navigation, Scope::Global],
];

/// A problem in `[keys]`: what is wrong and the span of the entry to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub span: Range<usize>,
    pub message: String,
}

pub fn build(keys: &BTreeMap<Command, Spanned<KeyList>>) -> Result<Keymap, KeyError> {
    let defaults = Keymap::default();
    let always: Vec<Binding> = defaults
        .bindings()
        .iter()
        .filter(|b| b.scope == Scope::Always)
        .cloned()
        .collect();
    let mut bindings: Vec<Binding> = Vec::new();
    // Which binding came from which [keys] entry, to point errors at it.
    let mut origin: Vec<Option<Command>> = Vec::new();
    let mut placed: Vec<(Scope, Command)> = Vec::new();
    for b in defaults.bindings() {
        let Some(list) = keys.get(&b.command).filter(|_| b.scope != Scope::Always) else {
            // Always-scope keys (Ctrl-C) stay: a config must not be able to lock the user in.
            bindings.push(b.clone());
            origin.push(None);
            continue;
        };
        if placed.contains(&(b.scope, b.command)) {
            continue;
        }
        placed.push((b.scope, b.command));
        for &key in &list.get_ref().0 {
            // `quit = ["q", "ctrl-c"]` must not list Ctrl-C twice in help.
            if always.iter().any(|a| a.key == key && a.command == b.command) {
                continue;
            }
            bindings.push(Binding {
                scope: b.scope,
                key,
                command: b.command,
            });
            origin.push(Some(b.command));
        }
    }
    for (command, list) in keys {
        if !defaults.bindings().iter().any(|b| b.command == *command) {
            return Err(KeyError {
                span: list.span(),
                message: format!(
                    "`{}` has no place in this version's key table, so it cannot be bound",
                    command_name(*command)
                ),
            });
        }
    }
    check(&bindings, &origin, &always, keys)?;
    Ok(Keymap::new(bindings))
}

/// The `[keys]` name of a command (its serde name).
pub fn command_name(command: Command) -> String {
    serde_json::to_value(command)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{command:?}"))
}

fn check(
    bindings: &[Binding],
    origin: &[Option<Command>],
    always: &[Binding],
    keys: &BTreeMap<Command, Spanned<KeyList>>,
) -> Result<(), KeyError> {
    let span_of = |command: Command| keys.get(&command).map(Spanned::span).unwrap_or(0..0);
    for (i, b) in bindings.iter().enumerate() {
        let Some(configured) = origin[i] else {
            continue;
        };
        let key = key_name(&b.key);
        let name = command_name(configured);
        if let Some(a) = always
            .iter()
            .find(|a| a.key == b.key && a.command != b.command)
        {
            return Err(KeyError {
                span: span_of(configured),
                message: format!(
                    "{key:?} always means `{}`, so `{name}` could never get it: pick another key",
                    command_name(a.command)
                ),
            });
        }
        if b.scope == Scope::Input && is_typed(&b.key) {
            return Err(KeyError {
                span: span_of(configured),
                message: format!(
                    "{key:?} is typed into prompts, so it cannot be `{name}`: use a named key \
                     (enter, esc, tab, …) or a chord (\"ctrl-x\", \"alt-x\")"
                ),
            });
        }
        let clash = bindings.iter().enumerate().find(|(j, other)| {
            *j != i
                && other.key == b.key
                && other.command != b.command
                && (other.scope == b.scope
                    || CHAINS
                        .iter()
                        .any(|chain| chain.contains(&b.scope) && chain.contains(&other.scope)))
        });
        if let Some((j, other)) = clash {
            let other_name = command_name(other.command);
            let fix = if origin[j].is_some() {
                "give one of them another key".to_string()
            } else {
                format!("bind `{other_name}` to another key too, e.g. {other_name} = \"…\"")
            };
            return Err(KeyError {
                span: span_of(configured),
                message: format!(
                    "{key:?} is set for both `{name}` and `{other_name}`, which are asked for \
                     the same key press ({} keys): {fix}",
                    b.scope.title().to_lowercase()
                ),
            });
        }
    }
    Ok(())
}

/// A key that produces text in a prompt: any character without Ctrl or Alt.
fn is_typed(key: &KeySpec) -> bool {
    matches!(key.code, KeyCode::Char(_))
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::parse_key;

    fn keys(entries: &[(Command, &[&str])]) -> BTreeMap<Command, Spanned<KeyList>> {
        entries
            .iter()
            .enumerate()
            .map(|(i, (command, list))| {
                let parsed = list.iter().filter_map(|k| parse_key(k).ok()).collect();
                (*command, Spanned::new(i * 10..i * 10 + 5, KeyList(parsed)))
            })
            .collect()
    }

    #[test]
    fn no_keys_is_the_default_keymap() {
        assert_eq!(build(&BTreeMap::new()), Ok(Keymap::default()));
    }

    #[test]
    fn configured_keys_replace_defaults_in_place() {
        let map = build(&keys(&[
            (Command::Filter, &["f", "/"]),
            (Command::Quit, &["x", "ctrl-c"]),
        ]))
        .unwrap_or_default();
        assert_eq!(
            map.keys_label(Scope::Feed, Command::Filter).as_deref(),
            Some("f//")
        );
        assert_eq!(
            map.keys_label(Scope::Global, Command::Quit).as_deref(),
            Some("x")
        );
        assert_eq!(
            map.keys_label(Scope::Always, Command::Quit).as_deref(),
            Some("Ctrl-C")
        );
        // Help keeps the table's order: Filter is still the first Feed row.
        let feed = map.help_sections().into_iter().find(|(t, _)| *t == "Feed");
        let first = feed.and_then(|(_, rows)| rows.first().cloned());
        assert_eq!(
            first,
            Some(("f//".to_string(), Command::Filter.describe()))
        );
    }

    #[test]
    fn swapping_two_keys_is_fine_but_stealing_one_is_an_error() {
        assert!(build(&keys(&[
            (Command::Filter, &["e"]),
            (Command::Export, &["/"])
        ]))
        .is_ok());
        let err = build(&keys(&[(Command::Filter, &["e"])]));
        assert!(
            err.as_ref()
                .is_err_and(|e| e.message.contains("`export`") && e.span == (0..5)),
            "{err:?}"
        );
        // Feed and Navigation are asked for the same key press.
        assert!(build(&keys(&[(Command::Filter, &["j"])])).is_err());
        // Feed and Detail never are: Esc does a different thing in each.
        assert!(build(&keys(&[(Command::ToggleHex, &["s"])])).is_ok());
    }

    #[test]
    fn prompts_and_ctrl_c_are_protected() {
        let typed = build(&keys(&[(Command::Cancel, &["q"])]));
        assert!(typed.is_err_and(|e| e.message.contains("typed into prompts")));
        assert!(build(&keys(&[(Command::Cancel, &["ctrl-g", "esc"])])).is_ok());
        let stolen = build(&keys(&[(Command::Filter, &["ctrl-c"])]));
        assert!(stolen.is_err_and(|e| e.message.contains("always means `quit`")));
    }

    #[test]
    fn an_empty_list_unbinds() {
        let map = build(&keys(&[(Command::Export, &[])])).unwrap_or_default();
        assert_eq!(map.keys_label(Scope::Feed, Command::Export), None);
    }
}
