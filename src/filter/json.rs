//! Reading only the parts of a JSON payload that a filter's field tests look at.
//!
//! Building a whole `serde_json::Value` allocates every key, string, object and array of
//! the payload; typing `.latency_ms > 250` at the TUI's `/` prompt paid that for each of
//! 100k retained messages on every keystroke (34 ms). The filter's paths are known when
//! it is compiled, so the payload is parsed into a pruned `Value` instead: members and
//! elements no path reaches are skipped by the parser (still checked to be valid JSON),
//! and `filter::lookup` on the pruned value gives what it gives on the full one.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Seg;

/// The JSON paths of a filter as a tree.
#[derive(Debug, Clone, Default)]
pub(super) struct Paths {
    /// A path ends here: keep the whole value (a test reads it).
    whole: bool,
    keys: BTreeMap<String, Paths>,
    indexes: BTreeMap<usize, Paths>,
}

impl Paths {
    pub(super) fn add(&mut self, path: &[Seg]) {
        match path.split_first() {
            None => self.whole = true,
            Some((Seg::Key(k), rest)) => self.keys.entry(k.clone()).or_default().add(rest),
            Some((Seg::Index(i), rest)) => self.indexes.entry(*i).or_default().add(rest),
        }
    }
}

/// `payload` parsed as JSON keeping only what `paths` reach; None if it is not valid
/// JSON (UTF-8 included) with an object or array at the root.
pub(super) fn project(payload: &[u8], paths: &Paths) -> Option<Value> {
    // from_str: the whole payload must be UTF-8, as for a full parse; ignored strings
    // would otherwise not be checked.
    let text = std::str::from_utf8(payload).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Project(paths).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

struct Project<'p>(&'p Paths);

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            Value::deserialize(d)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Project<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(wanted) = map.next_key_seed(Key(&self.0.keys))? {
            match wanted {
                // Duplicate keys: the last one wins, as in a full parse.
                Some((name, paths)) => {
                    let value = map.next_value_seed(Project(paths))?;
                    out.insert(name.clone(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let last = self.0.indexes.keys().next_back().copied();
        let mut out = Vec::new();
        for i in 0.. {
            match self.0.indexes.get(&i) {
                Some(paths) => match seq.next_element_seed(Project(paths))? {
                    Some(value) => out.push(value),
                    None => break,
                },
                None => match seq.next_element::<IgnoredAny>()? {
                    // Keep later indexes where they are; no path reads this one.
                    Some(_) if last.is_some_and(|last| i < last) => out.push(Value::Null),
                    Some(_) => {}
                    None => break,
                },
            }
        }
        Ok(Value::Array(out))
    }

    // A scalar where a path wants to go deeper: no path can find anything in it.
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key: which of the wanted keys it is (without allocating), if any.
struct Key<'p>(&'p BTreeMap<String, Paths>);

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Option<(&'p String, &'p Paths)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for Key<'p> {
    type Value = Option<(&'p String, &'p Paths)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.get_key_value(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<Seg> {
        p.iter()
            .map(|s| match s.parse() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn pruned_lookups_equal_full_lookups() {
        let payloads: &[&str] = &[
            r#"{"user":{"id":42,"name":"Ann","tags":["x","y"]},"latency_ms":300,"n":null}"#,
            r#"{"a":1,"a":2,"b":[0,[1,{"c":"deep"}],2],"s":"\u00e9\n"}"#,
            r#"[{"v":1},{"v":2},3,"four",[5]]"#,
            r#"{"user":7,"latency_ms":"300","b":{"0":"key not index"}}"#,
            r#"{"x": {"y": [true, false, null]}, "big": 18446744073709551615, "f": -1.5e3}"#,
        ];
        let paths: Vec<Vec<Seg>> = [
            &["user", "id"][..],
            &["user"],
            &["user", "tags", "1"],
            &["user", "tags", "5"],
            &["latency_ms"],
            &["n"],
            &["a"],
            &["b", "1", "1", "c"],
            &["b", "0"],
            &["0", "v"],
            &["1", "v"],
            &["3"],
            &["4", "0"],
            &["x", "y", "2"],
            &["big"],
            &["f"],
            &["s"],
            &["missing", "deeper"],
        ]
        .iter()
        .map(|p| path(p))
        .collect();
        let mut tree = Paths::default();
        for p in &paths {
            tree.add(p);
        }
        for payload in payloads {
            let full: Value = serde_json::from_str(payload).expect("valid test JSON");
            let pruned = project(payload.as_bytes(), &tree).expect("projects");
            for p in &paths {
                assert_eq!(
                    super::super::lookup(&pruned, p),
                    super::super::lookup(&full, p),
                    "{payload} {p:?}"
                );
            }
        }
    }

    #[test]
    fn invalid_json_is_rejected_even_where_no_path_reads() {
        let mut tree = Paths::default();
        tree.add(&path(&["a"]));
        for bad in [
            &br#"{"a":1,"b":}"#[..],
            br#"{"a":1} trailing"#,
            b"{\"a\":1,\"b\":\"\xff\"}",
            br#"{"a":1,"b":[1,2}"#,
        ] {
            assert!(
                project(bad, &tree).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
