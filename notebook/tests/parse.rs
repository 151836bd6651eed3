mod common;

use databook_notebook::{ErrorKind, Status, dump_parse, parse};

#[test]
fn parse_fixtures() {
    common::check_dir("parse", |text| dump_parse(&parse(text), text));
}

#[test]
fn spec_example_cells() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/parse/spec_example.dbk"
    ))
    .unwrap();
    let p = parse(&text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let names: Vec<_> = p.cells.iter().map(|c| c.name()).collect();
    assert_eq!(names, [Some("rps"), Some("build"), None]);
    let rps = &p.cells[0];
    assert_eq!(rps.plugin(), Some("prometheus"));
    assert_eq!(
        rps.plugin_options(),
        [
            ("range".to_owned(), "15m".to_owned()),
            ("step".to_owned(), "30s".to_owned())
        ]
    );
    assert_eq!(
        rps.body_text(&text),
        "sum by (handler) (rate(prometheus_http_requests_total[5m]))"
    );
    let out = rps.output.as_ref().unwrap();
    assert_eq!(out.status, Some(Status::Ok));
    assert_eq!(
        out.mime.as_deref(),
        Some("application/vnd.databook.timeseries+json")
    );
    assert_eq!(out.content.lines().count(), 2);
    assert!(p.cells[1].end.is_some());
    assert_eq!(p.cells[2].input(), Some("build"));
    assert_eq!(p.cells[2].body_text(&text), ".data.version");
}

#[test]
fn quoted_values_are_unescaped() {
    let text = "@plugin=x a=\"b \\\"c\\\" \\\\ d\" e=\"\"\n.\n";
    let p = parse(text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let cell = &p.cells[0];
    assert_eq!(cell.option("a"), Some("b \"c\" \\ d"));
    assert_eq!(cell.option("e"), Some(""));
    let a = cell.header.option("a").unwrap();
    assert_eq!(
        &text[cell.header.at(&a.value.local)],
        "\"b \\\"c\\\" \\\\ d\""
    );
}

#[test]
fn every_error_kind_is_produced_by_some_fixture() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/parse");
    let mut seen = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "dbk") {
            let text = std::fs::read_to_string(&path).unwrap();
            seen.extend(parse(&text).errors.iter().map(|e| e.kind));
        }
    }
    for kind in [
        ErrorKind::MissingPluginName,
        ErrorKind::BadPluginName,
        ErrorKind::BadOption,
        ErrorKind::RepeatedKey,
        ErrorKind::UnclosedQuote,
        ErrorKind::MisspelledDirective,
        ErrorKind::EmptyBody,
        ErrorKind::StrayOutput,
        ErrorKind::MalformedOutputHeader,
        ErrorKind::StrayEnd,
        ErrorKind::TrailingText,
    ] {
        assert!(seen.contains(&kind), "no fixture produces {kind:?}");
    }
}
