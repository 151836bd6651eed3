//! The `.dbk` syntax: lines, cells, output blocks, and the errors found while
//! reading them.
//!
//! [`parse`] never fails: whatever the text, it returns the cells it could
//! read plus a list of [`SyntaxError`]s, so that one broken header never hides
//! the rest of the notebook. Every range is a byte range into the parsed text.

use std::ops::Range;

use crate::options::{CellOptions, is_databook_option};

/// A byte range into the parsed text.
pub type TextRange = Range<usize>;

/// A value together with the range of text it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub range: TextRange,
    pub value: T,
}

/// A value together with the range of its line it was read from, counted
/// from the line's start: an edit before the line moves the line, but not
/// this, so that an edit touches nothing of the options of the headers
/// after it (each a list of its own, elsewhere in memory). [`Header::at`]
/// makes it a range into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local<T> {
    pub local: TextRange,
    pub value: T,
}

/// The result of [`parse`]: cells in file order, output blocks that belong to
/// no cell, and everything that was wrong with the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parse {
    pub cells: Vec<Cell>,
    /// Output blocks with no cell directly above them (already reported as
    /// warnings in `errors`).
    pub stray_outputs: Vec<OutputBlock>,
    /// Every syntax error, sorted by start offset. Misspelled directives are
    /// included (kind [`ErrorKind::MisspelledDirective`]).
    pub errors: Vec<SyntaxError>,
    /// The misspelled directives again, each with the text that replaces it,
    /// so that a quick fix can be built. Same order as in `errors`.
    pub misspelled: Vec<Misspelling>,
}

impl Parse {
    /// The cell whose range holds `offset` (its end included), found by
    /// binary search: cells are in text order and never overlap.
    pub fn cell_at(&self, offset: usize) -> Option<&Cell> {
        let i = self.cells.partition_point(|c| c.range.start <= offset);
        let cell = &self.cells[i.checked_sub(1)?];
        (offset <= cell.range.end).then_some(cell)
    }
}

/// One cell: a header, a body, and maybe an output block and an `@end` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// From the start of the header line to the end of the cell's last line
    /// (last non-blank body line, last output line or `@end`), without the
    /// final newline.
    pub range: TextRange,
    pub header: Header,
    /// From the start of the first body line to the end of the last non-blank
    /// body line, without its newline. An empty body is the empty range just
    /// after the header line's newline.
    pub body: TextRange,
    pub output: Option<OutputBlock>,
    /// The `@end` line, without its newline.
    pub end: Option<TextRange>,
    /// The position of the cell among the notebook's cells.
    pub index: usize,
}

impl Cell {
    /// The plugin named by the header, if there is a name at all.
    pub fn plugin(&self) -> Option<&str> {
        self.header.plugin.as_ref().map(|p| p.value.as_str())
    }

    /// The unescaped value of the option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.header.option(key).map(|o| o.value.value.as_str())
    }

    /// Databook's own options, read and checked.
    pub fn options(&self) -> &CellOptions {
        &self.header.own
    }

    /// The `name=` option, when it is a valid name.
    pub fn name_entry(&self) -> Option<&OptionEntry> {
        self.header.options.get(self.header.own.name as usize)
    }

    /// The `input=` option.
    pub fn input_entry(&self) -> Option<&OptionEntry> {
        self.header.options.get(self.header.own.input as usize)
    }

    /// The time limit `timeout=` asks for, when it is a valid duration.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        let entry = self.header.options.get(self.header.own.timeout as usize)?;
        entry
            .value
            .value
            .parse::<databook_stdx::Timeout>()
            .ok()
            .map(|t| t.0)
    }

    /// How long the cell's result may be reused (`cache=`); `None` when it
    /// always runs.
    pub fn cache(&self) -> Option<crate::options::Cache> {
        let entry = self.header.options.get(self.header.own.cache as usize)?;
        crate::options::Cache::parse(&entry.value.value)
            .ok()
            .flatten()
    }

    /// The cell's name, when it is a valid one.
    pub fn name(&self) -> Option<&str> {
        self.name_entry().map(|o| o.value.value.as_str())
    }

    /// The `input=` value, as written.
    pub fn input(&self) -> Option<&str> {
        self.input_entry().map(|o| o.value.value.as_str())
    }

    /// Every option except databook's own, in header order, values unescaped:
    /// what the plugin receives.
    pub fn plugin_options(&self) -> Vec<(String, String)> {
        self.header
            .options
            .iter()
            .filter(|o| !is_databook_option(&o.key.value))
            .map(|o| (o.key.value.clone(), o.value.value.clone()))
            .collect()
    }

    pub fn body_text<'a>(&self, text: &'a str) -> &'a str {
        &text[self.body.clone()]
    }
}

/// A `@plugin=` header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The whole line, without its newline.
    pub range: TextRange,
    /// `None` when nothing follows `@plugin=`. A name that breaks the naming
    /// rule is still kept here (and reported).
    pub plugin: Option<Spanned<String>>,
    /// The well-formed options, in order. Malformed and repeated ones are
    /// reported and left out.
    pub options: Vec<OptionEntry>,
    /// Databook's own options among them, read once.
    pub own: CellOptions,
}

impl Header {
    pub fn option(&self, key: &str) -> Option<&OptionEntry> {
        self.options.iter().find(|o| o.key.value == key)
    }

    /// A range of this header's line, counted from its start (an option's
    /// [`Local`] range), as a range into the text.
    pub fn at(&self, local: &TextRange) -> TextRange {
        at(self.range.start, local)
    }
}

/// `local`, counted from `start`, as a range into the text.
pub fn at(start: usize, local: &TextRange) -> TextRange {
    start + local.start..start + local.end
}

/// `KEY=VALUE` in a header. Its ranges are counted from the start of the
/// header's line ([`Header::at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionEntry {
    pub key: Local<String>,
    /// The unescaped value; its range covers the raw value, quotes included.
    pub value: Local<String>,
    /// From the key's start to the value's end.
    pub local: TextRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// An `@output` block: its header line and the `>` lines under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputBlock {
    /// From the header line's start to the end of the last `>` line,
    /// including that line's newline if it has one: removing this range
    /// removes the block cleanly.
    pub range: TextRange,
    /// The `@output` line, without its newline.
    pub header_range: TextRange,
    pub status: Option<Status>,
    pub mime: Option<String>,
    /// The lines with their `> ` (or lone `>`) prefix removed, joined by `\n`.
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `@plugin=` followed by nothing.
    MissingPluginName,
    /// A plugin name that is not `[a-z0-9][a-z0-9_-]*`.
    BadPluginName,
    /// An option that is not `KEY=VALUE` with a valid key, or a stray quote.
    BadOption,
    /// A key given twice in one header.
    RepeatedKey,
    /// A quoted value with no closing quote on its line.
    UnclosedQuote,
    /// A line close to a directive, like `@plugn=` or `@ouput`.
    MisspelledDirective,
    /// A cell with nothing but blank lines in its body.
    EmptyBody,
    /// An `@output` block with no cell directly above it.
    StrayOutput,
    /// An `@output` line without a valid `status=` or `mime=`.
    MalformedOutputHeader,
    /// An `@end` that closes no cell.
    StrayEnd,
    /// Text after `@end` on its line.
    TrailingText,
}

impl ErrorKind {
    /// A stable code for diagnostics.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::MissingPluginName => "missing-plugin-name",
            ErrorKind::BadPluginName => "bad-plugin-name",
            ErrorKind::BadOption => "bad-option",
            ErrorKind::RepeatedKey => "repeated-key",
            ErrorKind::UnclosedQuote => "unclosed-quote",
            ErrorKind::MisspelledDirective => "misspelled-directive",
            ErrorKind::EmptyBody => "empty-body",
            ErrorKind::StrayOutput => "stray-output",
            ErrorKind::MalformedOutputHeader => "malformed-output-header",
            ErrorKind::StrayEnd => "stray-end",
            ErrorKind::TrailingText => "trailing-text",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub range: TextRange,
    pub severity: Severity,
    pub kind: ErrorKind,
    pub message: String,
}

/// A line that looks like a misspelled directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misspelling {
    /// The text to replace (the misspelled word, and for `@plugin` without
    /// `=` the spaces after it).
    pub range: TextRange,
    /// What the text says, e.g. `@plugn`.
    pub found: String,
    /// What replaces `range`, e.g. `@plugin`.
    pub replacement: String,
    /// The directive meant, e.g. `@plugin=`.
    pub directive: &'static str,
}

/// One line of text: `start..end` is its content, `next` is where the next
/// line starts (after `\n` or `\r\n`, or the end of the text).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) next: usize,
}

/// The lines of `text[from..]`; `from` must be a line start.
pub(crate) fn lines_from(text: &str, from: usize) -> impl Iterator<Item = Line> + '_ {
    let bytes = text.as_bytes();
    let mut pos = from;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let (end, next) = match memchr_newline(&bytes[start..]) {
            Some(i) => {
                let nl = start + i;
                let end = if nl > start && bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (bytes.len(), bytes.len()),
        };
        pos = next;
        Some(Line { start, end, next })
    })
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// What a line is, judged by its first characters in column 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    Header,
    Output,
    End,
    Other,
}

pub(crate) fn classify(content: &str) -> LineKind {
    if content.starts_with("@plugin=") {
        LineKind::Header
    } else if is_word(content, "@output") {
        LineKind::Output
    } else if is_word(content, "@end") {
        LineKind::End
    } else {
        LineKind::Other
    }
}

/// `@output` and `@end` are directives only as whole words, so that body
/// text such as `@endpoint` or `@outputs` is not taken for one.
fn is_word(content: &str, word: &str) -> bool {
    content.starts_with(word)
        && content[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || b == b'\t')
}

pub fn is_plugin_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub fn is_option_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Parses a whole notebook. Never fails and never panics.
pub fn parse(text: &str) -> Parse {
    let mut parser = Parser::new(text, 0);
    parser.run(0, None);
    parser.finish()
}

/// A cell being read; it becomes a [`Cell`] when the next directive or the end
/// of the text closes it.
struct OpenCell {
    header_line: Line,
    header: Header,
    /// The first and last non-blank body lines.
    body: Option<(usize, usize)>,
    output: Option<OutputBlock>,
    end: Option<TextRange>,
    /// False once an output block or `@end` has been seen: nothing more can
    /// be added to the body.
    in_body: bool,
}

struct OpenOutput {
    header_line: Line,
    status: Option<Status>,
    mime: Option<String>,
    content: String,
    /// The `next` of the last line of the block so far.
    end: usize,
    /// Whether the block belongs to the open cell.
    owned: bool,
    first: bool,
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    /// The index the next cell gets.
    first_index: usize,
    pub(crate) cells: Vec<Cell>,
    pub(crate) stray_outputs: Vec<OutputBlock>,
    pub(crate) errors: Vec<SyntaxError>,
    pub(crate) misspelled: Vec<Misspelling>,
    cell: Option<OpenCell>,
    output: Option<OpenOutput>,
    /// An output block of the open cell has just ended, followed by blank
    /// lines at most: an `@end` still belongs to the cell.
    after_output: bool,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, first_index: usize) -> Parser<'a> {
        Parser {
            text,
            first_index,
            cells: Vec::new(),
            stray_outputs: Vec::new(),
            errors: Vec::new(),
            misspelled: Vec::new(),
            cell: None,
            output: None,
            after_output: false,
        }
    }

    /// Reads lines from `from` (a line start, in prose or at a header). When
    /// `stop` is given, the parser stops at the first header line starting at
    /// or after `stop.0` for which `stop.1` returns true, and returns its
    /// offset; everything before it is then complete.
    pub(crate) fn run(
        &mut self,
        from: usize,
        mut stop: Option<(usize, &mut dyn FnMut(usize) -> bool)>,
    ) -> Option<usize> {
        for line in lines_from(self.text, from) {
            let content = &self.text[line.start..line.end];
            let kind = classify(content);
            if kind == LineKind::Header
                && let Some((min, accept)) = stop.as_mut()
                && line.start >= *min
                && accept(line.start)
            {
                self.close_output();
                self.close_cell();
                return Some(line.start);
            }
            self.line(line, content, kind);
        }
        None
    }

    fn line(&mut self, line: Line, content: &str, kind: LineKind) {
        if let Some(out) = &mut self.output {
            if content.starts_with('>') {
                out.push(line, content);
                return;
            }
            let owned = out.owned;
            self.close_output();
            self.after_output = owned;
        }
        if self.after_output {
            // "After an output block, `@end` is not needed (it is
            // accepted)": right after the block, or after blank lines only,
            // since inserting a block after a body followed by blank lines
            // and `@end` must not detach the `@end`. Anything else is prose.
            if kind == LineKind::Other && is_blank(content) {
                return;
            }
            self.after_output = false;
            if kind == LineKind::End {
                self.end_line(line, content);
                self.close_cell();
                return;
            }
            self.close_cell();
        }
        match kind {
            LineKind::Header => {
                self.close_cell();
                let header = parse_header(self.text, line, &mut self.errors);
                self.cell = Some(OpenCell {
                    header_line: line,
                    header,
                    body: None,
                    output: None,
                    end: None,
                    in_body: true,
                });
            }
            LineKind::Output => {
                let owned = self.cell.as_ref().is_some_and(|c| c.in_body);
                if let Some(cell) = &mut self.cell {
                    cell.in_body = false;
                }
                let (status, mime) = parse_output_header(self.text, line, &mut self.errors);
                if !owned {
                    self.errors.push(SyntaxError {
                        range: line.start..line.end,
                        severity: Severity::Warning,
                        kind: ErrorKind::StrayOutput,
                        message: "this output block has no cell directly above it".to_owned(),
                    });
                }
                self.output = Some(OpenOutput {
                    header_line: line,
                    status,
                    mime,
                    content: String::new(),
                    end: line.next,
                    owned,
                    first: true,
                });
            }
            LineKind::End => {
                if self.cell.as_ref().is_some_and(|c| c.in_body) {
                    self.end_line(line, content);
                    self.close_cell();
                } else {
                    self.errors.push(SyntaxError {
                        range: line.start..line.end,
                        severity: Severity::Warning,
                        kind: ErrorKind::StrayEnd,
                        message: "this `@end` closes no cell".to_owned(),
                    });
                }
            }
            LineKind::Other => {
                if content.starts_with('@') {
                    self.check_misspelling(line, content);
                }
                if let Some(cell) = &mut self.cell
                    && cell.in_body
                    && !is_blank(content)
                {
                    match &mut cell.body {
                        Some((_, last)) => *last = line.end,
                        None => cell.body = Some((line.start, line.end)),
                    }
                }
            }
        }
    }

    fn end_line(&mut self, line: Line, content: &str) {
        let rest = &content["@end".len()..];
        if !is_blank(rest) {
            let start = line.start + "@end".len() + (rest.len() - rest.trim_start().len());
            self.errors.push(SyntaxError {
                range: start..line.end,
                severity: Severity::Warning,
                kind: ErrorKind::TrailingText,
                message: "text after `@end` is ignored".to_owned(),
            });
        }
        if let Some(cell) = &mut self.cell {
            cell.end = Some(line.start..line.end);
            cell.in_body = false;
        }
    }

    fn close_output(&mut self) {
        let Some(out) = self.output.take() else {
            return;
        };
        let block = OutputBlock {
            range: out.header_line.start..out.end,
            header_range: out.header_line.start..out.header_line.end,
            status: out.status,
            mime: out.mime,
            content: out.content,
        };
        if out.owned {
            if let Some(cell) = &mut self.cell {
                cell.output = Some(block);
            }
        } else {
            self.stray_outputs.push(block);
        }
    }

    fn close_cell(&mut self) {
        let Some(cell) = self.cell.take() else { return };
        let h = cell.header_line;
        let body = match cell.body {
            Some((start, end)) => start..end,
            None => h.next..h.next,
        };
        if cell.body.is_none() {
            self.errors.push(SyntaxError {
                range: h.start..h.end,
                severity: Severity::Warning,
                kind: ErrorKind::EmptyBody,
                message: "this cell has an empty body".to_owned(),
            });
        }
        let mut end = h.end;
        if cell.body.is_some() {
            end = end.max(body.end);
        }
        if let Some(out) = &cell.output {
            end = end.max(content_end_of_block(self.text, out));
        }
        if let Some(e) = &cell.end {
            end = end.max(e.end);
        }
        self.cells.push(Cell {
            range: h.start..end,
            header: cell.header,
            body,
            output: cell.output,
            end: cell.end,
            index: self.first_index + self.cells.len(),
        });
    }

    fn check_misspelling(&mut self, line: Line, content: &str) {
        if let Some(m) = misspelling(content, line.start) {
            self.errors.push(SyntaxError {
                range: line.start..line.end,
                severity: Severity::Warning,
                kind: ErrorKind::MisspelledDirective,
                message: format!(
                    "`{}` is not a directive: did you mean `{}`?",
                    m.found, m.directive
                ),
            });
            self.misspelled.push(m);
        }
    }

    pub(crate) fn finish(mut self) -> Parse {
        self.close_output();
        self.close_cell();
        // Errors come from headers, bodies and blocks in an order that is
        // not always the text's; a stable sort by position makes the order
        // depend on the text alone, which incremental reparsing relies on.
        self.errors.sort_by_key(|e| e.range.start);
        Parse {
            cells: self.cells,
            stray_outputs: self.stray_outputs,
            errors: self.errors,
            misspelled: self.misspelled,
        }
    }
}

/// The end of the last line's content of a block (without its newline).
fn content_end_of_block(text: &str, block: &OutputBlock) -> usize {
    let mut end = block.range.end;
    let bytes = text.as_bytes();
    if end > block.range.start && bytes[end - 1] == b'\n' {
        end -= 1;
        if end > block.range.start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end.max(block.header_range.end)
}

impl OpenOutput {
    fn push(&mut self, line: Line, content: &str) {
        let stripped = content.strip_prefix("> ").unwrap_or(&content[1..]);
        if !self.first {
            self.content.push('\n');
        }
        self.first = false;
        self.content.push_str(stripped);
        self.end = line.next;
    }
}

fn parse_header(text: &str, line: Line, errors: &mut Vec<SyntaxError>) -> Header {
    let name_start = line.start + "@plugin=".len();
    let bytes = text.as_bytes();
    let mut name_end = name_start;
    while name_end < line.end && !is_space(bytes[name_end]) {
        name_end += 1;
    }
    let plugin = if name_end == name_start {
        errors.push(SyntaxError {
            range: line.start..name_start,
            severity: Severity::Error,
            kind: ErrorKind::MissingPluginName,
            message: "a plugin name must follow `@plugin=`".to_owned(),
        });
        None
    } else {
        let name = &text[name_start..name_end];
        if !is_plugin_name(name) {
            errors.push(SyntaxError {
                range: name_start..name_end,
                severity: Severity::Error,
                kind: ErrorKind::BadPluginName,
                message: format!(
                    "`{name}` is not a plugin name: use lowercase letters, digits, `_` and `-`"
                ),
            });
        }
        Some(Spanned {
            range: name_start..name_end,
            value: name.to_owned(),
        })
    };
    let options = parse_options_in(text, name_end, line.end, line.start, errors);
    let mut header = Header {
        range: line.start..line.end,
        plugin,
        options,
        own: CellOptions::default(),
    };
    header.own = CellOptions::read(&header);
    header
}

fn parse_output_header(
    text: &str,
    line: Line,
    errors: &mut Vec<SyntaxError>,
) -> (Option<Status>, Option<String>) {
    let options = parse_options_in(
        text,
        line.start + "@output".len(),
        line.end,
        line.start,
        errors,
    );
    let mut status = None;
    let mut mime = None;
    let mut problems = Vec::new();
    match options.iter().find(|o| o.key.value == "status") {
        Some(o) => match o.value.value.as_str() {
            "ok" => status = Some(Status::Ok),
            "error" => status = Some(Status::Error),
            other => problems.push(format!("`status={other}` must be `ok` or `error`")),
        },
        None => problems.push("no `status=`".to_owned()),
    }
    match options.iter().find(|o| o.key.value == "mime") {
        Some(o) if o.value.value.contains('/') => mime = Some(o.value.value.clone()),
        Some(o) => problems.push(format!("`mime={}` is not a MIME type", o.value.value)),
        None => problems.push("no `mime=`".to_owned()),
    }
    if !problems.is_empty() {
        errors.push(SyntaxError {
            range: line.start..line.end,
            severity: Severity::Warning,
            kind: ErrorKind::MalformedOutputHeader,
            message: format!("malformed output header: {}", problems.join(", ")),
        });
    }
    (status, mime)
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Reads `KEY=VALUE` options in `text[start..end]` (one line, which starts
/// at `line_start`: the options' ranges are counted from there).
pub(crate) fn parse_options_in(
    text: &str,
    start: usize,
    end: usize,
    line_start: usize,
    errors: &mut Vec<SyntaxError>,
) -> Vec<OptionEntry> {
    let local = |range: TextRange| range.start - line_start..range.end - line_start;
    let bytes = text.as_bytes();
    let mut options: Vec<OptionEntry> = Vec::new();
    let mut pos = start;
    loop {
        while pos < end && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos >= end {
            break;
        }
        let token_start = pos;
        // The key runs to `=` or a space.
        while pos < end && !is_space(bytes[pos]) && bytes[pos] != b'=' {
            pos += 1;
        }
        let key_end = pos;
        if pos >= end || bytes[pos] != b'=' {
            let token = &text[token_start..key_end];
            let message = if token.starts_with('"') {
                "a quoted value needs a key: write `KEY=\"VALUE\"`".to_owned()
            } else {
                format!("`{token}` is not an option: write `KEY=VALUE`")
            };
            // A token starting with a quote may hold spaces; skip to its
            // closing quote so that its words are not reported one by one.
            if token.starts_with('"') {
                pos = skip_quoted(bytes, token_start, end).unwrap_or(end);
                while pos < end && !is_space(bytes[pos]) {
                    pos += 1;
                }
            }
            errors.push(SyntaxError {
                range: token_start..pos,
                severity: Severity::Error,
                kind: ErrorKind::BadOption,
                message,
            });
            continue;
        }
        let key = &text[token_start..key_end];
        pos += 1; // `=`
        let value_start = pos;
        let mut ok = true;
        let value = if pos < end && bytes[pos] == b'"' {
            match skip_quoted(bytes, pos, end) {
                Some(close) => {
                    pos = close;
                    if pos < end && !is_space(bytes[pos]) {
                        while pos < end && !is_space(bytes[pos]) {
                            pos += 1;
                        }
                        errors.push(SyntaxError {
                            range: token_start..pos,
                            severity: Severity::Error,
                            kind: ErrorKind::BadOption,
                            message: "a space must follow a quoted value".to_owned(),
                        });
                        ok = false;
                    }
                    unescape(&text[value_start + 1..close - 1])
                }
                None => {
                    errors.push(SyntaxError {
                        range: value_start..end,
                        severity: Severity::Error,
                        kind: ErrorKind::UnclosedQuote,
                        message: "this quote is not closed on its line".to_owned(),
                    });
                    pos = end;
                    ok = false;
                    String::new()
                }
            }
        } else {
            while pos < end && !is_space(bytes[pos]) {
                pos += 1;
            }
            let raw = &text[value_start..pos];
            if raw.contains('"') {
                errors.push(SyntaxError {
                    range: token_start..pos,
                    severity: Severity::Error,
                    kind: ErrorKind::BadOption,
                    message: "a quote may only open a value: write `KEY=\"VALUE\"`".to_owned(),
                });
                ok = false;
            }
            raw.to_owned()
        };
        if !ok {
            continue;
        }
        if !is_option_key(key) {
            errors.push(SyntaxError {
                range: if key.is_empty() { token_start..pos } else { token_start..key_end },
                severity: Severity::Error,
                kind: ErrorKind::BadOption,
                message: if key.is_empty() {
                    "an option needs a key before `=`".to_owned()
                } else {
                    format!(
                        "`{key}` is not an option key: use lowercase letters, digits, `_` and `-`, starting with a letter"
                    )
                },
            });
            continue;
        }
        if options.iter().any(|o| o.key.value == key) {
            errors.push(SyntaxError {
                range: token_start..key_end,
                severity: Severity::Error,
                kind: ErrorKind::RepeatedKey,
                message: format!("`{key}` is already given in this header"),
            });
            continue;
        }
        options.push(OptionEntry {
            key: Local {
                local: local(token_start..key_end),
                value: key.to_owned(),
            },
            value: Local {
                local: local(value_start..pos),
                value,
            },
            local: local(token_start..pos),
        });
    }
    options
}

/// Given the offset of an opening quote, returns the offset just after its
/// closing quote, or `None` when the line ends first.
fn skip_quoted(bytes: &[u8], open: usize, end: usize) -> Option<usize> {
    let mut pos = open + 1;
    while pos < end {
        match bytes[pos] {
            b'\\' if pos + 1 < end => pos += 2,
            b'"' => return Some(pos + 1),
            _ => pos += 1,
        }
    }
    None
}

/// Undoes `\"` and `\\`, the only escapes. Any other backslash is kept as
/// written, so that `"C:\dir"` means what it says.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && (next == '"' || next == '\\')
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// Quotes a value for a header when it needs it.
pub fn quote_value(value: &str) -> String {
    if !value.is_empty()
        && !value
            .bytes()
            .any(|b| is_space(b) || b == b'"' || b == b'\\')
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

const DIRECTIVES: [(&str, &str); 3] = [
    ("plugin", "@plugin="),
    ("output", "@output"),
    ("end", "@end"),
];

/// Whether a line starting with `@` (and not a directive) looks like a
/// misspelled one. Only words within one edit (two for the longer `@plugin`
/// when an `=` follows, which makes the intent plain) of a directive count,
/// so body text such as `@dataclass` or `@Override` is left alone.
fn misspelling(content: &str, line_start: usize) -> Option<Misspelling> {
    let rest = &content[1..];
    let word_len = rest.find(['=', ' ', '\t']).unwrap_or(rest.len());
    let word = &rest[..word_len];
    if word.is_empty() || word.len() > 12 {
        return None;
    }
    let followed_by_eq = rest[word_len..].starts_with('=');
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str, &'static str)> = None;
    for (name, directive) in DIRECTIVES {
        let distance = strsim::osa_distance(&lower, name);
        let limit = if name == "plugin" && followed_by_eq {
            2
        } else {
            1
        };
        // Exact words can still be wrong: `@plugin` without `=`, or a
        // directive in the wrong case.
        let differs = distance > 0 || word != name || (name == "plugin" && !followed_by_eq);
        if distance <= limit && differs && best.is_none_or(|(d, _, _)| distance < d) {
            best = Some((distance, name, directive));
        }
    }
    let (_, name, directive) = best?;
    let word_end = line_start + 1 + word_len;
    let (range, replacement) = if name == "plugin" && !followed_by_eq {
        // `@plugn prometheus` becomes `@plugin=prometheus`: the spaces go.
        let after = &rest[word_len..];
        let trimmed = after.trim_start_matches([' ', '\t']);
        // `@plugin =x` loses its `=` too, or the fix would write `@plugin==x`.
        let eq = usize::from(trimmed.starts_with('='));
        (
            line_start..word_end + after.len() - trimmed.len() + eq,
            "@plugin=".to_owned(),
        )
    } else {
        (line_start..word_end, format!("@{name}"))
    };
    Some(Misspelling {
        range,
        found: content[..1 + word_len].to_owned(),
        replacement,
        directive,
    })
}
