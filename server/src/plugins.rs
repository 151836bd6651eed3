//! `databook plugins`: every plugin found, what it may touch and its
//! limits, or why it failed to load.

use std::fmt::Write as _;
use std::process::ExitCode;

use databook_runtime::{Registry, Summary};

use crate::cli::Cli;
use databook::setup::process_env;

#[derive(Debug, clap::Args)]
pub struct PluginsArgs {}

pub async fn list(cli: &Cli, _args: &PluginsArgs) -> anyhow::Result<ExitCode> {
    let setup = cli.setup()?;
    let registry =
        Registry::load(&setup.runtime, &setup.search, &setup.workspace, process_env).await;
    let mut out = String::new();
    for (i, entry) in registry.entries().iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match &entry.plugin {
            Ok(plugin) => describe(&mut out, &plugin.summary()),
            Err(error) => {
                let _ = writeln!(out, "{}  FAILED TO LOAD", entry.name);
                let _ = writeln!(out, "  from:     {}", entry.source);
                let _ = writeln!(out, "  error:    {error}");
            }
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn list_or_none(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

fn describe(out: &mut String, plugin: &Summary) {
    let _ = writeln!(
        out,
        "{} {}  {}",
        plugin.name, plugin.version, plugin.description
    );
    let _ = writeln!(out, "  from:     {}", plugin.source);
    let _ = writeln!(out, "  exports:  {}", plugin.exports.join(", "));
    let _ = writeln!(out, "  env:      {}", list_or_none(plugin.env_texts()));
    let _ = writeln!(
        out,
        "  secrets:  {}",
        list_or_none(plugin.secrets.iter().cloned())
    );
    let _ = writeln!(out, "  http:     {}", list_or_none(plugin.origin_texts()));
    let limits = plugin.limits;
    let _ = writeln!(
        out,
        "  limits:   timeout {}, memory {}, output {}, {} at once",
        limits.timeout, limits.memory, limits.output, limits.concurrency
    );
}
