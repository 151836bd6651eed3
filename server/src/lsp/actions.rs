//! Code lenses (`▶ Run`, `✕ Clear` on each cell, `▶ Run all`, `✕ Clear all`
//! at the top) and code actions (the same commands on the cell under the
//! cursor, for editors without lenses such as Helix, and quick fixes).

use std::collections::HashMap;

use serde_json::{Value, json};
use tower_lsp_server::ls_types::*;

use super::{State, convert, diagnostics};

fn command(title: &str, name: &str, arguments: Vec<Value>) -> Command {
    Command {
        title: title.into(),
        command: name.into(),
        arguments: Some(arguments),
    }
}

/// The arguments that identify a cell to `databook.run` and `databook.clear`:
/// the document, the cell's index and its header's text (to find it again if
/// the document changed).
fn cell_arguments(uri: &Uri, index: usize, header: &str) -> Vec<Value> {
    vec![json!(uri), json!(index), json!(header)]
}

pub fn code_lenses(state: &State, uri: &Uri) -> Option<Vec<CodeLens>> {
    let snapshot = state.documents.get(uri)?;
    let mut lenses = Vec::new();
    let top = Range::default();
    if !snapshot.parse().cells.is_empty() {
        lenses.push(CodeLens {
            range: top,
            command: Some(command("▶ Run all", "databook.runAll", vec![json!(uri)])),
            data: None,
        });
        lenses.push(CodeLens {
            range: top,
            command: Some(command(
                "✕ Clear all",
                "databook.clearAll",
                vec![json!(uri)],
            )),
            data: None,
        });
    }
    let mut positions = convert::Positions::new(&snapshot.rope, snapshot.text());
    for cell in &snapshot.parse().cells {
        let range = positions.range(&cell.header.range);
        let header = &snapshot.text()[cell.header.range.clone()];
        let arguments = cell_arguments(uri, cell.index, header);
        lenses.push(CodeLens {
            range,
            command: Some(command("▶ Run", "databook.run", arguments.clone())),
            data: None,
        });
        if cell.output.is_some() {
            lenses.push(CodeLens {
                range,
                command: Some(command("✕ Clear", "databook.clear", arguments)),
                data: None,
            });
        }
    }
    Some(lenses)
}

pub fn code_actions(state: &State, params: CodeActionParams) -> Option<CodeActionResponse> {
    let uri = &params.text_document.uri;
    let snapshot = state.documents.get(uri)?;
    let start = convert::offset(&snapshot.rope, params.range.start);
    let end = convert::offset(&snapshot.rope, params.range.end);
    let mut actions = Vec::new();

    // Quick fixes for the diagnostics under the cursor.
    let loaded = state.plugins.current();
    for diagnostic in diagnostics::findings(state, uri, &snapshot, &loaded) {
        if diagnostic.range.start > end || diagnostic.range.end < start {
            continue;
        }
        for fix in diagnostic.fixes {
            let edit = TextEdit {
                range: convert::range(&snapshot.rope, &fix.edit.range),
                new_text: fix.edit.new_text.clone(),
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                is_preferred: Some(true),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
    }

    // The cell under the cursor: its whole extent, output included.
    if let Some(cell) = snapshot.parse().cell_at(start) {
        let header = &snapshot.text()[cell.header.range.clone()];
        let arguments = cell_arguments(uri, cell.index, header);
        let mut push = |title: &str, cmd: Command| {
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: title.into(),
                kind: Some(CodeActionKind::EMPTY),
                command: Some(cmd),
                ..Default::default()
            }));
        };
        push(
            "Run cell",
            command("Run cell", "databook.run", arguments.clone()),
        );
        push(
            "Run all",
            command("Run all", "databook.runAll", vec![json!(uri)]),
        );
        if cell.output.is_some() {
            push(
                "Clear output",
                command("Clear output", "databook.clear", arguments),
            );
        }
    }
    Some(actions)
}
