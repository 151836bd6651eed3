//! Where plugins come from, the same for every command and the language
//! server.

use std::path::PathBuf;

use databook_runtime::{SearchPath, Workspace};

use crate::builtins::BUILTINS;

/// Where plugins are looked for in `workspace`: `--plugins` folders first,
/// then `DATABOOK_PLUGINS`, the workspace's, the user's, the built-ins.
pub fn search_path(plugin_dirs: &[PathBuf], workspace: &Workspace) -> SearchPath {
    SearchPath::new(
        plugin_dirs,
        std::env::var_os("DATABOOK_PLUGINS"),
        workspace,
        dirs::data_dir(),
        BUILTINS,
    )
}

/// Reads a variable from the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
