//! Completion: plugin names after `@plugin=`, directives after `@`, option
//! keys in a header, cell names after `input=`; in a body, after `{{`, the
//! variables the plugin may read and the named cells, after `{{CELL.` the
//! keys of that cell's latest result, and elsewhere whatever the cell's
//! plugin `complete` returns.

use databook_notebook::{
    CompletionContext, DATABOOK_OPTIONS, Step, completion_context, follow, is_cell_name,
    references, result_json, value_refs,
};
use databook_runtime::{ItemKind, Plugin};
use tower_lsp_server::ls_types::*;

use super::{State, convert, markdown};

fn markdown(text: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: text,
    })
}

/// What is typed after an open `{{` before the cursor (at `offset` in
/// `body`), spaces after the braces left out.
fn reference_typed(body: &str, offset: usize) -> Option<&str> {
    let before = &body[..offset];
    let open = before.rfind("{{")?;
    if open > 0 && before.as_bytes()[open - 1] == b'\\' {
        return None;
    }
    let typed = before[open + 2..].trim_start();
    (!typed.contains("}}")).then_some(typed)
}

/// The part of a variable's name typed so far, when the cursor is just
/// after `{{` and a partial name.
fn variable_typed(body: &str, offset: usize) -> Option<&str> {
    let name = reference_typed(body, offset)?;
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        .then_some(name)
}

/// When the cursor is after `{{CELL.PATH.` and a partial key: the
/// reference up to the last `.` (as a [`ValueRef`], or a cell's name alone
/// with no path) and the partial key.
fn key_typed(body: &str, offset: usize) -> Option<(String, Vec<Step>, &str)> {
    let typed = reference_typed(body, offset)?;
    let dot = typed.rfind('.')?;
    let (head, partial) = (&typed[..dot], &typed[dot + 1..]);
    if !partial
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    if is_cell_name(head) {
        return Some((head.to_string(), Vec::new(), partial));
    }
    let reference = value_refs(&format!("{{{{{head}}}}}")).pop()?;
    Some((reference.cell, reference.path, partial))
}

/// Whether `name` can be written as `{{name}}`.
fn is_variable_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A short look at a JSON value, for a completion's detail.
fn preview(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Object(map) => format!("object of {} keys", map.len()),
        serde_json::Value::Array(items) => format!("array of {} items", items.len()),
        other => other.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

pub async fn complete(
    state: &State,
    position: TextDocumentPositionParams,
) -> Option<CompletionResponse> {
    state.plugins.ready().await;
    let snapshot = state.documents.get(&position.text_document.uri)?;
    let offset = convert::offset(&snapshot.rope, position.position);
    let loaded = state.plugins.current();
    let edit = |range: &databook_notebook::TextRange, text: String| {
        Some(CompletionTextEdit::Edit(TextEdit {
            range: convert::range(&snapshot.rope, range),
            new_text: text,
        }))
    };
    let items: Vec<CompletionItem> =
        match completion_context(snapshot.parse(), snapshot.text(), offset) {
            CompletionContext::PluginName { range_typed: range } => loaded
                .registry
                .entries()
                .iter()
                .map(|entry| match &entry.plugin {
                    Ok(plugin) => CompletionItem {
                        label: entry.name.clone(),
                        kind: Some(CompletionItemKind::MODULE),
                        detail: Some(plugin.manifest().description.clone()),
                        documentation: Some(markdown(markdown::plugin_markdown(plugin))),
                        text_edit: edit(&range, entry.name.clone()),
                        ..Default::default()
                    },
                    Err(error) => CompletionItem {
                        label: entry.name.clone(),
                        kind: Some(CompletionItemKind::MODULE),
                        detail: Some("failed to load".into()),
                        documentation: Some(markdown(format!("Failed to load: {error}"))),
                        text_edit: edit(&range, entry.name.clone()),
                        ..Default::default()
                    },
                })
                .collect(),
            CompletionContext::Directive { range } => [
                ("@plugin=", "Starts a cell run by a plugin."),
                ("@end", "Ends a cell, so that prose can follow it."),
            ]
            .into_iter()
            .map(|(directive, doc)| CompletionItem {
                label: directive.into(),
                kind: Some(CompletionItemKind::KEYWORD),
                detail: Some(doc.into()),
                text_edit: edit(&range, directive.into()),
                ..Default::default()
            })
            .collect(),
            CompletionContext::OptionKey { cell, range } => {
                let cell = &snapshot.parse().cells[cell];
                let present = |key: &str| cell.header.option(key).is_some();
                let plugin_options = cell
                    .plugin()
                    .and_then(|name| loaded.plugin(name))
                    .map(|plugin| plugin.description().options.clone())
                    .unwrap_or_default();
                DATABOOK_OPTIONS
                    .iter()
                    .map(|o| (o.key.to_string(), o.documentation.to_string(), "databook"))
                    .chain(
                        plugin_options
                            .into_iter()
                            .map(|o| (o.name, o.documentation, "plugin")),
                    )
                    .filter(|(key, _, _)| !present(key))
                    .map(|(key, doc, from)| CompletionItem {
                        label: format!("{key}="),
                        kind: Some(CompletionItemKind::PROPERTY),
                        detail: Some(format!("{from} option")),
                        documentation: Some(markdown(doc)),
                        text_edit: edit(&range, format!("{key}=")),
                        ..Default::default()
                    })
                    .collect()
            }
            CompletionContext::InputName { cell, range } => snapshot
                .parse()
                .cells
                .iter()
                .filter(|other| other.index != cell)
                .filter_map(|other| {
                    let name = other.name()?;
                    Some(CompletionItem {
                        label: name.to_string(),
                        kind: Some(CompletionItemKind::REFERENCE),
                        detail: other.plugin().map(|p| format!("@plugin={p}")),
                        text_edit: edit(&range, name.to_string()),
                        ..Default::default()
                    })
                })
                .collect(),
            CompletionContext::Body {
                cell,
                offset_in_body,
            } => {
                let cell = &snapshot.parse().cells[cell];
                let plugin: Plugin = cell.plugin().and_then(|name| loaded.plugin(name))?.clone();
                let body = cell.body_text(snapshot.text());
                // On a blank line after the body the cursor is past its end.
                let offset = offset_in_body.min(body.len());
                let closed = body[offset..].trim_start().starts_with("}}");
                if let Some((taken, path, partial)) = key_typed(body, offset) {
                    let start = cell.body.start + offset - partial.len();
                    let range = start..cell.body.start + offset;
                    let refs = references(snapshot.parse(), snapshot.text());
                    let latest = refs
                        .cell_named(&taken)
                        .and_then(|c| state.runs.latest(&position.text_document.uri, &snapshot, c));
                    let Some(Ok(output)) = latest.map(|kept| kept.report.result) else {
                        return None;
                    };
                    let json = result_json(&output.mime, &output.data).ok()?;
                    let Ok(serde_json::Value::Object(map)) = follow(&json, &path) else {
                        return None;
                    };
                    let items = map
                        .iter()
                        .map(|(key, value)| CompletionItem {
                            label: key.clone(),
                            kind: Some(CompletionItemKind::FIELD),
                            detail: Some(preview(value)),
                            text_edit: edit(
                                &range,
                                if closed {
                                    key.clone()
                                } else {
                                    format!("{key}}}}}")
                                },
                            ),
                            ..Default::default()
                        })
                        .collect();
                    return Some(CompletionResponse::Array(items));
                }
                if let Some(typed) = variable_typed(body, offset) {
                    let start = cell.body.start + offset - typed.len();
                    let range = start..cell.body.start + offset;
                    let grant = plugin.grant();
                    let variables = grant.readable().iter().map(|name| CompletionItem {
                        label: name.clone(),
                        kind: Some(CompletionItemKind::VARIABLE),
                        // A secret's value is never shown.
                        detail: Some(match grant.env(name) {
                            _ if grant.is_secret(name) => "secret (masked as •••)".to_string(),
                            Some(value) => value.to_string(),
                            None => "no value here".to_string(),
                        }),
                        text_edit: edit(
                            &range,
                            if closed {
                                name.clone()
                            } else {
                                format!("{name}}}}}")
                            },
                        ),
                        ..Default::default()
                    });
                    // The named cells, whose results a value can come from.
                    let cells = snapshot
                        .parse()
                        .cells
                        .iter()
                        .filter(|other| other.index != cell.index)
                        .filter_map(|other| {
                            let name = other.name()?;
                            Some(CompletionItem {
                                label: format!("{name}."),
                                kind: Some(CompletionItemKind::REFERENCE),
                                detail: Some(format!(
                                    "a value from its latest result (@plugin={})",
                                    other.plugin().unwrap_or("?")
                                )),
                                text_edit: edit(&range, format!("{name}.")),
                                ..Default::default()
                            })
                        });
                    let items = variables
                        .filter(|item| is_variable_name(&item.label))
                        .chain(cells)
                        .collect();
                    return Some(CompletionResponse::Array(items));
                }
                let items = match plugin.complete(body, offset, &cell.plugin_options()).await {
                    Ok(items) => items,
                    Err(failure) => {
                        tracing::debug!(plugin = plugin.name(), %failure, "complete failed");
                        return None;
                    }
                };
                items
                    .into_iter()
                    .map(|item| CompletionItem {
                        insert_text: item.insert.clone(),
                        kind: Some(match item.kind {
                            ItemKind::Keyword => CompletionItemKind::KEYWORD,
                            ItemKind::Function => CompletionItemKind::FUNCTION,
                            ItemKind::Variable => CompletionItemKind::VARIABLE,
                            ItemKind::Field => CompletionItemKind::FIELD,
                            ItemKind::Value => CompletionItemKind::VALUE,
                            ItemKind::Text => CompletionItemKind::TEXT,
                        }),
                        detail: item.detail,
                        documentation: item.documentation.map(markdown),
                        label: item.label,
                        ..Default::default()
                    })
                    .collect()
            }
            CompletionContext::None => return None,
        };
    Some(CompletionResponse::Array(items))
}
