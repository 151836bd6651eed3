//! A plugin's result with arbitrary strings in every field (MIME type,
//! data, table cells and column names, series labels' keys and values, an
//! error's message and hint) is rendered as the file and the editors render
//! it (`render`, `render_error`, `view`), made into a block with
//! `output_block`, and written with `set_output` under a cell of a notebook
//! with prose around it. Read again, the notebook has the same cells with
//! the same headers and bodies, the same prose, and the block reads back as
//! the cell's output; or the block was refused by `reads_back`, as the
//! runner refuses it (`server/src/cells.rs`).
#![no_main]

use arbitrary::Arbitrary;
use databook_notebook::chart::MIN_WIDTH;
use databook_notebook::formats::{TABLE_MIME, TIMESERIES_MIME};
use databook_notebook::{Parse, Status, output_block, parse, reads_back, render, render_error, set_output, view};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

#[derive(Arbitrary, Debug)]
enum Mime {
    Table,
    TimeSeries,
    Json,
    ProblemJson,
    Csv,
    Plain,
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Text(s) => Value::from(s.as_str()),
            Scalar::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Scalar::Bool(b) => Value::from(*b),
            Scalar::Null => Value::Null,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct SeriesIn {
    labels: Vec<(String, Scalar)>,
    points: Vec<(f64, Scalar)>,
}

#[derive(Arbitrary, Debug)]
enum Data {
    Raw(String),
    Table {
        columns: Vec<Scalar>,
        rows: Vec<Vec<Scalar>>,
    },
    TimeSeries(Vec<SeriesIn>),
}

impl Data {
    fn text(&self) -> String {
        match self {
            Data::Raw(s) => s.clone(),
            Data::Table { columns, rows } => json!({
                "columns": columns.iter().map(Scalar::json).collect::<Vec<_>>(),
                "rows": rows.iter().map(|r| r.iter().map(Scalar::json).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
            .to_string(),
            Data::TimeSeries(series) => json!({
                "series": series.iter().map(|s| json!({
                    "labels": s.labels.iter().map(|(k, v)| (k.clone(), v.json())).collect::<serde_json::Map<_, _>>(),
                    "points": s.points.iter().map(|(t, v)| json!([
                        serde_json::Number::from_f64(*t).map_or(Value::Null, Value::Number),
                        v.json(),
                    ])).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
            .to_string(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Result_ {
    Ok { mime: Mime, data: Data },
    Error { message: String, hint: Option<String> },
}

/// The width of a reader's window: a screen's, or anything (an editor
/// sends it).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Width {
    Screen(u16),
    Any(usize),
}

/// Where the block goes.
#[derive(Arbitrary, Debug)]
struct Notebook {
    crlf: bool,
    /// Prose before the first cell, between the cells and after the last;
    /// each line is written after `# ` so that it is prose whatever it says.
    prose: [Option<String>; 3],
    /// Whether the cell written to already has an output block.
    had_output: bool,
    /// Whether the first cell ends with `@end` (when it has no output).
    end: bool,
    /// Write under the second (last) cell rather than the first.
    second: bool,
    final_newline: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    result: Result_,
    max_lines: u8,
    width: Width,
    notebook: Notebook,
}

fn prose(text: &Option<String>, nl: &str) -> String {
    let Some(text) = text else {
        return String::new();
    };
    text.split(['\n', '\r'])
        .map(|line| format!("# {line}{nl}"))
        .collect()
}

/// The text outside every cell, each gap without the line breaks at its
/// ends (writing a block at the end of a file may add the file's missing
/// final newline).
fn prose_of(text: &str, p: &Parse) -> Vec<String> {
    let mut gaps = Vec::new();
    let mut at = 0;
    for cell in &p.cells {
        gaps.push(text[at..cell.range.start].trim_matches(['\r', '\n']).to_owned());
        at = cell.range.end;
    }
    gaps.push(text[at..].trim_matches(['\r', '\n']).to_owned());
    gaps
}

fuzz_target!(|input: Input| {
    let (status, mime, lines) = match &input.result {
        Result_::Ok { mime, data } => {
            let mime = match mime {
                Mime::Table => TABLE_MIME.to_owned(),
                Mime::TimeSeries => TIMESERIES_MIME.to_owned(),
                Mime::Json => "application/json".to_owned(),
                Mime::ProblemJson => "application/problem+json; charset=utf-8".to_owned(),
                Mime::Csv => "text/csv".to_owned(),
                Mime::Plain => "text/plain".to_owned(),
                Mime::Any(s) => s.clone(),
            };
            let data = data.text();
            let width = match input.width {
                Width::Screen(w) => w as usize,
                Width::Any(w) => w,
            };
            let _ = view(&mime, &data, width);
            let _ = view(&mime, &data, width.max(MIN_WIDTH));
            let lines = render(&mime, &data, input.max_lines as usize);
            if input.max_lines > 0 {
                assert!(lines.len() <= input.max_lines as usize, "at most max_lines lines");
            }
            (Status::Ok, mime, lines)
        }
        Result_::Error { message, hint } => (
            Status::Error,
            "text/plain".to_owned(),
            render_error(message, hint.as_deref()),
        ),
    };
    let block = output_block(status, &mime, &lines);
    if !reads_back(&block) {
        // Refused: the runner writes its own error instead.
        return;
    }

    let nb = &input.notebook;
    let nl = if nb.crlf { "\r\n" } else { "\n" };
    let mut text = prose(&nb.prose[0], nl);
    text += &format!("@plugin=echo name=a{nl}first body{nl}");
    let old_block = format!("@output status=ok mime=text/plain{nl}> old{nl}");
    if nb.had_output && !nb.second {
        text += &old_block;
    } else if nb.end {
        text += &format!("@end{nl}");
    }
    text += &prose(&nb.prose[1], nl);
    text += &format!("@plugin=echo name=b{nl}second body{nl}");
    if nb.had_output && nb.second {
        text += &old_block;
    }
    text += &prose(&nb.prose[2], nl);
    if !nb.final_newline {
        text.truncate(text.trim_end_matches(['\r', '\n']).len());
    }

    let before = parse(&text);
    assert_eq!(before.cells.len(), 2, "the notebook has two cells: {text:?}");
    let target = usize::from(nb.second);
    let Some(edit) = set_output(&text, &before, target, &block) else {
        // Only an unchanged block gives no edit.
        let old = before.cells[target].output.as_ref().expect("an edit unless the block is there");
        assert_eq!(text[old.range.clone()].replace("\r\n", "\n").trim_end(), block.trim_end());
        return;
    };
    let after_text = edit.apply(&text);
    let after = parse(&after_text);

    assert_eq!(after.cells.len(), 2, "still two cells in {after_text:?}");
    for (old, new) in before.cells.iter().zip(&after.cells) {
        assert_eq!(&text[old.header.range.clone()], &after_text[new.header.range.clone()], "same header");
        assert_eq!(old.body_text(&text), new.body_text(&after_text), "same body");
    }
    assert_eq!(prose_of(&text, &before), prose_of(&after_text, &after), "same prose in {after_text:?}");
    assert!(after.stray_outputs.is_empty(), "no stray block in {after_text:?}");
    let written = after.cells[target].output.as_ref().expect("the cell has its block");
    assert_eq!(written.status, Some(status));
    let raw = after_text[written.range.clone()].replace("\r\n", "\n");
    assert_eq!(raw.trim_end_matches('\n'), block.trim_end_matches('\n'), "the block reads back as written");
    // The other cell's output is as it was.
    let other = 1 - target;
    assert_eq!(
        before.cells[other].output.as_ref().map(|o| &text[o.range.clone()]),
        after.cells[other].output.as_ref().map(|o| &after_text[o.range.clone()]),
    );
});
