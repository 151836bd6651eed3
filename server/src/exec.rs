//! `databook exec PLUGIN [INPUT]`: one plugin, one input, the result on
//! stdout. Exit 0 on a result, 1 on the plugin's error, 2 when it could not
//! be run at all.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use databook_runtime::{Cell, Registry};

use crate::cli::Cli;
use databook::setup::process_env;
use databook::terminal;

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

pub async fn exec(cli: &Cli, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let setup = cli.setup()?;
    let plugin = Registry::load_one(
        &setup.runtime,
        &setup.search,
        &setup.workspace,
        process_env,
        &args.plugin,
    )
    .await?;
    let body = read_input(args.input.as_deref())?;
    let cell = Cell {
        body,
        options: args.options.clone(),
        input: None,
    };
    // The result is printed as soon as it is in hand; the instance is torn
    // down after.
    let name = plugin.name();
    plugin
        .run_then(cell, args.timeout, |report| {
            for line in &report.logs {
                terminal::print_log(name, &line.level.to_string(), &line.message);
            }
            match report.result {
                Ok(output) => {
                    terminal::print_result(&output.mime, &output.data)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(failure) => {
                    terminal::print_error(name, &failure.to_string(), failure.hint());
                    Ok(ExitCode::from(1))
                }
            }
        })
        .await
}

pub(crate) fn parse_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

pub(crate) fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<databook_runtime::Timeout>().map(|t| t.0)
}

/// The cell body a command was given: its argument, or all of stdin.
pub(crate) fn read_input(argument: Option<&str>) -> anyhow::Result<String> {
    match argument {
        Some(input) => Ok(input.to_string()),
        None => {
            let mut body = String::new();
            std::io::stdin()
                .read_to_string(&mut body)
                .context("cannot read the input from stdin")?;
            Ok(body)
        }
    }
}
