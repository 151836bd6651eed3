//! Where plugins come from, in the order of `plugins.md`: the first folder
//! holding a plugin of a name wins.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Workspace;

/// A plugin compiled into the binary: its `config.toml` and `plugin.wasm`.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub config: &'static str,
    pub wasm: &'static [u8],
}

/// Where a plugin was found.
#[derive(Debug, Clone)]
pub enum Source {
    /// A plugin folder holding `config.toml` and `plugin.wasm`.
    Dir(PathBuf),
    /// A plugin built into the binary.
    Builtin(&'static Builtin),
}

impl Source {
    /// The path to name in messages about the plugin's `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        match self {
            Source::Dir(dir) => dir.join("config.toml"),
            Source::Builtin(b) => PathBuf::from(format!("<built-in>/{}/config.toml", b.name)),
        }
    }

    /// The path to name in messages about the plugin's `plugin.wasm`.
    pub fn wasm_path(&self) -> PathBuf {
        match self {
            Source::Dir(dir) => dir.join("plugin.wasm"),
            Source::Builtin(b) => PathBuf::from(format!("<built-in>/{}/plugin.wasm", b.name)),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Dir(dir) => write!(f, "{}", dir.display()),
            Source::Builtin(_) => write!(f, "built in"),
        }
    }
}

/// The folders to look in and the plugins built in, in priority order.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
    pub builtins: &'static [Builtin],
}

impl SearchPath {
    /// The search path of `plugins.md`: `--plugins` folders, then
    /// `DATABOOK_PLUGINS`, then the workspace's `plugins` and
    /// `.databook/plugins`, then the user's data folder, then the built-ins.
    pub fn new(
        cli_dirs: &[PathBuf],
        databook_plugins: Option<OsString>,
        workspace: &Workspace,
        data_dir: Option<PathBuf>,
        builtins: &'static [Builtin],
    ) -> SearchPath {
        let mut dirs: Vec<PathBuf> = cli_dirs.to_vec();
        if let Some(list) = databook_plugins {
            dirs.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
        }
        dirs.extend(workspace.plugin_dirs.iter().cloned());
        dirs.push(workspace.root.join(".databook").join("plugins"));
        if let Some(data) = data_dir {
            dirs.push(data.join("databook").join("plugins"));
        }
        SearchPath { dirs, builtins }
    }

    /// Every plugin found, the first of each name only, in search order.
    pub fn discover(&self) -> Vec<(String, Source)> {
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for dir in &self.dirs {
            for plugin_dir in plugin_folders(dir) {
                let Some(name) = plugin_dir.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if seen.insert(name.to_string()) {
                    found.push((name.to_string(), Source::Dir(plugin_dir.clone())));
                }
            }
        }
        for builtin in self.builtins {
            if seen.insert(builtin.name.to_string()) {
                found.push((builtin.name.to_string(), Source::Builtin(builtin)));
            }
        }
        found
    }
}

/// Whether `dir` looks like a plugin folder.
fn is_plugin(dir: &Path) -> bool {
    dir.join("config.toml").is_file() || dir.join("plugin.wasm").is_file()
}

/// The plugin folders in `dir`: `dir` itself when it is one (so that
/// `--plugins .` works inside a plugin's folder), else its subfolders that
/// are, sorted by name. A folder that does not exist holds none.
fn plugin_folders(dir: &Path) -> Vec<PathBuf> {
    if is_plugin(dir) {
        // A relative `.` has no name; the folder's own name is the plugin's.
        return vec![std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())];
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && is_plugin(p))
        .collect();
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "").unwrap();
        dir
    }

    static BUILTINS: [Builtin; 2] = [
        Builtin {
            name: "echo",
            config: "",
            wasm: b"",
        },
        Builtin {
            name: "jq",
            config: "",
            wasm: b"",
        },
    ];

    #[test]
    fn first_folder_with_a_name_wins_and_builtins_come_last() {
        let tmp = tempfile::tempdir().unwrap();
        let cli = tmp.path().join("cli");
        let env_dir = tmp.path().join("env");
        let ws_dir = tmp.path().join("ws");
        plugin(&cli, "echo");
        plugin(&env_dir, "echo");
        plugin(&env_dir, "other");
        plugin(&ws_dir.join(".databook/plugins"), "local");
        std::fs::create_dir_all(cli.join("not-a-plugin")).unwrap();
        let workspace = Workspace {
            root: ws_dir.clone(),
            ..Workspace::default()
        };
        let search = SearchPath::new(
            std::slice::from_ref(&cli),
            Some(env_dir.clone().into_os_string()),
            &workspace,
            Some(tmp.path().join("data")),
            &BUILTINS,
        );
        let found: Vec<(String, String)> = search
            .discover()
            .into_iter()
            .map(|(name, source)| (name, source.to_string()))
            .collect();
        let expected = [
            ("echo", cli.join("echo").display().to_string()),
            ("other", env_dir.join("other").display().to_string()),
            (
                "local",
                ws_dir.join(".databook/plugins/local").display().to_string(),
            ),
            ("jq", "built in".to_string()),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_plugin_folder_itself_may_be_on_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = plugin(tmp.path(), "mine");
        let search = SearchPath {
            dirs: vec![dir.clone()],
            builtins: &[],
        };
        let found = search.discover();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "mine");
    }
}
