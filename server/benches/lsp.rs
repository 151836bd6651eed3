//! The language server's speed on a generated 10,000-cell notebook (about
//! 1 MB), measured end to end: the real `databook lsp` process, driven over
//! stdio with real JSON-RPC framing, as an editor drives it.
//!
//! - open: `didOpen` until its diagnostics are published (full parse and
//!   analysis);
//! - keystroke: one character typed in a body (`didChange`) until the
//!   diagnostics of that version are published (incremental reparse and
//!   re-analysis), and the same in a cell's name, which reads that header
//!   again and checks the names and inputs across the notebook;
//! - completion of plugin names in a header, code actions and hover there,
//!   code lenses, and semantic tokens of the whole notebook and of a
//!   viewport: request to response.
//!
//! Run with `cargo bench -p databook --bench lsp`; it prints a Markdown table
//! for BENCHMARKS.md. To compare with another build of `databook` in the
//! same run, point `DATABOOK_BASELINE` at its binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// The tests' client of the real `databook lsp` process, shared.
#[path = "../tests/common/mod.rs"]
mod common;

use common::LspProcess;

const CELLS: usize = 10_000;
const SAMPLES: usize = 300;
const URI: &str = "file:///bench/big.dbk";

/// A notebook of `CELLS` cells: named, with options, bodies and outputs.
fn notebook() -> String {
    let mut text = String::from("# A large notebook\n\n");
    for i in 0..CELLS {
        text.push_str(&format!(
            "@plugin=echo name=cell{i} mime=text/plain\nline one of cell {i}, some words to make it longer\nline two\n"
        ));
        if i % 2 == 0 {
            text.push_str(&format!(
                "@output status=ok mime=text/plain\n> line one of cell {i}\n> line two\n"
            ));
        }
        text.push_str("@end\nSome prose between the cells.\n\n");
    }
    text
}

/// The timed operations, on the tests' client of the real process.
trait Timed {
    fn type_at(&mut self, version: &mut i64, line: usize, column: usize) -> Vec<Duration>;
    fn diagnostics_of(&mut self, version: i64) -> Value;
}

impl Timed for LspProcess {
    /// Types `SAMPLES` characters on `line` from `column` on, one edit each,
    /// and times each from the edit until its version's diagnostics are
    /// published.
    fn type_at(&mut self, version: &mut i64, line: usize, column: usize) -> Vec<Duration> {
        let mut times = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES {
            *version += 1;
            let at = json!({"line": line, "character": column + i});
            let started = Instant::now();
            self.notify(
                "textDocument/didChange",
                json!({
                    "textDocument": {"uri": URI, "version": *version},
                    "contentChanges": [{"range": {"start": at, "end": at}, "text": "x"}],
                }),
            );
            self.diagnostics_of(*version);
            times.push(started.elapsed());
        }
        times
    }

    fn diagnostics_of(&mut self, version: i64) -> Value {
        self.until(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == version
        })
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "not supported".to_owned();
    }
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.3} ms, p99 {:.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    )
}

/// The samples of each measurement, in the order of `MEASUREMENTS`, from
/// the language server of `program`.
fn measure(program: &Path) -> Vec<Vec<Duration>> {
    let home = tempfile::tempdir().unwrap();
    let mut server = LspProcess::start_program(program, home.path(), &[]);
    let root = format!("file://{}", home.path().display());
    let started = Instant::now();
    server.request(
        "initialize",
        json!({"processId": null, "rootUri": root, "capabilities": {}}),
    );
    let initialize = vec![started.elapsed()];
    server.notify("initialized", json!({}));
    // Ready: the plugins are loaded (in `initialize`, or after it), so the
    // opens below measure the notebook's own work in every build.
    let mut version = 1;
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "databook", "version": version, "text": "@plugin=echo\nx\n"}}),
    );
    server.diagnostics_of(version);
    let ready = vec![started.elapsed()];
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    );

    let text = notebook();
    let mut opens = Vec::new();
    for _ in 0..5 {
        version += 1;
        let started = Instant::now();
        server.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": URI, "languageId": "databook", "version": version, "text": text}}),
        );
        server.diagnostics_of(version);
        opens.push(started.elapsed());
        server.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": URI}}),
        );
    }
    version += 1;
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "databook", "version": version, "text": text}}),
    );
    server.diagnostics_of(version);

    // Typing in the body of a cell in the middle of the notebook: the line
    // of cell 5000's first body line.
    let body_line = text
        .lines()
        .position(|l| l.starts_with("line one of cell 5000,"))
        .unwrap();
    let keystrokes = server.type_at(&mut version, body_line, 0);

    // Typing in a header: that header is read again, and the names and
    // inputs of all are checked against each other.
    let header_5000 = text
        .lines()
        .position(|l| l.starts_with("@plugin=echo name=cell5000 "))
        .unwrap();
    let end_of_name = "@plugin=echo name=cell5000".len();
    let header_keystrokes = server.type_at(&mut version, header_5000, end_of_name);

    let header_line = text
        .lines()
        .position(|l| l.starts_with("@plugin=echo name=cell7000 "))
        .unwrap();
    let mut completions = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = server.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": URI}, "position": {"line": header_line, "character": 10}}),
        );
        completions.push(started.elapsed());
        assert!(response["result"].is_array(), "{response}");
    }
    // What VS Code asks on every cursor move (code actions) and on a
    // pointer resting on a plugin name (hover), in cell 7000.
    let mut actions = Vec::new();
    let mut hovers = Vec::new();
    let cursor = json!({"line": header_line, "character": 10});
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = server.request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": URI},
                "range": {"start": cursor, "end": cursor},
                "context": {"diagnostics": []},
            }),
        );
        actions.push(started.elapsed());
        assert!(
            !response["result"].as_array().unwrap().is_empty(),
            "{response}"
        );
        let started = Instant::now();
        let response = server.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": cursor}),
        );
        hovers.push(started.elapsed());
        assert!(response["result"]["contents"].is_object(), "{response}");
    }
    let mut lenses = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let response = server.request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": URI}}),
        );
        lenses.push(started.elapsed());
        assert!(response["result"].as_array().unwrap().len() > CELLS);
    }
    // Highlighting: the whole notebook, and a viewport of 60 lines in its
    // middle, as editors ask for first.
    let mut tokens_full = Vec::new();
    let mut tokens_range = Vec::new();
    let middle = text.lines().count() / 2;
    for _ in 0..50 {
        let started = Instant::now();
        let response = server.request(
            "textDocument/semanticTokens/full",
            json!({"textDocument": {"uri": URI}}),
        );
        tokens_full.push(started.elapsed());
        assert!(response["result"]["data"].as_array().unwrap().len() > CELLS);
        let started = Instant::now();
        let response = server.request(
            "textDocument/semanticTokens/range",
            json!({
                "textDocument": {"uri": URI},
                "range": {"start": {"line": middle, "character": 0}, "end": {"line": middle + 60, "character": 0}},
            }),
        );
        // A baseline build may not answer range requests.
        if response.get("error").is_none() {
            tokens_range.push(started.elapsed());
            assert!(!response["result"]["data"].as_array().unwrap().is_empty());
        }
    }
    server.request("shutdown", Value::Null);
    server.notify("exit", Value::Null);
    let _ = server.child.wait();

    vec![
        initialize,
        ready,
        opens,
        keystrokes,
        header_keystrokes,
        completions,
        actions,
        hovers,
        lenses,
        tokens_full,
        tokens_range,
    ]
}

const MEASUREMENTS: [&str; 11] = [
    "start: initialize request to its response (one sample, cold cache)",
    "start: initialize request to the first diagnostics of a one-cell notebook (one sample)",
    "open: didOpen to published diagnostics",
    "keystroke in a body: didChange to published diagnostics",
    "keystroke in a header (a cell name)",
    "completion of plugin names in a header",
    "code actions at the cursor (cell 7000)",
    "hover on a plugin name (cell 7000)",
    "code lenses of the whole notebook",
    "semantic tokens of the whole notebook",
    "semantic tokens of 60 lines (a viewport)",
];

/// Measures this build's `databook`; with `DATABOOK_BASELINE` set to
/// another `databook` binary (an earlier build, say), measures both, each
/// twice and in turn, so that both columns see the same machine.
fn main() {
    let current = PathBuf::from(env!("CARGO_BIN_EXE_databook"));
    let baseline = std::env::var_os("DATABOOK_BASELINE").map(PathBuf::from);
    let mut columns: Vec<(String, Vec<Vec<Duration>>)> = Vec::new();
    let rounds = if baseline.is_some() { 2 } else { 1 };
    for round in 1..=rounds {
        let mut programs = vec![("this build", &current)];
        if let Some(baseline) = &baseline {
            programs.insert(0, ("baseline", baseline));
        }
        for (name, program) in programs {
            let label = if rounds > 1 {
                format!("{name}, run {round}")
            } else {
                name.to_owned()
            };
            columns.push((label, measure(program)));
        }
    }

    let bytes = notebook().len();
    let labels: Vec<&str> = columns.iter().map(|(label, _)| label.as_str()).collect();
    println!(
        "| measurement ({CELLS} cells, {} KB) | {} |",
        bytes / 1000,
        labels.join(" | ")
    );
    println!("|---|{}", "---|".repeat(columns.len()));
    for (i, measurement) in MEASUREMENTS.iter().enumerate() {
        let results: Vec<String> = columns
            .iter()
            .map(|(_, samples)| summary(samples[i].clone()))
            .collect();
        println!("| {measurement} | {} |", results.join(" | "));
    }
}
