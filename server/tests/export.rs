//! `databook export`: the real binary writes a notebook as one HTML page,
//! with each cell's latest full result embedded for the page's script.
//! (editors/vscode/test/export/ opens such a page in Chromium.)

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::text;
use serde_json::Value;

fn export(home: &Path, args: &[&str]) -> Output {
    common::databook(home)
        .arg("export")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("databook runs")
}

/// The results the page embeds for its script, read back as JSON.
fn embedded(page: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"databook-results\">";
    assert_eq!(page.matches("<script type=\"application/json\"").count(), 1);
    let start = page.find(open).expect("the page embeds its results") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).expect("the embedded results are JSON")
}

fn result_of(results: &Value, cell: u64) -> &Value {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cell"] == cell)
        .unwrap_or_else(|| panic!("no result for cell {cell} in {results}"))
}

/// The done-when of the export: the tour, run and exported, holds every
/// cell's full result, the chart's series among them, and the notebook
/// itself is left as it was (its outputs are current).
#[test]
fn the_tour_runs_and_exports_with_its_chart_data() {
    let tour = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tour.dbk");
    let home = tempfile::tempdir().unwrap();
    let copy = home.path().join("tour.dbk");
    std::fs::copy(&tour, &copy).unwrap();
    let output = export(home.path(), &["tour.dbk", "--run", "-o", "tour.html"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ran 5 cells: 5 ok"), "{stderr}");
    assert!(
        stderr.contains("exported 5 cells (5 with a kept result)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        std::fs::read_to_string(&tour).unwrap()
    );

    let page = std::fs::read_to_string(home.path().join("tour.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<h1>A tour of Databook</h1>"));
    let results = embedded(&page);
    assert_eq!(results["results"].as_array().unwrap().len(), 5);
    let latency = result_of(&results, 4);
    assert_eq!(latency["name"], "latency");
    assert_eq!(latency["status"], "ok");
    assert_eq!(latency["mime"], "application/vnd.databook.timeseries+json");
    let series: Value = serde_json::from_str(latency["data"].as_str().unwrap()).unwrap();
    assert_eq!(series["series"][0]["labels"]["handler"], "/api");
    assert_eq!(
        series["series"][0]["points"],
        serde_json::json!([[0, 0.21], [30, 0.25], [60, 0.4], [90, 0.32], [120, 0.28]])
    );
    let unhealthy = result_of(&results, 2);
    let unhealthy: Value = serde_json::from_str(unhealthy["data"].as_str().unwrap()).unwrap();
    assert_eq!(unhealthy, serde_json::json!(["worker"]));
    // Nothing is fetched: the style and the script are in the page.
    assert!(!page.contains(" src=") && !page.contains("<link"));
    assert!(page.contains("default-src 'none'"));
}

/// Without `--run` and without kept results, the page shows the outputs
/// written in the file; the page goes next to the notebook by default.
#[test]
fn a_notebook_never_run_here_shows_its_output_blocks() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("notes.dbk"),
        "Some *prose*.\n\n@plugin=echo name=a\nhi\n@output status=ok mime=text/plain\n> hi <there>\n@end\n\n@plugin=echo\nnever\n",
    )
    .unwrap();
    let output = export(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let page = std::fs::read_to_string(home.path().join("notes.html")).unwrap();
    assert!(page.contains("<p>Some <em>prose</em>.</p>"));
    assert!(page.contains("<pre class=\"output\">hi &lt;there&gt;</pre>"));
    assert!(page.contains("<p class=\"muted\">Not run.</p>"));
    assert_eq!(embedded(&page)["results"], serde_json::json!([]));
    assert!(!home.path().join(".databook").exists());
    // A page to share gets the permissions any new file gets here, not a
    // temporary file's owner-only ones.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(home.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        std::fs::write(home.path().join("new.txt"), "").unwrap();
        assert_eq!(mode("notes.html"), mode("new.txt"));
    }
}

/// A failing cell is exported with its error, and the exit status says it
/// failed, as `databook run`'s does.
#[test]
fn a_failing_cell_is_exported_and_fails_the_command() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("notes.dbk"),
        "@plugin=echo name=a mime=application/json\n{\"a\": 1}\n\n@plugin=jq input=a\n.a +\n",
    )
    .unwrap();
    let output = export(home.path(), &["notes.dbk", "--run"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let page = std::fs::read_to_string(home.path().join("notes.html")).unwrap();
    let results = embedded(&page);
    assert_eq!(result_of(&results, 0)["status"], "ok");
    assert_eq!(result_of(&results, 1)["status"], "error");
}

/// A run that cannot start (a name problem) exports nothing; a page never
/// replaces the notebook.
#[test]
fn nothing_is_written_when_the_run_is_refused_or_the_page_is_the_notebook() {
    let home = tempfile::tempdir().unwrap();
    let notebook = "@plugin=echo input=missing\nx\n";
    std::fs::write(home.path().join("notes.dbk"), notebook).unwrap();
    let output = export(home.path(), &["notes.dbk", "--run"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("nothing was run"));
    assert!(!home.path().join("notes.html").exists());

    let output = export(home.path(), &["notes.dbk", "-o", "./notes.dbk"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is the notebook itself"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("notes.dbk")).unwrap(),
        notebook
    );
}
