//! `notify-keyspace-events` flags: which class each event belongs to, what a request
//! needs, and what a server's current value lacks.
//!
//! `K` keyspace channel · `E` keyevent channel · `g` generic · `$` string · `l` list ·
//! `s` set · `h` hash · `z` sorted set · `x` expired · `e` evicted · `t` stream ·
//! `d` module · `m` key miss · `n` new key · `A` = `g$lshzxetd` (not `m`, not `n`).

use std::collections::BTreeSet;

/// What `A` stands for.
pub const ALL_CLASSES: &str = "g$lshzxetd";

/// Event name → class flag, for the events Redis 7 and Valkey 8 emit.
const EVENT_CLASS: &[(&str, char)] = &[
    ("del", 'g'),
    ("expire", 'g'),
    ("persist", 'g'),
    ("rename_from", 'g'),
    ("rename_to", 'g'),
    ("move_from", 'g'),
    ("move_to", 'g'),
    ("copy_to", 'g'),
    ("restore", 'g'),
    ("set", '$'),
    ("setrange", '$'),
    ("incrby", '$'),
    ("incrbyfloat", '$'),
    ("append", '$'),
    ("lpush", 'l'),
    ("rpush", 'l'),
    ("lpop", 'l'),
    ("rpop", 'l'),
    ("linsert", 'l'),
    ("lset", 'l'),
    ("lrem", 'l'),
    ("ltrim", 'l'),
    ("sortstore", 'l'),
    ("sadd", 's'),
    ("srem", 's'),
    ("spop", 's'),
    ("sinterstore", 's'),
    ("sunionstore", 's'),
    ("sdiffstore", 's'),
    ("hset", 'h'),
    ("hincrby", 'h'),
    ("hincrbyfloat", 'h'),
    ("hdel", 'h'),
    ("hexpire", 'h'),
    ("hpersist", 'h'),
    ("hexpired", 'h'),
    ("zadd", 'z'),
    ("zincr", 'z'),
    ("zrem", 'z'),
    ("zremrangebyscore", 'z'),
    ("zremrangebyrank", 'z'),
    ("zremrangebylex", 'z'),
    ("zinterstore", 'z'),
    ("zunionstore", 'z'),
    ("zdiffstore", 'z'),
    ("zrangestore", 'z'),
    ("zpopmin", 'z'),
    ("zpopmax", 'z'),
    ("expired", 'x'),
    ("evicted", 'e'),
    ("xadd", 't'),
    ("xtrim", 't'),
    ("xdel", 't'),
    ("xsetid", 't'),
    ("xgroup-create", 't'),
    ("xgroup-createconsumer", 't'),
    ("xgroup-delconsumer", 't'),
    ("xgroup-destroy", 't'),
    ("xgroup-setid", 't'),
    ("keymiss", 'm'),
    ("new", 'n'),
];

/// The class flag an event needs, if redtail knows the event.
pub fn class_of(event: &str) -> Option<char> {
    EVENT_CLASS
        .iter()
        .find(|(name, _)| *name == event)
        .map(|(_, c)| *c)
}

/// A set of flags, as the server reads them (`A` expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags(BTreeSet<char>);

impl Flags {
    /// Parse a `notify-keyspace-events` value (unknown characters are kept as they are).
    pub fn parse(value: &str) -> Flags {
        let mut set = BTreeSet::new();
        for c in value.chars() {
            if c == 'A' {
                set.extend(ALL_CLASSES.chars());
            } else {
                set.insert(c);
            }
        }
        Flags(set)
    }

    /// The flags of `self` that `current` lacks, in the order Redis documents them.
    pub fn missing_from(&self, current: &Flags) -> String {
        const ORDER: &str = "KEg$lshzxetdmn";
        let mut out: String = ORDER
            .chars()
            .filter(|c| self.0.contains(c) && !current.0.contains(c))
            .collect();
        // Anything else (not produced by `required`, but keep it honest).
        out.extend(
            self.0
                .iter()
                .filter(|c| !ORDER.contains(**c) && !current.0.contains(c)),
        );
        // Every class missing reads better (and sets the same) as `A`.
        if ALL_CLASSES.chars().all(|c| out.contains(c)) {
            out = out.chars().filter(|c| !ALL_CLASSES.contains(*c)).collect();
            out.push('A');
        }
        out
    }

    pub fn as_string(&self) -> String {
        let full: BTreeSet<char> = ALL_CLASSES.chars().collect();
        if full.is_subset(&self.0) {
            let mut s = String::from("A");
            s.extend(self.0.iter().filter(|c| !full.contains(c)));
            return s;
        }
        self.0.iter().collect()
    }
}

/// Flags for the requested events: `K` plus each event's class; every event (`None`)
/// or an event redtail does not know needs `A`.
pub fn required(events: Option<&BTreeSet<String>>) -> Flags {
    let mut set: BTreeSet<char> = BTreeSet::from(['K']);
    match events {
        None => set.extend(ALL_CLASSES.chars()),
        Some(events) => {
            for e in events {
                match class_of(e) {
                    Some(c) => {
                        set.insert(c);
                    }
                    None => set.extend(ALL_CLASSES.chars()),
                }
            }
        }
    }
    Flags(set)
}

/// Events in `events` that redtail does not know (they are asked for with `A`).
pub fn unknown_events(events: &BTreeSet<String>) -> Vec<&str> {
    events
        .iter()
        .filter(|e| class_of(e).is_none())
        .map(String::as_str)
        .collect()
}

/// The value to set: the current one with the missing flags appended, so no flag the
/// server had is ever dropped.
pub fn merged(current: &str, missing: &str) -> String {
    format!("{current}{missing}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn requests_need_k_and_their_classes() {
        let f = required(Some(&events(&["set", "del", "expired"])));
        assert_eq!(f.missing_from(&Flags::parse("")), "Kg$x");
        assert_eq!(f.missing_from(&Flags::parse("AKE")), "");
        assert_eq!(f.missing_from(&Flags::parse("Ex")), "Kg$");
        assert_eq!(required(None).missing_from(&Flags::parse("")), "KA");
        assert_eq!(required(None).missing_from(&Flags::parse("KA")), "");
        // Key-miss and new-key events are not in A.
        let f = required(Some(&events(&["keymiss", "new"])));
        assert_eq!(f.missing_from(&Flags::parse("KA")), "mn");
        // An unknown event asks for every class.
        let f = required(Some(&events(&["frobnicate"])));
        assert_eq!(f.missing_from(&Flags::parse("K")), "A");
        assert_eq!(f.missing_from(&Flags::parse("Kgx")), "$lshzetd");
        assert_eq!(
            unknown_events(&events(&["set", "frobnicate"])),
            ["frobnicate"]
        );
    }

    #[test]
    fn merging_keeps_every_existing_flag() {
        assert_eq!(merged("Ex", "Kg$"), "ExKg$");
        assert_eq!(merged("", "KA"), "KA");
        assert_eq!(Flags::parse("AKE").as_string(), "AEK");
        assert_eq!(Flags::parse("K$").as_string(), "$K");
    }
}
