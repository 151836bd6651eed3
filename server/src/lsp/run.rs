//! Running cells: `workspace/executeCommand` for `databook.run`, `runAll`,
//! `clear`, `clearAll` and `cancel`; progress around each run; the output
//! block written with one `workspace/applyEdit`, under the same cell even if
//! the document changed meanwhile; the full result sent as
//! `databook/output`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use databook_notebook::{
    CellAnchor, Document, ValueRef, clear_output, locate_cell, references, set_output, value_refs,
};
use databook_runtime::Failure;
use serde_json::{Value, json};
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

use super::documents::Snapshot;
use super::ext::{DatabookCommand, OutputNotification, OutputParams};
use super::{State, convert};
use crate::cells;
use crate::results::{self, Kept};

/// How often an output edit is tried again when the editor refuses it
/// because the document changed under it (the user typing: output edits
/// of one document wait for each other, so they never refuse each other).
const EDIT_ATTEMPTS: usize = 12;

/// Runs under way, and the latest result of every cell, each kept under
/// its cell's [`CellAnchor`] (never under a key built from the header: two
/// cells with the same header are two cells). Latest results are also kept
/// on disk (`crate::results`), so that they outlive the session.
#[derive(Default)]
pub struct Runs {
    next_id: AtomicU64,
    active: Mutex<HashMap<u64, (Uri, CellAnchor, tokio::task::AbortHandle)>>,
    records: Mutex<HashMap<Uri, Vec<Kept>>>,
    /// The workspace folder the editor gave, if it gave one.
    root: OnceLock<Option<PathBuf>>,
    /// The newest version of each store file's contents, and the version
    /// on disk: a write that lost a race to a newer one is skipped.
    versions: AtomicU64,
    written: Arc<Mutex<HashMap<PathBuf, u64>>>,
    /// One edit of a document's outputs at a time: many cells finishing at
    /// once would otherwise each compute an edit on the same version, and
    /// all but one be refused, again and again.
    editing: Mutex<HashMap<Uri, Arc<tokio::sync::Mutex<()>>>>,
}

impl Runs {
    /// Sets the workspace folder whose `.databook/` keeps results.
    pub fn set_root(&self, root: Option<PathBuf>) {
        let _ = self.root.set(root);
    }

    fn store_file(&self, uri: &Uri) -> Option<PathBuf> {
        let path = convert::uri_to_path(uri)?;
        let root = self.root.get().cloned().flatten();
        results::store_file(root.as_deref(), &path)
    }

    /// Reads the results kept on disk for `uri`, for the cells that have
    /// none in this session. A store that cannot be read is logged and
    /// otherwise ignored: results are a convenience, never a reason to fail.
    pub async fn restore(&self, uri: &Uri) {
        let Some(file) = self.store_file(uri) else {
            return;
        };
        let kept = match tokio::task::spawn_blocking(move || results::load(&file)).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(error)) => {
                tracing::warn!(%error, "kept results not restored");
                return;
            }
            Err(_) => return,
        };
        let mut records = lock(&self.records);
        let records = records.entry(uri.clone()).or_default();
        for old in kept {
            if !records.iter().any(|k| k.anchor == old.anchor) {
                records.push(old);
            }
        }
    }

    /// Every latest result of `snapshot`'s cells, in document order.
    pub fn all_latest(&self, uri: &Uri, snapshot: &Snapshot) -> Vec<(usize, Kept)> {
        let records = lock(&self.records);
        let mut found: Vec<(usize, Kept)> = records
            .get(uri)
            .into_iter()
            .flatten()
            .filter_map(|kept| {
                let cell = kept.anchor.locate(snapshot.parse(), snapshot.text())?;
                Some((cell, kept.clone()))
            })
            .collect();
        found.sort_by_key(|(cell, _)| *cell);
        found.dedup_by_key(|(cell, _)| *cell);
        found
    }

    /// The latest run of cell `cell` of `snapshot`, from this session or
    /// kept from an earlier one.
    pub fn latest(&self, uri: &Uri, snapshot: &Snapshot, cell: usize) -> Option<Kept> {
        let records = lock(&self.records);
        records
            .get(uri)?
            .iter()
            .find(|kept| kept.anchor.locate(snapshot.parse(), snapshot.text()) == Some(cell))
            .cloned()
    }

    /// The cells of `document` (settled or not) whose latest run failed,
    /// with the failure.
    pub fn failed(&self, uri: &Uri, document: &Document) -> Vec<(usize, Failure)> {
        let records = lock(&self.records);
        let Some(records) = records.get(uri) else {
            return Vec::new();
        };
        records
            .iter()
            .filter_map(|kept| {
                let failure = kept.report.result.as_ref().err()?;
                let cell = kept.anchor.locate_in(document)?;
                Some((cell, failure.clone()))
            })
            .collect()
    }

    /// Keeps `ran` as the latest run of cell `cell` of `snapshot`,
    /// replacing the one before (and dropping those of cells that are
    /// gone); returns it as kept.
    fn store(
        &self,
        uri: &Uri,
        snapshot: &Snapshot,
        cell: usize,
        ran: cells::Ran,
        environment: Option<String>,
    ) -> Option<Kept> {
        let anchor = CellAnchor::of(snapshot.parse(), snapshot.text(), cell)?;
        let new = ran.keep(anchor, environment);
        let mut records = lock(&self.records);
        let kept = records.entry(uri.clone()).or_default();
        kept.retain(|old| {
            old.anchor
                .locate(snapshot.parse(), snapshot.text())
                .is_some_and(|at| at != cell)
        });
        kept.push(new.clone());
        self.persist(uri, kept);
        Some(new)
    }

    /// Forgets the latest run of cell `cell` of `snapshot`, or of every cell.
    fn forget(&self, uri: &Uri, cell: Option<(&Snapshot, usize)>) {
        let mut records = lock(&self.records);
        let kept = records.entry(uri.clone()).or_default();
        match cell {
            Some((snapshot, cell)) => {
                kept.retain(|k| k.anchor.locate(snapshot.parse(), snapshot.text()) != Some(cell));
            }
            None => kept.clear(),
        }
        self.persist(uri, kept);
    }

    /// Writes `kept` to `uri`'s store file in the background. Encoded
    /// under the caller's lock, so that versions are numbered in the order
    /// the results changed; written off the async threads.
    fn persist(&self, uri: &Uri, kept: &[Kept]) {
        let Some(file) = self.store_file(uri) else {
            return;
        };
        let bytes = results::encode(kept);
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let written = self.written.clone();
        tokio::task::spawn_blocking(move || {
            let mut on_disk = lock(&written);
            if on_disk.get(&file).is_some_and(|&v| v >= version) {
                return;
            }
            match results::write(&file, &bytes) {
                Ok(()) => {
                    on_disk.insert(file, version);
                }
                Err(error) => tracing::warn!(%error, "results not kept"),
            }
        });
    }

    /// Stops every run of `uri` (of cell `cell` of the snapshot, if given);
    /// returns how many were stopped.
    fn cancel(&self, uri: &Uri, cell: Option<(&Snapshot, usize)>) -> usize {
        let mut active = lock(&self.active);
        let mut stopped = 0;
        active.retain(|_, (run_uri, anchor, abort)| {
            let hit = run_uri == uri
                && cell.is_none_or(|(snapshot, cell)| {
                    anchor.locate(snapshot.parse(), snapshot.text()) == Some(cell)
                });
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

pub async fn execute(
    client: &Client,
    state: &std::sync::Arc<State>,
    params: ExecuteCommandParams,
) -> Result<Option<Value>> {
    let command = DatabookCommand::from_lsp(&params)?;
    state.plugins.ready().await;
    match command {
        DatabookCommand::Run(uri, anchor) => {
            let snapshot = document(state, &uri)?;
            let cell = find(&snapshot, &anchor)?;
            let order = references(snapshot.parse(), snapshot.text())
                .run_order(&[cell])
                .map_err(|cycle| Error::invalid_params(cycle_message(&snapshot, &cycle)))?;
            run_cells(client, state, &uri, &snapshot, order, Some(&[cell])).await
        }
        DatabookCommand::RunWithDependents(uri, anchor) => {
            let snapshot = document(state, &uri)?;
            let cell = find(&snapshot, &anchor)?;
            let refs = references(snapshot.parse(), snapshot.text());
            let forced = refs.with_dependents(&[cell]);
            let order = refs
                .run_order(&forced)
                .map_err(|cycle| Error::invalid_params(cycle_message(&snapshot, &cycle)))?;
            run_cells(client, state, &uri, &snapshot, order, Some(&forced)).await
        }
        DatabookCommand::RunAll(uri) => {
            let snapshot = document(state, &uri)?;
            let all: Vec<usize> = (0..snapshot.parse().cells.len()).collect();
            let order = references(snapshot.parse(), snapshot.text())
                .run_order(&all)
                .map_err(|cycle| Error::invalid_params(cycle_message(&snapshot, &cycle)))?;
            run_cells(client, state, &uri, &snapshot, order, None).await
        }
        DatabookCommand::Clear(uri, anchor) => {
            let snapshot = document(state, &uri)?;
            let cell = find(&snapshot, &anchor)?;
            state.runs.forget(&uri, Some((&snapshot, cell)));
            let written = write_edit(client, state, &uri, |snapshot| {
                let cell = anchor.locate(snapshot.parse(), snapshot.text());
                Plan::for_cell(cell, |cell| {
                    clear_output(snapshot.text(), snapshot.parse(), cell)
                })
            })
            .await;
            super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
            Ok(Some(json!({ "edited": written == Written::Applied })))
        }
        DatabookCommand::ClearAll(uri) => {
            state.runs.forget(&uri, None);
            let written = write_edit(client, state, &uri, |snapshot| {
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
            super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
            Ok(Some(json!({ "edited": written == Written::Applied })))
        }
        DatabookCommand::Cancel(uri, anchor) => {
            let stopped = match &anchor {
                Some(anchor) => {
                    let snapshot = document(state, &uri)?;
                    let cell = find(&snapshot, anchor)?;
                    state.runs.cancel(&uri, Some((&snapshot, cell)))
                }
                None => state.runs.cancel(&uri, None),
            };
            Ok(Some(json!({ "cancelled": stopped })))
        }
        DatabookCommand::SetEnvironment(name) => {
            let environments = super::environments::set(client, state, name).await?;
            Ok(Some(json!(environments)))
        }
    }
}

fn document(state: &State, uri: &Uri) -> Result<Snapshot> {
    state
        .documents
        .get(uri)
        .ok_or_else(|| Error::invalid_params(format!("{} is not open", uri.as_str())))
}

fn find(snapshot: &Snapshot, anchor: &CellAnchor) -> Result<usize> {
    anchor
        .locate(snapshot.parse(), snapshot.text())
        .ok_or_else(|| {
            Error::invalid_params(format!(
                "cell {} ({}) is no longer in the document",
                anchor.index + 1,
                anchor.header
            ))
        })
}

fn cycle_message(snapshot: &Snapshot, cycle: &[usize]) -> String {
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| cells::label(&snapshot.parse().cells[i]))
        .collect();
    format!("the cells' inputs form a cycle: {}", names.join(" → "))
}

/// Runs `order` (cells of `snapshot`, dependencies first). Cells other than
/// those `forced` (all, when `None`) whose latest result succeeded are not
/// run again, so that running one cell runs only the inputs it lacks.
async fn run_cells(
    client: &Client,
    state: &std::sync::Arc<State>,
    uri: &Uri,
    snapshot: &Snapshot,
    order: Vec<usize>,
    forced: Option<&[usize]>,
) -> Result<Option<Value>> {
    let mut summary = Vec::new();
    // Read once for the whole command, not once per cell it runs.
    let refs = references(snapshot.parse(), snapshot.text());
    for index in order {
        let Some(anchor) = CellAnchor::of(snapshot.parse(), snapshot.text(), index) else {
            continue;
        };
        let input = refs
            .input_of(index)
            .and_then(|input| CellAnchor::of(snapshot.parse(), snapshot.text(), input));
        let is_dependency = forced.is_some_and(|forced| !forced.contains(&index));
        if is_dependency
            && state
                .runs
                .latest(uri, snapshot, index)
                .is_some_and(|kept| kept.report.result.is_ok())
        {
            continue;
        }
        let run_id = state.runs.next_id.fetch_add(1, Ordering::Relaxed);
        let task = tokio::spawn(run_one(
            client.clone(),
            state.clone(),
            uri.clone(),
            anchor.clone(),
            input,
        ));
        lock(&state.runs.active).insert(run_id, (uri.clone(), anchor, task.abort_handle()));
        let guard = AbortOnDrop(task.abort_handle());
        let outcome = task.await;
        drop(guard);
        lock(&state.runs.active).remove(&run_id);
        match outcome {
            Ok(Ok(status)) => summary.push(json!({"cell": index, "status": status})),
            Ok(Err(Unwritten::Gone(message))) => {
                summary.push(json!({"cell": index, "status": "gone", "message": message}))
            }
            Ok(Err(Unwritten::Refused(message))) => {
                summary.push(json!({"cell": index, "status": "unwritten", "message": message}))
            }
            Err(_) => {
                summary.push(json!({"cell": index, "status": "cancelled"}));
                break;
            }
        }
    }
    Ok(Some(json!({ "runs": summary })))
}

/// Why a run's output is not in the document.
enum Unwritten {
    /// The cell (or the document) is gone.
    Gone(String),
    /// The editor kept refusing the edit.
    Refused(String),
}

/// Runs one cell, with the latest result of its `input` cell, and writes its
/// output. Returns its status, or why nothing was written.
async fn run_one(
    client: Client,
    state: std::sync::Arc<State>,
    uri: Uri,
    anchor: CellAnchor,
    input: Option<CellAnchor>,
) -> std::result::Result<&'static str, Unwritten> {
    let gone = |why: &str| Unwritten::Gone(why.to_string());
    let snapshot = state
        .documents
        .get(&uri)
        .ok_or_else(|| gone("the document was closed"))?;
    let cell_index = anchor
        .locate(snapshot.parse(), snapshot.text())
        .ok_or_else(|| gone("the cell was deleted before it ran"))?;
    let header = anchor.header;
    let cell = snapshot.parse().cells[cell_index].clone();
    let label = cells::label(&cell);

    // The progress is shown beside the run, not before it: asking the
    // editor for a progress token is a round trip the run need not wait on.
    let progress = Progress::begin(&client, &label);
    // The environment as the run starts: a switch meanwhile is the next
    // run's.
    let environment = state.plugins.current().workspace.environment.clone();
    let ran = run_plugin(
        &state,
        &uri,
        &snapshot,
        cell_index,
        input,
        environment.as_deref(),
    )
    .await;
    let status = if ran.report.result.is_ok() {
        "ok"
    } else {
        "error"
    };
    let how = match ran.cached_at_ms {
        Some(_) => "reused from the cache".to_string(),
        None => format!("in {} ms", ran.report.elapsed.as_millis()),
    };
    progress.finish(format!("{label}: {status} {how}"));

    let block = cells::block(&ran.report.result);
    let kept = state
        .runs
        .store(&uri, &snapshot, cell_index, ran, environment)
        .ok_or_else(|| gone("the cell was deleted before it ran"))?;
    let params = OutputParams::of(&uri, cell_index, cell.name(), &kept);

    let written = write_edit(&client, &state, &uri, |now| {
        let cell = locate_cell(now.parse(), now.text(), cell_index, &header);
        Plan::for_cell(cell, |cell| {
            set_output(now.text(), now.parse(), cell, &block)
        })
    })
    .await;
    match written {
        Written::Gone => {
            client
                .show_message(
                    MessageType::WARNING,
                    format!("{label} was deleted while it ran; its output was not written"),
                )
                .await;
            return Err(Unwritten::Gone(format!("{label} was deleted while it ran")));
        }
        Written::Refused => {
            let message = format!(
                "the editor kept refusing {label}'s output; its result is in the preview and hover"
            );
            client.show_message(MessageType::WARNING, &message).await;
            client.send_notification::<OutputNotification>(params).await;
            return Err(Unwritten::Refused(message));
        }
        Written::Applied | Written::Unchanged => {}
    }
    client.send_notification::<OutputNotification>(params).await;
    super::diagnostics::spawn_publish(client.clone(), state.clone(), uri);
    Ok(status)
}

/// Runs cell `cell` of `snapshot` with the latest result of `input`, and
/// the latest results of the cells it takes values from; or reuses its own
/// latest result if it says `cache=` and nothing it depends on changed.
async fn run_plugin(
    state: &State,
    uri: &Uri,
    snapshot: &Snapshot,
    index: usize,
    input: Option<CellAnchor>,
    environment: Option<&str>,
) -> cells::Ran {
    let loaded = state.plugins.current();
    let (parse, text) = (snapshot.parse(), snapshot.text());
    let latest_input = input
        .and_then(|input| input.locate(parse, text))
        .and_then(|input| state.runs.latest(uri, snapshot, input))
        .map(|kept| kept.report);
    let cell = &parse.cells[index];
    let input = cells::input(cell.input(), latest_input.as_ref());
    // Only a body that takes values needs the cells' names read.
    let refs = (!value_refs(cell.body_text(text)).is_empty()).then(|| references(parse, text));
    let value = |reference: &ValueRef| {
        let latest = refs
            .as_ref()
            .and_then(|refs| refs.cell_named(&reference.cell))
            .and_then(|taken| state.runs.latest(uri, snapshot, taken));
        cells::cell_value(reference, latest.as_ref().map(|kept| &kept.report.result))
    };
    let lookup = |name: &str| {
        loaded
            .registry
            .get(name)
            .cloned()
            .map_err(|error| error.to_string())
    };
    let latest = state.runs.latest(uri, snapshot, index);
    cells::prepare(cell, text, lookup, input, value, &[])
        .run_or_reuse(latest.as_ref(), environment, true)
        .await
}

type Ongoing = tower_lsp_server::OngoingProgress<
    tower_lsp_server::Unbounded,
    tower_lsp_server::NotCancellable,
>;

/// A run's progress, which always ends: with how the run went, or, when
/// the run is stopped (cancelled, or its request dropped), as cancelled, so
/// that no editor keeps a spinner for a run that is over. It lives in a task
/// of its own, so that a run waits for none of its messages.
struct Progress {
    done: tokio::sync::oneshot::Sender<String>,
}

impl Progress {
    fn begin(client: &Client, label: &str) -> Progress {
        let (done, finished) = tokio::sync::oneshot::channel::<String>();
        let (client, label) = (client.clone(), label.to_string());
        tokio::spawn(async move {
            let ongoing = begin_progress(&client, &label).await;
            // A dropped sender is a run that was stopped.
            let message = finished
                .await
                .unwrap_or_else(|_| format!("{label}: cancelled"));
            if let Some(ongoing) = ongoing {
                ongoing.finish_with_message(message).await;
            }
        });
        Progress { done }
    }

    fn finish(self, message: String) {
        // The progress's task is gone only if the runtime is shutting down.
        let _ = self.done.send(message);
    }
}

async fn begin_progress(client: &Client, label: &str) -> Option<Ongoing> {
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
    let document = lock(&state.runs.editing)
        .entry(uri.clone())
        .or_default()
        .clone();
    let _editing = document.lock().await;
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
        // Give the editor's didChange time to arrive: 10 ms, doubling up
        // to 320 ms (about 2.5 s in all).
        tokio::time::sleep(Duration::from_millis(10 << attempt.min(5))).await;
    }
    Written::Refused
}
