//! What a loaded plugin is, may touch and is allowed, as one typed value.
//! `databook plugins`, hover, completion, `ListPlugins` and `plugin build`
//! each format this value, so none of them can describe a plugin otherwise.

use crate::config::Limits;
use crate::plugin::{OptionDoc, Plugin};

/// A plugin described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Where it was loaded from, as shown to users.
    pub source: String,
    /// `run`, `describe`, then the optional exports it has.
    pub exports: Vec<&'static str>,
    /// The variables it may read, each with whether it is set.
    pub env: Vec<(String, bool)>,
    /// The variables it may read whose values are masked.
    pub secrets: Vec<String>,
    /// The origins it may call, each with the entry it came from (`$NAME`
    /// or the origin itself).
    pub origins: Vec<(String, String)>,
    pub limits: Limits,
    pub options: Vec<OptionDoc>,
}

impl Summary {
    /// The exports beyond `run` and `describe`, which every plugin has.
    pub fn optional_exports(&self) -> &[&'static str] {
        &self.exports[2..]
    }

    /// Each origin, with where it came from when that was a variable:
    /// `http://h:1 (from $URL)`.
    pub fn origin_texts(&self) -> impl Iterator<Item = String> + '_ {
        self.origins.iter().map(|(origin, from)| {
            if from == origin {
                origin.clone()
            } else {
                format!("{origin} (from {from})")
            }
        })
    }

    /// Each variable, with whether it is set: `URL (set)`.
    pub fn env_texts(&self) -> impl Iterator<Item = String> + '_ {
        self.env
            .iter()
            .map(|(name, set)| format!("{name} ({})", if *set { "set" } else { "unset" }))
    }
}

impl Plugin {
    pub fn summary(&self) -> Summary {
        let manifest = self.manifest();
        let permissions = self.permissions();
        let grant = self.grant();
        let mut exports = vec!["run", "describe"];
        if self.can_complete() {
            exports.push("complete");
        }
        if self.can_check() {
            exports.push("check");
        }
        Summary {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            source: self.source().to_string(),
            exports,
            env: permissions
                .env
                .iter()
                .map(|name| (name.clone(), grant.env(name).is_some()))
                .collect(),
            secrets: permissions.secrets.clone(),
            origins: grant
                .origins()
                .map(|(origin, from)| (origin.to_string(), from.to_string()))
                .collect(),
            limits: manifest.limits,
            options: self.description().options.clone(),
        }
    }
}
