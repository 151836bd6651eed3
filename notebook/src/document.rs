//! A notebook being edited: its text and parse, reparsed incrementally.
//!
//! A header line always starts the parser afresh: nothing before it changes
//! how the lines from it on are read. So after an edit, only the lines from
//! the last header before the edit up to the first header after it need
//! reading again; the cells before are kept, and the cells after are the old
//! ones moved by the edit's change in length. The result is always exactly
//! what [`parse`] gives for the new text.
//!
//! Moving the cells after an edit is work in proportion to the document,
//! and so is moving the text after it in one `String`. [`Document::edit`]
//! does neither: the text keeps a gap of unused bytes before the cell being
//! edited (a gap buffer), so that the text after it stays where it was, and
//! the cells after the edit keep their ranges and indices as they were,
//! with one shift owed to all of them. A run of keystrokes in one cell then
//! moves nothing but that cell. What a keystroke reads goes through
//! [`Document::cell`], [`Document::slice`] and the other accessors, which
//! add what is owed. [`Document::settle`] pays it, once for the whole run,
//! before anything reads the whole text or parse ([`Document::text`],
//! [`Document::parse`]).

use std::borrow::Cow;

use crate::syntax::{Cell, Misspelling, OutputBlock, Parse, Parser, SyntaxError, TextRange, parse};

#[derive(Debug, Clone)]
pub struct Document {
    text: GapText,
    /// The cells from `owed.from` on are stored as they were before the
    /// edits since the last settle: `owed` says how far they have moved.
    /// The errors, misspellings and stray outputs are always where they
    /// are.
    parse: Parse,
    /// Each cell's identity, in cell order.
    ids: Vec<CellId>,
    owed: Owed,
}

/// What the cells from `from` on are owed: their true ranges are `bytes`
/// further on than stored, their true indices `cells` further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    from: usize,
    bytes: isize,
    cells: isize,
}

impl Owed {
    const NOTHING: Owed = Owed {
        from: usize::MAX,
        bytes: 0,
        cells: 0,
    };

    fn is_nothing(&self) -> bool {
        self.bytes == 0 && self.cells == 0
    }

    /// What cell `index` is owed.
    fn of(&self, index: usize) -> (isize, isize) {
        if index >= self.from {
            (self.bytes, self.cells)
        } else {
            (0, 0)
        }
    }
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
        Document {
            text: GapText::new(text),
            parse,
            ids,
            owed: Owed::NOTHING,
        }
    }

    /// Each cell's identity, in the order of `parse().cells`.
    pub fn cell_ids(&self) -> &[CellId] {
        &self.ids
    }

    /// Whether nothing is owed since the last [`Document::edit`]: the
    /// whole text and parse can be read.
    pub fn is_settled(&self) -> bool {
        self.text.gap == 0 && self.owed.is_nothing()
    }

    /// The whole text. The document must be settled (after
    /// [`Document::edit`], call [`Document::settle`]); otherwise this is
    /// the text with its gap (spaces) in it.
    pub fn text(&self) -> &str {
        debug_assert!(
            self.is_settled(),
            "read the whole text of an unsettled document"
        );
        &self.text.buf
    }

    /// The whole parse. The document must be settled; otherwise the cells
    /// after the last edit are where they were before the edits.
    pub fn parse(&self) -> &Parse {
        debug_assert!(
            self.is_settled(),
            "read the whole parse of an unsettled document"
        );
        &self.parse
    }

    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cell_count(&self) -> usize {
        self.parse.cells.len()
    }

    /// Cell `index`, where it is: borrowed when nothing is owed to it, a
    /// copy moved to its place otherwise.
    pub fn cell(&self, index: usize) -> Option<Cow<'_, Cell>> {
        let cell = self.parse.cells.get(index)?;
        Some(match self.owed.of(index) {
            (0, 0) => Cow::Borrowed(cell),
            (bytes, cells) => {
                let mut cell = cell.clone();
                shift_cell(&mut cell, bytes, cells);
                Cow::Owned(cell)
            }
        })
    }

    /// Where cell `index`'s header starts.
    pub fn header_start(&self, index: usize) -> Option<usize> {
        let cell = self.parse.cells.get(index)?;
        Some((cell.header.range.start as isize + self.owed.of(index).0) as usize)
    }

    /// The index of the cell whose range holds `offset` (its end
    /// included), as [`Parse::cell_at`] finds it.
    pub fn cell_at(&self, offset: usize) -> Option<usize> {
        let owed = self.owed;
        let cells = &self.parse.cells;
        let start = |i: usize| (cells[i].range.start as isize + owed.of(i).0) as usize;
        let end = |i: usize| (cells[i].range.end as isize + owed.of(i).0) as usize;
        let i = partition(cells.len(), |i| start(i) <= offset).checked_sub(1)?;
        (offset <= end(i)).then_some(i)
    }

    /// Where cell `index`'s header line lies (without its newline).
    pub fn header_range(&self, index: usize) -> Option<TextRange> {
        let cell = self.parse.cells.get(index)?;
        Some(shift(&cell.header.range, self.owed.of(index).0))
    }

    /// The text of `range`, borrowed unless it spans the gap; `None` when
    /// the range is out of the text or off a character boundary.
    pub fn slice(&self, range: TextRange) -> Option<Cow<'_, str>> {
        self.text.slice(range)
    }

    /// Every syntax error, where it is (see [`Parse::errors`]).
    pub fn errors(&self) -> &[SyntaxError] {
        &self.parse.errors
    }

    /// The misspelled directives, where they are (see [`Parse::misspelled`]).
    pub fn misspelled(&self) -> &[Misspelling] {
        &self.parse.misspelled
    }

    /// Replaces the whole text.
    pub fn set_text(&mut self, text: impl Into<String>) {
        *self = Document::new(text);
    }

    /// [`Document::edit`], then [`Document::settle`].
    pub fn apply(&mut self, range: TextRange, new_text: &str) -> std::ops::Range<usize> {
        let read = self.edit(range, new_text);
        self.settle();
        read
    }

    /// Pays what the edits since the last settle owe: closes the text's gap
    /// and moves the cells after the last edit to their places. Work in
    /// proportion to the document, once for any number of edits.
    pub fn settle(&mut self) {
        self.text.close();
        if !self.owed.is_nothing() {
            let Owed { from, bytes, cells } = self.owed;
            let from = from.min(self.parse.cells.len());
            for cell in &mut self.parse.cells[from..] {
                shift_cell(cell, bytes, cells);
            }
        }
        self.owed = Owed::NOTHING;
    }

    /// Replaces `range` with `new_text` and reparses what the edit can have
    /// changed, leaving the document unsettled (see the module's comment).
    /// A range past the end or off a character boundary is widened to the
    /// nearest boundaries within the text.
    ///
    /// Returns the indices of the cells that were read anew; every other
    /// cell is an old one, unchanged but for its offsets and index, so that
    /// what was computed for it (a plugin's `check`, say) still holds. The
    /// cells read anew get new [`CellId`]s; the others keep theirs.
    pub fn edit(&mut self, range: TextRange, new_text: &str) -> std::ops::Range<usize> {
        let len = self.text.len();
        let mut start = range.start.min(len);
        let mut end = range.end.min(len).max(start);
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        while !self.text.is_char_boundary(end) {
            end += 1;
        }

        // Where each old cell's header starts, with what it is owed.
        let owed = self.owed;
        let old_start = |cells: &[Cell], i: usize| {
            (cells[i].header.range.start as isize + owed.of(i).0) as usize
        };
        let count = self.parse.cells.len();

        // The last header that the edit leaves a header: its `@plugin=`
        // must lie wholly before the edit.
        let k = partition(count, |i| {
            old_start(&self.parse.cells, i) + "@plugin=".len() <= start
        });
        let restart = k
            .checked_sub(1)
            .map_or(0, |i| old_start(&self.parse.cells, i));
        let keep_cells = k.saturating_sub(1);

        // The gap goes before the cell being edited: from there on, the
        // text is contiguous, and the text after the edit stays put.
        self.text.move_gap(restart);
        self.text.replace(start..end, new_text);
        let delta = new_text.len() as isize - (end - start) as isize;
        let new_end = start + new_text.len();

        // Read from the restart point until a header at or after the edit's
        // end that was already a header at the same place in the old text.
        // The parser reads the text from `restart` on, so its ranges count
        // from there.
        let old_cells = &self.parse.cells;
        let mut reused_from = None;
        let mut accept = |at: usize| {
            let old_at = ((at + restart) as isize - delta) as usize;
            let j = partition(old_cells.len(), |i| old_start(old_cells, i) < old_at);
            let found = j < old_cells.len() && old_start(old_cells, j) == old_at;
            if found {
                reused_from = Some(j);
            }
            found
        };
        let mut parser = Parser::new(self.text.from(restart), keep_cells);
        let stop = parser.run(0, Some((new_end - restart, &mut accept)));
        let mut middle = parser.finish();
        let reused_from = stop.and(reused_from);
        let at_restart = restart as isize;
        for cell in &mut middle.cells {
            shift_cell(cell, at_restart, 0);
        }
        for e in &mut middle.errors {
            e.range = shift(&e.range, at_restart);
        }
        for m in &mut middle.misspelled {
            m.range = shift(&m.range, at_restart);
        }
        for block in &mut middle.stray_outputs {
            shift_block(block, at_restart);
        }

        // Splice the new middle in place of the old one: every list is in
        // text order, so each part is a contiguous run. No list is rebuilt,
        // and the cells after the middle are only owed their move.
        let tail_start = reused_from.map(|j| old_start(&self.parse.cells, j));
        let p = &mut self.parse;
        let index_shift =
            (keep_cells + middle.cells.len()) as isize - reused_from.unwrap_or(0) as isize;

        // The cells kept before the middle that were owed a move get it.
        if !owed.is_nothing() {
            for i in owed.from..keep_cells {
                shift_cell(&mut p.cells[i], owed.bytes, owed.cells);
            }
        }
        let tail_from = reused_from.unwrap_or(p.cells.len());
        let new_tail_from = keep_cells + middle.cells.len();
        p.cells.splice(keep_cells..tail_from, middle.cells);
        self.ids
            .splice(keep_cells..tail_from, fresh_ids(new_tail_from - keep_cells));
        self.owed = if reused_from.is_some() {
            // The reused cells that owed nothing (those before the old
            // `owed.from`) are stored as far short as the others.
            if !owed.is_nothing() && owed.from > tail_from {
                let end = ((owed.from as isize + index_shift) as usize).min(p.cells.len());
                for cell in &mut p.cells[new_tail_from..end] {
                    shift_cell(cell, -owed.bytes, -owed.cells);
                }
            }
            Owed {
                from: new_tail_from,
                bytes: owed.bytes + delta,
                cells: owed.cells + index_shift,
            }
        } else {
            Owed::NOTHING
        };

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

/// The first `i` in `0..n` for which `before(i)` is false, `before` being
/// true then false along `0..n`: a binary search over indices, for lists
/// whose keys are computed.
fn partition(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
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

/// How many bytes a gap grows by at least: a run of typing fills it before
/// the text after it has to move again. Not 4096: moving the text after
/// the gap by a multiple of 4 KiB (opening or closing it) makes every load
/// of the copy wait on the store 4 KiB before it (4K aliasing), and
/// settling took 120 µs instead of 30 on the 1.3 MB bench notebook.
const GAP: usize = 2048;

/// How far the gap moves by copying the text in between; further, it is
/// closed and opened again (two moves of the text after it, at memory
/// speed).
const NEAR: usize = 16 * 1024;

/// A text with a gap of `gap` bytes (spaces, so that the buffer stays a
/// valid `String`) at offset `at` of the text: the text's bytes before `at`
/// are at the same offsets in `buf`, those from `at` on `gap` bytes
/// further.
#[derive(Debug, Clone)]
struct GapText {
    buf: String,
    at: usize,
    gap: usize,
}

impl GapText {
    fn new(mut text: String) -> GapText {
        // Room for the first gap, so that the first keystroke after opening
        // a notebook does not reallocate the whole text: on a 1.7 MB
        // notebook that one keystroke took 1.5 ms, most of it page faults
        // on the new allocation.
        text.reserve(GAP);
        GapText {
            buf: text,
            at: 0,
            gap: 0,
        }
    }

    fn len(&self) -> usize {
        self.buf.len() - self.gap
    }

    /// Where offset `offset` of the text is in `buf`.
    fn pos(&self, offset: usize) -> usize {
        if offset < self.at {
            offset
        } else {
            offset + self.gap
        }
    }

    fn is_char_boundary(&self, offset: usize) -> bool {
        offset == self.len() || self.buf.is_char_boundary(self.pos(offset))
    }

    fn slice(&self, range: TextRange) -> Option<Cow<'_, str>> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        if range.end <= self.at {
            self.buf.get(range).map(Cow::Borrowed)
        } else if range.start >= self.at {
            self.buf
                .get(range.start + self.gap..range.end + self.gap)
                .map(Cow::Borrowed)
        } else {
            let before = self.buf.get(range.start..self.at)?;
            let after = self.buf.get(self.at + self.gap..range.end + self.gap)?;
            Some(Cow::Owned([before, after].concat()))
        }
    }

    /// The text from `offset` on, which must be at or after the gap.
    fn from(&self, offset: usize) -> &str {
        debug_assert!(offset >= self.at || self.gap == 0);
        &self.buf[self.pos(offset)..]
    }

    fn close(&mut self) {
        if self.gap > 0 {
            self.buf.replace_range(self.at..self.at + self.gap, "");
            self.gap = 0;
        }
    }

    /// Moves the gap to `to`, a character boundary of the text.
    fn move_gap(&mut self, to: usize) {
        if self.gap == 0 || to == self.at {
            self.at = to;
            return;
        }
        if to.abs_diff(self.at) > NEAR {
            let gap = self.gap;
            self.close();
            self.buf.insert_str(to, &" ".repeat(gap));
            (self.at, self.gap) = (to, gap);
            return;
        }
        // Each replacement is as long as what it replaces: nothing after it
        // moves.
        let spaces = " ".repeat(self.gap);
        if to < self.at {
            let moved = [&spaces, &self.buf[to..self.at]].concat();
            self.buf.replace_range(to..self.at + self.gap, &moved);
        } else {
            let moved = [&self.buf[self.at + self.gap..to + self.gap], &spaces].concat();
            self.buf.replace_range(self.at..to + self.gap, &moved);
        }
        self.at = to;
    }

    /// Replaces `range` of the text, at or after the gap, with `new`; the
    /// gap stays where it is, and the text after `range` does not move
    /// unless the gap is too small for `new`.
    fn replace(&mut self, range: TextRange, new: &str) {
        debug_assert!(range.start >= self.at);
        let (removed, added) = (range.len(), new.len());
        if added > removed + self.gap {
            let grow = (added - removed - self.gap).max(GAP);
            self.buf.insert_str(self.at, &" ".repeat(grow));
            self.gap += grow;
        }
        // The text between the gap and the edit moves towards the gap by
        // what the edit adds (or away by what it removes), and `new` goes
        // after it: the text after `range` stays where it is.
        let (gap, new_gap) = (self.gap, self.gap + removed - added);
        let before = &self.buf[self.at + gap..range.start + gap];
        let filler = " ".repeat(new_gap.saturating_sub(gap));
        let replacement = [filler.as_str(), before, new].concat();
        self.buf
            .replace_range(self.at + gap.min(new_gap)..range.end + gap, &replacement);
        self.gap = new_gap;
    }
}
