//! Rendering a plugin's result as the text lines of an output block.
//!
//! The rendering must be deterministic: running a cell whose result did not
//! change has to give the same lines, byte for byte, so that the file does
//! not change. Nothing here looks at the clock or the environment.

use serde_json::Value;

use crate::formats::{TABLE_MIME, TIMESERIES_MIME, Table, TimeSeries, essence};
use crate::syntax::{Status, quote_value};

/// How many characters wide a sparkline is at most; series with more points
/// are resampled into this many buckets.
pub const SPARKLINE_WIDTH: usize = 20;

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Renders `data` of type `mime` as lines (without the `> ` prefix), at most
/// `max_lines` of them (0 means no limit), the last then saying how many
/// were left out. Data that does not have the shape its type promises is
/// shown as text.
pub fn render(mime: &str, data: &str, max_lines: usize) -> Vec<String> {
    // Parameters such as `; charset=utf-8` do not change the rendering.
    let lines = match essence(mime).as_str() {
        "application/json" => render_json(data),
        "text/csv" => Some(render_table(&parse_csv(data))),
        TABLE_MIME => Table::parse(data).ok().map(|t| table_lines(&t)),
        TIMESERIES_MIME => TimeSeries::parse(data).ok().map(|s| timeseries_lines(&s)),
        other if other.ends_with("+json") => render_json(data),
        _ => None,
    };
    truncate(lines.unwrap_or_else(|| text_lines(data)), max_lines)
}

/// How many rows of plot a time-series chart has in [`view`].
pub const CHART_HEIGHT: usize = 12;

/// Renders `data` of type `mime` in full, for a reader with `width`
/// columns (a preview split, a hover, a terminal): as [`render`] does, but
/// nothing left out, and time series drawn as a chart with axes and a
/// legend rather than one sparkline a series.
pub fn view(mime: &str, data: &str, width: usize) -> Vec<String> {
    if essence(mime) == TIMESERIES_MIME
        && let Ok(series) = TimeSeries::parse(data)
    {
        return crate::chart::chart_lines(&series, width, CHART_HEIGHT);
    }
    render(mime, data, 0)
}

/// The lines of an error: its message, then the plugin's hint if any.
pub fn render_error(message: &str, hint: Option<&str>) -> Vec<String> {
    let mut lines = text_lines(message);
    if let Some(hint) = hint.filter(|h| !h.trim().is_empty()) {
        let mut hint_lines = text_lines(hint).into_iter();
        if let Some(first) = hint_lines.next() {
            lines.push(format!("hint: {first}"));
        }
        lines.extend(hint_lines.map(|l| format!("      {l}")));
    }
    lines
}

/// The text of an output block: its header, then one `> ` line per line (an
/// empty line as a lone `>`), each ending with `\n`. Every line passes
/// through here: a line break of any kind inside one (`\n`, `\r\n`, `\r`,
/// as editors count them) starts another prefixed line, and other control
/// characters are written as escapes, so that nothing in a result can end
/// the block or forge a directive. A MIME type that is not one is written
/// as `text/plain` (the runtime refuses them before they get here).
pub fn output_block(status: Status, mime: &str, lines: &[String]) -> String {
    let mime = if databook_stdx::is_mime_type(mime) {
        mime
    } else {
        "text/plain"
    };
    let mut out = format!(
        "@output status={} mime={}\n",
        status.as_str(),
        quote_value(mime)
    );
    for line in lines {
        for part in line.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
            if part.is_empty() {
                out.push_str(">\n");
                continue;
            }
            out.push_str("> ");
            for c in part.chars() {
                if c.is_control() && c != '\t' {
                    use std::fmt::Write;
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                } else {
                    out.push(c);
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Whether `block` (from [`output_block`]) reads back as exactly one output
/// block of a cell, and nothing else: the last guard before it is written.
pub fn reads_back(block: &str) -> bool {
    let text = format!("@plugin=x\nbody\n{block}after\n");
    let start = "@plugin=x\nbody\n".len();
    let parse = crate::syntax::parse(&text);
    parse.cells.len() == 1
        && parse.stray_outputs.is_empty()
        && parse.errors.is_empty()
        && parse.cells[0]
            .output
            .as_ref()
            .is_some_and(|out| out.range == (start..start + block.len()))
}

/// Splits text into lines. A final newline ends the last line rather than
/// starting an empty one, and carriage returns go (a lone `\r` would be a
/// line break to some editors and break the block apart).
fn text_lines(text: &str) -> Vec<String> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\n').map(|l| l.replace('\r', "")).collect()
}

fn truncate(mut lines: Vec<String>, max_lines: usize) -> Vec<String> {
    if max_lines == 0 || lines.len() <= max_lines {
        return lines;
    }
    let kept = max_lines - 1;
    let left_out = lines.len() - kept;
    lines.truncate(kept);
    lines.push(format!(
        "… {left_out} more line{}",
        if left_out == 1 { "" } else { "s" }
    ));
    lines
}

fn render_json(data: &str) -> Option<Vec<String>> {
    let value: Value = serde_json::from_str(data).ok()?;
    let pretty = serde_json::to_string_pretty(&value).ok()?;
    Some(text_lines(&pretty))
}

/// A table's lines: its column names over its rows.
pub fn table_lines(table: &Table) -> Vec<String> {
    let mut rows = Vec::with_capacity(table.rows.len() + 1);
    rows.push(table.columns.clone());
    rows.extend(table.rows.iter().cloned());
    render_table(&rows)
}

/// Splits CSV (RFC 4180: quoted fields, doubled quotes, newlines inside
/// quotes) into rows of fields.
fn parse_csv(data: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.parse::<f64>().is_ok()
        && s.bytes().any(|b| b.is_ascii_digit())
        && !s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

/// An aligned text table: the first row is the header, underlined; columns
/// are two spaces apart; numbers are right-aligned. A cell's newlines become
/// `↵` so that a row stays one line.
fn render_table(rows: &[Vec<String>]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.replace("\r\n", "↵").replace(['\n', '\r'], "↵"))
                .collect()
        })
        .collect();
    let Some(header) = rows.first() else {
        return Vec::new();
    };
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; ncols];
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    // A column whose every body cell is a number has its header
    // right-aligned too, above the numbers.
    let numeric_column: Vec<bool> = (0..ncols)
        .map(|i| {
            let mut cells = rows[1..]
                .iter()
                .filter_map(|r| r.get(i))
                .filter(|c| !c.is_empty());
            let mut any = false;
            let all = cells.all(|c| {
                any = true;
                is_number(c)
            });
            any && all
        })
        .collect();
    let format_row = |row: &[String], is_header: bool| {
        let mut line = String::new();
        for i in 0..ncols {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            let right = if is_header {
                numeric_column[i]
            } else {
                is_number(cell)
            };
            if right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.trim_end().to_owned()
    };
    let mut lines = vec![format_row(header, true)];
    lines.push(
        widths
            .iter()
            .map(|&w| "─".repeat(w.max(1)))
            .collect::<Vec<_>>()
            .join("  "),
    );
    lines.extend(rows[1..].iter().map(|r| format_row(r, false)));
    lines
}

/// One line a series: its labels, a sparkline, and min, max and last, the
/// numbers of every series in columns.
pub fn timeseries_lines(timeseries: &TimeSeries) -> Vec<String> {
    if timeseries.series.is_empty() {
        return vec!["(no series)".to_owned()];
    }
    let series: Vec<(String, Vec<f64>, Option<[String; 3]>)> = timeseries
        .series
        .iter()
        .map(|s| {
            let stats = s
                .stats()
                .map(|st| [compact(st.min), compact(st.max), compact(st.last)]);
            (s.label_text(), s.values().collect(), stats)
        })
        .collect();
    let label_width = series
        .iter()
        .map(|(l, _, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let spark_width = series
        .iter()
        .map(|(_, v, _)| v.len().min(SPARKLINE_WIDTH))
        .max()
        .unwrap_or(0);
    let width = |i: usize| {
        series
            .iter()
            .filter_map(|(_, _, s)| s.as_ref())
            .map(|s| s[i].len())
            .max()
            .unwrap_or(0)
    };
    let (min_width, max_width) = (width(0), width(1));
    series
        .iter()
        .map(|(label, values, stats)| {
            let pad = " ".repeat(label_width - label.chars().count());
            let Some([min, max, last]) = stats else {
                return format!("{label}{pad}  (no data)");
            };
            let spark = sparkline(values, SPARKLINE_WIDTH);
            let spark_pad = " ".repeat(spark_width - spark.chars().count());
            format!(
                "{label}{pad}  {spark}{spark_pad}  min {min:<min_width$}  max {max:<max_width$}  last {last}"
            )
        })
        .collect()
}

/// A table as Markdown, at most `max_rows` rows, then how many more.
pub fn table_markdown(table: &Table, max_rows: usize) -> String {
    use std::fmt::Write;
    let cell = |text: &str| text.replace('|', "\\|").replace(['\r', '\n'], " ");
    let columns: Vec<String> = table.columns.iter().map(|c| cell(c)).collect();
    let mut out = format!(
        "| {} |\n|{}\n",
        columns.join(" | "),
        "---|".repeat(columns.len().max(1))
    );
    for row in table.rows.iter().take(max_rows) {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if table.rows.len() > max_rows {
        let _ = writeln!(out, "\n… {} more rows", table.rows.len() - max_rows);
    }
    out
}

/// One block character per value, or per bucket (the bucket's mean) when
/// there are more values than `width`. The scale is the series' own, from
/// its minimum to its maximum; a flat series sits in the middle.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let values: Vec<f64> = if values.len() > width && width > 0 {
        (0..width)
            .map(|b| {
                let from = b * values.len() / width;
                let to = ((b + 1) * values.len() / width).max(from + 1);
                let bucket = &values[from..to];
                bucket.iter().sum::<f64>() / bucket.len() as f64
            })
            .collect()
    } else {
        values.to_vec()
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|&v| {
            if max - min <= f64::EPSILON * max.abs().max(1.0) {
                SPARKS[3]
            } else {
                let level = ((v - min) / (max - min) * 7.0).round() as usize;
                SPARKS[level.min(7)]
            }
        })
        .collect()
}

/// A short form of a number: three significant digits, with `k`, `M`, `G`
/// and `T` for large values and an exponent for tiny or huge ones.
pub fn compact(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let abs = v.abs();
    if !(1e-3..1e15).contains(&abs) {
        let s = format!("{v:.2e}");
        // `1.50e-4` reads better as `1.5e-4`.
        let (mantissa, exp) = s.split_once('e').unwrap();
        return format!("{}e{exp}", trim_zeros(mantissa));
    }
    const SCALES: [(f64, &str); 5] = [(1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")];
    let mut i = SCALES
        .iter()
        .rposition(|&(scale, _)| abs >= scale)
        .unwrap_or(0);
    loop {
        let (scale, suffix) = SCALES[i];
        let s = significant(v / scale);
        // 999.95k rounds to 1000k: that is 1M.
        if s.trim_start_matches('-') == "1000" && i + 1 < SCALES.len() {
            i += 1;
            continue;
        }
        return format!("{s}{suffix}");
    }
}

/// Three significant digits, without trailing zeros.
fn significant(v: f64) -> String {
    let abs = v.abs();
    let decimals = if abs >= 100.0 {
        0
    } else if abs >= 10.0 {
        1
    } else if abs >= 1.0 {
        2
    } else {
        // 0.0123 has two zeros after the point, then three digits.
        (2 - abs.log10().floor() as i32).max(0) as usize
    };
    trim_zeros(&format!("{v:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
