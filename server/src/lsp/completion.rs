//! Completion: plugin names after `@plugin=`, directives after `@`, option
//! keys in a header, cell names after `input=`, and inside a body whatever
//! the cell's plugin `complete` returns.

use databook_notebook::{CompletionContext, DATABOOK_OPTIONS, completion_context};
use databook_runtime::{ItemKind, Plugin};
use tower_lsp_server::ls_types::*;

use super::{State, convert, markdown};

fn markdown(text: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: text,
    })
}

/// The part of a variable's name typed so far, when the cursor (at
/// `offset` in `body`) is just after `{{` and a partial name.
fn variable_typed(body: &str, offset: usize) -> Option<&str> {
    let before = &body[..offset];
    let open = before.rfind("{{")?;
    if open > 0 && before.as_bytes()[open - 1] == b'\\' {
        return None;
    }
    let typed = &before[open + 2..];
    let name = typed.trim_start();
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then_some(name)
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
                if let Some(typed) = variable_typed(body, offset) {
                    let start = cell.body.start + offset - typed.len();
                    let range = start..cell.body.start + offset;
                    let closed = body[offset..].starts_with("}}");
                    let grant = plugin.grant();
                    let items = grant
                        .readable()
                        .iter()
                        .map(|name| CompletionItem {
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
                        })
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
