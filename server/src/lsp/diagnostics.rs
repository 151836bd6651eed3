//! Diagnostics: the notebook's own (syntax and analysis), what each cell's
//! plugin `check` says of its body, and a failed run's error on its cell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use databook_notebook::{
    Cell, CellId, Diagnostic as Finding, Document, HeaderAnalysis, Severity, TextRange, body_refs,
    document_syntax_diagnostics, matching_ends, variable_refs,
};
use databook_runtime::Problem;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Uri};

use super::plugins::Loaded;
use super::{State, convert};

/// What plugins' `check` said of each cell's body, per document, kept
/// across edits by [`CellId`]: only cells an edit read anew (or never
/// checked) are checked again, and finding them costs a comparison of ids,
/// not of text.
#[derive(Default)]
pub struct CheckCache {
    documents: Mutex<HashMap<Uri, DocumentChecks>>,
}

#[derive(Default)]
struct DocumentChecks {
    /// The plugins' generation the checks were made with.
    generation: u64,
    /// The id of each cell of `cells`, in a list of its own, so that
    /// comparing them all reads 8 bytes a cell.
    ids: Vec<CellId>,
    cells: Vec<CellCheck>,
    /// How many cells are still to be checked, and how many checks found
    /// something: when none, a keystroke need not look at every cell.
    unchecked: usize,
    found: usize,
}

impl CellCheck {
    fn unchecked(&self) -> bool {
        self.problems.is_none()
    }

    fn found(&self) -> bool {
        self.problems.as_ref().is_some_and(|p| !p.is_empty())
    }
}

struct CellCheck {
    /// What the check found, once it has been made.
    problems: Option<Vec<Problem>>,
}

impl CheckCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, DocumentChecks>> {
        self.documents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the document's entries in line with `parse` and returns the
    /// cells that need a check, by index; or `None` when the document has
    /// changed since (the newer version's task checks it, and nobody will
    /// see this one's diagnostics).
    fn update(
        &self,
        uri: &Uri,
        document: &Document,
        is_current: impl FnOnce() -> bool,
        generation: u64,
        checkable: impl Fn(&Cell) -> bool,
    ) -> Option<Vec<usize>> {
        let mut documents = self.lock();
        // Asked under the lock: a newer version's update then comes after
        // this one, never before.
        if !is_current() {
            return None;
        }
        let checks = documents.entry(uri.clone()).or_default();
        if checks.generation != generation {
            *checks = DocumentChecks {
                generation,
                ..DocumentChecks::default()
            };
        }
        let ids = document.cell_ids();
        let (old, new) = (checks.ids.len(), ids.len());
        let (prefix, suffix) = matching_ends(&checks.ids, ids);
        let read: Vec<CellCheck> = (prefix..new - suffix)
            .map(|i| CellCheck {
                // A cell whose plugin has no check has nothing to find.
                problems: (!document.cell(i).is_some_and(|cell| checkable(&cell))).then(Vec::new),
            })
            .collect();
        let count = |cells: &[CellCheck]| {
            let unchecked = cells.iter().filter(|c| c.unchecked()).count();
            (unchecked, cells.iter().filter(|c| c.found()).count())
        };
        let (gone, came) = (count(&checks.cells[prefix..old - suffix]), count(&read));
        checks.unchecked = checks.unchecked - gone.0 + came.0;
        checks.found = checks.found - gone.1 + came.1;
        checks.cells.splice(prefix..old - suffix, read);
        checks.ids.splice(
            prefix..old - suffix,
            ids[prefix..new - suffix].iter().copied(),
        );
        debug_assert_eq!(
            (checks.unchecked, checks.found),
            count(&checks.cells),
            "the counts are those of the cells"
        );
        if checks.unchecked == 0 {
            return Some(Vec::new());
        }
        let unchecked = (0..new).filter(|&i| checks.cells[i].unchecked());
        Some(unchecked.collect())
    }

    /// Keeps what the check of cell `index` found, if the cell is still as
    /// it was checked, by the same plugins.
    fn store(
        &self,
        uri: &Uri,
        (index, id): (usize, CellId),
        generation: u64,
        problems: Vec<Problem>,
    ) {
        let mut documents = self.lock();
        if let Some(checks) = documents
            .get_mut(uri)
            .filter(|checks| checks.generation == generation)
            && checks.ids.get(index) == Some(&id)
            && let Some(cell) = checks.cells.get_mut(index)
        {
            let was = (cell.unchecked(), cell.found());
            cell.problems = Some(problems);
            checks.unchecked =
                checks.unchecked + usize::from(cell.unchecked()) - usize::from(was.0);
            checks.found = checks.found + usize::from(cell.found()) - usize::from(was.1);
        }
    }

    /// What the checks found, for the cells whose checks are done.
    fn found(&self, uri: &Uri) -> Vec<(usize, Vec<Problem>)> {
        let documents = self.lock();
        let Some(checks) = documents.get(uri).filter(|checks| checks.found > 0) else {
            return Vec::new();
        };
        checks
            .cells
            .iter()
            .enumerate()
            .filter(|(_, cell)| cell.found())
            .map(|(i, cell)| (i, cell.problems.clone().unwrap_or_default()))
            .collect()
    }

    pub fn forget(&self, uri: &Uri) {
        self.lock().remove(uri);
    }
}

fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    }
}

/// The header diagnostics of each document, kept up to date across edits:
/// typing in a body costs a comparison of the headers, typing in a header
/// reads that header again and redoes only the checks across headers.
#[derive(Default)]
pub struct HeaderCache {
    documents: Mutex<HashMap<Uri, HeaderAnalysis>>,
}

impl HeaderCache {
    /// The header findings of `document`, and the cells whose body has
    /// `{{` in it.
    fn get(&self, uri: &Uri, document: &Document, loaded: &Loaded) -> (Vec<Finding>, Vec<usize>) {
        let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        let analysis = documents.entry(uri.clone()).or_default();
        let findings = analysis.update(document, loaded.generation, loaded);
        (findings, analysis.cells_with_braces().collect())
    }

    /// Calls `with` with the analysis of `document`, brought up to date.
    pub fn with<R>(
        &self,
        uri: &Uri,
        document: &Document,
        loaded: &Loaded,
        with: impl FnOnce(&HeaderAnalysis) -> R,
    ) -> R {
        let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        let analysis = documents.entry(uri.clone()).or_default();
        analysis.refresh(document, loaded.generation, loaded);
        with(analysis)
    }

    pub fn forget(&self, uri: &Uri) {
        self.documents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uri);
    }
}

/// What analysis finds in the document (settled or not): its syntax errors
/// and what its headers have wrong, with their fixes.
pub fn findings(state: &State, uri: &Uri, document: &Document, loaded: &Loaded) -> Vec<Finding> {
    let mut findings = document_syntax_diagnostics(document, loaded);
    let (headers, braces) = state.headers.get(uri, document, loaded);
    findings.extend(headers);
    let variables = variable_findings(document, loaded, &braces);
    if !variables.is_empty() {
        findings.extend(variables);
        findings.sort_by_key(|d| (d.range.start, d.range.end));
    }
    findings
}

/// Each `{{NAME}}` in a body that its cell's plugin may not read (an
/// error: the run would fail on it), or that has no value in the current
/// environment (a warning).
fn variable_findings(document: &Document, loaded: &Loaded, braces: &[usize]) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Most bodies have no variable: the header analysis, kept across
    // edits, says which have `{{` at all.
    for cell in braces.iter().filter_map(|&index| document.cell(index)) {
        let Some(body) = document.slice(cell.body.clone()) else {
            continue;
        };
        let Some(plugin) = cell.plugin().and_then(|name| loaded.plugin(name)) else {
            continue;
        };
        let grant = plugin.grant();
        for var in variable_refs(&body) {
            let range = cell.body.start + var.range.start..cell.body.start + var.range.end;
            let name = &var.name;
            let (severity, code, message) = if !grant.readable().contains(name) {
                (
                    Severity::Error,
                    "ungranted-variable",
                    format!(
                        "the plugin `{}` may not read {name}: add it to its permissions.env or secrets (in databook.toml, [plugin.{}.permissions])",
                        plugin.name(),
                        plugin.name()
                    ),
                )
            } else if grant.env(name).is_none() {
                (
                    Severity::Warning,
                    "unset-variable",
                    format!("{name} has no value here: set it in [env] or the current environment"),
                )
            } else {
                continue;
            };
            findings.push(Finding {
                range,
                severity,
                code,
                message,
                fixes: Vec::new(),
            });
        }
    }
    findings
}

/// [`publish`] in a task of its own.
pub fn spawn_publish(client: Client, state: Arc<State>, uri: Uri) {
    tokio::spawn(publish(client, state, uri));
}

/// Computes the document's diagnostics and publishes them, unless the
/// document changed meanwhile (the newer version's call publishes then).
///
/// It reads the document as the last edit left it (a [`Draft`]), through
/// its accessors: nothing here reads the whole text or parse, so a
/// keystroke does not settle the document (see `documents`).
pub async fn publish(client: Client, state: Arc<State>, uri: Uri) {
    state.plugins.ready().await;
    let Some(draft) = state.documents.draft(&uri) else {
        return;
    };
    let loaded = state.plugins.current();
    let document = draft.document();
    // Findings come sorted by position, and so do the cells below: on a
    // settled document (just opened, say) positions are counted along the
    // text, otherwise each is looked up in the rope.
    let mut positions = document
        .is_settled()
        .then(|| convert::Positions::new(&draft.rope, document.text()));
    let mut range_of = |range: &TextRange| match &mut positions {
        Some(positions) => positions.range(range),
        None => convert::range(&draft.rope, range),
    };
    let mut diagnostics: Vec<Diagnostic> = findings(&state, &uri, document, &loaded)
        .into_iter()
        .map(|d| Diagnostic {
            range: range_of(&d.range),
            severity: Some(severity(d.severity)),
            code: Some(NumberOrString::String(d.code.to_string())),
            source: Some("databook".into()),
            message: d.message,
            ..Default::default()
        })
        .collect();
    if let Some(error) = &loaded.config_error {
        diagnostics.push(Diagnostic {
            range: Default::default(),
            severity: Some(DiagnosticSeverity::ERROR),
            code: Some(NumberOrString::String("workspace-config".into())),
            source: Some("databook".into()),
            message: error.clone(),
            ..Default::default()
        });
    }

    // A failed run's error, on the header of the cell that ran.
    for (index, failure) in state.runs.failed(&uri, document) {
        let Some(cell) = document.cell(index) else {
            continue;
        };
        if let Some(plugin) = cell.plugin() {
            diagnostics.push(Diagnostic {
                range: range_of(&cell.header.range),
                severity: Some(DiagnosticSeverity::ERROR),
                code: Some(NumberOrString::String("run-failed".into())),
                source: Some(plugin.to_string()),
                message: format!("the last run failed: {failure}"),
                ..Default::default()
            });
        }
    }

    // What each cell's plugin `check` says of its body.
    let checkable = |cell: &Cell| {
        cell.plugin()
            .and_then(|name| loaded.plugin(name))
            .is_some_and(|plugin| plugin.can_check())
    };
    // Another task may publish the same version with newer plugins (a
    // reload, a run's end): this one is current only with both.
    let version = draft.version;
    let is_current = || {
        state.documents.version(&uri) == Some(version)
            && state.plugins.current().generation == loaded.generation
    };
    let Some(unchecked) =
        state
            .checks
            .update(&uri, document, is_current, loaded.generation, checkable)
    else {
        return;
    };
    for index in unchecked {
        // Checks can take long (a notebook just opened); once the user
        // has typed on, the newer version's task takes over, reusing
        // what this one stored so far.
        if !is_current() {
            return;
        }
        let Some(cell) = document.cell(index) else {
            continue;
        };
        let Some(plugin) = cell.plugin().and_then(|name| loaded.plugin(name)) else {
            continue;
        };
        let Some(body) = document.slice(cell.body.clone()) else {
            continue;
        };
        // A check of a version the user has typed past is stopped: the
        // newer version's task checks what is still unchecked then.
        let options = cell.plugin_options();
        // A body with `{{NAME}}` or `{{CELL.PATH}}` in it is not what
        // the plugin will be given, and its problems' places would not
        // be the file's: the references are checked above, the rest
        // when it runs.
        let outcome = if body_refs(&body).is_empty() {
            let check = plugin.check(&body, &options);
            tokio::select! {
                outcome = check => outcome,
                () = until_stale(&is_current) => return,
            }
        } else {
            Ok(Vec::new())
        };
        let problems = match outcome {
            Ok(problems) => problems,
            // Kept as "nothing found" for this body and these plugins,
            // so that a check that always fails or takes too long is
            // not tried again on every keystroke.
            Err(failure) => {
                tracing::debug!(plugin = plugin.name(), %failure, "check failed");
                Vec::new()
            }
        };
        let id = document.cell_ids()[index];
        state
            .checks
            .store(&uri, (index, id), loaded.generation, problems);
    }
    for (index, problems) in state.checks.found(&uri) {
        let Some(cell) = document.cell(index) else {
            continue;
        };
        for problem in problems {
            let range = cell.body.start + problem.start..cell.body.start + problem.end;
            diagnostics.push(Diagnostic {
                range: range_of(&range),
                severity: Some(match problem.severity {
                    databook_runtime::Severity::Error => DiagnosticSeverity::ERROR,
                    databook_runtime::Severity::Warning => DiagnosticSeverity::WARNING,
                    databook_runtime::Severity::Info => DiagnosticSeverity::INFORMATION,
                }),
                source: cell.plugin().map(str::to_string),
                message: problem.message,
                ..Default::default()
            });
        }
    }

    // Let go of the draft first: while it is shared, the next edit
    // would have to copy the whole document instead of changing it.
    drop(draft);
    if is_current() {
        client
            .publish_diagnostics(uri, diagnostics, Some(version))
            .await;
    }
}

/// Returns once `is_current` says the version being checked is no longer
/// the latest.
async fn until_stale(is_current: &impl Fn() -> bool) {
    while is_current() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
