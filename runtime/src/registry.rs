//! Every plugin the search path finds, loaded: the good ones ready to run,
//! the broken ones with the reason, so one bad plugin never stops the rest.

use crate::config::Workspace;
use crate::discovery::{SearchPath, Source};
use crate::engine::Runtime;
use crate::error::LoadError;
use crate::plugin::Plugin;

/// One plugin found on the search path, and how its load went.
pub struct Entry {
    pub name: String,
    pub source: Source,
    pub plugin: Result<Plugin, LoadError>,
}

/// The plugins of a workspace, in search order.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

/// Why a name gives no plugin to run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    #[error("unknown plugin {name:?}{}", suggest(.suggestions))]
    Unknown {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("plugin {name:?} failed to load: {error}")]
    Failed { name: String, error: LoadError },
}

fn suggest(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean {one:?}?)"),
        many => format!(
            " (did you mean one of {}?)",
            many.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Registry {
    /// Loads every plugin `search` finds, with `workspace`'s permission
    /// changes, reading variables from `process_env` first and then from
    /// the workspace's `[env]`.
    pub async fn load(
        runtime: &Runtime,
        search: &SearchPath,
        workspace: &Workspace,
        process_env: impl Fn(&str) -> Option<String>,
    ) -> Registry {
        let lookup = |name: &str| process_env(name).or_else(|| workspace.env.get(name).cloned());
        let mut entries = Vec::new();
        for (name, source) in search.discover() {
            let permissions =
                |manifest: &crate::config::Manifest| {
                    manifest.permissions.overridden(workspace.overrides.get(&name))
                };
            let plugin = Plugin::load(runtime, &name, &source, permissions, lookup).await;
            if let Err(error) = &plugin {
                tracing::warn!(plugin = %name, %error, "plugin failed to load");
            }
            entries.push(Entry {
                name,
                source,
                plugin,
            });
        }
        Registry { entries }
    }

    /// Every plugin found, loaded or not, in search order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The plugin called `name`, or why there is none to run.
    pub fn get(&self, name: &str) -> Result<&Plugin, LookupError> {
        match self.entries.iter().find(|e| e.name == name) {
            Some(Entry {
                plugin: Ok(plugin), ..
            }) => Ok(plugin),
            Some(Entry {
                plugin: Err(error), ..
            }) => Err(LookupError::Failed {
                name: name.to_string(),
                error: error.clone(),
            }),
            None => Err(LookupError::Unknown {
                name: name.to_string(),
                suggestions: closest(name, self.entries.iter().map(|e| e.name.as_str())),
            }),
        }
    }
}

/// The known names within a small edit distance of `name`, closest first.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
    let budget = (name.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = known
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|&(d, _)| d <= budget)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| k.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_are_suggested() {
        let known = ["prometheus", "http", "jq", "echo"];
        assert_eq!(closest("promethues", known.into_iter()), ["prometheus"]);
        assert_eq!(closest("htp", known.into_iter()), ["http"]);
        assert!(closest("kubernetes", known.into_iter()).is_empty());
    }
}
