//! What running a notebook cell means, shared by the language server and
//! headless runs: what the plugin is given, and the output block written
//! from what it returned.

use std::time::Duration;

use databook_notebook::{Cell, Status, output_block, render, render_error};
use databook_runtime::{Cell as RunCell, Failure, Output, Timeout};

/// Output blocks longer than this are cut in the file (the full result
/// stays available to previews, hover, `--json` and `input=`).
pub const MAX_OUTPUT_LINES: usize = 40;

/// The run of `cell` (of the notebook `text`): its body, its options with
/// `overrides` applied to the keys it has, and `input`, the full output of
/// its `input=` cell; plus the time limit its `timeout=` asks for.
pub fn prepare(
    cell: &Cell,
    text: &str,
    input: Option<Output>,
    overrides: &[(String, String)],
) -> Result<(RunCell, Option<Duration>), String> {
    let timeout = match cell.timeout() {
        None => None,
        Some(text) => Some(text.parse::<Timeout>()?.0),
    };
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
    Ok((
        RunCell {
            body: cell.body_text(text).to_string(),
            options,
            input,
        },
        timeout,
    ))
}

/// The output block for a run's result, as it goes into the file.
pub fn block(result: &Result<Output, Failure>) -> String {
    match result {
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
    }
}

/// A failure that happened before the plugin ran (no plugin, a bad
/// option, a failed input).
pub fn not_run(message: impl Into<String>) -> Failure {
    Failure::Plugin {
        message: message.into(),
        hint: None,
    }
}
