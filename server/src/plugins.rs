//! `databook plugins`: every plugin found, what it may touch and its
//! limits, or why it failed to load.

use std::fmt::Write as _;
use std::process::ExitCode;

use databook_runtime::{Plugin, Registry};

use crate::cli::{Cli, process_env};

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
            Ok(plugin) => describe(&mut out, plugin),
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

fn describe(out: &mut String, plugin: &Plugin) {
    let manifest = plugin.manifest();
    let grant = plugin.grant();
    let _ = writeln!(
        out,
        "{} {}  {}",
        manifest.name, manifest.version, manifest.description
    );
    let _ = writeln!(out, "  from:     {}", plugin.source());
    let mut exports = vec!["run", "describe"];
    if plugin.can_complete() {
        exports.push("complete");
    }
    if plugin.can_check() {
        exports.push("check");
    }
    let _ = writeln!(out, "  exports:  {}", exports.join(", "));
    let env = plugin
        .permissions()
        .env
        .iter()
        .map(|name| match grant.env(name) {
            Some(_) => format!("{name} (set)"),
            None => format!("{name} (unset)"),
        });
    let _ = writeln!(out, "  env:      {}", list_or_none(env));
    let secrets = plugin.permissions().secrets.iter().cloned();
    let _ = writeln!(out, "  secrets:  {}", list_or_none(secrets));
    let http = grant.origins().map(|(origin, from)| {
        let origin = origin.to_string();
        if from == origin {
            origin
        } else {
            format!("{origin} (from {from})")
        }
    });
    let _ = writeln!(out, "  http:     {}", list_or_none(http));
    let limits = manifest.limits;
    let _ = writeln!(
        out,
        "  limits:   timeout {}, memory {}, output {}",
        limits.timeout, limits.memory, limits.output
    );
}
