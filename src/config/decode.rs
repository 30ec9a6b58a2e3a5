//! The config file's `[decode]` table: a decoder per channel glob,
//! `"socket.io#*" = "msgpack"`. `tail --decode` overrides it; the TUI uses it for the
//! feed rows and the detail view. When several globs match a channel, the longest wins
//! (the most specific one), whatever their order in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::decode::Choice;
use crate::filter::Glob;

/// A decoder name as written in the file, checked while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderName(pub Choice);

impl Serialize for DecoderName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for DecoderName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DecoderName, D::Error> {
        let text = String::deserialize(d)?;
        Choice::parse(&text).map(DecoderName).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown decoder `{text}`; use one of {}",
                Choice::names()
            ))
        })
    }
}

/// `[protobuf]`: descriptor sets (`protoc --include_imports --descriptor_set_out=…`)
/// whose message types `protobuf:TYPE` decoders name. A relative path is taken from the
/// config file's folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtobufSection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<PathBuf>,
}

impl ProtobufSection {
    pub fn is_empty(&self) -> bool {
        self.proto.is_empty()
    }

    /// The sets' paths, relative ones joined to `config_dir`.
    pub fn paths(&self, config_dir: Option<&Path>) -> Vec<PathBuf> {
        self.proto
            .iter()
            .map(|p| match config_dir {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.clone(),
            })
            .collect()
    }
}

/// `[decode]` as written: channel glob → decoder.
pub type DecodeSection = BTreeMap<String, DecoderName>;

/// `[decode]` compiled: globs longest first.
#[derive(Debug, Clone, Default)]
pub struct DecodeRules {
    rules: Vec<(String, Glob, Choice)>,
}

impl PartialEq for DecodeRules {
    fn eq(&self, other: &Self) -> bool {
        self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.0 == b.0 && a.2 == b.2)
    }
}

impl DecodeRules {
    pub fn new(section: &DecodeSection) -> DecodeRules {
        let mut rules: Vec<(String, Glob, Choice)> = section
            .iter()
            .map(|(pattern, name)| (pattern.clone(), Glob::compile(pattern.as_bytes()), name.0))
            .collect();
        rules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        DecodeRules { rules }
    }

    /// The decoder configured for `channel`, if any glob matches.
    pub fn choice_for(&self, channel: &[u8]) -> Option<Choice> {
        self.rules
            .iter()
            .find(|(_, glob, _)| glob.matches(channel))
            .map(|(_, _, choice)| *choice)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The decoder per channel for filters' JSON-field tests: `flag` (`tail --decode`)
    /// wins, then these globs.
    pub fn decoders(&self, flag: Option<Choice>) -> crate::filter::Decoders {
        let rules = self.clone();
        // Alike for every filter built from these rules: a feed keeps the values its
        // JSON filters read across keystrokes only for filters that decode alike.
        let identity = format!("{flag:?} {:?}", self.rules);
        let json_only = flag
            .iter()
            .chain(self.rules.iter().map(|r| &r.2))
            .all(Choice::reads_json);
        let decoders = crate::filter::Decoders::named(identity, move |channel| {
            flag.or_else(|| rules.choice_for(channel))
        });
        if json_only {
            decoders.json_only()
        } else {
            decoders
        }
    }

    /// A rule that applies only where no configured glob matches (the demo's channel).
    pub fn add_fallback(&mut self, pattern: &str, choice: Choice) {
        let glob = Glob::compile(pattern.as_bytes());
        self.rules.push((pattern.to_string(), glob, choice));
    }

    /// Every configured decoder (to check typed ones at startup).
    pub fn choices(&self) -> Vec<Choice> {
        self.rules.iter().map(|(_, _, choice)| *choice).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Format;

    #[test]
    fn longest_matching_glob_wins() {
        let section: DecodeSection = toml::from_str(
            "\"socket.io#*\" = \"msgpack\"\n\"*\" = \"auto\"\n\"socket.io#/chat#*\" = \"cbor\"\n",
        )
        .expect("valid section");
        let rules = DecodeRules::new(&section);
        assert_eq!(
            rules.choice_for(b"socket.io#/chat#room"),
            Some(Choice::Only(Format::Cbor))
        );
        assert_eq!(
            rules.choice_for(b"socket.io#/#"),
            Some(Choice::Only(Format::Msgpack))
        );
        assert_eq!(rules.choice_for(b"orders"), Some(Choice::Auto));
        let bad = toml::from_str::<DecodeSection>("\"x\" = \"yaml\"\n");
        assert!(bad.is_err_and(|e| e.to_string().contains("unknown decoder `yaml`")));
    }

    /// Rules that only say `auto` or `json` read every channel as JSON: JSON filters
    /// take the same shortcuts as without rules (the feed's search of a block for a
    /// field); a rule naming a decoder of its own keeps them off.
    #[test]
    fn rules_without_a_decoder_of_their_own_keep_the_json_shortcuts() {
        let filter = |section: &str, flag: Option<Choice>| {
            let section: DecodeSection = toml::from_str(section).expect("valid section");
            crate::filter::Filter::parse(".latency_ms > 250")
                .expect("parses")
                .with_decoders(DecodeRules::new(&section).decoders(flag))
        };
        assert!(filter("", None).column_search().is_some());
        assert!(filter("\"*\" = \"auto\"\n\"x\" = \"json\"\n", None)
            .column_search()
            .is_some());
        assert!(filter("\"x\" = \"msgpack\"\n", None)
            .column_search()
            .is_none());
        assert!(filter("", Some(Choice::Only(Format::Cbor)))
            .column_search()
            .is_none());
    }
}
