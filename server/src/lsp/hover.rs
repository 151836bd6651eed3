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
        if inside(&cell.body) {
            let body = cell.body_text(snapshot.text());
            let at = offset - cell.body.start;
            if let Some(var) = databook_notebook::variable_refs(body)
                .into_iter()
                .find(|v| v.range.start <= at && at <= v.range.end)
            {
                let plugin = cell.plugin().and_then(|name| loaded.plugin(name));
                let range = cell.body.start + var.range.start..cell.body.start + var.range.end;
                return Some(markdown(
                    variable_markdown(&var.name, plugin, &loaded.workspace),
                    convert::range(&snapshot.rope, &range),
                ));
            }
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

fn markdown(value: String, range: Range) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: Some(range),
    }
}
