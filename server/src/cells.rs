//! What running a notebook cell means, the one path for the language server
//! and headless runs: which plugin runs it, what it is given, and the output
//! block written from what it returned.

use std::time::Duration;

use databook_notebook::{
    BodyRef, Cache, Cell, Status, ValueRef, follow, output_block, reads_back, render, render_error,
    result_json, substitute, value_text,
};
use databook_runtime::{Cell as RunCell, Failure, Output, Plugin, RunReport};
use sha2::{Digest, Sha256};

use crate::results::{Kept, now_ms};

/// Output blocks longer than this are cut in the file (the full result
/// stays available to previews, hover, `--json` and `input=`).
pub const MAX_OUTPUT_LINES: usize = 40;

/// A cell ready to run, or the reason it cannot.
pub struct Prepared(Result<Ready, String>);

struct Ready {
    plugin: Plugin,
    run: RunCell,
    timeout: Option<Duration>,
    cache: Option<Cache>,
}

/// Prepares the run of `cell` (of the notebook `text`): its plugin found by
/// `lookup`, its body with its references replaced (a variable's value, or
/// what `value` finds for a `{{CELL.PATH}}`, see [`cell_value`]), its
/// options with `overrides` applied to the keys it has, its time limit,
/// and `input`, the full output of its `input=` cell (see [`input`]).
pub fn prepare(
    cell: &Cell,
    text: &str,
    lookup: impl FnOnce(&str) -> Result<Plugin, String>,
    input: Result<Option<Output>, String>,
    value: impl Fn(&ValueRef) -> Result<String, String>,
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
        let body = substitute(cell.body_text(text), |found| match found {
            BodyRef::Variable(var) => variable(&plugin, &var.name),
            BodyRef::Value(reference) => value(reference),
        })?;
        Ok(Ready {
            plugin,
            run: RunCell {
                body,
                options,
                input,
            },
            timeout: cell.timeout(),
            cache: cell.cache(),
        })
    }))
}

/// A cell's run, or its latest result reused (`cache=`).
pub struct Ran {
    pub report: RunReport,
    /// What the run was of, for a cell with `cache=`: see
    /// [`Prepared::cache_key`].
    pub key: Option<String>,
    /// When the reused result was made, if it was reused.
    pub cached_at_ms: Option<u64>,
}

impl Ran {
    /// The run as it is kept, under `anchor`.
    pub fn keep(self, anchor: databook_notebook::CellAnchor, environment: Option<String>) -> Kept {
        let mut kept = Kept::now(anchor, self.report, environment, self.key);
        if let Some(at) = self.cached_at_ms {
            kept.at_ms = at;
            kept.cached = true;
        }
        kept
    }
}

impl Prepared {
    /// Runs it; a cell that could not be prepared is a failed run that took
    /// no time. Dropping the future cancels the run.
    pub async fn run(self) -> RunReport {
        match self.0 {
            Ok(ready) => ready.plugin.run(ready.run, ready.timeout).await,
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

    /// Runs it, unless the cell says `cache=`, `use_cache` allows it, and
    /// `latest` (the cell's latest kept result) succeeded with the same key
    /// and is not older than the cell allows: then that result is reused.
    pub async fn run_or_reuse(
        self,
        latest: Option<&Kept>,
        environment: Option<&str>,
        use_cache: bool,
    ) -> Ran {
        // The key hashes the body and the input, which may be large: only
        // a cell that says `cache=` pays for it.
        let policy = self.0.as_ref().ok().and_then(|ready| ready.cache);
        let key = policy.and_then(|_| self.cache_key(environment));
        if use_cache
            && let (Some(policy), Some(key), Some(latest)) = (policy, &key, latest)
            && latest.key.as_ref() == Some(key)
            && latest.report.result.is_ok()
            && match policy {
                Cache::Unlimited => true,
                Cache::For(limit) => {
                    now_ms().saturating_sub(latest.at_ms) <= limit.as_millis() as u64
                }
            }
        {
            return Ran {
                report: latest.report.clone(),
                key: Some(key.clone()),
                cached_at_ms: Some(latest.at_ms),
            };
        }
        Ran {
            report: self.run().await,
            key,
            cached_at_ms: None,
        }
    }

    /// What the run is of, as a hash: the plugin (its name and its wasm's
    /// digest), the body after substitution, the options, the environment,
    /// the values of the variables the plugin may read, and the input. Two
    /// runs with the same key are taken to give the same result. A
    /// secret's value is left out, so that nothing derived from it is
    /// written to disk; its name is in. `None` for a cell that cannot run.
    pub fn cache_key(&self, environment: Option<&str>) -> Option<String> {
        let ready = self.0.as_ref().ok()?;
        let mut hash = Sha256::new();
        // Each part is written with its length, so that no two different
        // sets of parts hash the same bytes.
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        part(b"databook cache key 1");
        part(ready.plugin.name().as_bytes());
        part(ready.plugin.wasm_digest());
        part(ready.run.body.as_bytes());
        for (key, value) in &ready.run.options {
            part(key.as_bytes());
            part(value.as_bytes());
        }
        part(environment.unwrap_or("").as_bytes());
        let grant = ready.plugin.grant();
        for name in grant.readable() {
            part(name.as_bytes());
            match grant.env(name) {
                _ if grant.is_secret(name) => part(b"secret"),
                Some(value) => part(value.as_bytes()),
                None => part(b"unset"),
            }
        }
        match &ready.run.input {
            Some(input) => {
                part(input.mime.as_bytes());
                part(input.data.as_bytes());
            }
            None => part(b"no input"),
        }
        let digest = hash.finalize();
        Some(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
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

/// The value `{{CELL.PATH}}` stands for: the path followed into the named
/// cell's latest result (`latest`; `None` when it has not run), a string
/// as its text and anything else as JSON.
pub fn cell_value(
    reference: &ValueRef,
    latest: Option<&Result<Output, Failure>>,
) -> Result<String, String> {
    let (whole, cell) = (reference.text(), &reference.cell);
    let output = match latest {
        None => return Err(format!("{{{{{whole}}}}}: the cell `{cell}` has not run")),
        Some(Err(_)) => return Err(format!("{{{{{whole}}}}}: the cell `{cell}` failed")),
        Some(Ok(output)) => output,
    };
    let json = result_json(&output.mime, &output.data)
        .map_err(|why| format!("{{{{{whole}}}}}: the cell `{cell}`: {why}"))?;
    follow(&json, &reference.path)
        .map(value_text)
        .map_err(|why| format!("{{{{{whole}}}}}: in the result of the cell `{cell}`, {why}"))
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
