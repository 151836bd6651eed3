//! Running cells: `workspace/executeCommand` for `databook.run`, `runAll`,
//! `clear`, `clearAll` and `cancel`; progress around each run; the output
//! block written with one `workspace/applyEdit`, under the same cell even if
//! the document changed meanwhile; the full result sent as
//! `databook/output`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use databook_notebook::{clear_output, locate_cell, run_order, set_output};
use databook_runtime::{Failure, LogLine, Output};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;

use super::documents::Snapshot;
use super::{State, argument, convert};
use crate::cells;

/// How often an output edit is tried again when the editor refuses it
/// because the document changed under it.
const EDIT_ATTEMPTS: usize = 5;

/// What identifies a cell across edits: its name, or its header's text.
pub fn cell_key(cell: &databook_notebook::Cell, text: &str) -> String {
    match cell.name() {
        Some(name) => format!("name:{name}"),
        None => format!("header:{}", &text[cell.header.range.clone()]),
    }
}

/// A cell's latest run.
#[derive(Debug, Clone)]
pub struct Record {
    pub result: std::result::Result<Output, Failure>,
    pub logs: Vec<LogLine>,
    pub elapsed: Duration,
}

/// Runs under way, and the latest result of every cell run in this session.
#[derive(Default)]
pub struct Runs {
    next_id: AtomicU64,
    active: Mutex<HashMap<u64, (Uri, String, tokio::task::AbortHandle)>>,
    records: Mutex<HashMap<Uri, HashMap<String, Record>>>,
}

impl Runs {
    /// The latest record of every cell of `uri` that ran in this session.
    pub fn records_of(&self, uri: &Uri) -> HashMap<String, Record> {
        lock(&self.records).get(uri).cloned().unwrap_or_default()
    }

    pub fn record(&self, uri: &Uri, key: &str) -> Option<Record> {
        lock(&self.records).get(uri)?.get(key).cloned()
    }

    fn store(&self, uri: &Uri, key: String, record: Record) {
        lock(&self.records)
            .entry(uri.clone())
            .or_default()
            .insert(key, record);
    }

    fn forget(&self, uri: &Uri, key: Option<&str>) {
        let mut records = lock(&self.records);
        match key {
            Some(key) => {
                if let Some(cells) = records.get_mut(uri) {
                    cells.remove(key);
                }
            }
            None => {
                records.remove(uri);
            }
        }
    }

    /// Stops every run of `uri` (of the cell `key`, if given); returns how
    /// many were stopped.
    fn cancel(&self, uri: &Uri, key: Option<&str>) -> usize {
        let mut active = lock(&self.active);
        let mut stopped = 0;
        active.retain(|_, (run_uri, run_key, abort)| {
            let hit = run_uri == uri && key.is_none_or(|k| k == run_key);
            if hit {
                abort.abort();
                stopped += 1;
            }
            !hit
        });
        stopped
    }

    pub fn cancel_all(&self) {
        for (_, (_, _, abort)) in lock(&self.active).drain() {
            abort.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts a spawned run when the request that waits for it goes away
/// (`$/cancelRequest`, or the client disconnecting).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

/// Where a command points: a document and, for cell commands, a cell (its
/// index when the command was made, and its header's text).
struct Target {
    uri: Uri,
    cell: Option<(usize, String)>,
}

fn target(arguments: &[Value], needs_cell: bool) -> Result<Target> {
    let uri: Uri = argument(arguments, 0)
        .ok_or_else(|| Error::invalid_params("the first argument must be the document's URI"))?;
    let cell = match (
        argument::<usize>(arguments, 1),
        argument::<String>(arguments, 2),
    ) {
        (Some(index), Some(header)) => Some((index, header)),
        (Some(index), None) => Some((index, String::new())),
        _ if needs_cell => {
            return Err(Error::invalid_params(
                "the arguments must be [uri, cell index, header text]",
            ));
        }
        _ => None,
    };
    Ok(Target { uri, cell })
}

pub async fn execute(
    client: &Client,
    state: &std::sync::Arc<State>,
    params: ExecuteCommandParams,
) -> Result<Option<Value>> {
    let arguments = &params.arguments;
    match params.command.as_str() {
        "databook.run" => {
            let target = target(arguments, true)?;
            let (index, header) = target.cell.expect("checked by target");
            let snapshot = document(state, &target.uri)?;
            let cell = find(&snapshot, index, &header)?;
            let order = run_order(snapshot.parse(), &[cell])
                .map_err(|cycle| Error::invalid_params(cycle_message(&snapshot, &cycle)))?;
            run_cells(client, state, &target.uri, &snapshot, order, Some(cell)).await
        }
        "databook.runAll" => {
            let target = target(arguments, false)?;
            let snapshot = document(state, &target.uri)?;
            let all: Vec<usize> = (0..snapshot.parse().cells.len()).collect();
            let order = run_order(snapshot.parse(), &all)
                .map_err(|cycle| Error::invalid_params(cycle_message(&snapshot, &cycle)))?;
            run_cells(client, state, &target.uri, &snapshot, order, None).await
        }
        "databook.clear" => {
            let target = target(arguments, true)?;
            let (index, header) = target.cell.expect("checked by target");
            let snapshot = document(state, &target.uri)?;
            let cell = find(&snapshot, index, &header)?;
            let key = cell_key(&snapshot.parse().cells[cell], snapshot.text());
            state.runs.forget(&target.uri, Some(&key));
            let written = write_edit(client, state, &target.uri, |snapshot| {
                let cell = locate_cell(snapshot.parse(), snapshot.text(), index, &header);
                Plan::for_cell(cell, |cell| {
                    clear_output(snapshot.text(), snapshot.parse(), cell)
                })
            })
            .await;
            super::diagnostics::spawn_publish(client.clone(), state.clone(), target.uri);
            Ok(Some(json!({ "edited": written == Written::Applied })))
        }
        "databook.clearAll" => {
            let target = target(arguments, false)?;
            state.runs.forget(&target.uri, None);
            let written = write_edit(client, state, &target.uri, |snapshot| {
                // Edits of one WorkspaceEdit refer to the document before
                // any of them, so they are computed on one snapshot.
                let edits: Vec<_> = (0..snapshot.parse().cells.len())
                    .filter_map(|cell| clear_output(snapshot.text(), snapshot.parse(), cell))
                    .collect();
                if edits.is_empty() {
                    Plan::Unchanged
                } else {
                    Plan::Edits(edits)
                }
            })
            .await;
            super::diagnostics::spawn_publish(client.clone(), state.clone(), target.uri);
            Ok(Some(json!({ "edited": written == Written::Applied })))
        }
        "databook.cancel" => {
            let target = target(arguments, false)?;
            let key = match &target.cell {
                Some((index, header)) => {
                    let snapshot = document(state, &target.uri)?;
                    let cell = find(&snapshot, *index, header)?;
                    Some(cell_key(&snapshot.parse().cells[cell], snapshot.text()))
                }
                None => None,
            };
            let stopped = state.runs.cancel(&target.uri, key.as_deref());
            Ok(Some(json!({ "cancelled": stopped })))
        }
        other => Err(Error::invalid_params(format!("unknown command {other:?}"))),
    }
}

fn document(state: &State, uri: &Uri) -> Result<Snapshot> {
    state
        .documents
        .get(uri)
        .ok_or_else(|| Error::invalid_params(format!("{} is not open", uri.as_str())))
}

fn find(snapshot: &Snapshot, index: usize, header: &str) -> Result<usize> {
    locate_cell(snapshot.parse(), snapshot.text(), index, header).ok_or_else(|| {
        Error::invalid_params(format!(
            "cell {} ({header}) is no longer in the document",
            index + 1
        ))
    })
}

fn cycle_message(snapshot: &Snapshot, cycle: &[usize]) -> String {
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| label(&snapshot.parse().cells[i], snapshot.text()))
        .collect();
    format!(
        "the cells' input= options form a cycle: {}",
        names.join(" → ")
    )
}

/// How a cell is called in messages: its name, or its plugin and index.
pub fn label(cell: &databook_notebook::Cell, _text: &str) -> String {
    match (cell.name(), cell.plugin()) {
        (Some(name), _) => name.to_string(),
        (None, Some(plugin)) => format!("cell {} ({plugin})", cell.index + 1),
        (None, None) => format!("cell {}", cell.index + 1),
    }
}

/// Runs `order` (cells of `snapshot`, dependencies first). Cells other than
/// `target` whose latest result is already known are not run again, so that
/// running one cell runs only the inputs it lacks.
async fn run_cells(
    client: &Client,
    state: &std::sync::Arc<State>,
    uri: &Uri,
    snapshot: &Snapshot,
    order: Vec<usize>,
    target: Option<usize>,
) -> Result<Option<Value>> {
    let mut summary = Vec::new();
    for index in order {
        let cell = &snapshot.parse().cells[index];
        let key = cell_key(cell, snapshot.text());
        let is_dependency = target.is_some_and(|t| t != index);
        if is_dependency
            && state
                .runs
                .record(uri, &key)
                .is_some_and(|record| record.result.is_ok())
        {
            continue;
        }
        let header = snapshot.text()[cell.header.range.clone()].to_string();
        let run_id = state.runs.next_id.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(run_one(
            client.clone(),
            state.clone(),
            uri.clone(),
            index,
            header,
        ));
        lock(&state.runs.active).insert(run_id, (uri.clone(), key.clone(), task.abort_handle()));
        let guard = AbortOnDrop(task.abort_handle());
        let outcome = task.await;
        drop(guard);
        lock(&state.runs.active).remove(&run_id);
        match outcome {
            Ok(Ok(status)) => summary.push(json!({"cell": index, "status": status})),
            Ok(Err(message)) => {
                summary.push(json!({"cell": index, "status": "gone", "message": message}))
            }
            Err(_) => {
                summary.push(json!({"cell": index, "status": "cancelled"}));
                break;
            }
        }
    }
    Ok(Some(json!({ "runs": summary })))
}

/// Runs one cell and writes its output. Returns its status, or why nothing
/// was written (the cell is gone).
async fn run_one(
    client: Client,
    state: std::sync::Arc<State>,
    uri: Uri,
    index: usize,
    header: String,
) -> std::result::Result<&'static str, String> {
    let snapshot = state.documents.get(&uri).ok_or("the document was closed")?;
    let cell_index = locate_cell(snapshot.parse(), snapshot.text(), index, &header)
        .ok_or("the cell was deleted before it ran")?;
    let cell = snapshot.parse().cells[cell_index].clone();
    let label = label(&cell, snapshot.text());
    let key = cell_key(&cell, snapshot.text());

    let progress = begin_progress(&client, &label).await;
    let record = run_plugin(&state, &uri, &snapshot, &cell).await;
    let status = if record.result.is_ok() { "ok" } else { "error" };
    let elapsed_ms = record.elapsed.as_millis() as u64;
    if let Some(progress) = progress {
        progress
            .finish_with_message(format!("{label}: {status} in {elapsed_ms} ms"))
            .await;
    }

    let block = cells::block(&record.result);
    let params = OutputParams {
        uri: uri.clone(),
        cell: cell_index,
        name: cell.name().map(str::to_string),
        status: status.to_string(),
        mime: match &record.result {
            Ok(output) => output.mime.clone(),
            Err(_) => "text/plain".into(),
        },
        data: match &record.result {
            Ok(output) => output.data.clone(),
            Err(failure) => failure.to_string(),
        },
        elapsed_ms,
        logs: record
            .logs
            .iter()
            .map(|l| LogEntry {
                level: l.level.to_string(),
                message: l.message.clone(),
            })
            .collect(),
    };
    state.runs.store(&uri, key, record);

    let written = write_edit(&client, &state, &uri, |now| {
        let cell = locate_cell(now.parse(), now.text(), cell_index, &header);
        Plan::for_cell(cell, |cell| {
            set_output(now.text(), now.parse(), cell, &block)
        })
    })
    .await;
    if written == Written::Gone {
        client
            .show_message(
                MessageType::WARNING,
                format!("{label} was deleted while it ran; its output was not written"),
            )
            .await;
        return Err(format!("{label} was deleted while it ran"));
    }
    client.send_notification::<OutputNotification>(params).await;
    super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
    Ok(status)
}

/// Runs the cell's plugin with its body, options and input.
async fn run_plugin(
    state: &State,
    uri: &Uri,
    snapshot: &Snapshot,
    cell: &databook_notebook::Cell,
) -> Record {
    let failed = |message: String| Record {
        result: Err(cells::not_run(message)),
        logs: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let loaded = state.plugins.current();
    let Some(name) = cell.plugin() else {
        return failed("the cell names no plugin".into());
    };
    let plugin = match loaded.registry.get(name) {
        Ok(plugin) => plugin.clone(),
        Err(error) => return failed(error.to_string()),
    };
    let input = match cell.input() {
        None => None,
        Some(input_name) => {
            let key = format!("name:{input_name}");
            match state.runs.record(uri, &key).map(|r| r.result) {
                Some(Ok(output)) => Some(output),
                Some(Err(_)) => return failed(format!("its input cell `{input_name}` failed")),
                None => {
                    return failed(format!(
                        "its input cell `{input_name}` has not run in this session"
                    ));
                }
            }
        }
    };
    let (run, timeout) = match cells::prepare(cell, snapshot.text(), input, &[]) {
        Ok(prepared) => prepared,
        Err(message) => return failed(message),
    };
    let report = plugin.run(run, timeout).await;
    Record {
        result: report.result,
        logs: report.logs,
        elapsed: report.elapsed,
    }
}

async fn begin_progress(
    client: &Client,
    label: &str,
) -> Option<
    tower_lsp_server::OngoingProgress<
        tower_lsp_server::Unbounded,
        tower_lsp_server::NotCancellable,
    >,
> {
    let token = ProgressToken::String(format!("databook/run/{}", uuid_like()));
    // A client that does not support progress refuses the token; the run
    // goes on without it.
    client.create_work_done_progress(token.clone()).await.ok()?;
    Some(
        client
            .progress(token, format!("Running {label}"))
            .with_message(label.to_string())
            .begin()
            .await,
    )
}

/// A token unique within this process.
fn uuid_like() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What a document needs, as of one snapshot.
enum Plan {
    /// The cell to edit is no longer there.
    Gone,
    /// The document already says it.
    Unchanged,
    Edits(Vec<databook_notebook::Edit>),
}

impl Plan {
    /// The plan for one cell's edit: gone if the cell was not found.
    fn for_cell(
        cell: Option<usize>,
        edit: impl FnOnce(usize) -> Option<databook_notebook::Edit>,
    ) -> Plan {
        match cell {
            None => Plan::Gone,
            Some(cell) => match edit(cell) {
                Some(edit) => Plan::Edits(vec![edit]),
                None => Plan::Unchanged,
            },
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// The edit was applied.
    Applied,
    /// The document already says it: no edit was needed.
    Unchanged,
    /// The cell (or the document) is gone.
    Gone,
    /// The editor kept refusing the edit.
    Refused,
}

/// Computes edits on the latest version of the document and asks the
/// editor to apply them to exactly that version; when the editor refuses
/// (the user typed in between), tries again on the newer version.
async fn write_edit(
    client: &Client,
    state: &State,
    uri: &Uri,
    edits_for: impl Fn(&Snapshot) -> Plan,
) -> Written {
    for attempt in 0..EDIT_ATTEMPTS {
        let Some(snapshot) = state.documents.get(uri) else {
            return Written::Gone;
        };
        let edits = match edits_for(&snapshot) {
            Plan::Gone => return Written::Gone,
            Plan::Unchanged => return Written::Unchanged,
            Plan::Edits(edits) => edits,
        };
        let text_edits = edits
            .iter()
            .map(|edit| {
                OneOf::Left(TextEdit {
                    range: convert::range(&snapshot.rope, &edit.range),
                    new_text: edit.new_text.clone(),
                })
            })
            .collect();
        let edit = WorkspaceEdit {
            document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier {
                    uri: uri.clone(),
                    version: Some(snapshot.version),
                },
                edits: text_edits,
            }])),
            ..Default::default()
        };
        match client.apply_edit(edit).await {
            Ok(response) if response.applied => return Written::Applied,
            Ok(response) => {
                tracing::debug!(reason = ?response.failure_reason, "output edit refused; trying again");
            }
            Err(error) => {
                tracing::warn!(%error, "applyEdit failed");
                return Written::Refused;
            }
        }
        // Give the editor's didChange time to arrive.
        tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
    }
    Written::Refused
}
