//! A readable dump of a parse, for snapshot tests and debugging.

use std::fmt::Write;

use crate::syntax::{OutputBlock, Parse, TextRange};

/// Renders every cell, block and error of `parse` with its range and text,
/// one item a line.
pub fn dump_parse(parse: &Parse, text: &str) -> String {
    let mut out = String::new();
    let t = |r: &TextRange| text.get(r.clone()).unwrap_or("<out of bounds>").to_owned();
    for cell in &parse.cells {
        writeln!(out, "cell {} {:?}", cell.index, cell.range).unwrap();
        writeln!(
            out,
            "  header {:?} {:?}",
            cell.header.range,
            t(&cell.header.range)
        )
        .unwrap();
        match &cell.header.plugin {
            Some(p) => writeln!(out, "  plugin {:?} {:?}", p.range, p.value).unwrap(),
            None => writeln!(out, "  plugin none").unwrap(),
        }
        for o in &cell.header.options {
            writeln!(
                out,
                "  option {:?} {:?}={:?} key {:?} value {:?} raw {:?}",
                cell.header.at(&o.local),
                o.key.value,
                o.value.value,
                cell.header.at(&o.key.local),
                cell.header.at(&o.value.local),
                t(&cell.header.at(&o.value.local))
            )
            .unwrap();
        }
        writeln!(out, "  body {:?} {:?}", cell.body, t(&cell.body)).unwrap();
        if let Some(block) = &cell.output {
            dump_block(&mut out, "  output", block, text);
        }
        if let Some(end) = &cell.end {
            writeln!(out, "  end {:?} {:?}", end, t(end)).unwrap();
        }
    }
    for block in &parse.stray_outputs {
        dump_block(&mut out, "stray output", block, text);
    }
    for e in &parse.errors {
        writeln!(
            out,
            "{:?} {} {:?} {:?}: {}",
            e.severity,
            e.kind.code(),
            e.range,
            t(&e.range),
            e.message
        )
        .unwrap();
    }
    for m in &parse.misspelled {
        writeln!(
            out,
            "misspelled {:?} {:?} -> {:?} ({})",
            m.range,
            t(&m.range),
            m.replacement,
            m.directive
        )
        .unwrap();
    }
    out
}

fn dump_block(out: &mut String, label: &str, block: &OutputBlock, text: &str) {
    writeln!(
        out,
        "{label} {:?} header {:?} status {:?} mime {:?}",
        block.range,
        block.header_range,
        block.status.map(|s| s.as_str()),
        block.mime
    )
    .unwrap();
    writeln!(
        out,
        "    raw {:?}",
        text.get(block.range.clone()).unwrap_or("<out of bounds>")
    )
    .unwrap();
    for line in block.content.split('\n') {
        writeln!(out, "    | {line}").unwrap();
    }
}
