//! The plugins the language server knows: loaded when the client starts,
//! and again whenever a plugin folder or `databook.toml` changes (a plugin
//! added, rebuilt or removed, a folder added to the workspace), after which
//! every open document is analysed again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use databook_notebook::{Catalog, PluginInfo};
use databook_runtime::{Plugin, Registry, Runtime, RuntimeOptions, SearchPath, Workspace};
use notify::{RecursiveMode, Watcher};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::MessageType;

use super::State;
use crate::setup::{process_env, search_path};

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
    /// The current environment's name (`databook.setEnvironment`, at first
    /// `DATABOOK_ENV`), laid over `[env]` at every load.
    environment: Mutex<Option<String>>,
    runtime: Runtime,
    loaded: RwLock<Arc<Loaded>>,
    /// True once the first load is done: until then nothing is known to be
    /// unknown, so diagnostics and completion wait for it.
    ready: tokio::sync::watch::Sender<bool>,
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
            environment: Mutex::new(process_env("DATABOOK_ENV").filter(|e| !e.is_empty())),
            runtime,
            loaded: RwLock::new(Arc::new(Loaded {
                registry: Registry::default(),
                workspace: Workspace::default(),
                search: SearchPath::default(),
                config_error: None,
                generation: 0,
            })),
            ready: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Loads the plugins of the workspace at `root` (and remembers it for
    /// reloads).
    pub async fn load(&self, root: PathBuf) {
        *self.root.lock().unwrap_or_else(|e| e.into_inner()) = Some(root);
        self.reload().await;
        self.ready.send_replace(true);
    }

    /// Waits for the first load to be done.
    pub async fn ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives as long as `self`, so this cannot fail while
        // `self` is borrowed.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Loads the plugins again, from the remembered workspace.
    pub async fn reload(&self) {
        let Some(root) = self.root.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let environment = self.environment();
        let (workspace, config_error) = match Workspace::discover(&root) {
            Ok(workspace) => match environment {
                // An environment that is not (or no longer) defined leaves
                // `[env]` alone, and says so.
                Some(name) => match workspace.clone().with_environment(&name) {
                    Ok(workspace) => (workspace, None),
                    Err(error) => (workspace, Some(error.to_string())),
                },
                None => (workspace, None),
            },
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

    /// The environment chosen, if any.
    pub fn environment(&self) -> Option<String> {
        self.environment
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `name` the current environment (none: `[env]` alone) and loads
    /// the plugins again with its values, so that their grants follow.
    pub async fn set_environment(&self, name: Option<String>) {
        *self.environment.lock().unwrap_or_else(|e| e.into_inner()) = name;
        self.reload().await;
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

/// Watches the plugin folders and `databook.toml`; on a change, reloads
/// the plugins and analyses every open document again. Changes are gathered
/// for a short while first, since a rebuild writes several files. After
/// each reload the watched folders follow the workspace, so that a folder
/// that `databook.toml` names later is watched from then on.
pub fn watch(client: Client, state: Arc<State>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let interesting = Arc::new(Mutex::new(Interesting::default()));
    let filter = interesting.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reading a plugin folder is an access event too: reacting to those
        // would make every reload trigger the next.
        if event.kind.is_access() {
            return;
        }
        let interesting = filter.lock().unwrap_or_else(|e| e.into_inner());
        if event.paths.iter().any(|path| interesting.covers(path)) {
            let _ = tx.send(());
        }
    });
    let watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch plugin folders; restart the server after changing plugins");
            return;
        }
    };
    let mut watches = Watches {
        watcher,
        targets: HashMap::new(),
    };
    tokio::spawn(async move {
        state.plugins.ready().await;
        watches.follow(&state.plugins.current(), &interesting);
        // The watcher lives as long as this task.
        while rx.recv().await.is_some() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            while rx.try_recv().is_ok() {}
            state.plugins.reload().await;
            let mut loaded = state.plugins.current();
            // A folder watched only from now on may have changed while the
            // plugins loaded: once more, then.
            if watches.follow(&loaded, &interesting) {
                state.plugins.reload().await;
                loaded = state.plugins.current();
                watches.follow(&loaded, &interesting);
            }
            if let Some(error) = &loaded.config_error {
                client.show_message(MessageType::ERROR, error).await;
            }
            for (uri, _) in state.documents.all() {
                super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
            }
            state.refresh_lenses(&client).await;
        }
    });
}

/// Which changed paths call for a reload: anything in a plugin folder, the
/// folder itself or a missing parent of it appearing, and any
/// `databook.toml`. Not a notebook saved next to them.
#[derive(Default)]
struct Interesting {
    folders: Vec<PathBuf>,
}

impl Interesting {
    fn covers(&self, path: &Path) -> bool {
        path.file_name() == Some("databook.toml".as_ref())
            || self
                .folders
                .iter()
                .any(|folder| path.starts_with(folder) || folder.starts_with(path))
    }
}

/// What is being watched, and how.
struct Watches {
    watcher: notify::RecommendedWatcher,
    targets: HashMap<PathBuf, RecursiveMode>,
}

impl Watches {
    /// Watches the plugin folders of `loaded` (a missing one through its
    /// nearest existing parent, so that creating it is noticed) and the
    /// folders where `databook.toml` is or would be; stops watching what
    /// is no longer among them.
    ///
    /// Returns whether it started watching a folder it did not watch: what
    /// was written there during the last load was not seen.
    fn follow(&mut self, loaded: &Loaded, interesting: &Mutex<Interesting>) -> bool {
        // Events name paths as the watcher resolved them: absolute, and
        // through symbolic links on some systems.
        let folders: Vec<PathBuf> = loaded.search.dirs.iter().map(|d| resolved(d)).collect();
        interesting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .folders = folders.clone();
        let mut wanted: HashMap<PathBuf, RecursiveMode> = HashMap::new();
        let mut want = |path: PathBuf, mode: RecursiveMode| {
            let entry = wanted.entry(path).or_insert(mode);
            if mode == RecursiveMode::Recursive {
                *entry = mode;
            }
        };
        for folder in &folders {
            if folder.exists() {
                want(folder.clone(), RecursiveMode::Recursive);
            } else if let Some(existing) = folder.ancestors().find(|a| a.exists()) {
                want(existing.to_path_buf(), RecursiveMode::NonRecursive);
            }
        }
        // A file's folder rather than the file: editors save by writing a
        // new file and renaming it over the old one.
        if let Some(folder) = loaded.workspace.file.as_ref().and_then(|f| f.parent()) {
            want(resolved(folder), RecursiveMode::NonRecursive);
        }
        if loaded.workspace.root.exists() {
            want(
                resolved(&loaded.workspace.root),
                RecursiveMode::NonRecursive,
            );
        }

        // A folder deleted since lost its watch with it.
        self.targets.retain(|path, mode| {
            let keep = wanted.get(path) == Some(mode) && path.exists();
            if !keep {
                let _ = self.watcher.unwatch(path);
            }
            keep
        });
        let mut added = false;
        for (path, mode) in wanted {
            if self.targets.contains_key(&path) {
                continue;
            }
            match self.watcher.watch(&path, mode) {
                Ok(()) => {
                    self.targets.insert(path, mode);
                    added = true;
                }
                Err(error) => tracing::debug!(folder = %path.display(), %error, "not watched"),
            }
        }
        added
    }
}

/// `path` absolute and without symbolic links, as far as it exists (a
/// missing folder keeps its missing part as written).
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    for existing in absolute.ancestors() {
        if let Ok(real) = existing.canonicalize() {
            let rest = absolute.strip_prefix(existing).unwrap_or(Path::new(""));
            return if rest.as_os_str().is_empty() {
                real
            } else {
                real.join(rest)
            };
        }
    }
    absolute
}
