//! Diagnostics: the notebook's own (syntax and analysis), what each cell's
//! plugin `check` says of its body, and a failed run's error on its cell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use databook_notebook::{Severity, analyze};
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

/// Computes the document's diagnostics and publishes them, unless the
/// document changed meanwhile (the newer version's task publishes then).
pub fn spawn_publish(client: Client, state: Arc<State>, uri: Uri) {
    tokio::spawn(async move {
        let Some(snapshot) = state.documents.get(&uri) else {
            return;
        };
        let loaded = state.plugins.current();
        let mut diagnostics: Vec<Diagnostic> = analyze(snapshot.parse(), snapshot.text(), &*loaded)
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
