//! Plugins and results as Markdown, for hover and completion alike.

use std::fmt::Write as _;

use databook_notebook::{chart, formats, render};
use databook_runtime::{Plugin, RunReport};
use serde_json::Value;

/// How many table rows or series are shown before saying how many more.
const ROWS: usize = 200;

/// A time series' chart in a hover: as wide as a hover usually is.
const CHART_WIDTH: usize = 72;
const CHART_HEIGHT: usize = 10;

fn code_list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| format!("`{i}`")).collect();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// A plugin as Markdown: description, version, permissions with every
/// `$NAME` resolved, limits, options, and where it was loaded from.
pub fn plugin_markdown(plugin: &Plugin) -> String {
    let plugin = plugin.summary();
    let mut out = format!(
        "**{}** {}: {}\n\n",
        plugin.name, plugin.version, plugin.description
    );
    let _ = writeln!(out, "- **reads** {}", code_list(plugin.env_texts()));
    if !plugin.secrets.is_empty() {
        let _ = writeln!(
            out,
            "- **secrets** {} (masked as `•••` in outputs and logs)",
            code_list(plugin.secrets.iter().cloned())
        );
    }
    let _ = writeln!(out, "- **calls** {}", code_list(plugin.origin_texts()));
    let limits = plugin.limits;
    let _ = writeln!(
        out,
        "- **limits** timeout {}, memory {}, output {}, {} at once",
        limits.timeout, limits.memory, limits.output, limits.concurrency
    );
    let _ = writeln!(out, "- **loaded from** `{}`", plugin.source);
    if !plugin.options.is_empty() {
        out.push_str("\n**Options**\n\n");
        for option in &plugin.options {
            let _ = writeln!(out, "- `{}=`: {}", option.name, option.documentation);
        }
    }
    out
}

/// A run's full result as Markdown.
pub fn record_markdown(record: &RunReport, how: crate::results::How<'_>) -> String {
    let mut out = String::new();
    let ms = record.elapsed.as_secs_f64() * 1000.0;
    let mut environment = how
        .environment
        .map(|e| format!(" · environment `{e}`"))
        .unwrap_or_default();
    if how.cached {
        environment.push_str(" · cached");
    }
    match &record.result {
        Ok(output) => {
            let _ = writeln!(
                out,
                "**ok** in {ms:.0} ms · `{}`{environment}\n",
                output.mime
            );
            out.push_str(&output_markdown(&output.mime, &output.data));
        }
        Err(failure) => {
            let _ = writeln!(out, "**error** after {ms:.0} ms{environment}\n\n{failure}");
            if let Some(hint) = failure.hint() {
                let _ = writeln!(out, "\n*Hint:* {hint}");
            }
        }
    }
    if !record.logs.is_empty() {
        out.push_str("\n**Log**\n\n```text\n");
        for line in &record.logs {
            let _ = writeln!(out, "{}: {}", line.level, line.message);
        }
        out.push_str("```\n");
    }
    out
}

fn fence(language: &str, text: &str) -> String {
    // A fence longer than any run of backticks in the text.
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{text}\n{fence}\n")
}

fn output_markdown(mime: &str, data: &str) -> String {
    match formats::essence(mime).as_str() {
        formats::TABLE_MIME => {
            if let Ok(table) = formats::Table::parse(data) {
                return render::table_markdown(&table, ROWS);
            }
        }
        formats::TIMESERIES_MIME => {
            if let Ok(series) = formats::TimeSeries::parse(data) {
                // The chart, whose legend has each series' figures: what
                // editors without a preview pane (Helix) show of a series,
                // and plain text, since not every hover draws a table.
                let chart = chart::chart_lines(&series, CHART_WIDTH, CHART_HEIGHT).join("\n");
                return fence("text", &chart);
            }
        }
        _ => {}
    }
    let parsed: Option<Value> = serde_json::from_str(data).ok();
    match (mime, parsed) {
        (mime, Some(value)) if mime.contains("json") => fence(
            "json",
            &serde_json::to_string_pretty(&value).unwrap_or_else(|_| data.to_string()),
        ),
        ("text/markdown", _) => data.to_string(),
        _ => fence("text", data),
    }
}
