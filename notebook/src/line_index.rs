//! Byte offsets to lines and columns and back.
//!
//! This is the one place where UTF-16 is handled: the rest of the crate
//! works on byte offsets, and editors speaking LSP count columns in UTF-16
//! code units. Lines end at `\n` or `\r\n`, as in the notebook format; the
//! `\r` of a `\r\n` belongs to no column.

use crate::syntax::TextRange;

/// A position as a zero-based line and column; what the column counts
/// (bytes or UTF-16 code units) depends on the method that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// A character that takes more than one byte, within its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WideChar {
    /// Byte column of the character's start.
    col: u32,
    len_utf8: u8,
    len_utf16: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    /// The offset where each line starts; the first is 0.
    starts: Vec<usize>,
    /// The offset where each line's content ends (before `\n` or `\r\n`).
    ends: Vec<usize>,
    /// Per line, its multi-byte characters in order. Lines that are pure
    /// ASCII, most of them, hold an empty vector.
    wide: Vec<Vec<WideChar>>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        let mut ends = Vec::new();
        let mut wide = vec![Vec::new()];
        let bytes = text.as_bytes();
        let mut line_start = 0;
        for (i, c) in text.char_indices() {
            if c == '\n' {
                let end = if i > line_start && bytes[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                ends.push(end);
                starts.push(i + 1);
                wide.push(Vec::new());
                line_start = i + 1;
            } else if !c.is_ascii() {
                wide.last_mut().unwrap().push(WideChar {
                    col: (i - line_start) as u32,
                    len_utf8: c.len_utf8() as u8,
                    len_utf16: c.len_utf16() as u8,
                });
            }
        }
        ends.push(text.len());
        LineIndex {
            starts,
            ends,
            wide,
            len: text.len(),
        }
    }

    /// The number of lines; a text ending in a newline has an empty last line.
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    pub fn line_starts(&self) -> &[usize] {
        &self.starts
    }

    pub fn line_start(&self, line: u32) -> Option<usize> {
        self.starts.get(line as usize).copied()
    }

    /// The range of a line's content, without its line ending.
    pub fn line_range(&self, line: u32) -> Option<TextRange> {
        let i = line as usize;
        Some(*self.starts.get(i)?..*self.ends.get(i)?)
    }

    /// The line holding `offset` (clamped to the text).
    pub fn line_of(&self, offset: usize) -> u32 {
        let offset = offset.min(self.len);
        (self.starts.partition_point(|&s| s <= offset) - 1) as u32
    }

    /// Line and byte column of `offset`. An offset past the text is clamped
    /// to its end; one inside a line ending maps to the content's end.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let line = self.line_of(offset);
        let i = line as usize;
        let offset = offset.min(self.len).min(self.ends[i]);
        LineCol {
            line,
            col: (offset - self.starts[i]) as u32,
        }
    }

    /// Line and UTF-16 column of `offset`. An offset inside a character
    /// counts as that character's start.
    pub fn line_col_utf16(&self, offset: usize) -> LineCol {
        let LineCol { line, col } = self.line_col(offset);
        let mut utf16 = col;
        for w in &self.wide[line as usize] {
            if w.col >= col {
                break;
            }
            if w.col + u32::from(w.len_utf8) > col {
                // Inside the character: count from its start.
                utf16 -= col - w.col;
                break;
            }
            utf16 -= u32::from(w.len_utf8) - u32::from(w.len_utf16);
        }
        LineCol { line, col: utf16 }
    }

    /// The offset of a line and byte column. A line past the end gives the
    /// text's end; a column past the line's content gives the content's end;
    /// a column inside a character gives that character's start.
    pub fn offset(&self, pos: LineCol) -> usize {
        let i = pos.line as usize;
        if i >= self.starts.len() {
            return self.len;
        }
        let mut col = pos.col.min((self.ends[i] - self.starts[i]) as u32);
        for w in &self.wide[i] {
            if w.col < col && col < w.col + u32::from(w.len_utf8) {
                col = w.col;
                break;
            }
        }
        self.starts[i] + col as usize
    }

    /// The offset of a line and UTF-16 column, clamped like [`Self::offset`];
    /// a column between the two halves of a surrogate pair gives the
    /// character's start.
    pub fn offset_utf16(&self, pos: LineCol) -> usize {
        let i = pos.line as usize;
        if i >= self.starts.len() {
            return self.len;
        }
        let line_len = self.ends[i] - self.starts[i];
        // What the wide characters before the column take in bytes beyond
        // what they take in UTF-16.
        let mut extra = 0;
        for w in &self.wide[i] {
            let w_utf16 = w.col - extra;
            if w_utf16 >= pos.col {
                break;
            }
            if pos.col < w_utf16 + u32::from(w.len_utf16) {
                return self.starts[i] + w.col as usize;
            }
            extra += u32::from(w.len_utf8) - u32::from(w.len_utf16);
        }
        self.starts[i]
            + (pos.col as usize)
                .saturating_add(extra as usize)
                .min(line_len)
    }

    /// A range as UTF-16 positions, for LSP.
    pub fn range_utf16(&self, range: &TextRange) -> (LineCol, LineCol) {
        (
            self.line_col_utf16(range.start),
            self.line_col_utf16(range.end),
        )
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
