//! What the notebook means beyond its syntax: plugins that exist or not,
//! cell names and `input=` references, run order, and the editor features
//! built on them (completion contexts, symbols, folding, highlighting).

use databook_stdx::suggestions;

use crate::edit::Edit;
pub use crate::headers::{HeaderAnalysis, References, references};
use crate::syntax::{Cell, ErrorKind, Parse, Severity, TextRange, classify};

/// What the server knows about plugins, for analysis.
pub trait Catalog {
    fn lookup(&self, name: &str) -> PluginInfo;
    /// Every plugin name that can be used, for suggestions.
    fn names(&self) -> Vec<String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginInfo {
    /// Loaded; `options` are the option keys it accepts (from `describe`).
    Known {
        options: Vec<String>,
    },
    /// Found but could not be loaded; `reason` names the file.
    Failed {
        reason: String,
    },
    Unknown,
}

/// A replacement offered for a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edit: Edit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub range: TextRange,
    pub severity: Severity,
    /// A stable code, such as `unknown-plugin`.
    pub code: &'static str,
    pub message: String,
    pub fixes: Vec<Fix>,
}

/// Everything wrong with a notebook: its syntax errors and what analysis
/// finds, sorted by position.
pub fn analyze(parse: &Parse, text: &str, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    let mut out = syntax_diagnostics(parse, text, catalog);
    out.extend(header_diagnostics(parse, text, catalog));
    out.sort_by_key(|d| (d.range.start, d.range.end));
    out
}

/// The parse's syntax errors as diagnostics, with their quick fixes.
pub fn syntax_diagnostics(parse: &Parse, text: &str, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    errors_as_diagnostics(
        &parse.errors,
        &parse.misspelled,
        |range| text.get(range.clone()).map(std::borrow::Cow::Borrowed),
        catalog,
    )
}

/// [`syntax_diagnostics`] of a document being edited, settled or not.
pub fn document_syntax_diagnostics(
    document: &crate::Document,
    catalog: &dyn Catalog,
) -> Vec<Diagnostic> {
    errors_as_diagnostics(
        document.errors(),
        document.misspelled(),
        |range| document.slice(range.clone()),
        catalog,
    )
}

fn errors_as_diagnostics<'a>(
    errors: &[crate::syntax::SyntaxError],
    misspelled: &[crate::syntax::Misspelling],
    text: impl Fn(&TextRange) -> Option<std::borrow::Cow<'a, str>>,
    catalog: &dyn Catalog,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut known_names: Option<Vec<String>> = None;

    for e in errors {
        let mut fixes = Vec::new();
        match e.kind {
            ErrorKind::MisspelledDirective => {
                // Both lists are sorted by position.
                let i = misspelled.partition_point(|m| m.range.start < e.range.start);
                if let Some(m) = misspelled.get(i).filter(|m| m.range.start == e.range.start) {
                    fixes.push(Fix {
                        title: format!("Change to `{}`", m.directive),
                        edit: Edit {
                            range: m.range.clone(),
                            new_text: m.replacement.clone(),
                        },
                    });
                }
            }
            ErrorKind::BadPluginName => {
                // `Prometheus` is no name, but the fix is plain.
                let names = known_names.get_or_insert_with(|| catalog.names());
                fixes = suggestion_fixes(
                    &text(&e.range).unwrap_or_default(),
                    &e.range,
                    names.iter().map(String::as_str),
                );
            }
            _ => {}
        }
        out.push(Diagnostic {
            range: e.range.clone(),
            severity: e.severity,
            code: e.kind.code(),
            message: e.message.clone(),
            fixes,
        });
    }
    out
}

/// What analysis finds in the cells' headers, and in the cell references
/// of their bodies: plugins that are unknown or failed to load, options
/// they do not take, bad or repeated names, inputs that name no cell,
/// cycles. None depends on anything but the cells (and the catalog). To keep them
/// up to date across edits, use a [`HeaderAnalysis`].
pub fn header_diagnostics(parse: &Parse, text: &str, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    HeaderAnalysis::from_scratch(parse, text, catalog)
}

/// Up to three names close to `word`, closest first, as fixes that replace
/// `range`.
pub(crate) fn suggestion_fixes<'a>(
    word: &str,
    range: &TextRange,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<Fix> {
    suggestions(word, candidates)
        .into_iter()
        .map(|s| Fix {
            title: format!("Change to `{s}`"),
            edit: Edit {
                range: range.clone(),
                new_text: s,
            },
        })
        .collect()
}

/// The cells to run for `targets`: see [`References::run_order`].
pub fn run_order(parse: &Parse, text: &str, targets: &[usize]) -> Result<Vec<usize>, Vec<usize>> {
    crate::headers::references(parse, text).run_order(targets)
}

/// What is being typed at an offset, for completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionContext {
    /// After `@plugin=`: `range_typed` is the name typed so far, up to the
    /// cursor.
    PluginName {
        range_typed: TextRange,
    },
    /// A line starting with `@`: `range` is what is typed from the `@` to
    /// the cursor.
    Directive {
        range: TextRange,
    },
    /// An option key in cell `cell`'s header: `range` is the key typed so
    /// far (empty after a space).
    OptionKey {
        cell: usize,
        range: TextRange,
    },
    /// The value of `input=`: `range` is the value typed so far.
    InputName {
        cell: usize,
        range: TextRange,
    },
    /// Inside cell `cell`'s body. `offset_in_body` counts bytes from the
    /// body's start; on a blank line after the body's last non-blank line
    /// it is past the body's end.
    Body {
        cell: usize,
        offset_in_body: usize,
    },
    None,
}

pub fn completion_context(parse: &Parse, text: &str, offset: usize) -> CompletionContext {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return CompletionContext::None;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim_end_matches('\r');
    let before = &text[line_start..offset];

    if line.starts_with("@plugin=") && before.len() >= "@plugin=".len() {
        let i = parse
            .cells
            .partition_point(|c| c.header.range.start < line_start);
        let Some(cell) = parse
            .cells
            .get(i)
            .filter(|c| c.header.range.start == line_start)
        else {
            return CompletionContext::None;
        };
        return header_context(cell, text, line_start, offset);
    }
    if before.starts_with('@') && !before.contains([' ', '\t', '=']) {
        return CompletionContext::Directive {
            range: line_start..offset,
        };
    }
    if classify(line) != crate::syntax::LineKind::Other {
        return CompletionContext::None;
    }
    // The cell whose body region (up to the first directive after its
    // header) holds the offset; the last cell starting before it.
    let i = parse.cells.partition_point(|c| c.body.start <= offset);
    if let Some(cell) = i.checked_sub(1).map(|i| &parse.cells[i]) {
        let region_end = cell
            .output
            .as_ref()
            .map(|o| o.range.start)
            .or(cell.end.as_ref().map(|e| e.start))
            .or(parse.cells.get(cell.index + 1).map(|c| c.range.start))
            .unwrap_or(text.len());
        if offset <= region_end {
            let offset_in_body = offset - cell.body.start;
            return CompletionContext::Body {
                cell: cell.index,
                offset_in_body,
            };
        }
    }
    CompletionContext::None
}

fn header_context(cell: &Cell, text: &str, line_start: usize, offset: usize) -> CompletionContext {
    let name_start = line_start + "@plugin=".len();
    let name_end = cell
        .header
        .plugin
        .as_ref()
        .map_or(name_start, |p| p.range.end);
    if offset <= name_end {
        return CompletionContext::PluginName {
            range_typed: name_start..offset,
        };
    }
    // Find the token holding the cursor, quotes respected as the parser
    // does, by scanning the header up to it.
    let bytes = text.as_bytes();
    let mut pos = name_end;
    let mut token_start = None;
    let mut eq = None;
    let mut in_quotes = false;
    while pos < offset {
        let b = bytes[pos];
        if in_quotes {
            if b == b'\\' {
                pos += 1;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b' ' || b == b'\t' {
            token_start = None;
            eq = None;
        } else {
            if token_start.is_none() {
                token_start = Some(pos);
            }
            if b == b'=' && eq.is_none() {
                eq = Some(pos);
            } else if b == b'"' && eq == Some(pos - 1) {
                in_quotes = true;
            }
        }
        pos += 1;
    }
    let start = token_start.unwrap_or(offset);
    match eq {
        None => CompletionContext::OptionKey {
            cell: cell.index,
            range: start..offset.max(start),
        },
        Some(eq) if &text[start..eq] == "input" && !text[eq + 1..offset].starts_with('"') => {
            CompletionContext::InputName {
                cell: cell.index,
                range: eq + 1..offset,
            }
        }
        Some(_) => CompletionContext::None,
    }
}

/// One entry of the outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The cell's name, or its plugin and first body line.
    pub name: String,
    /// The plugin.
    pub detail: Option<String>,
    /// The whole cell.
    pub range: TextRange,
    /// What to select: the name's value, or the header line.
    pub selection_range: TextRange,
    pub cell: usize,
}

pub fn symbols(parse: &Parse, text: &str) -> Vec<Symbol> {
    parse
        .cells
        .iter()
        .map(|cell| {
            let plugin = cell.plugin().unwrap_or("?");
            let (name, selection_range) = match cell.header.option("name") {
                Some(o) => (o.value.value.clone(), cell.header.at(&o.value.local)),
                None => {
                    let first = cell.body_text(text).lines().next().unwrap_or("").trim();
                    let mut first: String = first.chars().take(60).collect();
                    if first.len()
                        < cell
                            .body_text(text)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .trim()
                            .len()
                    {
                        first.push('…');
                    }
                    let name = if first.is_empty() {
                        plugin.to_owned()
                    } else {
                        format!("{plugin}: {first}")
                    };
                    (name, cell.header.range.clone())
                }
            };
            Symbol {
                name,
                detail: cell.plugin().map(str::to_owned),
                range: cell.range.clone(),
                selection_range,
                cell: cell.index,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldKind {
    Cell,
    Output,
}

/// A foldable region. `start` is in its first line, `end` in its last (turn
/// both into lines); a region whose
/// first and last lines are the same is not worth folding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub start: usize,
    pub end: usize,
    pub kind: FoldKind,
}

pub fn folding(parse: &Parse) -> Vec<Fold> {
    let mut folds = Vec::new();
    for cell in &parse.cells {
        folds.push(Fold {
            start: cell.range.start,
            end: cell.range.end,
            kind: FoldKind::Cell,
        });
        if let Some(out) = &cell.output {
            folds.push(block_fold(out));
        }
    }
    folds.extend(parse.stray_outputs.iter().map(block_fold));
    folds.sort_by_key(|f| f.start);
    folds
}

fn block_fold(out: &crate::syntax::OutputBlock) -> Fold {
    // The block's range ends after its newline: one byte back is inside
    // its last line.
    let end = if out.range.end > out.header_range.end {
        out.range.end - 1
    } else {
        out.range.end
    };
    Fold {
        start: out.range.start,
        end,
        kind: FoldKind::Output,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `@plugin=`, `@output`, `@end`.
    Directive,
    PluginName,
    OptionKey,
    OptionValue,
    /// The `>` (and its space) starting an output line.
    OutputPrefix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemanticToken {
    pub range: TextRange,
    pub kind: TokenKind,
}

/// Highlighting, sorted and never overlapping; no token spans lines.
pub fn semantic_tokens(parse: &Parse, text: &str) -> Vec<SemanticToken> {
    semantic_tokens_in(parse, text, 0..text.len())
}

/// The highlighting of the lines `range` touches (an editor's viewport):
/// only the cells and output blocks that meet it are read.
pub fn semantic_tokens_in(parse: &Parse, text: &str, range: TextRange) -> Vec<SemanticToken> {
    let mut tokens = Vec::new();
    let mut push = |token: TextRange, kind| {
        if !token.is_empty() && token.start < range.end && token.end > range.start {
            tokens.push(SemanticToken { range: token, kind });
        }
    };
    // Cells and blocks are in text order: those that meet `range` are one
    // run of each list.
    let meets = |r: &TextRange| r.end >= range.start && r.start <= range.end;
    let first_cell = parse.cells.partition_point(|c| c.range.end < range.start);
    let cells = parse.cells[first_cell..]
        .iter()
        .take_while(|c| c.range.start <= range.end);
    let first_block = parse
        .stray_outputs
        .partition_point(|b| b.range.end < range.start);
    let mut blocks: Vec<&crate::syntax::OutputBlock> = parse.stray_outputs[first_block..]
        .iter()
        .take_while(|b| meets(&b.range))
        .collect();
    for cell in cells {
        let h = &cell.header;
        push(
            h.range.start..h.range.start + "@plugin=".len(),
            TokenKind::Directive,
        );
        if let Some(p) = &h.plugin {
            push(p.range.clone(), TokenKind::PluginName);
        }
        for o in &h.options {
            push(h.at(&o.key.local), TokenKind::OptionKey);
            push(h.at(&o.value.local), TokenKind::OptionValue);
        }
        if let Some(out) = cell.output.as_ref().filter(|out| meets(&out.range)) {
            blocks.push(out);
        }
        if let Some(end) = &cell.end {
            push(end.start..end.start + "@end".len(), TokenKind::Directive);
        }
    }
    for out in blocks {
        let start = out.header_range.start;
        push(start..start + "@output".len(), TokenKind::Directive);
        // The block's own options, as the parser read them.
        let mut errors = Vec::new();
        let options = crate::syntax::parse_options_in(
            text,
            start + "@output".len(),
            out.header_range.end,
            start,
            &mut errors,
        );
        for o in options {
            push(crate::syntax::at(start, &o.key.local), TokenKind::OptionKey);
            push(
                crate::syntax::at(start, &o.value.local),
                TokenKind::OptionValue,
            );
        }
        let mut pos = out.header_range.end;
        while let Some(i) = text[pos..out.range.end].find('\n') {
            let line = pos + i + 1;
            if line >= out.range.end {
                break;
            }
            let prefix = if text[line..].starts_with("> ") { 2 } else { 1 };
            push(line..line + prefix, TokenKind::OutputPrefix);
            pos = line;
        }
    }
    tokens.sort_by_key(|t| t.range.start);
    tokens
}
