//! A notebook being edited: its text and parse, reparsed incrementally.
//!
//! A header line always starts the parser afresh: nothing before it changes
//! how the lines from it on are read. So after an edit, only the lines from
//! the last header before the edit up to the first header after it need
//! reading again; the cells before are kept, and the cells after are the old
//! ones moved by the edit's change in length. The result is always exactly
//! what [`parse`] gives for the new text.

use crate::syntax::{Cell, OutputBlock, Parse, Parser, TextRange, parse};

#[derive(Debug, Clone)]
pub struct Document {
    text: String,
    parse: Parse,
    /// Each cell's identity, in cell order.
    ids: Vec<CellId>,
}

/// A cell's identity across edits: an edit that leaves a cell's text as it
/// was (and so its header, body and output) leaves its id as it was, even
/// when the cell moves; a cell read anew gets an id never given before, in
/// any document of the process. What is computed from a cell's text can be
/// kept by its id, with no need to compare text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellId(u64);

/// `n` ids never given before.
fn fresh_ids(n: usize) -> impl Iterator<Item = CellId> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let first = NEXT.fetch_add(n as u64, Ordering::Relaxed);
    (first..first + n as u64).map(CellId)
}

impl Document {
    pub fn new(text: impl Into<String>) -> Document {
        let text = text.into();
        let parse = parse(&text);
        let ids = fresh_ids(parse.cells.len()).collect();
        Document { text, parse, ids }
    }

    /// Each cell's identity, in the order of `parse().cells`.
    pub fn cell_ids(&self) -> &[CellId] {
        &self.ids
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn parse(&self) -> &Parse {
        &self.parse
    }

    /// Replaces the whole text.
    pub fn set_text(&mut self, text: impl Into<String>) {
        *self = Document::new(text);
    }

    /// Replaces `range` with `new_text` and reparses what the edit can have
    /// changed. A range past the end or off a character boundary is
    /// widened to the nearest boundaries within the text.
    ///
    /// Returns the indices of the cells that were read anew; every other
    /// cell is an old one, unchanged but for its offsets and index, so that
    /// what was computed for it (a plugin's `check`, say) still holds. The
    /// cells read anew get new [`CellId`]s; the others keep theirs.
    pub fn apply(&mut self, range: TextRange, new_text: &str) -> std::ops::Range<usize> {
        let len = self.text.len();
        let mut start = range.start.min(len);
        let mut end = range.end.min(len).max(start);
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        while !self.text.is_char_boundary(end) {
            end += 1;
        }

        // The last header that the edit leaves a header: its `@plugin=`
        // must lie wholly before the edit.
        let old = &self.parse;
        let k = old
            .cells
            .partition_point(|c| c.header.range.start + "@plugin=".len() <= start);
        let restart = k
            .checked_sub(1)
            .map_or(0, |i| old.cells[i].header.range.start);
        let keep_cells = k.saturating_sub(1);

        self.text.replace_range(start..end, new_text);
        let delta = new_text.len() as isize - (end - start) as isize;
        let new_end = start + new_text.len();

        // Read from the restart point until a header at or after the edit's
        // end that was already a header at the same place in the old text.
        let old_cells = &self.parse.cells;
        let mut reused_from = None;
        let mut accept = |at: usize| {
            let old_at = (at as isize - delta) as usize;
            let j = old_cells.partition_point(|c| c.header.range.start < old_at);
            let found = old_cells
                .get(j)
                .is_some_and(|c| c.header.range.start == old_at);
            if found {
                reused_from = Some(j);
            }
            found
        };
        let mut parser = Parser::new(&self.text, keep_cells);
        let stop = parser.run(restart, Some((new_end, &mut accept)));
        let middle = parser.finish();
        let reused_from = stop.and(reused_from);

        // Splice the new middle in place of the old one and move the tail:
        // every list is in text order, so each part is a contiguous run. No
        // list is rebuilt, so a keystroke allocates nothing in proportion to
        // the document.
        let p = &mut self.parse;
        let tail_start = reused_from.map(|j| p.cells[j].header.range.start);
        let index_shift =
            (keep_cells + middle.cells.len()) as isize - reused_from.unwrap_or(0) as isize;

        let tail_from = reused_from.unwrap_or(p.cells.len());
        let new_tail_from = keep_cells + middle.cells.len();
        p.cells.splice(keep_cells..tail_from, middle.cells);
        self.ids
            .splice(keep_cells..tail_from, fresh_ids(new_tail_from - keep_cells));
        for cell in &mut p.cells[new_tail_from..] {
            shift_cell(cell, delta, index_shift);
        }

        let (a, b) = bounds(&p.errors, |e| e.range.start, restart, tail_start);
        let n = middle.errors.len();
        p.errors.splice(a..b, middle.errors);
        for e in &mut p.errors[a + n..] {
            e.range = shift(&e.range, delta);
        }

        let (a, b) = bounds(&p.misspelled, |m| m.range.start, restart, tail_start);
        let n = middle.misspelled.len();
        p.misspelled.splice(a..b, middle.misspelled);
        for m in &mut p.misspelled[a + n..] {
            m.range = shift(&m.range, delta);
        }

        let (a, b) = bounds(&p.stray_outputs, |o| o.range.start, restart, tail_start);
        let n = middle.stray_outputs.len();
        p.stray_outputs.splice(a..b, middle.stray_outputs);
        for block in &mut p.stray_outputs[a + n..] {
            shift_block(block, delta);
        }
        keep_cells..new_tail_from
    }
}

/// In a list sorted by start offset: where the items at or after `restart`
/// begin, and where those at or after `tail_start` (the reused tail) begin.
fn bounds<T>(
    items: &[T],
    start: impl Fn(&T) -> usize,
    restart: usize,
    tail_start: Option<usize>,
) -> (usize, usize) {
    let a = items.partition_point(|x| start(x) < restart);
    let b = tail_start.map_or(items.len(), |t| items.partition_point(|x| start(x) < t));
    (a, b)
}

fn shift(r: &TextRange, delta: isize) -> TextRange {
    (r.start as isize + delta) as usize..(r.end as isize + delta) as usize
}

fn shift_block(block: &mut OutputBlock, delta: isize) {
    block.range = shift(&block.range, delta);
    block.header_range = shift(&block.header_range, delta);
}

fn shift_cell(cell: &mut Cell, delta: isize, index_shift: isize) {
    cell.index = (cell.index as isize + index_shift) as usize;
    if delta == 0 {
        return;
    }
    cell.range = shift(&cell.range, delta);
    cell.body = shift(&cell.body, delta);
    let h = &mut cell.header;
    h.range = shift(&h.range, delta);
    if let Some(p) = &mut h.plugin {
        p.range = shift(&p.range, delta);
    }
    // The options' ranges are counted from the header's start: they stay.
    if let Some(out) = &mut cell.output {
        shift_block(out, delta);
    }
    if let Some(end) = &mut cell.end {
        *end = shift(end, delta);
    }
}
