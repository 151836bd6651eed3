//! The plugins the language server knows: loaded when the client starts,
//! and again whenever a plugin folder changes (a plugin added, rebuilt or
//! removed), after which every open document is analysed again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use databook_notebook::{Catalog, PluginInfo};
use databook_runtime::{Plugin, Registry, Runtime, RuntimeOptions, SearchPath, Workspace};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::MessageType;

use super::State;
use crate::cli::{process_env, search_path};

/// The plugins of one workspace, as last loaded.
pub struct Loaded {
    pub registry: Registry,
    pub workspace: Workspace,
    pub search: SearchPath,
    /// Why the workspace's own configuration could not be read, if it
    /// could not.
    pub config_error: Option<String>,
    /// Counts the loads, so that what was computed from an older set of
    /// plugins can tell it is stale.
    pub generation: u64,
}

pub struct Plugins {
    plugin_dirs: Vec<PathBuf>,
    root: Mutex<Option<PathBuf>>,
    runtime: Runtime,
    loaded: RwLock<Arc<Loaded>>,
}

impl Plugins {
    pub fn new(plugin_dirs: Vec<PathBuf>) -> Plugins {
        // Without a runtime nothing can run, but the server must still
        // serve completion and diagnostics; say so when runs are tried.
        let runtime = Runtime::new(RuntimeOptions::default())
            .unwrap_or_else(|e| panic!("cannot start the plugin runtime: {e}"));
        Plugins {
            plugin_dirs,
            root: Mutex::new(None),
            runtime,
            loaded: RwLock::new(Arc::new(Loaded {
                registry: Registry::default(),
                workspace: Workspace::default(),
                search: SearchPath::default(),
                config_error: None,
                generation: 0,
            })),
        }
    }

    /// Loads the plugins of the workspace at `root` (and remembers it for
    /// reloads).
    pub async fn load(&self, root: PathBuf) {
        *self.root.lock().unwrap_or_else(|e| e.into_inner()) = Some(root);
        self.reload().await;
    }

    /// Loads the plugins again, from the remembered workspace.
    pub async fn reload(&self) {
        let Some(root) = self.root.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let (workspace, config_error) = match Workspace::discover(&root) {
            Ok(workspace) => (workspace, None),
            Err(error) => (
                Workspace {
                    root: root.clone(),
                    ..Workspace::default()
                },
                Some(error.to_string()),
            ),
        };
        let search = search_path(&self.plugin_dirs, &workspace);
        let registry = Registry::load(&self.runtime, &search, &workspace, process_env).await;
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        let generation = loaded.generation + 1;
        *loaded = Arc::new(Loaded {
            registry,
            workspace,
            search,
            config_error,
            generation,
        });
    }

    pub fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Loaded {
    /// The loaded plugin called `name`, if it loaded.
    pub fn plugin(&self, name: &str) -> Option<&Plugin> {
        // Not `Registry::get`: its error for an unknown name carries
        // suggestions, and this is asked for every cell on every keystroke.
        let entry = self.registry.entries().iter().find(|e| e.name == name)?;
        entry.plugin.as_ref().ok()
    }
}

impl Catalog for Loaded {
    fn lookup(&self, name: &str) -> PluginInfo {
        match self.registry.entries().iter().find(|e| e.name == name) {
            Some(entry) => match &entry.plugin {
                Ok(plugin) => PluginInfo::Known {
                    options: plugin
                        .description()
                        .options
                        .iter()
                        .map(|o| o.name.clone())
                        .collect(),
                },
                Err(error) => PluginInfo::Failed {
                    reason: error.to_string(),
                },
            },
            None => PluginInfo::Unknown,
        }
    }

    fn names(&self) -> Vec<String> {
        self.registry
            .entries()
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }
}

/// Watches the plugin folders; on a change, reloads the plugins and
/// analyses every open document again. Changes are gathered for a short
/// while first, since a rebuild writes several files.
pub fn watch(client: Client, state: Arc<State>) {
    use notify::{RecursiveMode, Watcher};

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch plugin folders; restart the server after changing plugins");
            return;
        }
    };
    let loaded = state.plugins.current();
    let mut folders: Vec<PathBuf> = loaded.search.dirs.clone();
    if let Some(file) = &loaded.workspace.file {
        folders.push(file.clone());
    }
    for folder in &folders {
        // A folder that does not exist yet is watched through its parent,
        // so that creating it is noticed.
        let target = if folder.exists() {
            folder.clone()
        } else {
            match folder.ancestors().find(|a| a.exists()) {
                Some(existing) => existing.to_path_buf(),
                None => continue,
            }
        };
        let mode = if target == *folder {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        if let Err(error) = watcher.watch(&target, mode) {
            tracing::debug!(folder = %target.display(), %error, "not watched");
        }
    }
    tokio::spawn(async move {
        // The watcher lives as long as this task.
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            while rx.try_recv().is_ok() {}
            state.plugins.reload().await;
            let loaded = state.plugins.current();
            if let Some(error) = &loaded.config_error {
                client.show_message(MessageType::ERROR, error).await;
            }
            for (uri, _) in state.documents.all() {
                super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
            }
            let _ = client.code_lens_refresh().await;
        }
    });
}
