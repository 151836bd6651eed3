//! Hover: on a plugin's name, what it is and may touch; on an output block,
//! the cell's full latest result, as Markdown, with its run time and log
//! (for editors with no preview pane, such as Helix).

use tower_lsp_server::ls_types::*;

use super::markdown::{plugin_markdown, record_markdown};
use super::{State, convert};

pub fn hover(state: &State, position: TextDocumentPositionParams) -> Option<Hover> {
    let uri = &position.text_document.uri;
    let snapshot = state.documents.get(uri)?;
    let offset = convert::offset(&snapshot.rope, position.position);
    let loaded = state.plugins.current();
    let inside = |range: &std::ops::Range<usize>| range.start <= offset && offset <= range.end;
    if let Some(cell) = snapshot.parse().cell_at(offset) {
        if let Some(name) = &cell.header.plugin
            && inside(&name.range)
        {
            let value = match loaded.registry.get(&name.value) {
                Ok(plugin) => plugin_markdown(plugin),
                Err(error) => format!("**{}**: {error}", name.value),
            };
            return Some(markdown(value, convert::range(&snapshot.rope, &name.range)));
        }
        if let Some(output) = &cell.output
            && inside(&output.range)
        {
            let value = match state.runs.latest(uri, &snapshot, cell.index) {
                Some(kept) => record_markdown(&kept.report, kept.environment.as_deref()),
                None => "This output is from an earlier session; run the cell to see its full result here.".to_string(),
            };
            return Some(markdown(
                value,
                convert::range(&snapshot.rope, &output.header_range),
            ));
        }
    }
    None
}

fn markdown(value: String, range: Range) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: Some(range),
    }
}
