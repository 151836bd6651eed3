//! Hover: on a plugin's name, what it is and may touch; on `{{NAME}}` or
//! `{{CELL.PATH}}` in a body, the value it stands for and where it comes
//! from; on an output block, the cell's full latest result, as Markdown,
//! with its run time and log (for editors with no preview pane, such as
//! Helix).

use databook_notebook::{BodyRef, ValueRef};
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
        if inside(&cell.body) {
            let body = cell.body_text(snapshot.text());
            let at = offset - cell.body.start;
            if let Some(found) = databook_notebook::body_refs(body)
                .into_iter()
                .find(|r| r.range().start <= at && at <= r.range().end)
            {
                let range =
                    cell.body.start + found.range().start..cell.body.start + found.range().end;
                let value = match &found {
                    BodyRef::Variable(var) => {
                        let plugin = cell.plugin().and_then(|name| loaded.plugin(name));
                        variable_markdown(&var.name, plugin, &loaded.workspace)
                    }
                    BodyRef::Value(reference) => {
                        let refs = databook_notebook::references(snapshot.parse(), snapshot.text());
                        let latest = refs
                            .cell_named(&reference.cell)
                            .and_then(|taken| state.runs.latest(uri, &snapshot, taken));
                        value_markdown(reference, latest.as_ref())
                    }
                };
                return Some(markdown(value, convert::range(&snapshot.rope, &range)));
            }
        }
        if let Some(output) = &cell.output
            && inside(&output.range)
        {
            let value = match state.runs.latest(uri, &snapshot, cell.index) {
                Some(kept) => record_markdown(&kept.report, crate::results::How::of(&kept)),
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

/// A variable in a body: its value as the cell's plugin gets it (a
/// secret's masked) and where the value comes from.
fn variable_markdown(
    name: &str,
    plugin: Option<&databook_runtime::Plugin>,
    workspace: &databook_runtime::Workspace,
) -> String {
    let Some(plugin) = plugin else {
        return format!("`{name}`: the cell's plugin is not loaded");
    };
    let grant = plugin.grant();
    if !grant.readable().iter().any(|n| n == name) {
        return format!("`{name}`: the plugin `{}` may not read it", plugin.name());
    }
    let Some(value) = grant.env(name) else {
        return format!("`{name}` has no value here");
    };
    let shown = if grant.is_secret(name) {
        "••• (a secret)".to_string()
    } else {
        format!("`{value}`")
    };
    let chosen = workspace.environment.as_ref().filter(|e| {
        workspace
            .environments
            .get(*e)
            .is_some_and(|v| v.contains_key(name))
    });
    let source = match chosen {
        Some(environment) => format!("the environment `{environment}` in databook.toml"),
        None if crate::setup::process_env(name).is_some() => "the process environment".into(),
        None => "`[env]` in databook.toml".into(),
    };
    format!("`{name}` = {shown}\n\nfrom {source}")
}

/// A value taken from a cell: what it is in the cell's latest result, or
/// why there is none.
fn value_markdown(reference: &ValueRef, latest: Option<&crate::results::Kept>) -> String {
    let text = reference.text();
    let Some(kept) = latest else {
        return format!("`{text}`: the cell `{}` has not run", reference.cell);
    };
    match crate::cells::cell_value(reference, Some(&kept.report.result)) {
        Ok(value) => {
            let shown = if value.len() <= 80 && !value.contains(['\n', '`']) {
                format!("`{value}`")
            } else {
                // A fence the value cannot close.
                let fence = "`".repeat(3.max(longest_run(&value, '`') + 1));
                format!("\n\n{fence}text\n{value}\n{fence}")
            };
            let mut source = format!("from the latest result of the cell `{}`", reference.cell);
            let how = crate::results::How::of(kept).suffix();
            if !how.is_empty() {
                source.push_str(&format!(" ({})", how.trim_start_matches(" · ")));
            }
            format!("`{text}` = {shown}\n\n{source}")
        }
        Err(why) => {
            let why = why
                .strip_prefix(&format!("{{{{{text}}}}}: "))
                .unwrap_or(&why)
                .to_string();
            format!("`{text}`: {why}")
        }
    }
}

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
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
