//! The language server's speed on a generated 10,000-cell notebook (about
//! 1 MB), measured end to end: the real `databook lsp` process, driven over
//! stdio with real JSON-RPC framing, as an editor drives it.
//!
//! - start: from the process's start until `initialize` is answered and
//!   until the first diagnostics (the bundled plugins loaded), with an
//!   empty compile cache and with a warm one;
//! - run: `databook.run` of an `echo` cell until the server asks the editor
//!   to write its output (`workspace/applyEdit`);
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
//! Each time runs until the answer has arrived in full, before this client
//! parses it (an editor parses it its own way).
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
            times.push(self.arrived() - started);
        }
        times
    }

    fn diagnostics_of(&mut self, version: i64) -> Value {
        self.until(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == version
        })
    }
}

/// From the process's start until `initialize` is answered, and until the
/// first diagnostics of a one-cell notebook (the plugins loaded), with the
/// bundled plugins: once with an empty cache (the first sample: every
/// plugin compiled), then `STARTS` times with the cache that start left.
const STARTS: usize = 10;

fn starts(program: &Path) -> [Vec<Duration>; 4] {
    let home = tempfile::tempdir().unwrap();
    let root = format!("file://{}", home.path().display());
    let mut cold = [Vec::new(), Vec::new()];
    let mut warm = [Vec::new(), Vec::new()];
    for start in 0..=STARTS {
        let started = Instant::now();
        let mut server = LspProcess::start_program(program, home.path(), &[]);
        server.request(
            "initialize",
            json!({"processId": null, "rootUri": root, "capabilities": {}}),
        );
        let answered = server.arrived() - started;
        server.notify("initialized", json!({}));
        server.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": URI, "languageId": "databook", "version": 1, "text": "@plugin=echo\nx\n"}}),
        );
        server.diagnostics_of(1);
        let ready = server.arrived() - started;
        let times = if start == 0 { &mut cold } else { &mut warm };
        times[0].push(answered);
        times[1].push(ready);
        server.request("shutdown", Value::Null);
        server.notify("exit", Value::Null);
        let _ = server.child.wait();
    }
    let [cold_answered, cold_ready] = cold;
    let [warm_answered, warm_ready] = warm;
    [cold_answered, cold_ready, warm_answered, warm_ready]
}

/// Applies one LSP edit (positions in UTF-16 units; the text is ASCII) to
/// `text`, as an editor would.
fn apply_edit(text: &str, edit: &Value) -> String {
    let offset = |position: &Value| {
        let line = position["line"].as_u64().unwrap() as usize;
        let character = position["character"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        start + character
    };
    let (start, end) = (
        offset(&edit["range"]["start"]),
        offset(&edit["range"]["end"]),
    );
    format!(
        "{}{}{}",
        &text[..start],
        edit["newText"].as_str().unwrap(),
        &text[end..]
    )
}

/// `databook.run` on an `echo` cell, from the command until the server's
/// `workspace/applyEdit` with the output arrives. The edit is applied and
/// checked, then the output taken out again (`didChange`, as when the user
/// clears it), so that each run has an output to write: a run whose output
/// is already there writes nothing.
fn runs(server: &mut LspProcess, root: &Path) -> Vec<Duration> {
    let uri = format!("file://{}/run.dbk", root.display());
    let text = "# Runs\n\n@plugin=echo name=hello\nhello, world\n".to_string();
    let mut version = 1;
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "databook", "version": version, "text": text}}),
    );
    server.diagnostics_of(version);
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let id = server.next_request_id();
        let started = Instant::now();
        server.send_raw(
            &json!({
                "jsonrpc": "2.0", "id": id, "method": "workspace/executeCommand",
                "params": {"command": "databook.run", "arguments": [uri, 0, "@plugin=echo name=hello"]},
            })
            .to_string(),
        );
        let mut edited = false;
        loop {
            let message = server.receive();
            if message["id"] == id && message.get("method").is_none() {
                assert_eq!(message["result"]["runs"][0]["status"], "ok", "{message}");
                break;
            }
            if message["method"] == "workspace/applyEdit" {
                times.push(server.arrived() - started);
                let change = &message["params"]["edit"]["documentChanges"][0];
                assert_eq!(change["textDocument"]["version"], version, "{message}");
                let mut edited_text = text.clone();
                for edit in change["edits"].as_array().unwrap() {
                    edited_text = apply_edit(&edited_text, edit);
                }
                assert!(
                    edited_text.contains("@output status=ok mime=text/plain\n> hello, world\n"),
                    "{edited_text}"
                );
                server.send_raw(
                    &json!({"jsonrpc": "2.0", "id": message["id"], "result": {"applied": true}})
                        .to_string(),
                );
                version += 1;
                server.notify(
                    "textDocument/didChange",
                    json!({
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [{"text": text}],
                    }),
                );
                edited = true;
            } else if message.get("method").is_some() && message.get("id").is_some() {
                server.send_raw(
                    &json!({"jsonrpc": "2.0", "id": message["id"], "result": null}).to_string(),
                );
            }
        }
        assert!(edited, "the run wrote no output");
    }
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    times
}

fn summary(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "not supported".to_owned();
    }
    if samples.len() == 1 {
        return format!("{:.1} ms", samples[0].as_secs_f64() * 1e3);
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
    server.request(
        "initialize",
        json!({"processId": null, "rootUri": root, "capabilities": {}}),
    );
    server.notify("initialized", json!({}));
    // Ready: the plugins are loaded (in `initialize`, or after it), so the
    // opens below measure the notebook's own work in every build.
    let mut version = 1;
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "databook", "version": version, "text": "@plugin=echo\nx\n"}}),
    );
    server.diagnostics_of(version);
    server.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    );
    let runs = runs(&mut server, home.path());

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
        opens.push(server.arrived() - started);
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
        completions.push(server.arrived() - started);
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
        actions.push(server.arrived() - started);
        assert!(
            !response["result"].as_array().unwrap().is_empty(),
            "{response}"
        );
        let started = Instant::now();
        let response = server.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": cursor}),
        );
        hovers.push(server.arrived() - started);
        assert!(response["result"]["contents"].is_object(), "{response}");
    }
    let mut lenses = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let response = server.request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": URI}}),
        );
        lenses.push(server.arrived() - started);
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
        tokens_full.push(server.arrived() - started);
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
            tokens_range.push(server.arrived() - started);
            assert!(!response["result"]["data"].as_array().unwrap().is_empty());
        }
    }
    server.request("shutdown", Value::Null);
    server.notify("exit", Value::Null);
    let _ = server.child.wait();

    let [cold_answered, cold_ready, warm_answered, warm_ready] = starts(program);
    vec![
        cold_answered,
        cold_ready,
        warm_answered,
        warm_ready,
        runs,
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

const MEASUREMENTS: [&str; 14] = [
    "start, empty cache: process start to the `initialize` response (one sample)",
    "start, empty cache: process start to the first diagnostics, the bundled plugins compiled (one sample)",
    "start, warm cache: process start to the `initialize` response",
    "start, warm cache: process start to the first diagnostics, the bundled plugins loaded",
    "run: `databook.run` of an `echo` cell to the `workspace/applyEdit` of its output",
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
