//! `parse` on any text never panics, and every range it returns lies within
//! the text and on character boundaries (the language server slices the
//! text with them). The analyses the editor runs on every keystroke are
//! run too, at offsets taken from the input.
#![no_main]

use databook_notebook::{
    Catalog, Parse, PluginInfo, TextRange, analyze, completion_context, dump_parse, folding,
    parse, semantic_tokens, semantic_tokens_in, symbols,
};
use libfuzzer_sys::fuzz_target;

/// Knows `jq` (with one option) and nothing else, so that both the known
/// and the unknown paths of analysis are taken.
struct OnePlugin;

impl Catalog for OnePlugin {
    fn lookup(&self, name: &str) -> PluginInfo {
        match name {
            "jq" => PluginInfo::Known {
                options: vec!["raw".into()],
            },
            "broken" => PluginInfo::Failed {
                reason: "plugins/broken/config.toml: no".into(),
            },
            _ => PluginInfo::Unknown,
        }
    }
    fn names(&self) -> Vec<String> {
        vec!["jq".into(), "broken".into()]
    }
}

fn check_range(text: &str, what: &str, r: &TextRange) {
    assert!(
        r.start <= r.end && r.end <= text.len(),
        "{what} {r:?} is not within the text ({} bytes)",
        text.len()
    );
    assert!(
        text.is_char_boundary(r.start) && text.is_char_boundary(r.end),
        "{what} {r:?} is not on character boundaries"
    );
}

fn check_parse(text: &str, p: &Parse) {
    let mut previous_end = 0;
    for (i, cell) in p.cells.iter().enumerate() {
        assert_eq!(cell.index, i, "cell indices are their positions");
        check_range(text, "cell", &cell.range);
        assert!(
            cell.range.start >= previous_end,
            "cells are in text order and never overlap"
        );
        previous_end = cell.range.end;
        check_range(text, "header", &cell.header.range);
        if let Some(plugin) = &cell.header.plugin {
            check_range(text, "plugin name", &plugin.range);
        }
        for o in &cell.header.options {
            let h = &cell.header;
            check_range(text, "option", &h.at(&o.local));
            check_range(text, "option key", &h.at(&o.key.local));
            check_range(text, "option value", &h.at(&o.value.local));
        }
        check_range(text, "body", &cell.body);
        if let Some(out) = &cell.output {
            check_range(text, "output", &out.range);
            check_range(text, "output header", &out.header_range);
        }
        if let Some(end) = &cell.end {
            check_range(text, "@end", end);
        }
    }
    for out in &p.stray_outputs {
        check_range(text, "stray output", &out.range);
        check_range(text, "stray output header", &out.header_range);
    }
    for e in &p.errors {
        check_range(text, "error", &e.range);
    }
    assert!(
        p.errors.is_sorted_by_key(|e| e.range.start),
        "errors are sorted by start offset"
    );
    for m in &p.misspelled {
        check_range(text, "misspelling", &m.range);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = parse(&text);
    check_parse(&text, &p);
    let _ = dump_parse(&p, &text);

    for d in analyze(&p, &text, &OnePlugin) {
        check_range(&text, "diagnostic", &d.range);
        for fix in &d.fixes {
            check_range(&text, "fix", &fix.edit.range);
        }
    }
    for s in symbols(&p, &text) {
        check_range(&text, "symbol", &s.range);
    }
    let _ = folding(&p);
    for t in semantic_tokens(&p, &text) {
        check_range(&text, "token", &t.range);
    }
    // Offsets from the input's first bytes: anywhere, boundary or not.
    let offsets: Vec<usize> = data
        .chunks(2)
        .take(4)
        .map(|c| c.iter().fold(0usize, |n, b| n * 256 + *b as usize) % (text.len() + 2))
        .collect();
    for &offset in &offsets {
        let _ = completion_context(&p, &text, offset);
        let _ = p.cell_at(offset);
    }
    if let [a, b, ..] = offsets[..] {
        let (a, b) = (a.min(b).min(text.len()), a.max(b).min(text.len()));
        for t in semantic_tokens_in(&p, &text, a..b) {
            check_range(&text, "token in range", &t.range);
        }
    }
});
