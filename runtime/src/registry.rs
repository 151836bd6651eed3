//! Every plugin the search path finds, loaded: the good ones ready to run,
//! the broken ones with the reason, so one bad plugin never stops the rest.

use crate::config::Workspace;
use crate::discovery::{SearchPath, Source};
use crate::engine::Runtime;
use crate::error::LoadError;
use crate::plugin::Plugin;
use databook_stdx::suggestions;

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
        // Prepared one after another (compiling holds the thread), then
        // described all at once, so that a slow `describe` holds up only
        // its own plugin and no `describe` waits on another's compile.
        let prepared: Vec<_> = search
            .discover()
            .into_iter()
            .map(|(name, source)| {
                let plugin = prepare_found(runtime, workspace, &process_env, &name, &source);
                (name, source, plugin)
            })
            .collect();
        let loads = prepared
            .into_iter()
            .map(|(name, source, plugin)| async move {
                let plugin = match plugin {
                    Ok(plugin) => plugin.describe().await,
                    Err(error) => Err(error),
                };
                if let Err(error) = &plugin {
                    tracing::debug!(plugin = %name, %error, "plugin failed to load");
                }
                Entry {
                    name,
                    source,
                    plugin,
                }
            });
        Registry {
            entries: futures_util::future::join_all(loads).await,
        }
    }

    /// Finds and loads only the plugin called `name` (a command that runs
    /// one plugin need not compile the others).
    pub async fn load_one(
        runtime: &Runtime,
        search: &SearchPath,
        workspace: &Workspace,
        process_env: impl Fn(&str) -> Option<String>,
        name: &str,
    ) -> Result<Plugin, LookupError> {
        let found = search.discover();
        let Some((_, source)) = found.iter().find(|(n, _)| n == name) else {
            return Err(LookupError::Unknown {
                name: name.to_string(),
                suggestions: suggestions(name, found.iter().map(|(n, _)| n.as_str())),
            });
        };
        load_found(runtime, workspace, &process_env, name, source)
            .await
            .map_err(|error| LookupError::Failed {
                name: name.to_string(),
                error,
            })
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
                suggestions: suggestions(name, self.entries.iter().map(|e| e.name.as_str())),
            }),
        }
    }
}

/// Loads one plugin found on the search path, in `workspace`.
async fn load_found(
    runtime: &Runtime,
    workspace: &Workspace,
    process_env: &impl Fn(&str) -> Option<String>,
    name: &str,
    source: &Source,
) -> Result<Plugin, LoadError> {
    prepare_found(runtime, workspace, process_env, name, source)?
        .describe()
        .await
}

/// Prepares one plugin found on the search path, in `workspace`.
fn prepare_found(
    runtime: &Runtime,
    workspace: &Workspace,
    process_env: &impl Fn(&str) -> Option<String>,
    name: &str,
    source: &Source,
) -> Result<Plugin, LoadError> {
    let lookup = |var: &str| workspace.value(var, process_env);
    let permissions = |manifest: &crate::config::Manifest| {
        manifest
            .permissions
            .overridden(workspace.overrides.get(name))
    };
    Plugin::prepare(runtime, name, source, permissions, lookup)
}
