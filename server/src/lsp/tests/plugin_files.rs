//! Plugin files that change under a running server: rebuilt, replaced by
//! garbage, deleted. A run under way finishes with the plugin it started
//! with; the next run sees the files as they are now.

use std::time::Duration;

use serde_json::{Value, json};

use super::editor::Editor;
use super::{URI, codes, diagnostics, install_plugin};

async fn run(editor: &mut Editor) -> Value {
    let cells = editor.request("databook/cells", json!({"uri": URI})).await;
    let header = cells["cells"][0]["header"].clone();
    editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.run", "arguments": [URI, 0, header]}),
        )
        .await
}

/// The next diagnostics whose codes say, or not, `code` (the last run's
/// failure may be among them too).
async fn next_diagnostics(editor: &mut Editor, code: &str, present: bool) {
    editor
        .wait_for_next("textDocument/publishDiagnostics", |p| {
            p["uri"] == URI
                && codes(p["diagnostics"].as_array().unwrap()).contains(&code.to_string())
                    == present
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_files_changing_mid_run_leave_runs_whole_and_are_seen_next() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    install_plugin(&plugins, "flux");
    let wasm = plugins.join("flux/plugin.wasm");
    let (service, socket) = crate::lsp::service(vec![plugins.clone()]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    editor.open(URI, "@plugin=flux\nsleep 600\n").await;
    diagnostics(&mut editor, 0).await;

    // Garbage written over the component while a run is under way: the
    // run goes on with the plugin it started with and writes its output.
    let (_, running) = editor
        .request_later(
            "workspace/executeCommand",
            json!({"command": "databook.run", "arguments": [URI, 0, "@plugin=flux"]}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::fs::write(&wasm, b"\0asm garbage, not a component").unwrap();
    let done = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the run under way finishes")
        .unwrap();
    assert_eq!(done["result"]["runs"][0]["status"], "ok", "{done}");
    assert!(
        editor.text(URI).contains("> slept 600 ms"),
        "{}",
        editor.text(URI)
    );

    // The next run sees the garbage: a clear error on the cell, naming the
    // file, and the server goes on.
    // (Published while the run above finished, perhaps: looked for among
    // those already received too; it had never been published before.)
    let found = editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            codes(p["diagnostics"].as_array().unwrap()) == ["plugin-failed"]
        })
        .await["diagnostics"]
        .as_array()
        .unwrap()
        .clone();
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("plugin.wasm"), "{message}");
    let failed = run(&mut editor).await;
    assert_eq!(failed["runs"][0]["status"], "error", "{failed}");

    // Rebuilt: a good component is back.
    install_plugin(&plugins, "flux");
    next_diagnostics(&mut editor, "plugin-failed", false).await;
    editor.edit(URI, (1, 0), (1, 9), "counter").await;
    let ran = run(&mut editor).await;
    assert_eq!(ran["runs"][0]["status"], "ok", "{ran}");
    assert!(editor.text(URI).contains("> 1\n"), "{}", editor.text(URI));

    // Deleted: the plugin is unknown, and running the cell says so.
    std::fs::remove_dir_all(plugins.join("flux")).unwrap();
    next_diagnostics(&mut editor, "unknown-plugin", true).await;
    let gone = run(&mut editor).await;
    assert_eq!(gone["runs"][0]["status"], "error", "{gone}");
    assert!(
        editor.text(URI).contains("> unknown plugin \"flux\""),
        "{}",
        editor.text(URI)
    );
}
