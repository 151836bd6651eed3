//! What the notebook means beyond its syntax: plugins that exist or not,
//! cell names and `input=` references, run order, and the editor features
//! built on them (completion contexts, symbols, folding, highlighting).

use std::time::Duration;

use crate::edit::Edit;
pub use crate::headers::HeaderAnalysis;
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
    out.extend(header_diagnostics(parse, catalog));
    out.sort_by_key(|d| (d.range.start, d.range.end));
    out
}

/// The parse's syntax errors as diagnostics, with their quick fixes.
pub fn syntax_diagnostics(parse: &Parse, text: &str, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut known_names: Option<Vec<String>> = None;

    for e in &parse.errors {
        let mut fixes = Vec::new();
        match e.kind {
            ErrorKind::MisspelledDirective => {
                // Both lists are sorted by position.
                let i = parse
                    .misspelled
                    .partition_point(|m| m.range.start < e.range.start);
                if let Some(m) = parse
                    .misspelled
                    .get(i)
                    .filter(|m| m.range.start == e.range.start)
                {
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
                    &text[e.range.clone()],
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

/// What analysis finds in the cells' headers: plugins that are unknown or
/// failed to load, options they do not take, bad or repeated names, inputs
/// that name no cell, cycles. Each lies within its cell's header line, and
/// none depends on anything but the headers (and the catalog). To keep them
/// up to date across edits, use a [`HeaderAnalysis`].
pub fn header_diagnostics(parse: &Parse, catalog: &dyn Catalog) -> Vec<Diagnostic> {
    HeaderAnalysis::from_scratch(parse, catalog)
}

/// Whether `s` is a valid cell name: `[A-Za-z][A-Za-z0-9_-]*`.
pub fn is_cell_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads a `timeout=` value: digits then `ms`, `s` or `m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    match &s[digits..] {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        _ => None,
    }
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

/// Up to three names close to `word`, closest first: a small edit distance
/// for its length, or the same name in another case, or one that starts
/// with it.
pub fn suggestions<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = word.to_lowercase();
    let length = lower.chars().count();
    let limit = (length / 3).max(1);
    // A notebook may offer thousands of cell names: the best three are kept
    // as they come, and the edit distance, which is the costly part, is
    // skipped where the lengths alone put a name too far.
    let mut best: Vec<(usize, &str)> = Vec::with_capacity(4);
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let prefix = lower.len() >= 2 && starts_with_lowercase(candidate, &lower);
        // The edit distance is at least the difference in length.
        let far = candidate.chars().count().abs_diff(length) > limit;
        let score = if far {
            if !prefix {
                continue;
            }
            limit
        } else {
            let d = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
            if d > limit && !prefix {
                continue;
            }
            d.min(limit)
        };
        if best.iter().any(|&(_, b)| b == candidate) {
            continue;
        }
        let at = best.partition_point(|&b| b < (score, candidate));
        if at < 3 {
            best.insert(at, (score, candidate));
            best.truncate(3);
        }
    }
    best.into_iter().map(|(_, c)| c.to_owned()).collect()
}

/// Whether `candidate`, lowercased, starts with `lower`.
fn starts_with_lowercase(candidate: &str, lower: &str) -> bool {
    let mut chars = candidate.chars().flat_map(char::to_lowercase);
    lower.chars().all(|l| chars.next() == Some(l))
}

/// Where each cell name is first given.
struct NameTable<'a> {
    // Built anew for every analysis of every keystroke in a header: a fast
    // hash for short keys matters more here than resistance to crafted ones.
    first: rustc_hash::FxHashMap<&'a str, usize>,
}

impl<'a> NameTable<'a> {
    fn new(parse: &'a Parse) -> NameTable<'a> {
        let mut first = rustc_hash::FxHashMap::default();
        first.reserve(parse.cells.len());
        for cell in &parse.cells {
            if let Some(name) = cell.name().filter(|n| is_cell_name(n)) {
                first.entry(name).or_insert(cell.index);
            }
        }
        NameTable { first }
    }

    /// The cell that `cell`'s `input=` names, if it names one.
    fn input_of(&self, cell: &Cell) -> Option<usize> {
        self.first.get(cell.input()?).copied()
    }
}

/// The cells to run for `targets`: each target after the cells it depends
/// on through `input=`, every cell once, in the order the targets are given.
/// A cycle is returned as the cells in it.
pub fn run_order(parse: &Parse, targets: &[usize]) -> Result<Vec<usize>, Vec<usize>> {
    let names = NameTable::new(parse);
    let mut order = Vec::new();
    let mut state = vec![0u8; parse.cells.len()]; // 0 new, 1 visiting, 2 done
    for &target in targets {
        if target >= parse.cells.len() || state[target] == 2 {
            continue;
        }
        // Inputs form chains, so the dependencies of a cell are the cells
        // its `input=` leads through, nearest last.
        let mut chain = vec![target];
        state[target] = 1;
        let mut at = target;
        while let Some(dep) = names.input_of(&parse.cells[at]) {
            match state[dep] {
                2 => break,
                1 => {
                    let from = chain.iter().position(|&c| c == dep).unwrap();
                    return Err(chain[from..].to_vec());
                }
                _ => {
                    state[dep] = 1;
                    chain.push(dep);
                    at = dep;
                }
            }
        }
        for &c in chain.iter().rev() {
            state[c] = 2;
            order.push(c);
        }
    }
    Ok(order)
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
                Some(o) => (o.value.value.clone(), o.value.range.clone()),
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
/// both into lines with [`crate::LineIndex::line_of`]); a region whose
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
            push(o.key.range.clone(), TokenKind::OptionKey);
            push(o.value.range.clone(), TokenKind::OptionValue);
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
            &mut errors,
        );
        for o in options {
            push(o.key.range.clone(), TokenKind::OptionKey);
            push(o.value.range.clone(), TokenKind::OptionValue);
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
