//! A notebook and a sequence of edits: after each edit made with
//! `Document::edit` (settled after some, as the language server does),
//! every cell read through the accessors is a full `parse`'s, and once
//! settled the incremental parse is exactly a full `parse` of the same text,
//! the text is the edit applied to the old text (the range widened to
//! character boundaries, as `edit` documents), and a cell keeps its id
//! exactly when it was not read anew.
//!
//! (Called `incremental_parse`: cargo forbids a binary named `incremental`,
//! the name of one of its build folders.)
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use databook_notebook::{Document, dump_parse, parse};
use libfuzzer_sys::fuzz_target;

/// Pieces that make structure, so that edits often add or remove headers,
/// blocks and `@end` lines rather than only letters.
#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Newline,
    CrLf,
    Header,
    HeaderWithOptions,
    Output,
    OutputLine,
    End,
    Misspelled,
    Quote,
}

impl Piece {
    fn text(&self) -> &str {
        match self {
            Piece::Text(s) => s,
            Piece::Newline => "\n",
            Piece::CrLf => "\r\n",
            Piece::Header => "@plugin=jq\n",
            Piece::HeaderWithOptions => "@plugin=jq name=a input=b label=\"x y\"\n",
            Piece::Output => "@output status=ok mime=text/plain\n",
            Piece::OutputLine => "> out\n",
            Piece::End => "@end\n",
            Piece::Misspelled => "@plugn=x\n",
            Piece::Quote => "\"",
        }
    }
}

fn join(pieces: &[Piece]) -> String {
    pieces.iter().map(Piece::text).collect()
}

#[derive(Arbitrary, Debug)]
struct EditOp {
    /// Where the edit starts, as a fraction of the text (modulo its length
    /// plus a little, so that ranges past the end are tried too).
    at: u16,
    len: u8,
    new_text: Vec<Piece>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    text: Vec<Piece>,
    edits: Vec<EditOp>,
}

fuzz_target!(|input: Input| {
    let mut doc = Document::new(join(&input.text));
    for op in input.edits.iter().take(32) {
        let settled = |doc: &Document| {
            let mut doc = doc.clone();
            doc.settle();
            doc
        };
        let before = settled(&doc);
        let current = before.text().to_owned();
        let start = op.at as usize % (current.len() + 3);
        let end = start + op.len as usize;
        let new_text = join(&op.new_text);
        let read = doc.edit(start..end, &new_text);

        // The document snaps an edit to char boundaries within the text.
        let mut s = start.min(current.len());
        while !current.is_char_boundary(s) {
            s -= 1;
        }
        let mut e = end.min(current.len()).max(s);
        while !current.is_char_boundary(e) {
            e += 1;
        }
        let expected = format!("{}{}{}", &current[..s], new_text, &current[e..]);
        let full = parse(&expected);
        assert_eq!(doc.slice(0..expected.len()).as_deref(), Some(expected.as_str()));
        assert_eq!(doc.cell_count(), full.cells.len());
        for (i, cell) in full.cells.iter().enumerate() {
            assert_eq!(doc.cell(i).as_deref(), Some(cell), "cell {i}, unsettled");
            assert_eq!(doc.header_start(i), Some(cell.header.range.start));
        }
        assert_eq!(doc.errors(), &full.errors[..]);
        // Settled after a third of the edits, chosen by a field the inputs
        // already have, so that the saved regressions still read as they
        // were written.
        if op.at % 3 == 0 {
            doc.settle();
        }
        // From here on, a settled copy: the whole text and parse.
        let doc = settled(&doc);
        assert_eq!(doc.text(), expected, "the edit {s}..{e} was applied");

        if doc.parse() != &full {
            panic!(
                "after replacing {s}..{e} of {current:?} with {new_text:?}, the incremental parse\n{}\ndiffers from a full parse\n{}",
                dump_parse(doc.parse(), doc.text()),
                dump_parse(&full, doc.text())
            );
        }

        let old: HashMap<_, _> = before
            .cell_ids()
            .iter()
            .zip(&before.parse().cells)
            .collect();
        assert_eq!(doc.cell_ids().len(), doc.parse().cells.len());
        for (i, (id, cell)) in doc.cell_ids().iter().zip(&doc.parse().cells).enumerate() {
            match old.get(id) {
                Some(was) => {
                    assert!(!read.contains(&i), "cell {i} was read anew but kept its id");
                    assert_eq!(
                        &before.text()[was.range.clone()],
                        &doc.text()[cell.range.clone()],
                        "cell {i} kept its id but its text changed"
                    );
                }
                None => assert!(read.contains(&i), "cell {i} has a new id but was not read anew"),
            }
        }
    }
});
