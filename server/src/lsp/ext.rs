//! Databook's own part of the protocol, all in one place and all documented
//! in `docs/lsp-extensions.md`: the commands of `workspace/executeCommand`
//! (one typed enum, which the lenses and code actions build and the command
//! handler reads, so the two cannot disagree about arguments), the
//! `databook/output` notification, and the requests `databook/results`,
//! `databook/cells` and `databook/render`.

use crate::results::Kept;
use databook_notebook::CellAnchor;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{
    Command, ExecuteCommandParams, Position, Range, TextDocumentIdentifier, Uri,
};

/// A command on a document, or on one of its cells (found again by its
/// anchor, so that it still means the same cell after edits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabookCommand {
    Run(Uri, CellAnchor),
    /// The cell, then every cell that takes it, directly or not.
    RunWithDependents(Uri, CellAnchor),
    RunAll(Uri),
    Clear(Uri, CellAnchor),
    ClearAll(Uri),
    /// Every run of the document, or those of one cell.
    Cancel(Uri, Option<CellAnchor>),
    /// Makes an environment current (none: `[env]` alone) for every later
    /// run, completion and check.
    SetEnvironment(Option<String>),
}

impl DatabookCommand {
    /// Every command's name, as the server announces them.
    pub const NAMES: [&'static str; 7] = [
        "databook.run",
        "databook.runWithDependents",
        "databook.runAll",
        "databook.clear",
        "databook.clearAll",
        "databook.cancel",
        "databook.setEnvironment",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            DatabookCommand::Run(..) => "databook.run",
            DatabookCommand::RunWithDependents(..) => "databook.runWithDependents",
            DatabookCommand::RunAll(_) => "databook.runAll",
            DatabookCommand::Clear(..) => "databook.clear",
            DatabookCommand::ClearAll(_) => "databook.clearAll",
            DatabookCommand::Cancel(..) => "databook.cancel",
            DatabookCommand::SetEnvironment(_) => "databook.setEnvironment",
        }
    }

    /// The command with its arguments: `[uri]`, or `[uri, cell index,
    /// header text]` for a cell, or `[name]` for an environment.
    pub fn to_lsp(&self, title: &str) -> Command {
        let on = |uri: &Uri, cell: Option<&CellAnchor>| {
            let mut arguments = vec![json!(uri)];
            if let Some(cell) = cell {
                arguments.extend([json!(cell.index), json!(cell.header)]);
            }
            arguments
        };
        let arguments = match self {
            DatabookCommand::Run(uri, cell)
            | DatabookCommand::RunWithDependents(uri, cell)
            | DatabookCommand::Clear(uri, cell) => on(uri, Some(cell)),
            DatabookCommand::RunAll(uri) | DatabookCommand::ClearAll(uri) => on(uri, None),
            DatabookCommand::Cancel(uri, cell) => on(uri, cell.as_ref()),
            DatabookCommand::SetEnvironment(name) => vec![json!(name)],
        };
        Command {
            title: title.into(),
            command: self.name().into(),
            arguments: Some(arguments),
        }
    }

    /// Reads a `workspace/executeCommand` request.
    pub fn from_lsp(params: &ExecuteCommandParams) -> Result<DatabookCommand> {
        let arguments = &params.arguments;
        if params.command == "databook.setEnvironment" {
            // `[name]`, `[null]` or `[]`: no argument is no environment.
            return match arguments.first() {
                None | Some(Value::Null) => Ok(DatabookCommand::SetEnvironment(None)),
                Some(Value::String(name)) => {
                    Ok(DatabookCommand::SetEnvironment(Some(name.clone())))
                }
                Some(other) => Err(Error::invalid_params(format!(
                    "the argument must be an environment's name or null, not {other}"
                ))),
            };
        }
        let uri: Uri = argument(arguments, 0).ok_or_else(|| {
            Error::invalid_params("the first argument must be the document's URI")
        })?;
        let cell = argument::<usize>(arguments, 1).map(|index| CellAnchor {
            index,
            header: argument::<String>(arguments, 2).unwrap_or_default(),
        });
        let needs_cell =
            || Error::invalid_params("the arguments must be [uri, cell index, header text]");
        Ok(match params.command.as_str() {
            "databook.run" => DatabookCommand::Run(uri, cell.ok_or_else(needs_cell)?),
            "databook.runWithDependents" => {
                DatabookCommand::RunWithDependents(uri, cell.ok_or_else(needs_cell)?)
            }
            "databook.runAll" => DatabookCommand::RunAll(uri),
            "databook.clear" => DatabookCommand::Clear(uri, cell.ok_or_else(needs_cell)?),
            "databook.clearAll" => DatabookCommand::ClearAll(uri),
            "databook.cancel" => DatabookCommand::Cancel(uri, cell),
            other => return Err(Error::invalid_params(format!("unknown command {other:?}"))),
        })
    }
}

/// Reads a command's argument at `index` as `T`.
fn argument<T: serde::de::DeserializeOwned>(arguments: &[Value], index: usize) -> Option<T> {
    arguments
        .get(index)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// The `databook/output` notification: a cell's full, untruncated result.
pub enum OutputNotification {}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputParams {
    pub uri: Uri,
    pub cell: usize,
    pub name: Option<String>,
    pub status: String,
    pub mime: String,
    pub data: String,
    pub elapsed_ms: u64,
    pub logs: Vec<LogEntry>,
    /// The environment the run had, if one was chosen.
    pub environment: Option<String>,
    /// Whether the result was reused (`cache=`) rather than run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

impl OutputParams {
    /// A run of cell `cell` (named `name`) as the protocol shows it: a
    /// failure as `text/plain` with its message.
    pub fn of(uri: &Uri, cell: usize, name: Option<&str>, kept: &Kept) -> OutputParams {
        let report = &kept.report;
        let (status, mime, data) = match &report.result {
            Ok(output) => ("ok", output.mime.clone(), output.data.clone()),
            Err(failure) => ("error", "text/plain".to_string(), failure.to_string()),
        };
        OutputParams {
            uri: uri.clone(),
            cell,
            name: name.map(str::to_string),
            status: status.to_string(),
            mime,
            data,
            elapsed_ms: report.elapsed.as_millis() as u64,
            logs: report
                .logs
                .iter()
                .map(|l| LogEntry {
                    level: l.level.to_string(),
                    message: l.message.clone(),
                })
                .collect(),
            environment: kept.environment.clone(),
            cached: kept.cached,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry {
    pub level: String,
    pub message: String,
}

impl Notification for OutputNotification {
    type Params = OutputParams;
    const METHOD: &'static str = "databook/output";
}

/// The params of the requests on a whole document.
#[derive(Debug, Serialize, Deserialize)]
pub struct DocumentParams {
    pub uri: Uri,
}

/// `textDocument/codeLens` as the transport hands it to the server: the
/// lenses are serialized straight to bytes and left for the transport,
/// which puts them in the answer (`transport::LensStash`). Internal: a
/// client that sends it gets an error.
pub const CODE_LENS_BYTES: &str = "databook/codeLensBytes";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeLensBytesParams {
    /// The id of the client's request, as JSON.
    pub request: String,
    pub text_document: TextDocumentIdentifier,
}

/// `databook/results`: every latest result of a document.
pub const RESULTS: &str = "databook/results";

#[derive(Debug, Serialize, Deserialize)]
pub struct ResultsResponse {
    pub results: Vec<OutputParams>,
}

/// `databook/cells`: the cells of a document, as the server reads them.
pub const CELLS: &str = "databook/cells";

#[derive(Debug, Serialize, Deserialize)]
pub struct CellsResponse {
    pub cells: Vec<CellInfo>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CellInfo {
    pub index: usize,
    pub header: String,
    pub name: Option<String>,
    pub plugin: Option<String>,
    pub range: Range,
    pub header_range: Range,
}

/// `databook/environments`: the environments and the current one.
pub const ENVIRONMENTS: &str = "databook/environments";

#[derive(Debug, Serialize, Deserialize)]
pub struct Environments {
    pub current: Option<String>,
    pub environments: Vec<String>,
}

/// `databook/render`: a cell's latest full result as plain text.
pub const RENDER: &str = "databook/render";

#[derive(Debug, Serialize, Deserialize)]
pub struct RenderParams {
    pub uri: Uri,
    #[serde(default)]
    pub position: Option<Position>,
    #[serde(default)]
    pub cell: Option<usize>,
    #[serde(default)]
    pub width: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Rendered {
    pub cell: usize,
    pub name: Option<String>,
    /// `ok`, `error`, or `none` when the cell has no result yet.
    pub status: String,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_reads_back_as_itself() {
        let uri: Uri = "file:///n.dbk".parse().unwrap();
        let anchor = CellAnchor {
            index: 3,
            header: "@plugin=echo name=x".into(),
        };
        for command in [
            DatabookCommand::Run(uri.clone(), anchor.clone()),
            DatabookCommand::RunWithDependents(uri.clone(), anchor.clone()),
            DatabookCommand::RunAll(uri.clone()),
            DatabookCommand::Clear(uri.clone(), anchor.clone()),
            DatabookCommand::ClearAll(uri.clone()),
            DatabookCommand::Cancel(uri.clone(), Some(anchor.clone())),
            DatabookCommand::Cancel(uri.clone(), None),
            DatabookCommand::SetEnvironment(Some("staging".into())),
            DatabookCommand::SetEnvironment(None),
        ] {
            let lsp = command.to_lsp("title");
            assert!(DatabookCommand::NAMES.contains(&lsp.command.as_str()));
            let params = ExecuteCommandParams {
                command: lsp.command,
                arguments: lsp.arguments.unwrap(),
                ..Default::default()
            };
            assert_eq!(DatabookCommand::from_lsp(&params).unwrap(), command);
        }
    }
}
