//! Many cells running at once while the user types in the same document.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{URI, start_with};

const CELLS: usize = 50;

/// 50 cells run at once while a simulated user keeps typing lines at the
/// top of the document and between cells: every line the user typed is
/// there at the end, in order, every cell has exactly one output block
/// under it, and a completion asked for in the middle of it all is
/// answered within 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_cells_run_while_the_user_types() {
    let mut text = String::from("# Notes\n\n");
    for i in 0..CELLS {
        text.push_str(&format!("@plugin=misbehave name=c{i}\nsleep 200\n\n"));
    }
    let (mut editor, _root) = start_with(&text).await;
    // Plugins are in once diagnostics are out.
    editor
        .wait_for("textDocument/publishDiagnostics", |p| p["uri"] == URI)
        .await;

    let cells = editor.request("databook/cells", json!({"uri": URI})).await;
    let mut runs = Vec::new();
    for cell in cells["cells"].as_array().unwrap() {
        let (_, response) = editor
            .request_later(
                "workspace/executeCommand",
                json!({"command": "databook.run", "arguments": [URI, cell["index"], cell["header"]]}),
            )
            .await;
        runs.push(response);
    }

    // The user types a line at the top, then one after the title, while
    // the runs write their outputs; halfway, they ask for a completion.
    let mut typed = Vec::new();
    let mut completion_ms = None;
    for n in 0..40 {
        let line = format!("typed line {n}\n");
        editor.edit(URI, (1, 0), (1, 0), &line).await;
        typed.push(line);
        if n == 20 {
            // After `@plugin=` on a fresh line of prose at the top.
            editor.edit(URI, (0, 0), (0, 0), "@plugin=\n").await;
            let asked = Instant::now();
            let items = editor
                .request(
                    "textDocument/completion",
                    json!({"textDocument": {"uri": URI}, "position": {"line": 0, "character": 8}}),
                )
                .await;
            completion_ms = Some(asked.elapsed().as_millis());
            let labels: Vec<&str> = match &items {
                Value::Array(items) => items.iter().filter_map(|i| i["label"].as_str()).collect(),
                other => other["items"]
                    .as_array()
                    .map(|items| items.iter().filter_map(|i| i["label"].as_str()).collect())
                    .unwrap_or_default(),
            };
            assert!(labels.contains(&"misbehave"), "{items}");
            editor.edit(URI, (0, 0), (1, 0), "").await;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    for (i, run) in runs.into_iter().enumerate() {
        let response = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("run {i} did not finish"))
            .unwrap();
        assert_eq!(
            response["result"]["runs"][0]["status"], "ok",
            "run {i}: {response}"
        );
    }

    let text = editor.text(URI);
    // Every typed line, in the order typed (each was put above the last).
    let lines: Vec<&str> = text.lines().collect();
    let expected: Vec<String> = typed
        .iter()
        .rev()
        .map(|l| l.trim_end().to_string())
        .collect();
    assert_eq!(lines[0], "# Notes");
    assert_eq!(&lines[1..=typed.len()], expected.as_slice(), "{text}");
    // Every cell exactly one output block, its own, right under it.
    let parse = databook_notebook::parse(&text);
    assert_eq!(parse.cells.len(), CELLS);
    assert!(parse.stray_outputs.is_empty(), "{text}");
    assert_eq!(text.matches("@output").count(), CELLS, "{text}");
    for cell in &parse.cells {
        let output = cell
            .output
            .as_ref()
            .unwrap_or_else(|| panic!("cell {} has no output", cell.index));
        let block = &text[output.range.clone()];
        assert_eq!(
            block, "@output status=ok mime=text/plain\n> slept 200 ms\n",
            "cell {}",
            cell.index
        );
    }
    let completion_ms = completion_ms.unwrap();
    assert!(
        completion_ms < 100,
        "the completion took {completion_ms} ms"
    );
}
