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
