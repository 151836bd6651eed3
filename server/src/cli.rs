//! The command line: subcommands, their arguments, and what every one of
//! them shares (where plugins come from).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use databook_runtime::{ByteSize, Runtime, RuntimeOptions, SearchPath, Workspace};

use crate::exec::ExecArgs;
use crate::plugins::PluginsArgs;
use databook::setup::search_path;

#[derive(Debug, Parser)]
#[command(name = "databook", version, about = "Runnable notes next to your code")]
pub struct Cli {
    /// A folder of plugins (or one plugin's folder) to search first;
    /// repeatable.
    #[arg(long = "plugins", value_name = "DIR", global = true)]
    pub plugin_dirs: Vec<PathBuf>,

    /// What the memory limits of the runs under way may add up to (e.g.
    /// `4GiB`); a run whose limit does not fit waits for room, within its
    /// time limit.
    #[arg(long, value_name = "SIZE", global = true, default_value = "2GiB")]
    pub memory_budget: ByteSize,

    /// The environment whose values (`[environments.NAME]` in
    /// `databook.toml`) are laid over `[env]` for this command.
    #[arg(long = "env", value_name = "NAME", global = true, env = "DATABOOK_ENV")]
    pub environment: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one plugin on an input, as a cell would, and print its result.
    Exec(ExecArgs),
    /// List every plugin found: version, origin, permissions and limits, or
    /// why it failed to load.
    Plugins(PluginsArgs),
    /// Serve the plugins over gRPC, for programs and other machines
    /// (docs/grpc.md).
    Serve(crate::serve::ServeArgs),
    /// Run one plugin on a `databook serve`, as `exec` would run it here.
    Call(crate::call::CallArgs),
    /// Serve the language server on stdin and stdout, for editors.
    Lsp(LspArgs),
    /// Run a notebook's cells and write their outputs back into it.
    Run(crate::headless::RunArgs),
    /// Write a notebook as one self-contained HTML page: its prose, its
    /// cells and their latest full results (tables, JSON trees, charts).
    Export(crate::export::ExportArgs),
    /// Write a new plugin crate (`plugin new NAME`) or build one into its
    /// plugin.wasm (`plugin build [DIR]`).
    Plugin(crate::plugin_cmd::PluginArgs),
}

#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long, hide = true)]
    pub stdio: bool,
}

/// What every command that touches plugins starts from.
pub struct Setup {
    pub runtime: Runtime,
    pub workspace: Workspace,
    pub search: SearchPath,
}

impl Cli {
    /// Finds the workspace (`databook.toml` upwards from the current
    /// folder), the search path and starts the runtime.
    pub fn setup(&self) -> anyhow::Result<Setup> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        self.setup_at(&cwd)
    }

    /// The same, for a workspace found from `dir` upwards.
    pub fn setup_at(&self, dir: &std::path::Path) -> anyhow::Result<Setup> {
        let dir = std::path::absolute(dir).context("cannot resolve the folder")?;
        let mut workspace = Workspace::discover(&dir)?;
        if let Some(name) = &self.environment {
            workspace = workspace.with_environment(name)?;
        }
        let search = search_path(&self.plugin_dirs, &workspace);
        let runtime = Runtime::new(RuntimeOptions {
            memory_budget: self.memory_budget,
            ..RuntimeOptions::default()
        })
        .map_err(anyhow::Error::msg)?;
        Ok(Setup {
            runtime,
            workspace,
            search,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_budget_defaults_to_the_runtimes() {
        let cli = Cli::try_parse_from(["databook", "plugins"]).unwrap();
        assert_eq!(cli.memory_budget, databook_runtime::DEFAULT_MEMORY_BUDGET);
        let cli =
            Cli::try_parse_from(["databook", "--memory-budget", "512MiB", "plugins"]).unwrap();
        assert_eq!(cli.memory_budget.0, 512 << 20);
    }
}
