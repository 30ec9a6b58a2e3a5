//! `[keys]` → [`Keymap`].
//!
//! Two forms, because one command can have different keys in different places (Cancel
//! is Esc in prompts and `n` in the pending pane's dialogs):
//!
//! ```toml
//! [keys]
//! filter = "f"            # every place where filter has keys
//! [keys.dialog]
//! cancel = ["esc", "n"]   # only there; wins over the line above
//! ```
//!
//! Configured keys take the place of the defaults they replace, in table order, so help
//! reads the same as before.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use crossterm::event::{KeyCode, KeyModifiers};
use serde::de::{self, value::StrDeserializer, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::{key_name, KeyList};
use crate::keymap::{Binding, Command, KeySpec, Keymap, Scope};

pub type KeyTable = BTreeMap<Command, Spanned<KeyList>>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeysSection {
    /// `[keys] command = …`: in every place the command has keys.
    pub all: KeyTable,
    /// `[keys.PLACE] command = …`: in that place only.
    pub places: BTreeMap<Scope, KeyTable>,
}

impl KeysSection {
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.places.values().all(BTreeMap::is_empty)
    }

    /// The configured keys for `command` in `scope`, if any.
    pub fn get(&self, scope: Scope, command: Command) -> Option<&Spanned<KeyList>> {
        self.places
            .get(&scope)
            .and_then(|table| table.get(&command))
            .or_else(|| self.all.get(&command))
    }
}

/// Scopes whose keys are asked for on their own: text entry (typed characters go to the
/// text) and the pending pane's dialogs. Every other scope is asked first and then falls
/// back to Navigation and Global (see `state/*/keys.rs`).
const MODAL: &[Scope] = &[Scope::Input, Scope::Composer, Scope::Dialog];
/// Scopes where a plain character would be typed rather than act.
const TYPING: &[Scope] = &[Scope::Input, Scope::Composer];

/// The `[keys]` / `[keys.PLACE]` name of a command (its serde name).
pub fn command_name(command: Command) -> String {
    serde_name(&command).unwrap_or_else(|| format!("{command:?}"))
}

pub fn place_name(scope: Scope) -> String {
    serde_name(&scope).unwrap_or_else(|| format!("{scope:?}"))
}

fn serde_name<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Every place that has keys, in table order (for messages and the default config).
pub fn places() -> Vec<Scope> {
    let mut out = Vec::new();
    for b in Keymap::default().bindings() {
        if b.scope != Scope::Always && !out.contains(&b.scope) {
            out.push(b.scope);
        }
    }
    out
}

/// A problem in `[keys]`: what is wrong and the span of the entry to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub span: Range<usize>,
    pub message: String,
}

pub fn build(keys: &KeysSection) -> Result<Keymap, KeyError> {
    let defaults = Keymap::default();
    let has_keys = |scope: Option<Scope>, command: Command| {
        defaults.bindings().iter().any(|b| {
            b.command == command && b.scope != Scope::Always && scope.is_none_or(|s| s == b.scope)
        })
    };
    for (command, list) in &keys.all {
        if !has_keys(None, *command) {
            return Err(KeyError {
                span: list.span(),
                message: format!(
                    "`{}` has no keys in this version of redtail, so it cannot be rebound",
                    command_name(*command)
                ),
            });
        }
    }
    for (scope, table) in &keys.places {
        for (command, list) in table {
            if !has_keys(Some(*scope), *command) {
                let elsewhere: Vec<String> = places()
                    .into_iter()
                    .filter(|s| has_keys(Some(*s), *command))
                    .map(|s| format!("[keys.{}]", place_name(s)))
                    .collect();
                let hint = if elsewhere.is_empty() {
                    "it has no keys anywhere".to_string()
                } else {
                    format!("it has keys in {}", elsewhere.join(", "))
                };
                return Err(KeyError {
                    span: list.span(),
                    message: format!(
                        "`{}` does nothing in [keys.{}]: {hint}",
                        command_name(*command),
                        place_name(*scope)
                    ),
                });
            }
        }
    }

    let mut bindings: Vec<Binding> = Vec::new();
    // For keys that differ from the defaults: the span of the entry that set them. Only
    // those are checked, so a default table that overlaps on purpose stays valid.
    let mut changed: Vec<Option<Range<usize>>> = Vec::new();
    let mut placed: Vec<(Scope, Command)> = Vec::new();
    for b in defaults.bindings() {
        // Always-scope keys (Ctrl-C) stay: a config must not be able to lock the user in.
        let configured = keys
            .get(b.scope, b.command)
            .filter(|_| b.scope != Scope::Always);
        let Some(list) = configured else {
            bindings.push(b.clone());
            changed.push(None);
            continue;
        };
        if placed.contains(&(b.scope, b.command)) {
            continue;
        }
        placed.push((b.scope, b.command));
        for &key in &list.get_ref().0 {
            let binding = Binding {
                scope: b.scope,
                key,
                command: b.command,
            };
            // `quit = ["q", "ctrl-c"]` must not list Ctrl-C twice in help.
            let always = defaults
                .bindings()
                .iter()
                .any(|a| a.scope == Scope::Always && a.key == key && a.command == b.command);
            if always || bindings.contains(&binding) {
                continue;
            }
            let is_default = defaults.bindings().contains(&binding);
            bindings.push(binding);
            changed.push((!is_default).then(|| list.span()));
        }
    }
    check(&bindings, &changed)?;
    Ok(Keymap::new(bindings))
}

fn check(bindings: &[Binding], changed: &[Option<Range<usize>>]) -> Result<(), KeyError> {
    let asked_together = |a: Scope, b: Scope| {
        a == b
            || a == Scope::Always
            || b == Scope::Always
            || (!MODAL.contains(&a)
                && !MODAL.contains(&b)
                && [a, b]
                    .iter()
                    .any(|s| matches!(s, Scope::Navigation | Scope::Global)))
    };
    for (i, b) in bindings.iter().enumerate() {
        let Some(span) = changed[i].clone() else {
            continue;
        };
        let key = key_name(&b.key);
        let name = command_name(b.command);
        if TYPING.contains(&b.scope) && is_typed(&b.key) {
            return Err(KeyError {
                span,
                message: format!(
                    "{key:?} is typed into the text in [keys.{}], so it cannot be `{name}` \
                     there: use a named key (enter, esc, tab, …) or a chord (\"ctrl-x\", \
                     \"alt-x\")",
                    place_name(b.scope)
                ),
            });
        }
        let clash = bindings.iter().enumerate().find(|(j, other)| {
            *j != i
                && other.key == b.key
                && other.command != b.command
                && asked_together(b.scope, other.scope)
        });
        if let Some((j, other)) = clash {
            let other_name = command_name(other.command);
            let message = if other.scope == Scope::Always {
                format!("{key:?} always means `{other_name}`, so `{name}` cannot have it: pick another key")
            } else {
                let fix = if changed[j].is_some() {
                    "give one of them another key".to_string()
                } else {
                    format!(
                        "bind `{other_name}` to another key too, e.g. in [keys.{}]",
                        place_name(other.scope)
                    )
                };
                format!(
                    "{key:?} would be both `{name}` ([keys.{}]) and `{other_name}` \
                     ([keys.{}]), which are asked for the same key press: {fix}",
                    place_name(b.scope),
                    place_name(other.scope)
                )
            };
            return Err(KeyError { span, message });
        }
    }
    Ok(())
}

/// A key that produces text: any character without Ctrl or Alt.
fn is_typed(key: &KeySpec) -> bool {
    matches!(key.code, KeyCode::Char(_))
        && !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// A name in `[keys]`: a place (a sub-table) or a command.
enum KeyName {
    Place(Scope),
    Command(Command),
}

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyName, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command or a place")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<KeyName, E> {
                let parse = StrDeserializer::<de::value::Error>::new;
                if let Ok(scope) = Scope::deserialize(parse(name)) {
                    if scope == Scope::Always {
                        return Err(E::custom(
                            "Ctrl-C always quits and cannot be rebound; put quit's other \
                             keys in [keys.global]",
                        ));
                    }
                    return Ok(KeyName::Place(scope));
                }
                if let Ok(command) = Command::deserialize(parse(name)) {
                    return Ok(KeyName::Command(command));
                }
                let names: Vec<String> = places().into_iter().map(place_name).collect();
                Err(E::custom(format!(
                    "unknown command or place `{name}`: places are {}; \
                     `redtail config --print-default` lists every command",
                    names.join(", ")
                )))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for KeysSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeysSection, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeysSection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of commands and [keys.PLACE] tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeysSection, A::Error> {
                let mut out = KeysSection::default();
                while let Some(name) = map.next_key::<KeyName>()? {
                    match name {
                        KeyName::Place(scope) => {
                            out.places.insert(scope, map.next_value()?);
                        }
                        KeyName::Command(command) => {
                            out.all.insert(command, map.next_value()?);
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for KeysSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Plain entries before sub-tables, as TOML requires.
        let mut map = s.serialize_map(Some(self.all.len() + self.places.len()))?;
        for (command, list) in &self.all {
            map.serialize_entry(&command_name(*command), list)?;
        }
        for (scope, table) in &self.places {
            map.serialize_entry(&place_name(*scope), table)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::parse_key;

    fn list(i: usize, keys: &[&str]) -> Spanned<KeyList> {
        let parsed = keys.iter().filter_map(|k| parse_key(k).ok()).collect();
        Spanned::new(i * 10..i * 10 + 5, KeyList(parsed))
    }

    fn all(entries: &[(Command, &[&str])]) -> KeysSection {
        KeysSection {
            all: entries
                .iter()
                .enumerate()
                .map(|(i, (command, keys))| (*command, list(i, keys)))
                .collect(),
            places: BTreeMap::new(),
        }
    }

    fn keymap(section: &KeysSection) -> Keymap {
        build(section).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn no_keys_is_the_default_keymap() {
        assert_eq!(build(&KeysSection::default()), Ok(Keymap::default()));
    }

    #[test]
    fn command_and_place_names_never_collide() {
        // A name that is both would make `[keys] NAME` ambiguous.
        for b in Keymap::default().bindings() {
            let command = command_name(b.command);
            assert!(
                !places().iter().any(|s| place_name(*s) == command),
                "`{command}` is a command and a place"
            );
        }
    }

    #[test]
    fn a_command_entry_replaces_its_keys_everywhere_in_place() {
        let map = keymap(&all(&[
            (Command::Filter, &["f", "/"]),
            (Command::Quit, &["Q", "ctrl-c"]),
        ]));
        for scope in places() {
            let default = Keymap::default().keys_for(scope, Command::Filter);
            if !default.is_empty() {
                assert_eq!(
                    map.keys_label(scope, Command::Filter).as_deref(),
                    Some("f//"),
                    "{scope:?}"
                );
            }
        }
        assert_eq!(
            map.keys_label(Scope::Global, Command::Quit).as_deref(),
            Some("Q")
        );
        assert_eq!(
            map.keys_label(Scope::Always, Command::Quit).as_deref(),
            Some("Ctrl-C")
        );
        // Help keeps the table's order: Filter is still the first Feed row.
        let feed = map.help_sections().into_iter().find(|(t, _)| *t == "Feed");
        let first = feed.and_then(|(_, rows)| rows.first().cloned());
        assert_eq!(first, Some(("f//".to_string(), Command::Filter.describe())));
    }

    #[test]
    fn a_place_entry_wins_over_a_command_entry() {
        let mut section = all(&[(Command::Filter, &["f"])]);
        section.places.insert(
            Scope::Channels,
            [(Command::Filter, list(5, &["ctrl-l"]))].into(),
        );
        let map = keymap(&section);
        assert_eq!(
            map.keys_label(Scope::Feed, Command::Filter).as_deref(),
            Some("f")
        );
        assert_eq!(
            map.keys_label(Scope::Channels, Command::Filter).as_deref(),
            Some("Ctrl-L")
        );
        let mut wrong_place = KeysSection::default();
        wrong_place
            .places
            .insert(Scope::Detail, [(Command::Filter, list(1, &["f"]))].into());
        let err = build(&wrong_place);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.message.contains("[keys.feed]") && e.span == (10..15)),
            "{err:?}"
        );
    }

    #[test]
    fn swapping_two_keys_is_fine_but_stealing_one_is_an_error() {
        let mut swap = KeysSection::default();
        swap.places.insert(
            Scope::Feed,
            [
                (Command::Filter, list(0, &["e"])),
                (Command::Export, list(1, &["/"])),
            ]
            .into(),
        );
        assert!(build(&swap).is_ok());
        let mut steal = KeysSection::default();
        steal
            .places
            .insert(Scope::Feed, [(Command::Filter, list(0, &["e"]))].into());
        let err = build(&steal);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.message.contains("`export`") && e.span == (0..5)),
            "{err:?}"
        );
        // A pane's keys and Navigation's are asked for the same key press.
        assert!(build(&all(&[(Command::Filter, &["j"])])).is_err());
        // Feed and Detail never are.
        assert!(build(&all(&[(Command::ToggleHex, &["s"])])).is_ok());
    }

    #[test]
    fn prompts_and_ctrl_c_are_protected() {
        let typed = build(&all(&[(Command::Accept, &["a"])]));
        assert!(typed.is_err_and(|e| e.message.contains("typed into the text")));
        assert!(build(&all(&[(Command::Accept, &["ctrl-g", "enter"])])).is_ok());
        let stolen = build(&all(&[(Command::Help, &["ctrl-c"])]));
        assert!(stolen.is_err_and(|e| e.message.contains("always means `quit`")));
    }

    #[test]
    fn an_empty_list_unbinds() {
        let map = keymap(&all(&[(Command::Export, &[])]));
        assert_eq!(map.keys_label(Scope::Feed, Command::Export), None);
    }
}
