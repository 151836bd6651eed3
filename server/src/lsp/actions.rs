//! Code lenses (`▶ Run`, `▶ Run with dependents` where a cell takes it,
//! `✕ Clear` on each cell, `▶ Run all`, `✕ Clear all`
//! at the top) and code actions (the same commands on the cell under the
//! cursor, for editors without lenses such as Helix, and quick fixes).

use std::collections::HashMap;

use databook_notebook::CellAnchor;
use tower_lsp_server::ls_types::*;

use super::ext::DatabookCommand;
use super::{State, convert, diagnostics};

fn lens(range: Range, title: &str, command: DatabookCommand) -> CodeLens {
    CodeLens {
        range,
        command: Some(command.to_lsp(title)),
        data: None,
    }
}

/// The anchor that finds cell `index` again, from its header's text.
fn anchor(index: usize, header: &str) -> CellAnchor {
    CellAnchor {
        index,
        header: header.to_string(),
    }
}

pub fn code_lenses(state: &State, uri: &Uri) -> Option<Vec<CodeLens>> {
    let snapshot = state.documents.get(uri)?;
    let mut lenses = Vec::new();
    let top = Range::default();
    if !snapshot.parse().cells.is_empty() {
        lenses.push(lens(top, "▶ Run all", DatabookCommand::RunAll(uri.clone())));
        lenses.push(lens(
            top,
            "✕ Clear all",
            DatabookCommand::ClearAll(uri.clone()),
        ));
    }
    // Which cells some cell takes, from the header analysis kept across
    // edits: reading every header again would cost milliseconds a request.
    let loaded = state.plugins.current();
    let taken: Vec<bool> = state
        .headers
        .with(uri, snapshot.document(), &loaded, |analysis| {
            (0..snapshot.parse().cells.len())
                .map(|cell| analysis.has_dependents(cell))
                .collect()
        });
    let mut positions = convert::Positions::new(&snapshot.rope, snapshot.text());
    for cell in &snapshot.parse().cells {
        let range = positions.range(&cell.header.range);
        let cell_anchor = anchor(cell.index, &snapshot.text()[cell.header.range.clone()]);
        lenses.push(lens(
            range,
            "▶ Run",
            DatabookCommand::Run(uri.clone(), cell_anchor.clone()),
        ));
        // Only where it differs from Run: a cell that some cell takes.
        if taken[cell.index] {
            lenses.push(lens(
                range,
                "▶ Run with dependents",
                DatabookCommand::RunWithDependents(uri.clone(), cell_anchor.clone()),
            ));
        }
        if cell.output.is_some() {
            lenses.push(lens(
                range,
                "✕ Clear",
                DatabookCommand::Clear(uri.clone(), cell_anchor),
            ));
        }
    }
    Some(lenses)
}

/// Asked on every move of the cursor, so it reads the document as the last
/// edit left it (a draft), through its accessors: a keystroke followed by
/// a cursor move does not settle the whole document.
pub fn code_actions(state: &State, params: CodeActionParams) -> Option<CodeActionResponse> {
    let uri = &params.text_document.uri;
    let draft = state.documents.draft(uri)?;
    let document = draft.document();
    let start = convert::offset(&draft.rope, params.range.start);
    let end = convert::offset(&draft.rope, params.range.end);
    let mut actions = Vec::new();

    // Quick fixes for the diagnostics under the cursor.
    let loaded = state.plugins.current();
    for diagnostic in diagnostics::findings(state, uri, document, &loaded) {
        if diagnostic.range.start > end || diagnostic.range.end < start {
            continue;
        }
        for fix in diagnostic.fixes {
            let edit = TextEdit {
                range: convert::range(&draft.rope, &fix.edit.range),
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
    if let Some(cell) = document.cell_at(start).and_then(|i| document.cell(i)) {
        let header = document
            .slice(cell.header.range.clone())
            .unwrap_or_default();
        let cell_anchor = anchor(cell.index, &header);
        let mut push = |title: &str, command: DatabookCommand| {
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: title.into(),
                kind: Some(CodeActionKind::EMPTY),
                command: Some(command.to_lsp(title)),
                ..Default::default()
            }));
        };
        push(
            "Run cell",
            DatabookCommand::Run(uri.clone(), cell_anchor.clone()),
        );
        let taken = state.headers.with(uri, document, &loaded, |analysis| {
            analysis.has_dependents(cell.index)
        });
        if taken {
            push(
                "Run with dependents",
                DatabookCommand::RunWithDependents(uri.clone(), cell_anchor.clone()),
            );
        }
        push("Run all", DatabookCommand::RunAll(uri.clone()));
        if cell.output.is_some() {
            push(
                "Clear output",
                DatabookCommand::Clear(uri.clone(), cell_anchor),
            );
        }
    }
    Some(actions)
}
