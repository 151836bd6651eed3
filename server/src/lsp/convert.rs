//! The one place where byte offsets meet LSP positions (lines and UTF-16
//! columns), and paths meet URIs.

use std::path::PathBuf;

use databook_notebook::{LineCol, LineIndex, TextRange};
use ropey::Rope;
use tower_lsp_server::ls_types::{Position, Range, Uri};

/// The LSP position of a byte offset.
pub fn position(index: &LineIndex, offset: usize) -> Position {
    let LineCol { line, col } = index.line_col_utf16(offset);
    Position {
        line,
        character: col,
    }
}

/// The LSP range of a byte range.
pub fn range(index: &LineIndex, range: &TextRange) -> Range {
    Range {
        start: position(index, range.start),
        end: position(index, range.end),
    }
}

/// The byte offset of an LSP position (clamped to the text).
pub fn offset(index: &LineIndex, position: Position) -> usize {
    index.offset_utf16(LineCol {
        line: position.line,
        col: position.character,
    })
}

/// The char index in a rope of an LSP position (clamped to its line, as the
/// protocol says a column past the end means the end).
pub fn rope_char(rope: &Rope, position: Position) -> usize {
    let line = position.line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let slice = rope.line(line);
    // The line's length without its line break.
    let mut content = slice.len_chars();
    while content > 0 && matches!(slice.char(content - 1), '\n' | '\r') {
        content -= 1;
    }
    let column = slice.utf16_cu_to_char((position.character as usize).min(slice.len_utf16_cu()));
    start + column.min(content)
}

/// The local path of a `file:` URI.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let url = url::Url::parse(uri.as_str()).ok()?;
    url.to_file_path().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_positions_count_utf16_units_and_clamp() {
        let rope = Rope::from_str("a😀b\r\nxyz\n");
        let at = |line, character| rope_char(&rope, Position { line, character });
        assert_eq!(at(0, 0), 0);
        // The emoji is two UTF-16 units but one char.
        assert_eq!(at(0, 3), 2);
        assert_eq!(at(0, 99), 3, "clamped before the line break");
        assert_eq!(at(1, 1), 6);
        assert_eq!(at(9, 0), rope.len_chars());
    }
}
