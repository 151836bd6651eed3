//! What running a notebook cell means, the one path for the language server
//! and headless runs: which plugin runs it, what it is given, and the output
//! block written from what it returned.

use std::time::Duration;

use databook_notebook::{Cell, Status, output_block, reads_back, render, render_error, substitute};
use databook_runtime::{Cell as RunCell, Failure, Output, Plugin, RunReport};

/// Output blocks longer than this are cut in the file (the full result
/// stays available to previews, hover, `--json` and `input=`).
pub const MAX_OUTPUT_LINES: usize = 40;

/// A cell ready to run, or the reason it cannot.
pub struct Prepared(Result<(Plugin, RunCell, Option<Duration>), String>);

/// Prepares the run of `cell` (of the notebook `text`): its plugin found by
/// `lookup`, its body, its options with `overrides` applied to the keys it
/// has, its time limit, and `input`, the full output of its `input=` cell
/// (see [`input`]).
pub fn prepare(
    cell: &Cell,
    text: &str,
    lookup: impl FnOnce(&str) -> Result<Plugin, String>,
    input: Result<Option<Output>, String>,
    overrides: &[(String, String)],
) -> Prepared {
    // An input that failed is named first: it is the cause to fix.
    Prepared(input.and_then(|input| {
        let plugin = match cell.plugin() {
            None => Err("the cell names no plugin".to_string()),
            Some(name) => lookup(name),
        }?;
        if let Some(problem) = cell.options().problems().first() {
            return Err(problem.message.clone());
        }
        let options = cell
            .plugin_options()
            .into_iter()
            .map(
                |(key, value)| match overrides.iter().find(|(k, _)| *k == key) {
                    Some((_, new)) => (key, new.clone()),
                    None => (key, value),
                },
            )
            .collect();
        let body = substitute(cell.body_text(text), |name| variable(&plugin, name))?;
        let run = RunCell {
            body,
            options,
            input,
        };
        Ok((plugin, run, cell.timeout()))
    }))
}

impl Prepared {
    /// Runs it; a cell that could not be prepared is a failed run that took
    /// no time. Dropping the future cancels the run.
    pub async fn run(self) -> RunReport {
        match self.0 {
            Ok((plugin, run, timeout)) => plugin.run(run, timeout).await,
            Err(message) => RunReport {
                result: Err(Failure::Plugin {
                    message,
                    hint: None,
                }),
                logs: Vec::new(),
                elapsed: Duration::ZERO,
            },
        }
    }
}

/// The value of `{{name}}` in a body run by `plugin`: only a variable the
/// plugin may read (`permissions.env` or `secrets`), so that a body cannot
/// hand a plugin what its grant keeps from it. A secret's value is masked
/// in whatever the run returns, as any secret is.
fn variable(plugin: &Plugin, name: &str) -> Result<String, String> {
    let grant = plugin.grant();
    if !grant.readable().iter().any(|n| n == name) {
        return Err(format!(
            "{{{{{name}}}}}: the plugin `{}` may not read {name}; add it to its permissions.env (or secrets) to use it here",
            plugin.name()
        ));
    }
    grant.env(name).map(str::to_string).ok_or_else(|| {
        format!("{{{{{name}}}}}: {name} has no value (set it in the environment, or in databook.toml's [env] or the current [environments.NAME])")
    })
}

/// What a cell whose `input=` is `name` is given: the input cell's latest
/// result if it succeeded, or why the cell cannot run.
pub fn input(name: Option<&str>, latest: Option<&RunReport>) -> Result<Option<Output>, String> {
    let Some(name) = name else {
        return Ok(None);
    };
    match latest.map(|r| &r.result) {
        Some(Ok(output)) => Ok(Some(output.clone())),
        Some(Err(_)) => Err(format!("its input cell `{name}` failed")),
        None => Err(format!("its input cell `{name}` has not run")),
    }
}

/// The output block for a run's result, as it goes into the file. A block
/// that would not read back as exactly itself is never written: the run's
/// error says so instead.
pub fn block(result: &Result<Output, Failure>) -> String {
    let block = match result {
        Ok(output) => output_block(
            Status::Ok,
            &output.mime,
            &render(&output.mime, &output.data, MAX_OUTPUT_LINES),
        ),
        Err(failure) => output_block(
            Status::Error,
            "text/plain",
            &render_error(&failure.to_string(), failure.hint()),
        ),
    };
    if reads_back(&block) {
        block
    } else {
        output_block(
            Status::Error,
            "text/plain",
            &["databook could not write this result safely into the notebook; see it with --json or in the editor's hover".to_string()],
        )
    }
}

/// How a cell is called in messages: its name, or its plugin and position.
pub fn label(cell: &Cell) -> String {
    match (cell.name(), cell.plugin()) {
        (Some(name), _) => name.to_string(),
        (None, Some(plugin)) => format!("cell {} ({plugin})", cell.index + 1),
        (None, None) => format!("cell {}", cell.index + 1),
    }
}
