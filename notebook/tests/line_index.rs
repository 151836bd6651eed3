use databook_notebook::{LineCol, LineIndex};
use proptest::prelude::*;

fn lc(line: u32, col: u32) -> LineCol {
    LineCol { line, col }
}

#[test]
fn ascii_and_crlf() {
    let text = "ab\r\ncd\nef";
    let index = LineIndex::new(text);
    assert_eq!(index.line_starts(), [0, 4, 7]);
    assert_eq!(index.line_count(), 3);
    assert_eq!(index.line_col(0), lc(0, 0));
    assert_eq!(index.line_col(2), lc(0, 2));
    // Inside `\r\n`: the end of the line's content.
    assert_eq!(index.line_col(3), lc(0, 2));
    assert_eq!(index.line_col(4), lc(1, 0));
    assert_eq!(index.line_col(9), lc(2, 2));
    assert_eq!(index.line_col(100), lc(2, 2));
    assert_eq!(index.offset(lc(0, 5)), 2);
    assert_eq!(index.offset(lc(1, 1)), 5);
    assert_eq!(index.offset(lc(9, 0)), text.len());
    assert_eq!(index.line_range(0), Some(0..2));
    assert_eq!(index.line_range(1), Some(4..6));
    assert_eq!(index.line_range(3), None);
}

#[test]
fn trailing_newline_makes_an_empty_last_line() {
    let index = LineIndex::new("a\n");
    assert_eq!(index.line_count(), 2);
    assert_eq!(index.line_col(2), lc(1, 0));
    let empty = LineIndex::new("");
    assert_eq!(empty.line_count(), 1);
    assert_eq!(empty.line_col(0), lc(0, 0));
    assert_eq!(empty.offset_utf16(lc(0, 3)), 0);
}

#[test]
fn utf16_columns_with_multibyte_and_astral_characters() {
    // é: 2 bytes, 1 UTF-16 unit; 🦀: 4 bytes, 2 units; 例: 3 bytes, 1 unit.
    let text = "x\r\né🦀例z\n🦀";
    let index = LineIndex::new(text);
    let l1 = 3;
    assert_eq!(index.line_col_utf16(l1), lc(1, 0));
    assert_eq!(index.line_col_utf16(l1 + 2), lc(1, 1)); // after é
    assert_eq!(index.line_col_utf16(l1 + 6), lc(1, 3)); // after 🦀
    assert_eq!(index.line_col_utf16(l1 + 9), lc(1, 4)); // after 例
    assert_eq!(index.line_col_utf16(l1 + 10), lc(1, 5)); // after z
    assert_eq!(index.line_col(l1 + 10), lc(1, 10));
    // An offset inside 🦀 counts as its start.
    assert_eq!(index.line_col_utf16(l1 + 3), lc(1, 1));
    assert_eq!(index.offset_utf16(lc(1, 1)), l1 + 2);
    assert_eq!(index.offset_utf16(lc(1, 3)), l1 + 6);
    assert_eq!(index.offset_utf16(lc(1, 4)), l1 + 9);
    assert_eq!(index.offset_utf16(lc(1, 5)), l1 + 10);
    // Between the halves of the surrogate pair: the character's start.
    assert_eq!(index.offset_utf16(lc(1, 2)), l1 + 2);
    // Past the line's end: the end of its content, not the next line.
    assert_eq!(index.offset_utf16(lc(1, 50)), l1 + 10);
    assert_eq!(index.offset(lc(1, 4)), l1 + 2); // inside 🦀 in bytes
    assert_eq!(index.line_col_utf16(text.len()), lc(2, 2));
    assert_eq!(index.offset_utf16(lc(2, 2)), text.len());
}

proptest! {
    #[test]
    fn utf16_round_trips_on_char_boundaries(text in "([a\r\né🦀例\n]|\r\n){0,30}") {
        let index = LineIndex::new(&text);
        for (offset, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            // Offsets inside a line ending are not positions of their own.
            let in_crlf = text[offset..].starts_with("\n") && text[..offset].ends_with('\r');
            if in_crlf {
                continue;
            }
            let pos = index.line_col_utf16(offset);
            prop_assert_eq!(index.offset_utf16(pos), offset);
            let utf16_col = text[index.line_start(pos.line).unwrap()..offset].encode_utf16().count();
            prop_assert_eq!(pos.col as usize, utf16_col);
            let byte_pos = index.line_col(offset);
            prop_assert_eq!(index.offset(byte_pos), offset);
        }
    }
}
