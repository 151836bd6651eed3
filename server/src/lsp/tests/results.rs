//! `databook/cells`, `databook/results` and `databook/render`, and the
//! results store that lets a result outlive the server.

use serde_json::{Value, json};

use super::editor::Editor;
use super::testing_plugins;

const SERIES: &str = "@plugin=echo name=rps mime=application/vnd.databook.timeseries+json\n{\"series\": [{\"labels\": {\"job\": \"api\"}, \"points\": [[1700000000, 1], [1700000060, 3], [1700000120, 2]]}]}\n";

/// A server whose workspace is `root`, with `text` open as `root/notes.dbk`.
async fn open_in(root: &std::path::Path, text: &str) -> (Editor, String) {
    let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root).await;
    let uri = format!("file://{}/notes.dbk", root.display());
    editor.open(&uri, text).await;
    (editor, uri)
}

async fn run(editor: &mut Editor, uri: &str, cell: usize) -> Value {
    let cells = editor.request("databook/cells", json!({"uri": uri})).await;
    let header = cells["cells"][cell]["header"].clone();
    editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.run", "arguments": [uri, cell, header]}),
        )
        .await
}

async fn render(editor: &mut Editor, uri: &str, params: Value) -> Value {
    let mut params = params;
    params["uri"] = json!(uri);
    editor.request("databook/render", params).await
}

#[tokio::test]
async fn cells_are_listed_with_what_running_one_needs() {
    let root = tempfile::tempdir().unwrap();
    let text = "# Notes\n\n@plugin=echo name=a\nhello\n@output status=ok mime=text/plain\n> hello\n@end\n\n@plugin=jq input=a\n.\n";
    let (mut editor, uri) = open_in(root.path(), text).await;
    let cells = editor.request("databook/cells", json!({"uri": uri})).await;
    assert_eq!(
        cells,
        json!({"cells": [
            {"index": 0, "header": "@plugin=echo name=a", "name": "a", "plugin": "echo",
             "range": {"start": {"line": 2, "character": 0}, "end": {"line": 6, "character": 4}},
             "headerRange": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 19}}},
            {"index": 1, "header": "@plugin=jq input=a", "name": null, "plugin": "jq",
             "range": {"start": {"line": 8, "character": 0}, "end": {"line": 9, "character": 1}},
             "headerRange": {"start": {"line": 8, "character": 0}, "end": {"line": 8, "character": 18}}},
        ]})
    );
    let closed = editor
        .request_raw("databook/cells", json!({"uri": "file:///nowhere.dbk"}))
        .await;
    assert!(
        closed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not open"),
        "{closed}"
    );
}

#[tokio::test]
async fn a_time_series_renders_as_a_chart_with_axes_and_legend() {
    let root = tempfile::tempdir().unwrap();
    let text = format!("# Series\n{SERIES}\n@plugin=echo\nnot run\n");
    let (mut editor, uri) = open_in(root.path(), &text).await;
    assert_eq!(
        render(&mut editor, &uri, json!({"cell": 0})).await,
        json!({"cell": 0, "name": "rps", "status": "none", "text": "rps has not run yet.\n"})
    );
    run(&mut editor, &uri, 0).await;
    let rendered = render(
        &mut editor,
        &uri,
        json!({"position": {"line": 2, "character": 3}, "width": 60}),
    )
    .await;
    assert_eq!(rendered["status"], "ok");
    let text = rendered["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "rps · ok in {} ms · application/vnd.databook.timeseries+json",
            text.split(" ms")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
        )
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains('┤')).count(),
        3,
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains('└')), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("22:13:20") && l.ends_with("UTC")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("• {job=\"api\"}")),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 64), "{text}");
    // A position in no cell, and a cell that has not run.
    let prose = render(
        &mut editor,
        &uri,
        json!({"position": {"line": 0, "character": 0}}),
    )
    .await;
    assert_eq!(prose, Value::Null);
    let other = render(&mut editor, &uri, json!({"cell": 1})).await;
    assert_eq!(other["status"], "none");
    // Hover on the output shows the same chart.
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 2}}),
        )
        .await;
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("┤") && value.contains("• {job=\"api\"}"),
        "{value}"
    );
}

#[tokio::test]
async fn results_outlive_the_server_and_stay_out_of_git() {
    let root = tempfile::tempdir().unwrap();
    let text = format!("@plugin=echo name=hello\nhi there\n\n{SERIES}");
    let (mut editor, uri) = open_in(root.path(), &text).await;
    run(&mut editor, &uri, 0).await;
    run(&mut editor, &uri, 1).await;
    let before = editor
        .request("databook/results", json!({"uri": uri}))
        .await;
    assert_eq!(before["results"].as_array().unwrap().len(), 2, "{before}");
    assert_eq!(before["results"][0]["data"], "hi there");
    let written = editor.text(&uri);
    drop(editor);

    // The store is written in the background: wait (bounded) for it.
    let store = root.path().join(".databook/results");
    for _ in 0..100 {
        if std::fs::read_dir(&store).is_ok_and(|d| d.count() == 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ignore = std::fs::read_to_string(root.path().join(".databook/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");

    // A new server, the notebook as it was saved, and a cell moved down:
    // each result is found again under its cell.
    let (mut editor, uri) = open_in(root.path(), &format!("# Title\n\n{written}")).await;
    let mut after = Value::Null;
    for _ in 0..100 {
        after = editor
            .request("databook/results", json!({"uri": uri}))
            .await;
        if after["results"].as_array().is_some_and(|r| r.len() == 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (before, after) = (&before["results"], &after["results"]);
    assert_eq!(after.as_array().map(Vec::len), Some(2), "{after}");
    for key in ["cell", "name", "status", "mime", "data"] {
        assert_eq!(after[0][key], before[0][key], "{key}");
        assert_eq!(after[1][key], before[1][key], "{key}");
    }
    let rendered = render(&mut editor, &uri, json!({"cell": 1})).await;
    assert!(
        rendered["text"].as_str().unwrap().contains('└'),
        "{rendered}"
    );
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 5, "character": 2}}),
        )
        .await;
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("hi there") && !value.contains("earlier session"),
        "{value}"
    );

    // Clearing forgets: a third server finds nothing.
    editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.clearAll", "arguments": [uri]}),
        )
        .await;
    assert_eq!(
        editor
            .request("databook/results", json!({"uri": uri}))
            .await,
        json!({"results": []})
    );
}

#[tokio::test]
async fn a_notebook_outside_the_workspace_writes_nothing_beside_it() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    let uri = format!("file://{}/stray.dbk", elsewhere.path().display());
    editor.open(&uri, "@plugin=echo\nhi\n").await;
    run(&mut editor, &uri, 0).await;
    let results = editor
        .request("databook/results", json!({"uri": uri}))
        .await;
    assert_eq!(results["results"][0]["data"], "hi", "kept for the session");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!elsewhere.path().join(".databook").exists());
    assert!(!root.path().join(".databook").exists());
}

/// `workspace/codeLens/refresh` goes only to an editor that said it
/// handles it (Helix answers it with an error and logs one).
#[tokio::test]
async fn lenses_are_refreshed_only_for_an_editor_that_can() {
    for support in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let (service, socket) = crate::lsp::service(vec![testing_plugins()]);
        let mut editor = Editor::start(service, socket).await;
        editor
            .initialize_with(
                root.path(),
                json!({"codeLens": {"refreshSupport": support}}),
            )
            .await;
        let refreshes = editor
            .collect_for(
                "workspace/codeLens/refresh",
                std::time::Duration::from_secs(3),
            )
            .await;
        assert_eq!(refreshes.len(), usize::from(support), "support: {support}");
    }
}

/// `▶ Run with dependents` is offered on the cells that some cell takes,
/// and runs the cell, then every cell that takes it, directly or not, in
/// order, even those that have a result already; other cells are left.
#[tokio::test]
async fn run_with_dependents_reruns_what_takes_the_cell_in_order() {
    let root = tempfile::tempdir().unwrap();
    let text = "@plugin=echo name=src\nfirst\n\n@plugin=misbehave name=mid input=src\ninput\n\n@plugin=misbehave name=leaf input=mid\ninput\n\n@plugin=echo name=other\nalone\n";
    let (mut editor, uri) = open_in(root.path(), text).await;
    let lenses = super::lenses(&mut editor, &uri).await;
    let with_dependents: Vec<Value> = lenses
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["command"]["title"] == "▶ Run with dependents")
        .map(|l| l["command"]["arguments"][2].clone())
        .collect();
    assert_eq!(
        with_dependents,
        [
            json!("@plugin=echo name=src"),
            json!("@plugin=misbehave name=mid input=src")
        ]
    );

    let command = json!({"command": "databook.runWithDependents", "arguments": [uri, 0, "@plugin=echo name=src"]});
    let ran = editor
        .request("workspace/executeCommand", command.clone())
        .await;
    let cells: Vec<&Value> = ran["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cell"])
        .collect();
    assert_eq!(cells, [&json!(0), &json!(1), &json!(2)], "{ran}");
    let text = editor.text(&uri);
    assert!(text.contains("> text/plain: text/plain: first\n"), "{text}");
    assert!(!text.contains("> alone"), "{text}");

    // The source changes: its dependents run again though they have results.
    editor.edit(&uri, (1, 0), (1, 5), "second").await;
    editor.request("workspace/executeCommand", command).await;
    let text = editor.text(&uri);
    assert!(
        text.contains("> text/plain: text/plain: second\n"),
        "{text}"
    );
    assert!(!text.contains("first\n@"), "{text}");
}
