//! Time series as a text chart: a value axis, a time axis and a legend, in
//! plain characters that a buffer, a hover or a terminal shows as they are.
//!
//! No text-chart crate fitted: those that draw several series tell them
//! apart only by ANSI colour, which an editor buffer or a hover cannot
//! show, so each series here has a marker of its own and the legend names
//! it. Like the rest of `render`, the chart is deterministic: times are
//! shown in UTC, never in the local zone.

use chrono::DateTime;

use crate::formats::{Series, TimeSeries};
use crate::render::{compact, timeseries_lines};

/// The markers of the series, in legend order; past the last they repeat.
const MARKERS: [char; 8] = ['•', '+', 'x', 'o', '*', '#', '%', '@'];

/// How many series the legend names before saying how many more.
const LEGEND: usize = 20;

/// The narrowest chart drawn, in columns.
pub const MIN_WIDTH: usize = 40;

/// The widest chart drawn, in columns. The width comes from the editor
/// (`databook/render`'s `width`): a huge one must not make the server try
/// to allocate a grid that size.
pub const MAX_WIDTH: usize = 1000;

/// `timeseries` as the lines of a chart `width` columns wide (between
/// [`MIN_WIDTH`] and [`MAX_WIDTH`]) with `height` rows of plot (at least
/// 3), then a legend.
pub fn chart_lines(timeseries: &TimeSeries, width: usize, height: usize) -> Vec<String> {
    let width = width.clamp(MIN_WIDTH, MAX_WIDTH);
    let height = height.max(3);
    let values = || timeseries.series.iter().flat_map(Series::values);
    let times = || {
        timeseries
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.t))
    };
    let (Some((low, high)), Some((start, end))) = (bounds(values()), bounds(times())) else {
        let mut lines = vec!["(no data to plot)".to_owned()];
        lines.extend(legend(timeseries));
        return lines;
    };
    // A flat line sits in the middle of a scale around it.
    let (low, high) = if high - low <= f64::EPSILON * high.abs().max(1.0) {
        let pad = (high.abs() * 0.1).max(1.0);
        (low - pad, high + pad)
    } else {
        (low, high)
    };
    // Each tick's label is the value its row stands for (the middle row
    // of an even height is not the middle value).
    let tick_rows = [0, (height - 1) / 2, height - 1];
    let value_at = |row: usize| high - (high - low) * row as f64 / (height - 1) as f64;
    let labels: Vec<String> = tick_rows.iter().map(|&r| compact(value_at(r))).collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let plot_width = width - label_width - 2;

    let mut grid = vec![vec![' '; plot_width]; height];
    let row_of = |v: f64| {
        let from_top = (high - v) / (high - low) * (height - 1) as f64;
        (from_top.round() as usize).min(height - 1)
    };
    let column_time = |c: usize| {
        if plot_width == 1 {
            start
        } else {
            start + (end - start) * c as f64 / (plot_width - 1) as f64
        }
    };
    // Later series are drawn over earlier ones, so the first series listed
    // in the legend is the one most likely hidden; drawing in reverse puts
    // it on top.
    for (i, series) in timeseries.series.iter().enumerate().rev() {
        let marker = MARKERS[i % MARKERS.len()];
        for (c, value) in sample(series, plot_width, start, end, column_time)
            .into_iter()
            .enumerate()
        {
            if let Some(v) = value {
                grid[row_of(v)][c] = marker;
            }
        }
    }

    let mut lines = Vec::with_capacity(height + 3 + timeseries.series.len());
    for (r, row) in grid.iter().enumerate() {
        let (label, axis) = match tick_rows.iter().position(|&t| t == r) {
            Some(i) => (labels[i].as_str(), '┤'),
            None => ("", '│'),
        };
        let row: String = row.iter().collect();
        lines.push(format!("{label:>label_width$} {axis}{}", row.trim_end()));
    }
    let mut axis: Vec<char> = vec!['─'; plot_width];
    for c in [0, plot_width / 2, plot_width - 1] {
        axis[c] = '┬';
    }
    lines.push(format!(
        "{:label_width$} └{}",
        "",
        axis.into_iter().collect::<String>()
    ));
    lines.push(time_labels(start, end, label_width + 2, plot_width));
    lines.push(String::new());
    lines.extend(legend(timeseries));
    lines
}

/// The smallest and largest of `values`, if there are any.
fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// One value per column: the mean of the points whose time falls in the
/// column, or, for a column between two points with no gap between them,
/// the value on the line joining them; `None` in a gap.
fn sample(
    series: &Series,
    columns: usize,
    start: f64,
    end: f64,
    column_time: impl Fn(usize) -> f64,
) -> Vec<Option<f64>> {
    let span = (end - start).max(f64::MIN_POSITIVE);
    let column_of =
        |t: f64| (((t - start) / span * (columns - 1) as f64).round() as usize).min(columns - 1);
    let mut sums = vec![(0.0, 0usize); columns];
    for point in &series.points {
        if let Some(v) = point.v {
            let c = column_of(point.t);
            sums[c].0 += v;
            sums[c].1 += 1;
        }
    }
    let mut out: Vec<Option<f64>> = sums
        .iter()
        .map(|&(sum, n)| (n > 0).then(|| sum / n as f64))
        .collect();
    // Join neighbouring points (a gap, a `None` value, is never bridged).
    for pair in series.points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (Some(va), Some(vb)) = (a.v, b.v) else {
            continue;
        };
        let (ca, cb) = (column_of(a.t), column_of(b.t));
        if cb <= ca + 1 {
            continue;
        }
        for (c, slot) in out.iter_mut().enumerate().take(cb).skip(ca + 1) {
            if slot.is_none() {
                let f = (column_time(c) - a.t) / (b.t - a.t);
                *slot = Some(va + (vb - va) * f);
            }
        }
    }
    out
}

/// The times under the axis's first, middle and last ticks, in UTC, each
/// as short as the chart's span allows.
fn time_labels(start: f64, end: f64, indent: usize, plot_width: usize) -> String {
    let format = if end - start < 86_400.0 {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let text = |t: f64| {
        DateTime::from_timestamp(t.floor() as i64, 0)
            .map(|d| d.format(format).to_string())
            .unwrap_or_else(|| compact(t))
    };
    let first = text(start);
    let last = format!("{} UTC", text(end));
    let middle = text((start + end) / 2.0);
    let mut line: Vec<char> = vec![' '; indent + plot_width + 4];
    let mut put = |at: usize, s: &str| {
        for (i, c) in s.chars().enumerate() {
            if let Some(slot) = line.get_mut(at + i) {
                *slot = c;
            }
        }
    };
    put(indent, &first);
    let (first_len, middle_len, last_len) = (
        first.chars().count(),
        middle.chars().count(),
        last.chars().count(),
    );
    // The last label ends under the last tick (or runs past it by its
    // " UTC"); the middle one is centred under its tick when it fits
    // between the others.
    let last_at = (indent + plot_width)
        .saturating_sub(last_len - 4)
        .max(indent + first_len + 1);
    let middle_at = (indent + plot_width / 2).saturating_sub(middle_len / 2);
    if middle_at > indent + first_len + 1 && middle_at + middle_len + 1 < last_at && end > start {
        put(middle_at, &middle);
    }
    if end > start {
        put(last_at, &last);
    }
    line.into_iter().collect::<String>().trim_end().to_owned()
}

/// One line per series: its marker, then its labels, sparkline and figures
/// as the output block shows them.
fn legend(timeseries: &TimeSeries) -> Vec<String> {
    let rows = timeseries_lines(timeseries);
    if timeseries.series.is_empty() {
        return rows;
    }
    let mut lines: Vec<String> = rows
        .iter()
        .take(LEGEND)
        .enumerate()
        .map(|(i, row)| format!("{} {row}", MARKERS[i % MARKERS.len()]))
        .collect();
    if rows.len() > LEGEND {
        lines.push(format!("… {} more series", rows.len() - LEGEND));
    }
    lines
}
