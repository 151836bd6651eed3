//! The text chart of a time series (`view`): what a Neovim split, a hover
//! and `databook run --show` draw.

use databook_notebook::chart::chart_lines;
use databook_notebook::formats::TimeSeries;
use databook_notebook::view;
use expect_test::expect;
use proptest::prelude::*;

const TS: &str = "application/vnd.databook.timeseries+json";

/// Points of one series: time, and value or gap.
type Points = Vec<(f64, Option<f64>)>;

fn series(points: &[(&str, Points)]) -> String {
    let series: Vec<serde_json::Value> = points
        .iter()
        .map(|(label, points)| {
            serde_json::json!({
                "labels": {"handler": label},
                "points": points.iter().map(|(t, v)| serde_json::json!([t, v])).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "series": series }).to_string()
}

#[test]
fn two_series_have_axes_times_and_a_legend() {
    let start = 1_700_000_000.0;
    let data = series(&[
        (
            "/api",
            (0..8)
                .map(|i| (start + 60.0 * i as f64, Some(i as f64)))
                .collect(),
        ),
        (
            "/metrics",
            (0..8)
                .map(|i| (start + 60.0 * i as f64, Some(7.0 - i as f64)))
                .collect(),
        ),
    ]);
    let lines = chart_lines(&TimeSeries::parse(&data).unwrap(), 48, 6);
    expect![[r#"
          7 ┤+++++                                 •••••
            │     ++++++++                 ••••••••
        4.2 ┤             ++++++++ ••••••••
            │             •••••••••++++++++
            │     ••••••••                 ++++++++
          0 ┤•••••                                 +++++
            └┬────────────────────┬────────────────────┬
             22:13:20         22:16:50          22:20:20 UTC

        • {handler="/api"}      ▁▂▃▄▅▆▇█  min 0  max 7  last 7
        + {handler="/metrics"}  █▇▆▅▄▃▂▁  min 0  max 7  last 0"#]]
    .assert_eq(&lines.join("\n"));
}

#[test]
fn a_gap_is_not_bridged_and_a_flat_line_sits_mid_scale() {
    let data = series(&[(
        "x",
        vec![
            (0.0, Some(5.0)),
            (10.0, None),
            (20.0, Some(5.0)),
            (100.0, Some(5.0)),
        ],
    )]);
    let lines = chart_lines(&TimeSeries::parse(&data).unwrap(), 40, 5);
    let plot: Vec<&String> = lines.iter().take(5).collect();
    // The flat value is on the middle row, with the scale around it.
    assert!(plot[2].contains('•'), "{lines:#?}");
    assert!(
        plot[0].starts_with("6 ┤") && plot[4].starts_with("4 ┤"),
        "{lines:#?}"
    );
    // Between t=0 and t=20 there is a gap: the columns after the first
    // point stay empty until t=20.
    let row: Vec<char> = plot[2].chars().skip(3).collect();
    assert_eq!(row[0], '•');
    assert_eq!(row[1], ' ', "the gap was bridged: {lines:#?}");
}

#[test]
fn no_values_say_so_and_still_name_the_series() {
    let data = series(&[("empty", vec![(1.0, None)])]);
    let lines = view(TS, &data, 80);
    assert_eq!(lines[0], "(no data to plot)");
    assert!(lines[1].contains("{handler=\"empty\"}") && lines[1].contains("(no data)"));
}

#[test]
fn data_that_is_no_time_series_is_shown_as_text() {
    assert_eq!(view(TS, "{\"series\": 3}", 80), vec!["{\"series\": 3}"]);
}

#[test]
fn tables_and_json_are_shown_in_full() {
    let rows: Vec<String> = (0..100).map(|i| format!("[\"r{i}\", {i}]")).collect();
    let table = format!(
        "{{\"columns\": [\"name\", \"n\"], \"rows\": [{}]}}",
        rows.join(",")
    );
    let lines = view("application/vnd.databook.table+json", &table, 80);
    assert_eq!(lines.len(), 102, "header, rule and every row");
    assert!(lines[101].starts_with("r99"));
}

/// Found by reading the code the `lsp` fuzz target drives: a
/// `databook/render` request asking for a chart 100,000,000,000 columns
/// wide made the language server abort (it tried to allocate 400 GB).
#[test]
fn a_chart_asked_for_any_width_is_at_most_max_width_wide() {
    use databook_notebook::chart::MAX_WIDTH;
    let data = series(&[("/api", vec![(0.0, Some(1.0)), (60.0, Some(2.0))])]);
    for width in [100_000, 100_000_000_000, usize::MAX] {
        let lines = view(TS, &data, width);
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap();
        assert!(
            widest <= MAX_WIDTH + 4,
            "asked for {width} columns, a line is {widest} wide"
        );
        assert!(
            widest > MAX_WIDTH / 2,
            "the chart is drawn as wide as allowed"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the data, the chart fits its width, has both axes, and
    /// names every series (up to the legend's limit) with its marker.
    #[test]
    fn any_series_fit_the_width_with_axes_and_legend(
        all in prop::collection::vec(
            prop::collection::vec((0.0f64..1e10, prop::option::of(-1e12f64..1e12)), 1..60),
            1..5,
        ),
        width in 40usize..160,
    ) {
        let mut all = all;
        for points in &mut all {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let named: Vec<(String, Points)> = all
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("s{i}"), p))
            .collect();
        let borrowed: Vec<(&str, Points)> =
            named.iter().map(|(n, p)| (n.as_str(), p.clone())).collect();
        let parsed = TimeSeries::parse(&series(&borrowed)).unwrap();
        let lines = chart_lines(&parsed, width, 8);
        let has_values = parsed.series.iter().any(|s| s.values().next().is_some());
        if has_values {
            for line in &lines[..10] {
                prop_assert!(line.chars().count() <= width + 4, "{line:?} is wider than {width}");
            }
            prop_assert!(lines.iter().any(|l| l.contains('└')));
            prop_assert_eq!(lines.iter().filter(|l| l.contains('┤')).count(), 3);
        }
        for (name, _) in &named {
            let label = format!("{{handler=\"{name}\"}}");
            prop_assert!(lines.iter().any(|l| l.contains(&label)), "{label} missing");
        }
    }
}
