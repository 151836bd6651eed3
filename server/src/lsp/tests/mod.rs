//! The language server driven in-process by a fake editor, over JSON-RPC
//! with real framing: open a notebook, get diagnostics, complete, hover,
//! run cells through their lenses' own commands, edit while a cell runs,
//! cancel.

mod chained;
mod concurrent;
mod editor;
mod environments;
mod plugin_files;
mod results;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use editor::Editor;

/// The test plugins: `misbehave` (see plugins/testing/misbehave).
fn testing_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/testing")
}

const URI: &str = "file:///tmp/databook-test/notes.dbk";

async fn start() -> (Editor, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
    let mut editor = Editor::start(service, socket).await;
    let result = editor.initialize(root.path()).await;
    assert_eq!(
        result["capabilities"]["textDocumentSync"], 2,
        "incremental sync"
    );
    (editor, root)
}

/// A started server with `text` open as `URI`.
async fn start_with(text: &str) -> (Editor, tempfile::TempDir) {
    let (editor, root) = start().await;
    editor.open(URI, text).await;
    (editor, root)
}

/// The diagnostics published for `URI` once they have `count` entries.
async fn diagnostics(editor: &mut Editor, count: usize) -> Vec<Value> {
    let params = editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == URI && p["diagnostics"].as_array().unwrap().len() == count
        })
        .await;
    params["diagnostics"].as_array().unwrap().clone()
}

/// The diagnostics published for `URI` once one has the code `code`.
async fn diagnostics_with(editor: &mut Editor, code: &str) -> Value {
    editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == URI
                && p["diagnostics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["code"] == code)
        })
        .await
}

/// The diagnostics published for version `version` of `URI`.
async fn diagnostics_of_version(editor: &mut Editor, version: i64) -> Value {
    editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == URI && p["version"] == version
        })
        .await
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Installs a plugin called `name` in `folder`: the misbehave build,
/// renamed.
fn install_plugin(folder: &Path, name: &str) {
    let dir = folder.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        testing_plugins().join("misbehave/plugin.wasm"),
        dir.join("plugin.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("name = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"New\"\napi = \"0.1\"\n"),
    )
    .unwrap();
}

/// The integers of a semantic tokens result.
fn token_data(tokens: &Value) -> Vec<u64> {
    tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

/// The position of `$0` in `fixture`, and the fixture without it.
fn cursor(fixture: &str) -> (String, Value) {
    let at = fixture.find("$0").expect("a $0 marker");
    let before = &fixture[..at];
    let line = before.matches('\n').count();
    let character = before.rsplit('\n').next().unwrap().encode_utf16().count();
    (
        fixture.replacen("$0", "", 1),
        json!({"line": line, "character": character}),
    )
}

async fn labels_at(fixture: &str) -> Vec<String> {
    let (mut editor, _root) = start().await;
    let (text, position) = cursor(fixture);
    editor.open(URI, &text).await;
    let result = editor
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": URI}, "position": position}),
        )
        .await;
    let items = match &result {
        Value::Array(items) => items.clone(),
        Value::Object(list) => list["items"].as_array().unwrap().clone(),
        _ => Vec::new(),
    };
    items
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_malformed_message_gets_an_error_and_the_session_goes_on() {
    let (mut editor, _root) = start().await;
    editor.send_raw(b"{this is not json").await;
    let error = editor.wait_for("<error>", |_| true).await;
    assert_eq!(error["error"]["code"], -32700, "{error}");
    editor
        .send_raw(br#"{"what": "neither method nor id"}"#)
        .await;
    let error = editor
        .wait_for("<error>", |e| e["error"]["code"] == -32600)
        .await;
    assert_eq!(error["id"], Value::Null);
    // The session goes on.
    editor
        .open(
            URI,
            "@plugin=echo
hi
",
        )
        .await;
    let lenses = lenses(&mut editor, URI).await;
    assert_eq!(lenses.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn diagnostics_cover_the_notebook_and_plugin_checks() {
    let (mut editor, _root) = start().await;
    let text = "\
@plugin=misbehve
counter
@plugn=misbehave
@plugin=misbehave name=a input=nowhere
a bad line
@plugin=echo
";
    editor.open(URI, text).await;
    let found = diagnostics(&mut editor, 5).await;
    let mut codes = codes(&found);
    codes.sort();
    assert_eq!(
        codes,
        [
            "",
            "empty-body",
            "misspelled-directive",
            "unknown-input",
            "unknown-plugin"
        ],
        "{found:#?}"
    );
    let unknown = found
        .iter()
        .find(|d| d["code"] == "unknown-plugin")
        .unwrap();
    assert!(
        unknown["message"].as_str().unwrap().contains("misbehave"),
        "suggests the close name: {unknown}"
    );
    assert_eq!(
        unknown["range"]["start"],
        json!({"line": 0, "character": 8})
    );
    // The plugin's own check, mapped to the body's range.
    let check = found.iter().find(|d| d["source"] == "misbehave").unwrap();
    assert_eq!(
        check["range"],
        json!({"start": {"line": 4, "character": 2}, "end": {"line": 4, "character": 5}})
    );
}

#[tokio::test]
async fn plugin_names_complete_after_the_header() {
    let labels = labels_at("@plugin=$0\n").await;
    assert!(labels.contains(&"misbehave".to_string()), "{labels:?}");
    assert!(labels.contains(&"echo".to_string()), "{labels:?}");
}

#[tokio::test]
async fn directives_complete_after_at() {
    let labels = labels_at("prose\n@$0\n").await;
    assert_eq!(labels, ["@plugin=", "@end"]);
}

#[tokio::test]
async fn option_keys_complete_in_a_header() {
    let labels = labels_at("@plugin=echo name=x $0\nbody\n").await;
    assert!(labels.contains(&"mime=".to_string()), "{labels:?}");
    assert!(labels.contains(&"input=".to_string()), "{labels:?}");
    assert!(
        !labels.contains(&"name=".to_string()),
        "name is already there: {labels:?}"
    );
}

#[tokio::test]
async fn cell_names_complete_after_input() {
    let labels = labels_at("@plugin=echo name=first\nhi\n@plugin=echo input=$0\nx\n").await;
    assert_eq!(labels, ["first"]);
}

#[tokio::test]
async fn the_plugin_completes_inside_a_body() {
    let labels = labels_at("@plugin=misbehave\nco$0\n").await;
    assert_eq!(labels, ["counter"]);
}

#[tokio::test]
async fn hover_on_a_plugin_shows_what_it_may_touch() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=misbehave\ncounter\n").await;
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": {"line": 0, "character": 10}}),
        )
        .await;
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(value.starts_with("**misbehave** 0.1.0"), "{value}");
    assert!(
        value.contains("**limits** timeout 10s, memory 64 MiB, output 1 MiB, 16 at once"),
        "{value}"
    );
    assert!(value.contains("testing/misbehave"), "{value}");
}

/// The code lenses of the document `uri`.
pub(super) async fn lenses(editor: &mut Editor, uri: &str) -> Value {
    editor
        .request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": uri}}),
        )
        .await
}

/// The lens command for running the cell at `index`.
async fn lens_command(editor: &mut Editor, title: &str, index: usize) -> Value {
    let lenses = lenses(editor, URI).await;
    lenses
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["command"]["title"] == title)
        .nth(index)
        .unwrap_or_else(|| panic!("no lens {title} #{index} in {lenses:#}"))["command"]
        .clone()
}

/// Starts the first cell's run through its lens without waiting for it,
/// then waits `ms` so that it is under way. Returns the request's id and
/// where its response will arrive.
async fn start_run(editor: &mut Editor, ms: u64) -> (i64, tokio::sync::oneshot::Receiver<Value>) {
    let run = lens_command(editor, "▶ Run", 0).await;
    let started = editor
        .request_later(
            "workspace/executeCommand",
            json!({"command": run["command"], "arguments": run["arguments"]}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    started
}

/// The response that `response` brings, within `seconds`.
async fn response_within(seconds: u64, response: tokio::sync::oneshot::Receiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(seconds), response)
        .await
        .expect("a response in time")
        .expect("the server answered")
}

/// Runs the cell at `index` through its `▶ Run` lens; the command's result.
async fn run_lens(editor: &mut Editor, index: usize) -> Value {
    let run = lens_command(editor, "▶ Run", index).await;
    execute(editor, &run).await
}

async fn execute(editor: &mut Editor, command: &Value) -> Value {
    editor
        .request(
            "workspace/executeCommand",
            json!({"command": command["command"], "arguments": command["arguments"]}),
        )
        .await
}

#[tokio::test]
async fn running_through_the_lens_writes_the_output_and_rerunning_replaces_it() {
    let text = "# Notes\n\n@plugin=echo name=greeting\nhello\n@end\nprose after\n";
    let (mut editor, _root) = start_with(text).await;
    let run = lens_command(&mut editor, "▶ Run", 0).await;
    assert_eq!(run["command"], "databook.run");
    let result = execute(&mut editor, &run).await;
    assert_eq!(result["runs"][0]["status"], "ok");
    let expected = "# Notes\n\n@plugin=echo name=greeting\nhello\n@output status=ok mime=text/plain\n> hello\n@end\nprose after\n";
    assert_eq!(editor.text(URI), expected);

    // The full result, for a preview pane.
    let output = editor
        .wait_for("databook/output", |p| p["name"] == "greeting")
        .await;
    assert_eq!(output["data"], "hello");
    assert_eq!(output["status"], "ok");

    // The same result again: no edit at all.
    let edits_before = editor.applied_edits.lock().unwrap().len();
    execute(&mut editor, &run).await;
    assert_eq!(editor.text(URI), expected);
    assert_eq!(editor.applied_edits.lock().unwrap().len(), edits_before);

    // A changed body: the output is replaced, not duplicated.
    editor.edit(URI, (3, 0), (3, 5), "goodbye").await;
    run_lens(&mut editor, 0).await;
    assert_eq!(
        editor.text(URI),
        "# Notes\n\n@plugin=echo name=greeting\ngoodbye\n@output status=ok mime=text/plain\n> goodbye\n@end\nprose after\n"
    );

    // Clear, through its lens.
    let clear = lens_command(&mut editor, "✕ Clear", 0).await;
    execute(&mut editor, &clear).await;
    assert_eq!(
        editor.text(URI),
        "# Notes\n\n@plugin=echo name=greeting\ngoodbye\n@end\nprose after\n"
    );
}

#[tokio::test]
async fn a_run_reports_progress() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=echo name=p\nx\n").await;
    run_lens(&mut editor, 0).await;
    let begin = editor
        .wait_for("$/progress", |p| p["value"]["kind"] == "begin")
        .await;
    assert!(begin["value"]["title"].as_str().unwrap().contains('p'));
    let end = editor
        .wait_for("$/progress", |p| p["value"]["kind"] == "end")
        .await;
    assert!(
        end["value"]["message"]
            .as_str()
            .unwrap()
            .starts_with("p: ok in "),
        "{end}"
    );
}

#[tokio::test]
async fn a_failed_run_writes_the_error_and_a_diagnostic() {
    let (mut editor, _root) = start().await;
    editor
        .open(URI, "@plugin=misbehave timeout=100ms\nloop\n")
        .await;
    let result = run_lens(&mut editor, 0).await;
    assert_eq!(result["runs"][0]["status"], "error");
    assert_eq!(
        editor.text(URI),
        "@plugin=misbehave timeout=100ms\nloop\n@output status=error mime=text/plain\n> the plugin exceeded its time limit of 100ms\n"
    );
    let found = diagnostics_with(&mut editor, "run-failed").await;
    let failed = &found["diagnostics"][0];
    assert_eq!(failed["range"]["start"]["line"], 0);
}

#[tokio::test]
async fn editing_while_a_slow_cell_runs_keeps_the_output_under_its_cell() {
    let text = "intro\n@plugin=misbehave name=slow\nsleep 700\n\n@plugin=echo\nlast\n";
    let (mut editor, _root) = start_with(text).await;
    let (_, response) = start_run(&mut editor, 200).await;
    // The user adds lines above the cell and types in the cell below.
    editor
        .edit(URI, (0, 0), (0, 0), "# Title\n\nmore prose\n")
        .await;
    editor.edit(URI, (8, 4), (8, 4), " typed").await;
    let response = response_within(20, response).await;
    assert_eq!(response["result"]["runs"][0]["status"], "ok", "{response}");
    assert_eq!(
        editor.text(URI),
        "# Title\n\nmore prose\nintro\n@plugin=misbehave name=slow\nsleep 700\n@output status=ok mime=text/plain\n> slept 700 ms\n\n@plugin=echo\nlast typed\n"
    );
}

#[tokio::test]
async fn a_cell_deleted_while_it_runs_gets_no_edit() {
    let (mut editor, _root) = start().await;
    editor
        .open(URI, "@plugin=misbehave\nsleep 500\n@end\nkeep me\n")
        .await;
    let (_, response) = start_run(&mut editor, 150).await;
    editor.edit(URI, (0, 0), (3, 0), "").await;
    let response = response_within(20, response).await;
    assert_eq!(editor.text(URI), "keep me\n");
    assert_eq!(
        response["result"]["runs"][0]["status"], "gone",
        "{response}"
    );
}

#[tokio::test]
async fn databook_cancel_stops_a_run() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=misbehave\nloop\n").await;
    let (_, response) = start_run(&mut editor, 200).await;
    let cancelled = editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.cancel", "arguments": [URI]}),
        )
        .await;
    assert_eq!(cancelled["cancelled"], 1);
    let response = response_within(5, response).await;
    assert_eq!(response["result"]["runs"][0]["status"], "cancelled");
    assert_eq!(editor.text(URI), "@plugin=misbehave\nloop\n");
    // The editor's spinner stops: the progress ends, saying so.
    let end = editor
        .wait_for("$/progress", |p| p["value"]["kind"] == "end")
        .await;
    assert_eq!(end["value"]["message"], "cell 1 (misbehave): cancelled");
}

#[tokio::test]
async fn cancel_request_stops_a_run() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=misbehave\nloop\n").await;
    let (id, response) = start_run(&mut editor, 200).await;
    editor.notify("$/cancelRequest", json!({"id": id})).await;
    let response = response_within(5, response).await;
    assert_eq!(response["error"]["code"], -32800, "{response}");
    editor
        .wait_for("$/progress", |p| p["value"]["kind"] == "end")
        .await;
    // The run is gone: another one can use the plugin at once.
    editor.edit(URI, (1, 0), (1, 4), "counter").await;
    run_lens(&mut editor, 0).await;
    assert!(editor.text(URI).ends_with("> 1\n"));
}

#[tokio::test]
async fn run_all_follows_input_order() {
    let text = "@plugin=misbehave input=first\ninput\n@end\n@plugin=echo name=first\nfrom the first cell\n";
    let (mut editor, _root) = start_with(text).await;
    let run_all = lens_command(&mut editor, "▶ Run all", 0).await;
    let result = execute(&mut editor, &run_all).await;
    let order: Vec<u64> = result["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cell"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 0]);
    assert_eq!(
        editor.text(URI),
        "@plugin=misbehave input=first\ninput\n@output status=ok mime=text/plain\n> text/plain: from the first cell\n@end\n@plugin=echo name=first\nfrom the first cell\n@output status=ok mime=text/plain\n> from the first cell\n"
    );
}

#[tokio::test]
async fn code_actions_offer_runs_and_quick_fixes() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=misbehve\ncounter\n").await;
    let actions = editor
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": URI},
                "range": {"start": {"line": 0, "character": 9}, "end": {"line": 0, "character": 9}},
                "context": {"diagnostics": []},
            }),
        )
        .await;
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Run cell"), "{titles:?}");
    assert!(titles.contains(&"Run all"), "{titles:?}");
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "quickfix")
        .expect("a quick fix");
    let edit = &fix["edit"]["changes"][URI][0];
    assert_eq!(edit["newText"], "misbehave");
}

#[tokio::test]
async fn symbols_and_folding_follow_the_cells() {
    let (mut editor, _root) = start().await;
    editor
        .open(URI, "@plugin=echo name=one\na\n@output status=ok mime=text/plain\n> a\n\n@plugin=echo\nsecond body\n")
        .await;
    let symbols = editor
        .request(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": URI}}),
        )
        .await;
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "one");
    let folds = editor
        .request(
            "textDocument/foldingRange",
            json!({"textDocument": {"uri": URI}}),
        )
        .await;
    assert!(folds.as_array().unwrap().len() >= 2, "{folds}");
}

#[tokio::test]
async fn a_refused_output_edit_is_tried_again() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "@plugin=echo\nagain\n").await;
    *editor.refuse_edits.lock().unwrap() = 2;
    let result = run_lens(&mut editor, 0).await;
    assert_eq!(result["runs"][0]["status"], "ok");
    assert_eq!(
        *editor.refuse_edits.lock().unwrap(),
        0,
        "both refusals were used"
    );
    assert_eq!(
        editor.text(URI),
        "@plugin=echo\nagain\n@output status=ok mime=text/plain\n> again\n"
    );
}

#[tokio::test]
async fn hover_on_an_output_shows_the_full_result_and_log() {
    let (mut editor, _root) = start().await;
    editor
        .open(URI, "@plugin=misbehave\nprint some words\n")
        .await;
    run_lens(&mut editor, 0).await;
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": {"line": 3, "character": 3}}),
        )
        .await;
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(value.starts_with("**ok** in "), "{value}");
    assert!(value.contains("```text\nprinted\n```"), "{value}");
    assert!(value.contains("info: some words"), "{value}");
    assert!(value.contains("warn: some words (stderr)"), "{value}");
}

#[tokio::test]
async fn semantic_tokens_mark_the_header() {
    let (mut editor, _root) = start().await;
    editor.open(URI, "prose\n@plugin=echo name=x\nbody\n").await;
    let tokens = editor
        .request(
            "textDocument/semanticTokens/full",
            json!({"textDocument": {"uri": URI}}),
        )
        .await;
    let data = token_data(&tokens);
    // directive `@plugin=` on line 1, then `echo`, `name`, `x` on the same line.
    assert_eq!(
        data,
        [1, 0, 8, 0, 0, 0, 8, 4, 1, 0, 0, 5, 4, 2, 0, 0, 5, 1, 3, 0]
    );
}

#[tokio::test]
async fn semantic_tokens_of_a_range_cover_its_lines_only() {
    let (mut editor, _root) = start().await;
    editor
        .open(
            URI,
            "@plugin=echo name=a\none\n@plugin=echo name=b\ntwo\n@plugin=echo\nthree\n",
        )
        .await;
    // Lines 2 and 3: the second cell only, its first token still placed
    // from the document's start (line 2).
    let tokens = editor
        .request(
            "textDocument/semanticTokens/range",
            json!({
                "textDocument": {"uri": URI},
                "range": {"start": {"line": 2, "character": 0}, "end": {"line": 4, "character": 0}},
            }),
        )
        .await;
    assert_eq!(
        token_data(&tokens),
        [2, 0, 8, 0, 0, 0, 8, 4, 1, 0, 0, 5, 4, 2, 0, 0, 5, 1, 3, 0]
    );
}

#[tokio::test]
async fn a_plugin_added_while_running_is_picked_up() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let (service, socket) = crate::lsp::service(vec![plugins.clone()]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    editor.open(URI, "@plugin=fresh\ncounter\n").await;
    let found = diagnostics(&mut editor, 1).await;
    assert_eq!(codes(&found), ["unknown-plugin"]);

    install_plugin(&plugins, "fresh");
    diagnostics(&mut editor, 0).await;

    // Loading reads the plugin folders, which the watcher sees as access:
    // that must not start another load (and another, every 300 ms).
    let later = editor
        .collect_for(
            "textDocument/publishDiagnostics",
            Duration::from_millis(1500),
        )
        .await;
    assert_eq!(later, Vec::<Value>::new(), "plugins were loaded again");
}

#[tokio::test]
async fn header_diagnostics_follow_their_headers_as_bodies_change() {
    let (mut editor, _root) = start().await;
    editor
        .open(URI, "@plugin=echo\nbody\n@plugin=nope\nx\n")
        .await;
    let found = diagnostics(&mut editor, 1).await;
    assert_eq!(
        found[0]["range"]["start"],
        json!({"line": 2, "character": 8})
    );

    // Typing in a body moves the header below it: its diagnostic moves too.
    editor.edit(URI, (1, 0), (1, 0), "more\nlines\n").await;
    let found = diagnostics_of_version(&mut editor, 2).await;
    let found = found["diagnostics"].as_array().unwrap();
    assert_eq!(codes(found), ["unknown-plugin"]);
    assert_eq!(
        found[0]["range"]["start"],
        json!({"line": 4, "character": 8})
    );

    // Fixing the header clears it.
    editor.edit(URI, (4, 8), (4, 12), "echo").await;
    let found = diagnostics_of_version(&mut editor, 3).await;
    assert_eq!(found["diagnostics"], json!([]));
}

#[tokio::test]
async fn plugin_check_findings_follow_edits_cell_by_cell() {
    let (mut editor, _root) = start().await;
    editor
        .open(
            URI,
            "@plugin=misbehave name=a\na bad line\n@plugin=misbehave name=b\nfine\n",
        )
        .await;
    let checks = |found: &Value| -> Vec<Value> {
        found["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["source"] == "misbehave")
            .map(|d| d["range"]["start"].clone())
            .collect()
    };
    let found = diagnostics_of_version(&mut editor, 1).await;
    assert_eq!(checks(&found), [json!({"line": 1, "character": 2})]);

    // A line typed above moves the first cell's finding with its body.
    editor.edit(URI, (0, 0), (0, 0), "prose\n").await;
    let found = diagnostics_of_version(&mut editor, 2).await;
    assert_eq!(checks(&found), [json!({"line": 2, "character": 2})]);

    // The second cell's body is checked again when it changes.
    editor.edit(URI, (4, 0), (4, 4), "not bad").await;
    let found = diagnostics_of_version(&mut editor, 3).await;
    assert_eq!(
        checks(&found),
        [
            json!({"line": 2, "character": 2}),
            json!({"line": 4, "character": 4})
        ]
    );

    // Fixing the first body leaves only the second's.
    editor.edit(URI, (2, 2), (2, 5), "good").await;
    let found = diagnostics_of_version(&mut editor, 4).await;
    assert_eq!(checks(&found), [json!({"line": 4, "character": 4})]);
}

#[tokio::test]
async fn a_plugin_folder_named_in_a_new_databook_toml_is_picked_up() {
    let root = tempfile::tempdir().unwrap();
    let (service, socket) = crate::lsp::service(Vec::new());
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    editor.open(URI, "@plugin=fresh\ncounter\n").await;
    let found = diagnostics(&mut editor, 1).await;
    assert_eq!(codes(&found), ["unknown-plugin"]);

    // A databook.toml naming a folder that does not exist yet, then the
    // folder with a plugin in it.
    std::fs::write(root.path().join("databook.toml"), "plugins = [\"extra\"]\n").unwrap();
    let extra = root.path().join("extra");
    install_plugin(&extra, "fresh");
    diagnostics(&mut editor, 0).await;

    // And that folder is watched from then on: a second plugin added to it
    // is found without a restart.
    editor.edit(URI, (0, 8), (0, 13), "later").await;
    let found = diagnostics_of_version(&mut editor, 2).await;
    assert_eq!(
        codes(found["diagnostics"].as_array().unwrap()),
        ["unknown-plugin"]
    );
    install_plugin(&extra, "later");
    editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["version"] == 2 && p["diagnostics"] == json!([])
        })
        .await;
}

async fn hover_value(editor: &mut Editor, line: u32) -> String {
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": 2}}),
        )
        .await;
    hover["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn two_cells_with_the_same_header_keep_their_own_results() {
    let (mut editor, _root) = start().await;
    // The second cell's output is from an earlier session.
    let text = "@plugin=echo\nfirst body\n@plugin=echo\nsecond body\n@output status=ok mime=text/plain\n> old\n";
    editor.open(URI, text).await;
    run_lens(&mut editor, 0).await;
    assert_eq!(
        editor.text(URI),
        "@plugin=echo\nfirst body\n@output status=ok mime=text/plain\n> first body\n@plugin=echo\nsecond body\n@output status=ok mime=text/plain\n> old\n"
    );
    let first = hover_value(&mut editor, 2).await;
    assert!(first.contains("first body"), "{first}");
    let second = hover_value(&mut editor, 6).await;
    assert!(second.contains("earlier session"), "{second}");
    assert!(!second.contains("first body"), "{second}");
}

#[tokio::test]
async fn a_failed_run_marks_only_its_own_cell_when_headers_repeat() {
    let (mut editor, _root) = start().await;
    let text =
        "@plugin=misbehave timeout=100ms\nloop\n@end\n@plugin=misbehave timeout=100ms\nloop\n";
    editor.open(URI, text).await;
    run_lens(&mut editor, 0).await;
    let found = diagnostics_with(&mut editor, "run-failed").await;
    let lines: Vec<&Value> = found["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "run-failed")
        .map(|d| &d["range"]["start"]["line"])
        .collect();
    assert_eq!(lines, [&json!(0)]);
}

#[tokio::test]
async fn cancelling_one_cell_leaves_its_twin_running() {
    let text = "@plugin=misbehave\nsleep 2000\n@end\n@plugin=misbehave\nsleep 2000\n";
    let (mut editor, _root) = start_with(text).await;
    let second = lens_command(&mut editor, "▶ Run", 1).await;
    let (_, running) = {
        let started = editor
            .request_later(
                "workspace/executeCommand",
                json!({"command": second["command"], "arguments": second["arguments"]}),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        started
    };
    // Cancel the first cell, which is not running: nothing is stopped.
    let first = lens_command(&mut editor, "▶ Run", 0).await;
    let cancel = json!({"command": "databook.cancel", "arguments": first["arguments"]});
    let result = execute(&mut editor, &cancel).await;
    assert_eq!(result["cancelled"], 0);
    let finished = response_within(10, running).await;
    assert_eq!(finished["result"]["runs"][0]["status"], "ok", "{finished}");
}

#[tokio::test]
async fn numbers_written_as_strings_read_the_same_in_the_file_and_in_hover() {
    let text = "@plugin=echo mime=application/vnd.databook.timeseries+json\n{\"series\": [{\"labels\": {\"job\": \"a\"}, \"points\": [[1,\"0.5\"],[2,\"1.5\"],[3,\"1\"]]}]}\n";
    let (mut editor, _root) = start_with(text).await;
    run_lens(&mut editor, 0).await;
    assert!(
        editor
            .text(URI)
            .ends_with("> {job=\"a\"}  ▁█▅  min 0.5  max 1.5  last 1\n"),
        "{}",
        editor.text(URI)
    );
    let value = hover_value(&mut editor, 3).await;
    assert!(
        value.contains("• {job=\"a\"}  ▁█▅  min 0.5  max 1.5  last 1"),
        "{value}"
    );
}

#[tokio::test]
async fn header_completion_offers_every_databook_option() {
    let labels = labels_at("@plugin=echo $0\nbody\n").await;
    for key in ["name=", "input=", "timeout=", "check="] {
        assert!(labels.contains(&key.to_string()), "{key} in {labels:?}");
    }
}

#[tokio::test]
async fn a_timeout_in_hours_is_no_diagnostic() {
    let (mut editor, _root) = start().await;
    editor
        .open(
            URI,
            "@plugin=echo timeout=1h\nx\n@plugin=echo timeout=10\ny\n",
        )
        .await;
    let found = diagnostics(&mut editor, 1).await;
    assert_eq!(codes(&found), ["bad-timeout"]);
    assert_eq!(found[0]["range"]["start"]["line"], 2);
}

/// A plugin whose `describe` never returns holds up neither `initialize`
/// nor the other plugins: it is reported as failed to load, at the
/// load-time ceiling, and the notebook is analysed with the rest.
#[tokio::test]
async fn a_plugin_stuck_in_describe_holds_up_nothing() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("databook.toml"),
        "[env]\nMISBEHAVE_DESCRIBE = \"loop\"\n",
    )
    .unwrap();
    let plugins = root.path().join(".databook/plugins");
    install_plugin(&plugins, "stuck");
    let config = plugins.join("stuck/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[permissions]\nenv = [\"MISBEHAVE_DESCRIBE\"]\n[limits]\ntimeout = \"1h\"\n");
    std::fs::write(&config, text).unwrap();

    let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
    let mut editor = Editor::start(service, socket).await;
    let result = editor.initialize(root.path()).await;
    assert_eq!(result["serverInfo"]["name"], "databook");
    editor
        .open(URI, "@plugin=stuck\nx\n@plugin=echo\ny\n@plugin=nope\nz\n")
        .await;
    let found = diagnostics(&mut editor, 2).await;
    assert_eq!(codes(&found), ["plugin-failed", "unknown-plugin"]);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("time limit of 2s"), "{message}");
}

/// A loopback HTTP server that answers every request with 200 and counts
/// them.
fn counting_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (origin, count)
}

/// A plugin `check` that never finishes is given up at the editor's limit
/// and kept as failed: typing elsewhere in the notebook does not start it
/// again (the plugin's own limit is an hour).
#[tokio::test]
async fn a_check_that_never_finishes_is_not_retried_on_every_keystroke() {
    let (origin, calls) = counting_server();
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join(".databook/plugins");
    install_plugin(&plugins, "slowcheck");
    let config = plugins.join("slowcheck/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[permissions]\nhttp = [\"{origin}\"]\n[limits]\ntimeout = \"1h\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    editor
        .open(
            URI,
            &format!("@plugin=slowcheck\ncheck-http {origin}/check\n@plugin=echo\nx\n"),
        )
        .await;
    // The first check gives up at the editor's limit, then diagnostics come.
    diagnostics_of_version(&mut editor, 1).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    for version in 2..12 {
        editor.edit(URI, (3, 0), (3, 0), "y").await;
        editor
            .wait_for("textDocument/publishDiagnostics", |p| {
                p["version"] == version
            })
            .await;
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Lenses reach the editor by the transport's own path (serialized
/// straight to bytes, put in the server's answer): whole, in order, for
/// the latest text; and the internal method behind it is refused to a
/// client that sends it.
#[tokio::test]
async fn lenses_come_through_the_transport_for_the_latest_text() {
    let (mut editor, _root) = start_with("@plugin=echo name=a\nhi\n").await;
    // Asked right after the edit: the answer is for the edited text.
    editor
        .edit(
            URI,
            (2, 0),
            (2, 0),
            "@output status=ok mime=text/plain\n> hi\n@end\n@plugin=echo input=a\nx\n",
        )
        .await;
    let found = lenses(&mut editor, URI).await;
    let seen: Vec<(String, Value)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["command"]["title"].as_str().unwrap().to_string(),
                l["range"]["start"]["line"].clone(),
            )
        })
        .collect();
    let expected = [
        ("▶ Run all", 0),
        ("✕ Clear all", 0),
        ("▶ Run", 0),
        ("▶ Run with dependents", 0),
        ("✕ Clear", 0),
        ("▶ Run", 5),
    ];
    assert_eq!(
        seen,
        expected.map(|(title, line)| (title.to_string(), json!(line)))
    );
    assert_eq!(
        found[3]["command"]["arguments"],
        json!([URI, 0, "@plugin=echo name=a"])
    );
    // A document that is not open has none.
    let none = lenses(&mut editor, "file:///nowhere.dbk").await;
    assert_eq!(none, Value::Null);
    let refused = editor
        .request_raw(
            "databook/codeLensBytes",
            json!({"request": "1", "textDocument": {"uri": URI}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
}
