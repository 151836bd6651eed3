//! The one place where byte offsets meet LSP positions (lines and UTF-16
//! columns), and paths meet URIs. The document's rope is its line index:
//! it is kept up to date by each edit, so no position costs a scan.

use std::path::PathBuf;

use databook_notebook::TextRange;
use ropey::Rope;
use tower_lsp_server::ls_types::{Position, Range, Uri};

/// The LSP position of a byte offset (clamped to the text).
pub fn position(rope: &Rope, offset: usize) -> Position {
    let offset = offset.min(rope.len_bytes());
    let line = rope.byte_to_line(offset);
    let char_index = rope.byte_to_char(offset);
    let line_start = rope.line_to_char(line);
    let character = rope.char_to_utf16_cu(char_index) - rope.char_to_utf16_cu(line_start);
    Position {
        line: line as u32,
        character: character as u32,
    }
}

/// The LSP range of a byte range.
pub fn range(rope: &Rope, range: &TextRange) -> Range {
    Range {
        start: position(rope, range.start),
        end: position(rope, range.end),
    }
}

/// Positions of many offsets of one document, cheaper than [`position`]
/// each when they come in increasing order (as cells, lenses, tokens and
/// diagnostics do): from one offset to the next it counts the line breaks
/// in between instead of looking the line up in the rope, and a column is
/// counted on its line. A step back, or far ahead, asks the rope.
pub struct Positions<'a> {
    rope: &'a Rope,
    text: &'a str,
    /// The last offset converted, its line, and where that line starts.
    at: usize,
    line: usize,
    line_start: usize,
}

/// How far ahead counting line breaks beats a lookup in the rope.
const WALK: usize = 4096;

impl<'a> Positions<'a> {
    /// `text` is the rope's text, as one string.
    pub fn new(rope: &'a Rope, text: &'a str) -> Positions<'a> {
        Positions {
            rope,
            text,
            at: 0,
            line: 0,
            line_start: 0,
        }
    }

    pub fn position(&mut self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset < self.at || offset - self.at > WALK {
            self.line = self.rope.byte_to_line(offset);
            self.line_start = self.rope.line_to_byte(self.line);
        } else {
            for (i, byte) in self.text.as_bytes()[self.at..offset].iter().enumerate() {
                if *byte == b'\n' {
                    self.line += 1;
                    self.line_start = self.at + i + 1;
                }
            }
        }
        self.at = offset;
        let column = &self.text[self.line_start..offset];
        let character = if column.is_ascii() {
            column.len()
        } else {
            column.encode_utf16().count()
        };
        Position {
            line: self.line as u32,
            character: character as u32,
        }
    }

    pub fn range(&mut self, range: &TextRange) -> Range {
        Range {
            start: self.position(range.start),
            end: self.position(range.end),
        }
    }
}

/// The byte offset of an LSP position (clamped to the text).
pub fn offset(rope: &Rope, position: Position) -> usize {
    rope.char_to_byte(rope_char(rope, position))
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

    #[test]
    fn positions_in_any_order_are_those_of_the_rope() {
        // Long enough that some steps are walked and some looked up.
        let line = "é😀 x\r\n\nplain line\na\rb\n";
        let text = line.repeat(300);
        let rope = Rope::from_str(&text);
        let offsets: Vec<usize> = (0..=text.len()).collect();
        let mut positions = Positions::new(&rope, &text);
        // Every offset in order; then backwards; then in long jumps.
        let orders: [Box<dyn Iterator<Item = usize>>; 3] = [
            Box::new(offsets.iter().copied()),
            Box::new(offsets.iter().rev().copied()),
            Box::new(offsets.iter().map(|o| o * 7919 % (text.len() + 1))),
        ];
        for order in orders {
            for offset in order {
                // Inside a character, both take its start.
                let mut start = offset;
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                assert_eq!(
                    positions.position(offset),
                    position(&rope, start),
                    "at {offset}"
                );
            }
        }
    }

    #[test]
    fn offsets_and_positions_round_trip() {
        let text = "é😀x\r\n\nlast line";
        let rope = Rope::from_str(text);
        // Between `\r` and `\n` is no position LSP can name.
        let inside_crlf = |offset: usize| text[..offset].ends_with('\r');
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            if inside_crlf(offset) {
                continue;
            }
            let p = position(&rope, offset);
            assert_eq!(super::offset(&rope, p), offset, "at {offset} ({p:?})");
        }
        assert_eq!(position(&rope, 6), Position::new(0, 3));
        assert_eq!(position(&rope, text.len()), Position::new(2, 9));
        // A lone \r is text, as in the notebook parser.
        let rope = Rope::from_str("a\rb\nc");
        assert_eq!(position(&rope, 4), Position::new(1, 0));
    }
}
