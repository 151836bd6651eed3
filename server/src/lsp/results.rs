//! The requests that show cells and their results to a client:
//! `databook/cells` (the cells as the server reads them),
//! `databook/results` (every latest result) and `databook/render` (one
//! cell's latest result as plain text). See `docs/lsp-extensions.md`.

use tower_lsp_server::jsonrpc::{Error, Result};

use super::ext::{
    CellInfo, CellsResponse, DocumentParams, OutputParams, RenderParams, Rendered, ResultsResponse,
};
use super::{State, convert};
use crate::{cells, results};

/// The text's width when the client gives none, and the least it may ask
/// for (a chart needs room for its axis and labels).
const DEFAULT_WIDTH: usize = 80;

fn snapshot(
    state: &State,
    uri: &tower_lsp_server::ls_types::Uri,
) -> Result<super::documents::Snapshot> {
    state
        .documents
        .get(uri)
        .ok_or_else(|| Error::invalid_params(format!("{} is not open", uri.as_str())))
}

pub fn cells(state: &State, params: DocumentParams) -> Result<CellsResponse> {
    let snapshot = snapshot(state, &params.uri)?;
    let mut positions = convert::Positions::new(&snapshot.rope, snapshot.text());
    let cells = snapshot
        .parse()
        .cells
        .iter()
        .map(|cell| {
            // In text order: the header starts the cell's range.
            let start = positions.position(cell.range.start);
            let header_range = positions.range(&cell.header.range);
            let end = positions.position(cell.range.end);
            CellInfo {
                index: cell.index,
                header: snapshot.text()[cell.header.range.clone()].to_string(),
                name: cell.name().map(str::to_string),
                plugin: cell.plugin().map(str::to_string),
                range: tower_lsp_server::ls_types::Range { start, end },
                header_range,
            }
        })
        .collect();
    Ok(CellsResponse { cells })
}

pub fn results(state: &State, params: DocumentParams) -> Result<ResultsResponse> {
    let snapshot = snapshot(state, &params.uri)?;
    let results = state
        .runs
        .all_latest(&params.uri, &snapshot)
        .iter()
        .map(|(cell, kept)| {
            let name = snapshot.parse().cells[*cell].name();
            OutputParams::of(&params.uri, *cell, name, kept)
        })
        .collect();
    Ok(ResultsResponse { results })
}

pub fn render(state: &State, params: RenderParams) -> Result<Option<Rendered>> {
    let snapshot = snapshot(state, &params.uri)?;
    let parse = snapshot.parse();
    let cell = match (params.cell, params.position) {
        (Some(index), _) => parse.cells.get(index),
        (None, Some(position)) => {
            let offset = convert::offset(&snapshot.rope, position);
            parse.cell_at(offset)
        }
        (None, None) => {
            return Err(Error::invalid_params("give the cell's index or a position"));
        }
    };
    let Some(cell) = cell else {
        return Ok(None);
    };
    let label = cells::label(cell);
    let width = params
        .width
        .unwrap_or(DEFAULT_WIDTH)
        .max(databook_notebook::chart::MIN_WIDTH);
    let (status, text) = match state.runs.latest(&params.uri, &snapshot, cell.index) {
        Some(kept) => (
            if kept.report.result.is_ok() {
                "ok"
            } else {
                "error"
            },
            results::report_text(&label, &kept.report, results::How::of(&kept), width),
        ),
        None => ("none", format!("{label} has not run yet.\n")),
    };
    Ok(Some(Rendered {
        cell: cell.index,
        name: cell.name().map(str::to_string),
        status: status.to_string(),
        text,
    }))
}
