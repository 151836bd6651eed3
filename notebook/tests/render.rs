use databook_notebook::render::{compact, sparkline};
use databook_notebook::{Status, output_block, render, render_error};
use expect_test::{Expect, expect};

fn check(mime: &str, data: &str, max_lines: usize, expect: Expect) {
    expect.assert_eq(&render(mime, data, max_lines).join("\n"));
}

#[test]
fn text_is_kept_as_is() {
    check(
        "text/plain",
        "one\r\n\ntwo  \n",
        0,
        expect![[r#"
        one

        two  "#]],
    );
    check(
        "text/markdown; charset=utf-8",
        "# Title\n- item",
        0,
        expect![[r#"
        # Title
        - item"#]],
    );
    assert!(render("text/plain", "", 10).is_empty());
}

#[test]
fn json_is_pretty_printed_or_kept_when_invalid() {
    check(
        "application/json",
        r#"{"b":[1,2],"a":{"x":null}}"#,
        0,
        expect![[r#"
        {
          "a": {
            "x": null
          },
          "b": [
            1,
            2
          ]
        }"#]],
    );
    check(
        "application/json",
        "{not json",
        0,
        expect![[r#"{not json"#]],
    );
    check(
        "application/problem+json",
        r#"{"title":"x"}"#,
        0,
        expect![[r#"
        {
          "title": "x"
        }"#]],
    );
}

#[test]
fn csv_is_an_aligned_table() {
    check(
        "text/csv",
        "instance,value,note\r\n127.0.0.1:9090,1,\"up, fine\"\nhost-b,12.5,\"say \"\"hi\"\"\"\nc,-3e2,\"two\nlines\"\n",
        0,
        expect![[r#"
            instance        value  note
            ──────────────  ─────  ─────────
            127.0.0.1:9090      1  up, fine
            host-b           12.5  say "hi"
            c                -3e2  two↵lines"#]],
    );
    check("text/csv", "", 0, expect![[""]]);
    check(
        "text/csv",
        "a,b\n1\n",
        0,
        expect![[r#"
        a  b
        ─  ─
        1"#]],
    );
}

#[test]
fn table_json_is_an_aligned_table() {
    check(
        "application/vnd.databook.table+json",
        r#"{"columns": ["instance", "value", "up"], "rows": [["127.0.0.1:9090", 1, true], ["b", 1234.5, null]]}"#,
        0,
        expect![[r#"
            instance         value  up
            ──────────────  ──────  ────
            127.0.0.1:9090       1  true
            b               1234.5"#]],
    );
    // Not the promised shape: shown as text.
    check(
        "application/vnd.databook.table+json",
        r#"{"rows": 3}"#,
        0,
        expect![[r#"{"rows": 3}"#]],
    );
}

#[test]
fn timeseries_is_one_line_a_series() {
    let data = r#"{"series": [
        {"labels": {"handler": "/api/v1/query"}, "points": [[1, 0.01], [2, 0.02], [3, 0.05], [4, 0.1], [5, 0.2], [6, 0.33], [7, 0.42]]},
        {"labels": {"handler": "/metrics"}, "points": [[1, "0.2"], [2, "0.2"], [3, "0.2"]]},
        {"labels": {}, "points": []},
        {"labels": {"a": "x", "b": "y"}, "points": [[1, 1500], [2, 2500000], [3, null], [4, "NaN"]]}
    ]}"#;
    check(
        "application/vnd.databook.timeseries+json",
        data,
        0,
        expect![[r#"
            {handler="/api/v1/query"}  ▁▁▂▃▄▆█  min 0.01  max 0.42  last 0.42
            {handler="/metrics"}       ▄▄▄      min 0.2   max 0.2   last 0.2
            {}                         (no data)
            {a="x",b="y"}              ▁█       min 1.5k  max 2.5M  last 2.5M"#]],
    );
    check(
        "application/vnd.databook.timeseries+json",
        r#"{"series": "no"}"#,
        0,
        expect![[r#"{"series": "no"}"#]],
    );
    check(
        "application/vnd.databook.timeseries+json",
        r#"{"series": []}"#,
        0,
        expect![[r#"(no series)"#]],
    );
}

#[test]
fn many_points_are_resampled_to_a_fixed_width() {
    let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
    let line = sparkline(&values, 20);
    assert_eq!(line.chars().count(), 20);
    assert!(line.starts_with('▁') && line.ends_with('█'), "{line}");
    assert_eq!(sparkline(&[1.0, 2.0], 20).chars().count(), 2);
}

#[test]
fn compact_numbers() {
    let got: Vec<String> = [
        0.0, 0.42, 0.2, 1.0, 12.345, 123.456, 999.95, 1500.0, 12345.0, 999_950.0, 2.5e6, 3e9,
        -4.2e12, 0.0123, 0.00012, 1e20, -0.5,
    ]
    .iter()
    .map(|&v| compact(v))
    .collect();
    expect![[r#"0 0.42 0.2 1 12.3 123 1k 1.5k 12.3k 1M 2.5M 3G -4.2T 0.0123 1.2e-4 1e20 -0.5"#]]
        .assert_eq(&got.join(" "));
}

#[test]
fn long_outputs_are_cut_with_a_count() {
    let data: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    check(
        "text/plain",
        &data,
        4,
        expect![[r#"
        line 1
        line 2
        line 3
        … 7 more lines"#]],
    );
    assert_eq!(render("text/plain", &data, 10).len(), 10);
    assert_eq!(
        render("text/plain", &data, 9).last().unwrap(),
        "… 2 more lines"
    );
}

#[test]
fn errors_show_message_and_hint() {
    expect![[r#"
        connection refused
        at 127.0.0.1:9090
        hint: set PROMETHEUS_URL
              or start Prometheus"#]]
    .assert_eq(
        &render_error(
            "connection refused\nat 127.0.0.1:9090",
            Some("set PROMETHEUS_URL\nor start Prometheus"),
        )
        .join("\n"),
    );
    assert_eq!(render_error("boom", None), ["boom"]);
    assert_eq!(render_error("boom", Some("  ")), ["boom"]);
}

#[test]
fn output_blocks_prefix_every_line() {
    let lines = ["a".to_owned(), String::new(), "@plugin=x".to_owned()];
    expect![[r#"
        @output status=ok mime=text/plain
        > a
        >
        > @plugin=x
    "#]]
    .assert_eq(&output_block(Status::Ok, "text/plain", &lines));
    expect![[r#"
        @output status=error mime="text/plain; charset=utf-8"
    "#]]
    .assert_eq(&output_block(
        Status::Error,
        "text/plain; charset=utf-8",
        &[],
    ));
}

#[test]
fn rendered_blocks_parse_back_to_their_lines() {
    let lines = render("text/csv", "a,b\n1,2\n", 0);
    let block = output_block(Status::Ok, "text/plain; charset=utf-8", &lines);
    let text = format!("@plugin=x\nbody\n{block}");
    let p = databook_notebook::parse(&text);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let out = p.cells[0].output.as_ref().unwrap();
    assert_eq!(out.content, lines.join("\n"));
    assert_eq!(out.mime.as_deref(), Some("text/plain; charset=utf-8"));
}

#[test]
fn time_series_read_numbers_or_numeric_strings_and_agree_everywhere() {
    use databook_notebook::chart::chart_lines;
    use databook_notebook::formats::TimeSeries;
    use databook_notebook::render::timeseries_lines;
    let numbers = r#"{"series":[{"labels":{"job":"a"},"points":[[1,0.5],[2,1.5],[3,1]]}]}"#;
    let strings = r#"{"series":[{"labels":{"job":"a"},"points":[["1","0.5"],[2,"1.5"],[3,"1"]]}]}"#;
    let (a, b) = (
        TimeSeries::parse(numbers).unwrap(),
        TimeSeries::parse(strings).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(
        timeseries_lines(&a),
        ["{job=\"a\"}  ▁█▅  min 0.5  max 1.5  last 1"]
    );
    let chart = chart_lines(&a, 60, 5);
    assert_eq!(chart, chart_lines(&b, 60, 5));
    assert_eq!(
        chart.last().unwrap(),
        "• {job=\"a\"}  ▁█▅  min 0.5  max 1.5  last 1"
    );
}

#[test]
fn empty_series_gaps_and_bad_shapes() {
    use databook_notebook::formats::{Point, TimeSeries};
    let empty = TimeSeries::parse(r#"{"series":[]}"#).unwrap();
    assert!(empty.series.is_empty());
    let gaps =
        TimeSeries::parse(r#"{"series":[{"points":[[1,null],[2,"NaN"],[3,"+Inf"]]}]}"#).unwrap();
    assert_eq!(
        gaps.series[0].points,
        [
            Point { t: 1.0, v: None },
            Point { t: 2.0, v: None },
            Point { t: 3.0, v: None }
        ]
    );
    assert_eq!(gaps.series[0].stats(), None);
    for bad in [
        r#"{"series":[{"points":[[1,"fast"]]}]}"#,
        r#"{"series":[{"points":[[null,1]]}]}"#,
        r#"{"rows":[]}"#,
        "not json",
    ] {
        let error = TimeSeries::parse(bad).unwrap_err().to_string();
        assert!(
            error.starts_with("application/vnd.databook.timeseries+json: "),
            "{error}"
        );
    }
}

#[test]
fn a_label_key_with_a_line_break_stays_on_its_line() {
    use databook_notebook::formats::TimeSeries;
    let series =
        TimeSeries::parse(r#"{"series":[{"labels":{"a\n@plugin=http":"x"},"points":[[1,1]]}]}"#)
            .unwrap();
    assert_eq!(series.series[0].label_text(), r#"{"a\n@plugin=http"="x"}"#);
}

#[test]
fn tables_read_any_scalar_cells_as_text() {
    use databook_notebook::formats::Table;
    let table = Table::parse(r#"{"columns":["a","b"],"rows":[[1,null],["x",true]]}"#).unwrap();
    assert_eq!(table.rows, [["1", ""], ["x", "true"]]);
    assert!(Table::parse(r#"{"rows":[]}"#).is_err());
}

mod hostile {
    use databook_notebook::{Status, output_block, parse, reads_back, render, render_error};
    use proptest::prelude::*;

    /// Strings rich in what could break a block out: line breaks of every
    /// kind, directives, prefixes, quotes and control characters.
    fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\r".to_string()),
            Just("@plugin=http".to_string()),
            Just("@output status=ok mime=text/plain".to_string()),
            Just("@end".to_string()),
            Just("> ".to_string()),
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\u{1b}]52;c;aGk=\u{7}".to_string()),
            Just("\u{85}\u{2028}".to_string()),
            "[a-z =/;+.]{0,8}",
            any::<String>(),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    fn mime() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("application/json".to_string()),
            Just("application/vnd.databook.table+json".to_string()),
            Just("application/vnd.databook.timeseries+json".to_string()),
            Just("text/csv".to_string()),
            hostile(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever a plugin returns, its block is one block: the cells
        /// and the prose around it are exactly as they were.
        #[test]
        fn no_result_breaks_out_of_its_block(mime in mime(), data in hostile(), hint in prop::option::of(hostile())) {
            let ok = output_block(Status::Ok, &mime, &render(&mime, &data, 40));
            let error = output_block(Status::Error, "text/plain", &render_error(&data, hint.as_deref()));
            for block in [ok, error] {
                prop_assert!(reads_back(&block), "{block:?}");
                let text = format!("prose\n@plugin=echo name=a\nbody\n{block}prose after\n@plugin=echo\nb\n");
                let p = parse(&text);
                prop_assert_eq!(p.cells.len(), 2, "{:?}", text);
                prop_assert_eq!(p.cells[1].header.range.start, text.len() - "@plugin=echo\nb\n".len());
                prop_assert!(p.stray_outputs.is_empty());
                let label = |c: &databook_notebook::Cell| c.name().map(str::to_string);
                prop_assert_eq!(label(&p.cells[0]), Some("a".to_string()));
            }
        }
    }
}
