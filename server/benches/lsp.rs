//! The language server's speed on a generated 10,000-cell notebook (about
//! 1 MB), measured end to end: the real `databook lsp` process, driven over
//! stdio with real JSON-RPC framing, as an editor drives it.
//!
//! - open: `didOpen` until its diagnostics are published (full parse and
//!   analysis);
//! - keystroke: one character typed in a body (`didChange`) until the
//!   diagnostics of that version are published (incremental reparse and
//!   re-analysis), and the same in a header, which makes every header be
//!   analysed again;
//! - completion of plugin names in a header, and code lenses: request to
//!   response.
//!
//! Run with `cargo bench -p databook --bench lsp`; it prints a Markdown table
//! for BENCHMARKS.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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

struct Server {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Server {
    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Reads messages until one satisfies `done`, answering the server's
    /// own requests on the way.
    fn until(&mut self, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.receive();
            if done(&message) {
                return message;
            }
            if message.get("method").is_some() && message.get("id").is_some() {
                let id = message["id"].clone();
                self.send(&json!({"jsonrpc": "2.0", "id": id, "result": null}));
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.until(|m| m["id"] == id && m.get("method").is_none())
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

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
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.3} ms, p99 {:.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    )
}

fn main() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_databook"))
        .arg("lsp")
        .current_dir(home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env_remove("DATABOOK_PLUGINS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("databook lsp starts");
    let mut server = Server {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        next_id: 1,
    };
    let root = format!("file://{}", home.path().display());
    server.request(
        "initialize",
        json!({"processId": null, "rootUri": root, "capabilities": {}}),
    );
    server.notify("initialized", json!({}));

    let text = notebook();
    let mut opens = Vec::new();
    let mut version = 0;
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

    // Typing in a header: every header is analysed again.
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
    server.request("shutdown", Value::Null);
    server.notify("exit", Value::Null);
    let _ = child.wait();

    println!(
        "| measurement ({CELLS} cells, {} KB) | result |",
        text.len() / 1000
    );
    println!("|---|---|");
    println!(
        "| open: didOpen to published diagnostics | {} |",
        summary(opens)
    );
    println!(
        "| keystroke in a body: didChange to published diagnostics | {} |",
        summary(keystrokes)
    );
    println!(
        "| keystroke in a header (all headers analysed again) | {} |",
        summary(header_keystrokes)
    );
    println!(
        "| completion of plugin names in a header | {} |",
        summary(completions)
    );
    println!(
        "| code lenses of the whole notebook | {} |",
        summary(lenses)
    );
}
