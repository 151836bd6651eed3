use databook_notebook::{Document, parse};
use proptest::prelude::*;

/// A notebook made of the pieces that matter to the parser, lines that are
/// headers, bodies, blocks, `@end`, prose and near-directives.
fn notebook() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("@plugin=jq name=a".to_owned()),
        Just("@plugin=prometheus range=5m".to_owned()),
        Just("@plugin=".to_owned()),
        Just("@output status=ok mime=text/plain".to_owned()),
        Just("> out".to_owned()),
        Just(">".to_owned()),
        Just("@end".to_owned()),
        Just("@plugn=x".to_owned()),
        Just("".to_owned()),
        Just("body é🦀".to_owned()),
        Just("label=\"open".to_owned()),
        "[a-z @=>\"]{0,8}",
    ];
    (prop::collection::vec(line, 0..30), any::<bool>())
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }))
}

/// Edits that insert, delete or replace with text likely to change the
/// structure: newlines, `@`, `>`, quotes, whole headers.
fn edit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("@".to_owned()),
        Just(">".to_owned()),
        Just("\"".to_owned()),
        Just("x".to_owned()),
        Just("\n@plugin=jq\n".to_owned()),
        Just("@plugin=".to_owned()),
        Just("@output status=ok mime=text/plain\n> a\n".to_owned()),
        Just("@end\n".to_owned()),
        Just("é".to_owned()),
        "[a-z@=>\n \"]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Edits left unsettled (`Document::edit`, settled now and then):
    /// after each, every cell, header start, cell text, error and
    /// misspelling read through the accessors is what a full parse of the
    /// text gives; settling then gives exactly that text and parse.
    #[test]
    fn unsettled_edits_read_as_a_full_parse(
        text in notebook(),
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0usize..20, edit_text(), any::<bool>()),
            1..12,
        ),
    ) {
        let mut doc = Document::new(text.clone());
        let mut current = text;
        for (at, len, new_text, settle) in edits {
            let start = at.index(current.len() + 1);
            let end = (start + len).min(current.len());
            doc.edit(start..end, &new_text);
            let mut s = start;
            while !current.is_char_boundary(s) { s -= 1; }
            let mut e = end.max(s);
            while !current.is_char_boundary(e) { e += 1; }
            current = format!("{}{}{}", &current[..s], new_text, &current[e..]);
            if settle {
                doc.settle();
            }

            let expected = parse(&current);
            prop_assert_eq!(doc.len(), current.len());
            prop_assert_eq!(doc.cell_count(), expected.cells.len());
            for (i, cell) in expected.cells.iter().enumerate() {
                prop_assert_eq!(doc.cell(i).unwrap().into_owned(), cell.clone());
                prop_assert_eq!(doc.header_start(i), Some(cell.header.range.start));
                prop_assert_eq!(doc.header_range(i), Some(cell.header.range.clone()));
                prop_assert_eq!(
                    doc.slice(cell.range.clone()).unwrap(),
                    &current[cell.range.clone()]
                );
            }
            for offset in 0..=current.len() {
                prop_assert_eq!(
                    doc.cell_at(offset),
                    expected.cell_at(offset).map(|cell| cell.index),
                    "cell at {}", offset
                );
            }
            prop_assert_eq!(doc.errors(), &expected.errors[..]);
            prop_assert_eq!(doc.misspelled(), &expected.misspelled[..]);
            prop_assert_eq!(doc.slice(0..current.len()).unwrap(), current.as_str());
        }
        doc.settle();
        prop_assert!(doc.is_settled());
        prop_assert_eq!(doc.text(), current.as_str());
        prop_assert_eq!(doc.parse(), &parse(&current));
    }

    #[test]
    fn incremental_equals_full_parse(
        text in notebook(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..20, edit_text()), 1..8),
    ) {
        let mut doc = Document::new(text.clone());
        for (at, len, new_text) in edits {
            let before = doc.clone();
            let current = doc.text().to_owned();
            let start = at.index(current.len() + 1);
            let end = (start + len).min(current.len());
            let read = doc.apply(start..end, &new_text);
            // The document snaps to char boundaries the same way.
            let mut s = start;
            while !current.is_char_boundary(s) { s -= 1; }
            let mut e = end.max(s);
            while !current.is_char_boundary(e) { e += 1; }
            let expected_text = format!("{}{}{}", &current[..s], new_text, &current[e..]);
            prop_assert_eq!(doc.text(), expected_text.as_str());
            prop_assert_eq!(doc.parse(), &parse(doc.text()));

            // A cell keeps its id exactly when it was not read anew, and
            // then its text is what it was.
            let old: std::collections::HashMap<_, _> =
                before.cell_ids().iter().zip(&before.parse().cells).collect();
            prop_assert_eq!(doc.cell_ids().len(), doc.parse().cells.len());
            for (i, (id, cell)) in doc.cell_ids().iter().zip(&doc.parse().cells).enumerate() {
                match old.get(id) {
                    Some(was) => {
                        prop_assert!(!read.contains(&i));
                        prop_assert_eq!(
                            &before.text()[was.range.clone()],
                            &doc.text()[cell.range.clone()]
                        );
                    }
                    None => prop_assert!(read.contains(&i)),
                }
            }
        }
    }
}

#[test]
fn typing_in_a_body_keeps_later_cells_and_shifts_them() {
    let text =
        "@plugin=jq name=a\n.a\n@plugin=jq name=b\n.b\n@output status=ok mime=text/plain\n> 1\n";
    let mut doc = Document::new(text);
    // Only the first cell is read again.
    assert_eq!(doc.apply(20..20, "xyz"), 0..1);
    assert_eq!(
        doc.text(),
        "@plugin=jq name=a\n.axyz\n@plugin=jq name=b\n.b\n@output status=ok mime=text/plain\n> 1\n"
    );
    assert_eq!(doc.parse(), &parse(doc.text()));
    assert_eq!(doc.parse().cells[1].header.range.start, 24);
    // Deleting the `@` of a header merges its cell into the one above.
    assert_eq!(doc.apply(24..25, ""), 0..1);
    assert_eq!(doc.parse().cells.len(), 1);
    assert_eq!(doc.parse(), &parse(doc.text()));
    // Typing it back splits them again.
    assert_eq!(doc.apply(24..24, "@"), 0..2);
    assert_eq!(doc.parse().cells.len(), 2);
    assert_eq!(doc.parse(), &parse(doc.text()));
}

#[test]
fn a_keystroke_in_a_large_notebook_reads_one_cell() {
    let text: String = (0..1000)
        .map(|i| format!("@plugin=jq name=c{i}\n.a\n\n"))
        .collect();
    let mut doc = Document::new(text);
    let at = doc.parse().cells[500].body.start;
    assert_eq!(doc.apply(at..at, "x"), 500..501);
    assert_eq!(doc.parse(), &parse(doc.text()));
    // A new header typed in a body splits the cell: two cells read.
    let at = doc.parse().cells[10].body.end;
    assert_eq!(doc.apply(at..at, "\n@plugin=jq"), 10..12);
    assert_eq!(doc.parse().cells.len(), 1001);
    assert_eq!(doc.parse().cells[1000].index, 1000);
    assert_eq!(doc.parse(), &parse(doc.text()));
}

#[test]
fn out_of_range_edits_are_clamped() {
    let mut doc = Document::new("é\n");
    doc.apply(1..100, "x");
    assert_eq!(doc.text(), "x");
    assert_eq!(doc.parse(), &parse("x"));
}

/// Unsettled edits far apart in a large notebook, where the text's gap is
/// closed and opened again, and grows past what one edit needs: every
/// accessor agrees with a full parse, and settling gives it.
#[test]
fn unsettled_edits_far_apart_in_a_large_notebook() {
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "@plugin=echo name=c{i}\nbody {i} é\n@output status=ok\n> out\n@end\nprose\n"
        ));
    }
    let mut doc = Document::new(text.clone());
    // A fixed pseudo-random walk over the text: near and far jumps,
    // insertions of one byte and of 5,000, deletions.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for step in 0..300 {
        let mut start = next(text.len() + 1);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + next(8)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let new_text = match step % 5 {
            0 => "x".repeat(5000),
            1 => String::new(),
            2 => "\n@plugin=jq\n".to_owned(),
            _ => "é".to_owned(),
        };
        doc.edit(start..end, &new_text);
        text.replace_range(start..end, &new_text);
        if step % 50 == 49 {
            let expected = parse(&text);
            assert_eq!(doc.cell_count(), expected.cells.len());
            for (i, cell) in expected.cells.iter().enumerate() {
                assert_eq!(
                    doc.cell(i).unwrap().as_ref(),
                    cell,
                    "cell {i} at step {step}"
                );
            }
            assert_eq!(doc.slice(0..text.len()).unwrap(), text.as_str());
        }
    }
    doc.settle();
    assert_eq!(doc.text(), text);
    assert_eq!(doc.parse(), &parse(&text));
}
