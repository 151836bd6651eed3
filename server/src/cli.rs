//! The command line: subcommands, their arguments, and what every one of
//! them shares (where plugins come from).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use databook_runtime::{Runtime, RuntimeOptions, SearchPath, Workspace};

use crate::builtins::BUILTINS;

#[derive(Debug, Parser)]
#[command(name = "databook", version, about = "Runnable notes next to your code")]
pub struct Cli {
    /// A folder of plugins (or one plugin's folder) to search first;
    /// repeatable.
    #[arg(long = "plugins", value_name = "DIR", global = true)]
    pub plugin_dirs: Vec<PathBuf>,

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
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The plugin to run.
    pub plugin: String,
    /// The cell body to give it; read from stdin when absent.
    pub input: Option<String>,
    /// An option for the plugin, as a cell header would give it; repeatable.
    #[arg(long = "opt", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub options: Vec<(String, String)>,
    /// A time limit below the plugin's own (such as 500ms or 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct PluginsArgs {}

fn parse_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<databook_runtime::Timeout>().map(|t| t.0)
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
        let workspace = Workspace::discover(&cwd)?;
        let search = SearchPath::new(
            &self.plugin_dirs,
            std::env::var_os("DATABOOK_PLUGINS"),
            &workspace,
            dirs::data_dir(),
            BUILTINS,
        );
        let runtime = Runtime::new(RuntimeOptions::default()).map_err(anyhow::Error::msg)?;
        Ok(Setup {
            runtime,
            workspace,
            search,
        })
    }
}

/// Reads a variable from the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
