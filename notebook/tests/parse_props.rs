use databook_notebook::{Parse, TextRange, parse, semantic_tokens, semantic_tokens_in};
use proptest::prelude::*;

/// Text built from the pieces the parser cares about, so that random input
/// reaches headers, options, quotes, blocks and line endings often.
fn notebook_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("@plugin=".to_owned()),
        Just("@output".to_owned()),
        Just("@end".to_owned()),
        Just("@plugn=".to_owned()),
        Just(" status=ok mime=text/plain".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\r".to_owned()),
        Just("> ".to_owned()),
        Just(">".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("=".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("name=a".to_owned()),
        Just("é🦀".to_owned()),
        "[a-z_=\" -]{0,6}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn check_range(text: &str, r: &TextRange, what: &str) {
    assert!(
        r.start <= r.end && r.end <= text.len(),
        "{what} {r:?} out of bounds"
    );
    assert!(
        text.is_char_boundary(r.start) && text.is_char_boundary(r.end),
        "{what} {r:?} not on char boundaries"
    );
}

fn check_parse(text: &str, p: &Parse) {
    for (i, cell) in p.cells.iter().enumerate() {
        assert_eq!(cell.index, i);
        check_range(text, &cell.range, "cell");
        check_range(text, &cell.header.range, "header");
        check_range(text, &cell.body, "body");
        assert!(text[cell.header.range.clone()].starts_with("@plugin="));
        assert!(cell.range.start <= cell.body.start || cell.body.is_empty());
        if let Some(p) = &cell.header.plugin {
            check_range(text, &p.range, "plugin");
        }
        for o in &cell.header.options {
            let h = &cell.header;
            check_range(text, &h.at(&o.local), "option");
            check_range(text, &h.at(&o.key.local), "key");
            check_range(text, &h.at(&o.value.local), "value");
            assert_eq!(&text[h.at(&o.key.local)], o.key.value);
        }
        if let Some(out) = &cell.output {
            check_range(text, &out.range, "output");
            check_range(text, &out.header_range, "output header");
            assert!(text[out.range.clone()].starts_with("@output"));
            assert!(out.range.end <= text.len());
        }
        if let Some(end) = &cell.end {
            check_range(text, end, "end");
            assert!(text[end.clone()].starts_with("@end"));
        }
    }
    for w in p.cells.windows(2) {
        assert!(w[0].range.end <= w[1].range.start, "cells overlap");
    }
    for out in &p.stray_outputs {
        check_range(text, &out.range, "stray output");
    }
    for e in &p.errors {
        check_range(text, &e.range, "error");
    }
    for w in p.errors.windows(2) {
        assert!(w[0].range.start <= w[1].range.start, "errors not sorted");
    }
    for m in &p.misspelled {
        check_range(text, &m.range, "misspelling");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_and_ranges_are_valid(text in notebook_text()) {
        let p = parse(&text);
        check_parse(&text, &p);
    }

    #[test]
    fn parse_arbitrary_strings(text in any::<String>()) {
        let p = parse(&text);
        check_parse(&text, &p);
    }

    /// `cell_at` finds what a walk over every cell finds.
    #[test]
    fn cell_at_is_the_cell_whose_range_holds_the_offset(
        text in notebook_text(),
        at in any::<prop::sample::Index>(),
    ) {
        let p = parse(&text);
        let offset = at.index(text.len() + 1);
        let walked = p.cells.iter().find(|c| c.range.start <= offset && offset <= c.range.end);
        prop_assert_eq!(p.cell_at(offset), walked);
    }

    /// The highlighting of a range is the whole highlighting's tokens that
    /// meet the range.
    #[test]
    fn tokens_of_a_range_are_those_of_the_whole_that_meet_it(
        text in notebook_text(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let p = parse(&text);
        let (a, b) = (a.index(text.len() + 1), b.index(text.len() + 1));
        let range = a.min(b)..a.max(b);
        let expected: Vec<_> = semantic_tokens(&p, &text)
            .into_iter()
            .filter(|t| t.range.start < range.end && t.range.end > range.start)
            .collect();
        prop_assert_eq!(semantic_tokens_in(&p, &text, range), expected);
    }
}
