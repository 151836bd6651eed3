//! Diagnostics: the notebook's own (syntax and analysis), what each cell's
//! plugin `check` says of its body, and a failed run's error on its cell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use databook_notebook::{
    Diagnostic as Finding, Parse, Severity, header_diagnostics, syntax_diagnostics,
};
use databook_runtime::Problem;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Uri};

use super::{State, convert, run};

/// What plugins' `check` said of a body, so that a keystroke in one cell
/// does not check every other cell again. Cleared when it grows large.
#[derive(Default)]
pub struct CheckCache {
    entries: Mutex<HashMap<u64, Vec<Problem>>>,
}

/// A check's inputs (the plugin, the body and the options), hashed: a
/// keystroke looks up every cell, and building owned keys for each would
/// cost more than the lookups.
fn check_key(plugin: &str, body: &str, options: &[(String, String)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (plugin, body, options).hash(&mut hasher);
    hasher.finish()
}

const CHECK_CACHE_SIZE: usize = 4096;

fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    }
}

/// The header diagnostics of each document, kept while its headers (and
/// the plugins) stay the same: typing in a body then costs a comparison of
/// the headers instead of an analysis of the whole notebook.
#[derive(Default)]
pub struct HeaderCache {
    documents: Mutex<HashMap<Uri, HeaderFindings>>,
}

struct HeaderFindings {
    /// The plugins' generation they were computed with.
    generation: u64,
    /// Every header's text, one after the other, and where each ends: one
    /// allocation rather than one per cell.
    headers: String,
    ends: Vec<usize>,
    /// Each finding with its cell and its ranges relative to the header.
    findings: Vec<(usize, Finding)>,
}

fn shifted(finding: &Finding, by: isize) -> Finding {
    let shift = |r: &std::ops::Range<usize>| {
        (r.start as isize + by) as usize..(r.end as isize + by) as usize
    };
    let mut finding = finding.clone();
    finding.range = shift(&finding.range);
    for fix in &mut finding.fixes {
        fix.edit.range = shift(&fix.edit.range);
    }
    finding
}

impl HeaderCache {
    /// The header diagnostics of `parse`, computed anew only when a header
    /// or the plugins changed.
    fn get(
        &self,
        uri: &Uri,
        parse: &Parse,
        text: &str,
        generation: u64,
        analyze: impl FnOnce() -> Vec<Finding>,
    ) -> Vec<Finding> {
        let mut documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        let same = documents.get(uri).is_some_and(|cached| {
            cached.generation == generation
                && cached.ends.len() == parse.cells.len()
                && parse.cells.iter().enumerate().all(|(i, cell)| {
                    let start = if i == 0 { 0 } else { cached.ends[i - 1] };
                    cached.headers[start..cached.ends[i]] == text[cell.header.range.clone()]
                })
        });
        if !same {
            let findings = analyze()
                .into_iter()
                .filter_map(|finding| {
                    // Every header finding lies in its cell's header line.
                    let cell = parse.cells.iter().find(|c| {
                        c.header.range.start <= finding.range.start
                            && finding.range.end <= c.header.range.end
                    })?;
                    Some((
                        cell.index,
                        shifted(&finding, -(cell.header.range.start as isize)),
                    ))
                })
                .collect();
            let mut headers = String::new();
            let mut ends = Vec::with_capacity(parse.cells.len());
            for cell in &parse.cells {
                headers.push_str(&text[cell.header.range.clone()]);
                ends.push(headers.len());
            }
            documents.insert(
                uri.clone(),
                HeaderFindings {
                    generation,
                    headers,
                    ends,
                    findings,
                },
            );
        }
        documents[uri]
            .findings
            .iter()
            .map(|(cell, finding)| shifted(finding, parse.cells[*cell].header.range.start as isize))
            .collect()
    }

    pub fn forget(&self, uri: &Uri) {
        self.documents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uri);
    }
}

/// Computes the document's diagnostics and publishes them, unless the
/// document changed meanwhile (the newer version's task publishes then).
pub fn spawn_publish(client: Client, state: Arc<State>, uri: Uri) {
    tokio::spawn(async move {
        let Some(snapshot) = state.documents.get(&uri) else {
            return;
        };
        let loaded = state.plugins.current();
        let parse = snapshot.parse();
        let text = snapshot.text();
        let mut findings = syntax_diagnostics(parse, text, &*loaded);
        findings.extend(state.headers.get(&uri, parse, text, loaded.generation, || {
            header_diagnostics(parse, &*loaded)
        }));
        let mut diagnostics: Vec<Diagnostic> = findings
            .into_iter()
            .map(|d| Diagnostic {
                range: convert::range(&snapshot.rope, &d.range),
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
        let records = state.runs.records_of(&uri);
        for cell in &snapshot.parse().cells {
            let Some(plugin) = cell.plugin().and_then(|name| loaded.plugin(name)) else {
                continue;
            };
            // A failed run's error, on the header of the cell that ran.
            if !records.is_empty()
                && let Some(record) = records.get(&run::cell_key(cell, snapshot.text()))
                && let Err(failure) = &record.result
            {
                diagnostics.push(Diagnostic {
                    range: convert::range(&snapshot.rope, &cell.header.range),
                    severity: Some(DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("run-failed".into())),
                    source: Some(plugin.name().to_string()),
                    message: format!("the last run failed: {failure}"),
                    ..Default::default()
                });
            }
            if !plugin.can_check() {
                continue;
            }
            let body = cell.body_text(snapshot.text());
            let options = cell.plugin_options();
            let cache_key = check_key(plugin.name(), body, &options);
            let cached = state.checks.lock().get(&cache_key).cloned();
            let problems = match cached {
                Some(problems) => problems,
                None => match plugin.check(body, &options).await {
                    Ok(problems) => {
                        let mut entries = state.checks.lock();
                        if entries.len() >= CHECK_CACHE_SIZE {
                            entries.clear();
                        }
                        entries.insert(cache_key, problems.clone());
                        problems
                    }
                    Err(failure) => {
                        tracing::debug!(plugin = plugin.name(), %failure, "check failed");
                        Vec::new()
                    }
                },
            };
            for problem in problems {
                let range = cell.body.start + problem.start..cell.body.start + problem.end;
                diagnostics.push(Diagnostic {
                    range: convert::range(&snapshot.rope, &range),
                    severity: Some(match problem.severity {
                        databook_runtime::Severity::Error => DiagnosticSeverity::ERROR,
                        databook_runtime::Severity::Warning => DiagnosticSeverity::WARNING,
                        databook_runtime::Severity::Info => DiagnosticSeverity::INFORMATION,
                    }),
                    source: Some(plugin.name().to_string()),
                    message: problem.message,
                    ..Default::default()
                });
            }
        }
        // Let go of the snapshot first: while it is shared, the next edit
        // would have to copy the whole document instead of changing it.
        let version = snapshot.version;
        drop(snapshot);
        if state.documents.version(&uri) == Some(version) {
            client
                .publish_diagnostics(uri, diagnostics, Some(version))
                .await;
        }
    });
}

impl CheckCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<Problem>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
