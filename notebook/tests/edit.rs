use databook_notebook::{Status, clear_output, locate_cell, output_block, parse, set_output};

fn block(lines: &[&str]) -> String {
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    output_block(Status::Ok, "text/plain", &lines)
}

/// Sets cell `index`'s output, checks that the result re-parses with the
/// block under that cell and every other line untouched, and returns it.
fn run(text: &str, index: usize, lines: &[&str]) -> String {
    let p = parse(text);
    let edit = set_output(text, &p, index, &block(lines)).expect("an edit");
    let after = edit.apply(text);
    let p2 = parse(&after);
    assert_eq!(p2.cells.len(), p.cells.len(), "cells changed:\n{after}");
    let out = p2.cells[index]
        .output
        .as_ref()
        .expect("the block is under the cell");
    assert_eq!(out.content, lines.join("\n"));
    for (a, b) in p.cells.iter().zip(&p2.cells) {
        assert_eq!(a.body_text(text), b.body_text(&after), "a body changed");
        assert_eq!(a.end.is_some(), b.end.is_some());
        if a.index != index {
            assert_eq!(
                a.output.as_ref().map(|o| &text[o.range.clone()]),
                b.output.as_ref().map(|o| &after[o.range.clone()])
            );
        }
    }
    // Every line of the old text outside the old block is still there, in
    // order.
    let old_block = p.cells[index].output.as_ref().map(|o| o.range.clone());
    let kept: String = match &old_block {
        Some(r) => format!("{}{}", &text[..r.start], &text[r.end..]),
        None => text.to_owned(),
    };
    let new_block = out.range.clone();
    let kept_after = format!("{}{}", &after[..new_block.start], &after[new_block.end..]);
    assert_eq!(
        kept.trim_end_matches(['\r', '\n']),
        kept_after.trim_end_matches(['\r', '\n'])
    );
    after
}

#[test]
fn inserts_after_the_last_non_blank_body_line() {
    let text = "# Title\n@plugin=jq name=a\n.a\n\n\nprose? no, body\n\n@plugin=jq\n.b\n";
    let after = run(text, 0, &["1"]);
    assert_eq!(
        after,
        "# Title\n@plugin=jq name=a\n.a\n\n\nprose? no, body\n@output status=ok mime=text/plain\n> 1\n\n@plugin=jq\n.b\n"
    );
    let after = run(&after, 1, &["2", "", "3"]);
    assert!(
        after.ends_with(".b\n@output status=ok mime=text/plain\n> 2\n>\n> 3\n"),
        "{after}"
    );
}

#[test]
fn inserts_before_end() {
    let text = "@plugin=jq\n.a\n\n@end\nprose\n";
    let after = run(text, 0, &["x"]);
    assert_eq!(
        after,
        "@plugin=jq\n.a\n@output status=ok mime=text/plain\n> x\n\n@end\nprose\n"
    );
    let p = parse(&after);
    assert!(p.cells[0].end.is_some());
}

#[test]
fn rerunning_replaces_and_never_duplicates() {
    let text = "@plugin=jq\n.a\n@end\n";
    let once = run(text, 0, &["1"]);
    let twice = run(&once, 0, &["2"]);
    assert_eq!(
        twice,
        "@plugin=jq\n.a\n@output status=ok mime=text/plain\n> 2\n@end\n"
    );
    assert_eq!(twice.matches("@output").count(), 1);
    // The same result again: no edit at all.
    let p = parse(&twice);
    assert_eq!(set_output(&twice, &p, 0, &block(&["2"])), None);
}

#[test]
fn body_at_the_end_of_the_file_without_newline() {
    let text = "@plugin=jq\n.a";
    let after = run(text, 0, &["1"]);
    assert_eq!(
        after,
        "@plugin=jq\n.a\n@output status=ok mime=text/plain\n> 1\n"
    );
    let empty = run("@plugin=jq", 0, &["1"]);
    assert_eq!(
        empty,
        "@plugin=jq\n@output status=ok mime=text/plain\n> 1\n"
    );
}

#[test]
fn block_at_the_end_of_the_file_without_newline_stays_unchanged() {
    let text = "@plugin=jq\n.a\n@output status=ok mime=text/plain\n> 1";
    let p = parse(text);
    assert_eq!(set_output(text, &p, 0, &block(&["1"])), None);
    let after = run(text, 0, &["2"]);
    assert_eq!(
        after,
        "@plugin=jq\n.a\n@output status=ok mime=text/plain\n> 2"
    );
}

#[test]
fn empty_body_gets_the_block_right_under_the_header() {
    let text = "@plugin=jq\n\n@plugin=jq\n.b\n";
    let after = run(text, 0, &["1"]);
    assert_eq!(
        after,
        "@plugin=jq\n@output status=ok mime=text/plain\n> 1\n\n@plugin=jq\n.b\n"
    );
}

#[test]
fn crlf_files_get_crlf_blocks() {
    let text = "@plugin=jq\r\n.a\r\n\r\n@end\r\nprose\r\n";
    let after = run(text, 0, &["1", ""]);
    assert_eq!(
        after,
        "@plugin=jq\r\n.a\r\n@output status=ok mime=text/plain\r\n> 1\r\n>\r\n\r\n@end\r\nprose\r\n"
    );
    let p = parse(&after);
    let lines = ["1".to_owned(), String::new()];
    assert_eq!(
        set_output(
            &after,
            &p,
            0,
            &output_block(Status::Ok, "text/plain", &lines)
        ),
        None
    );
}

#[test]
fn plugin_output_cannot_become_a_directive() {
    let text = "@plugin=jq\n.a\n@plugin=jq\n.b\n";
    let after = run(
        text,
        0,
        &["@plugin=evil", "@end", "@output status=ok mime=x/y"],
    );
    let p = parse(&after);
    assert_eq!(p.cells.len(), 2);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
}

#[test]
fn clearing_removes_only_the_block() {
    let text = "@plugin=jq\n.a\n\n@output status=ok mime=text/plain\n> 1\n@end\nprose\n";
    let p = parse(text);
    let edit = clear_output(text, &p, 0).unwrap();
    let after = edit.apply(text);
    assert_eq!(after, "@plugin=jq\n.a\n\n@end\nprose\n");
    let p2 = parse(&after);
    assert!(p2.cells[0].output.is_none() && p2.cells[0].end.is_some());
    assert_eq!(clear_output(&after, &p2, 0), None);
    assert_eq!(clear_output(&after, &p2, 5), None);
}

#[test]
fn locating_a_cell_after_edits() {
    let text = "@plugin=jq name=a\n.a\n@plugin=jq\n.b\n@plugin=jq\n.c\n";
    let p = parse(text);
    assert_eq!(locate_cell(&p, text, 1, "@plugin=jq"), Some(1));
    assert_eq!(locate_cell(&p, text, 0, "@plugin=jq name=a"), Some(0));
    // A cell was inserted above: the header moved from 0 to 1.
    let moved = format!("@plugin=http\nGET /\n{text}");
    let p = parse(&moved);
    assert_eq!(locate_cell(&p, &moved, 0, "@plugin=jq name=a"), Some(1));
    // Several with that header: the nearest to the hint, the earlier on a tie.
    assert_eq!(locate_cell(&p, &moved, 2, "@plugin=jq"), Some(2));
    assert_eq!(locate_cell(&p, &moved, 0, "@plugin=jq"), Some(2));
    assert_eq!(locate_cell(&p, &moved, 9, "@plugin=jq"), Some(3));
    // The header changed: gone.
    assert_eq!(locate_cell(&p, &moved, 1, "@plugin=jq name=zz"), None);
    // A CRLF header given with its line ending still matches.
    let crlf = "@plugin=jq\r\n.a\r\n";
    assert_eq!(
        locate_cell(&parse(crlf), crlf, 0, "@plugin=jq\r\n"),
        Some(0)
    );
}
