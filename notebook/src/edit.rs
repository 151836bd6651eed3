//! The edits that write outputs into a notebook.
//!
//! Each is one replacement of one range, touching nothing but the output
//! block, and is `None` when it would leave the file as it is: an unchanged
//! rerun must not produce an edit at all.

use crate::syntax::{Parse, TextRange};

/// Replace `range` of the text with `new_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: TextRange,
    pub new_text: String,
}

impl Edit {
    /// Applies the edit to `text`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + self.new_text.len());
        out.push_str(&text[..self.range.start]);
        out.push_str(&self.new_text);
        out.push_str(&text[self.range.end..]);
        out
    }
}

/// Whether the text's lines end with `\r\n`, judged by its first line
/// ending; output blocks are written with the same endings.
pub fn uses_crlf(text: &str) -> bool {
    text.find('\n')
        .is_some_and(|i| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

/// The edit that puts `block` (the text of an output block, as made by
/// [`crate::render::output_block`], lines ending with `\n`) under cell
/// `cell_index`: replacing its output block if it has one, otherwise
/// inserting it right after the body's last non-blank line (so before any
/// blank lines and before `@end`).
pub fn set_output(text: &str, parse: &Parse, cell_index: usize, block: &str) -> Option<Edit> {
    let cell = parse.cells.get(cell_index)?;
    let mut block = if uses_crlf(text) {
        block.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        block.to_owned()
    };
    let newline = if uses_crlf(text) { "\r\n" } else { "\n" };
    if !block.ends_with('\n') {
        block.push_str(newline);
    }
    let edit = match &cell.output {
        Some(out) => {
            // A block at the end of a file without a final newline is
            // replaced without adding one, so that an unchanged result
            // stays an unchanged file.
            let old = &text[out.range.clone()];
            if !old.ends_with('\n') && out.range.end == text.len() {
                block.truncate(block.len() - newline.len());
            }
            Edit {
                range: out.range.clone(),
                new_text: block,
            }
        }
        None => {
            let last_line_end = if cell.body.is_empty() {
                cell.header.range.end
            } else {
                cell.body.end
            };
            let at = next_line_start(text, last_line_end);
            if at == text.len() && !text[..at].ends_with('\n') {
                // The cell's last line is the file's, with no newline.
                block.insert_str(0, newline);
            }
            Edit {
                range: at..at,
                new_text: block,
            }
        }
    };
    (text[edit.range.clone()] != edit.new_text).then_some(edit)
}

/// The edit that removes cell `cell_index`'s output block, `None` when it
/// has none.
pub fn clear_output(_text: &str, parse: &Parse, cell_index: usize) -> Option<Edit> {
    let out = parse.cells.get(cell_index)?.output.as_ref()?;
    Some(Edit {
        range: out.range.clone(),
        new_text: String::new(),
    })
}

/// The start of the line after the one that `offset` is in (the text's end
/// when it is the last line).
fn next_line_start(text: &str, offset: usize) -> usize {
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

/// What identifies a cell across edits: its index and its header line's
/// text when it was seen. Every command, run record and cancellation finds
/// its cell again through [`CellAnchor::locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAnchor {
    pub index: usize,
    pub header: String,
}

impl CellAnchor {
    /// The anchor of cell `cell` of `parse`.
    pub fn of(parse: &Parse, text: &str, cell: usize) -> Option<CellAnchor> {
        let c = parse.cells.get(cell)?;
        Some(CellAnchor {
            index: cell,
            header: text[c.header.range.clone()].to_owned(),
        })
    }

    /// The cell's index now, by [`locate_cell`].
    pub fn locate(&self, parse: &Parse, text: &str) -> Option<usize> {
        locate_cell(parse, text, self.index, &self.header)
    }

    /// The cell's index now in a document being edited, settled or not, by
    /// [`locate_cell`].
    pub fn locate_in(&self, document: &crate::Document) -> Option<usize> {
        locate_by(document.cell_count(), self.index, &self.header, |i| {
            document.header_range(i).and_then(|r| document.slice(r))
        })
    }
}

/// Finds a cell again after the document changed, from its index and its
/// header line's text when the run started: the same index if its header is
/// still the same, otherwise the nearest cell with that header (the earlier
/// one on a tie), otherwise `None`: the cell is gone.
pub fn locate_cell(
    parse: &Parse,
    text: &str,
    index_hint: usize,
    header_text: &str,
) -> Option<usize> {
    locate_by(parse.cells.len(), index_hint, header_text, |i| {
        text.get(parse.cells[i].header.range.clone())
            .map(std::borrow::Cow::Borrowed)
    })
}

fn locate_by<'a>(
    cells: usize,
    index_hint: usize,
    header_text: &str,
    header_of: impl Fn(usize) -> Option<std::borrow::Cow<'a, str>>,
) -> Option<usize> {
    let header_text = header_text.trim_end_matches(['\r', '\n']);
    let is_it = |i: usize| header_of(i).as_deref() == Some(header_text);
    // Outwards from the hint, the earlier side first: the cell is usually
    // where it was, so this rarely looks at more than one header.
    for distance in 0..=index_hint.max(cells) {
        if let Some(before) = index_hint.checked_sub(distance)
            && before < cells
            && is_it(before)
        {
            return Some(before);
        }
        let after = index_hint.saturating_add(distance);
        if distance > 0 && after < cells && is_it(after) {
            return Some(after);
        }
    }
    None
}
