//! `databook run`: a notebook's cells run headless, outputs written back
//! atomically, `--check` for notebooks as tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{testing_plugins, text};

/// `databook --plugins plugins/testing run ARGS`, isolated from this
/// machine's own plugins, caches and workspace.
fn databook_run(home: &Path, args: &[&str]) -> Command {
    let mut command = common::databook(home);
    command
        .arg("--plugins")
        .arg(testing_plugins())
        .arg("run")
        .args(args)
        .stdin(Stdio::null());
    command
}

fn run(home: &Path, args: &[&str]) -> Output {
    databook_run(home, args).output().expect("databook runs")
}

const NOTEBOOK: &str = "\
# A notebook

@plugin=echo name=first
hello
@end

Prose between cells.

@plugin=misbehave name=second input=first
input
";

const RAN: &str = "\
# A notebook

@plugin=echo name=first
hello
@output status=ok mime=text/plain
> hello
@end

Prose between cells.

@plugin=misbehave name=second input=first
input
@output status=ok mime=text/plain
> text/plain: hello
";

fn notebook(home: &Path, content: &str) -> PathBuf {
    let path = home.join("notes.dbk");
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn run_writes_outputs_and_a_second_run_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let path = notebook(home.path(), NOTEBOOK);
    let output = run(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), RAN);
    assert!(text(&output.stderr).starts_with("ran 2 cells: 2 ok, 0 failed"));

    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let output = run(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), RAN);
    assert!(text(&output.stderr).contains("(the file is unchanged)"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn check_passes_on_a_current_notebook_and_fails_with_a_diff() {
    let home = tempfile::tempdir().unwrap();
    let path = notebook(home.path(), RAN);
    let output = run(home.path(), &["notes.dbk", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let stale = RAN.replace("> hello\n", "> hullo\n");
    std::fs::write(&path, &stale).unwrap();
    let output = run(home.path(), &["notes.dbk", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("✗ first: the output differs"), "{stderr}");
    assert!(stderr.contains("-> hullo\n+> hello\n"), "{stderr}");
    assert!(
        stderr.contains("checked 2 cells: 1 differ, 0 failed"),
        "{stderr}"
    );
    // --check never writes.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), stale);
}

#[test]
fn check_modes_status_and_skip() {
    let home = tempfile::tempdir().unwrap();
    let content = "\
@plugin=misbehave name=live check=status
counter
@output status=ok mime=text/plain
> 41
@end
@plugin=misbehave name=ignored check=skip
panic
@output status=ok mime=text/plain
> whatever
";
    notebook(home.path(), content);
    let output = run(home.path(), &["notes.dbk", "--check", "--cell", "live"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = run(home.path(), &["notes.dbk", "--check"]);
    // The skipped cell is not compared, but its run failed.
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("checked 2 cells: 0 differ, 1 failed"));
}

#[test]
fn cell_runs_only_that_cell_and_its_inputs() {
    let home = tempfile::tempdir().unwrap();
    let content = format!("{NOTEBOOK}@plugin=echo name=third\nnot run\n");
    let path = notebook(home.path(), &content);
    let output = run(home.path(), &["notes.dbk", "--cell", "second"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{RAN}@plugin=echo name=third\nnot run\n")
    );

    let output = run(home.path(), &["notes.dbk", "--cell", "secnd"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no cell is named \"secnd\" (did you mean \"second\"?)"));
}

#[test]
fn with_dependents_runs_the_cell_then_what_takes_it() {
    let home = tempfile::tempdir().unwrap();
    // `second` takes `first`; `third` takes nothing and is left alone.
    let content = format!("{NOTEBOOK}@plugin=echo name=third\nnot run\n");
    notebook(home.path(), &content);
    let output = run(
        home.path(),
        &[
            "notes.dbk",
            "--cell",
            "first",
            "--with-dependents",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let names: Vec<String> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["name"].to_string())
        .collect();
    assert_eq!(names, ["\"first\"", "\"second\""]);

    let output = run(home.path(), &["notes.dbk", "--with-dependents"]);
    assert_eq!(output.status.code(), Some(2), "it needs --cell");
}

#[test]
fn json_prints_each_full_result() {
    let home = tempfile::tempdir().unwrap();
    notebook(home.path(), NOTEBOOK);
    let output = run(home.path(), &["notes.dbk", "--json"]);
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "first");
    assert_eq!(lines[0]["data"], "hello");
    assert_eq!(lines[1]["data"], "text/plain: hello");
    assert_eq!(lines[1]["status"], "ok");
    assert!(lines[1]["elapsed_ms"].as_f64().is_some());
}

#[test]
fn show_prints_each_full_result_as_the_editors_preview_does() {
    let home = tempfile::tempdir().unwrap();
    notebook(
        home.path(),
        "@plugin=echo name=rps mime=application/vnd.databook.timeseries+json\n\
         {\"series\": [{\"labels\": {\"job\": \"api\"}, \"points\": [[0, 1], [60, 5], [120, 2]]}]}\n\n\
         @plugin=echo name=plain\nhello\n",
    );
    let output = databook_run(home.path(), &["notes.dbk", "--show"])
        .env("COLUMNS", "50")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    let chart: Vec<&str> = shown
        .lines()
        .take_while(|l| !l.starts_with("plain"))
        .collect();
    assert!(chart[0].starts_with("rps · ok in "), "{shown}");
    assert_eq!(
        chart.iter().filter(|l| l.contains('┤')).count(),
        3,
        "{shown}"
    );
    assert!(chart.iter().any(|l| l.contains('└')), "{shown}");
    assert!(
        chart.iter().any(|l| l.starts_with("• {job=\"api\"}")),
        "{shown}"
    );
    // The plot and its axes fit the terminal (the time labels may run
    // past by their " UTC").
    assert!(
        chart
            .iter()
            .filter(|l| l.contains(['┤', '│', '└']))
            .all(|l| l.chars().count() <= 50),
        "{shown}"
    );
    assert!(
        shown.contains("plain · ok in ") && shown.contains("\n\nhello\n"),
        "{shown}"
    );
}

#[test]
fn a_failed_cell_is_written_and_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let path = notebook(
        home.path(),
        "@plugin=misbehave name=bad timeout=100ms\nloop\n@end\n@plugin=misbehave input=bad\ninput\n",
    );
    let output = run(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "@plugin=misbehave name=bad timeout=100ms\nloop\n@output status=error mime=text/plain\n> the plugin exceeded its time limit of 100ms\n@end\n@plugin=misbehave input=bad\ninput\n@output status=error mime=text/plain\n> its input cell `bad` failed\n"
    );
}

#[test]
fn set_overrides_an_option_in_the_cells_that_have_it() {
    let home = tempfile::tempdir().unwrap();
    let path = notebook(
        home.path(),
        "@plugin=misbehave range=5m\noptions\n@end\n@plugin=misbehave\noptions\n",
    );
    let output = run(
        home.path(),
        &["notes.dbk", "--set", "range=1h", "--jobs", "2"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "@plugin=misbehave range=5m\noptions\n@output status=ok mime=text/plain\n> [(\"range\", \"1h\")]\n@end\n@plugin=misbehave\noptions\n@output status=ok mime=text/plain\n> []\n"
    );
}

#[test]
fn junit_reports_one_case_per_cell() {
    let home = tempfile::tempdir().unwrap();
    notebook(home.path(), &RAN.replace("> hello\n", "> stale\n"));
    let output = run(
        home.path(),
        &["notes.dbk", "--check", "--junit", "report.xml"],
    );
    assert_eq!(output.status.code(), Some(1));
    let xml = std::fs::read_to_string(home.path().join("report.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("name=\"first\""), "{xml}");
}

#[test]
fn an_interrupted_run_leaves_the_file_intact() {
    let home = tempfile::tempdir().unwrap();
    let content = "@plugin=echo\nquick\n@end\n@plugin=misbehave\nsleep 5000\n";
    let path = notebook(home.path(), content);
    let mut child = databook_run(home.path(), &["notes.dbk"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|name| name != "notes.dbk" && name != "cache")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Runs `databook run ARGS` on a notebook of `content` that it must refuse
/// with each of `problems` (`LINE:COLUMN: message`, as the editor places
/// them), leaving the file as it was.
fn refused(content: &str, args: &[&str], problems: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let path = notebook(home.path(), content);
    let output = run(home.path(), args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    for problem in problems {
        assert!(
            stderr.contains(&format!("notes.dbk:{problem}")),
            "{problem}: {stderr}"
        );
    }
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

#[test]
fn a_cycle_is_refused_before_anything_runs() {
    // The editor's message, at the editor's place: each `input=` value.
    refused(
        "@plugin=echo name=a input=b\nx\n@plugin=echo name=b input=a\ny\n",
        &["notes.dbk"],
        &[
            "1:27: inputs make a cycle: a → b → a",
            "3:27: inputs make a cycle: a → b → a",
        ],
    );
}

const REPEATED_NAME: &str = "\
@plugin=echo name=x
first
@plugin=echo name=x
second
@plugin=jq name=y input=x
.
";

#[test]
fn a_repeated_name_is_refused_with_the_editors_message_and_place() {
    for args in [&["notes.dbk"][..], &["notes.dbk", "--cell", "y"]] {
        refused(
            REPEATED_NAME,
            args,
            &["3:19: another cell above is already named `x`"],
        );
    }
}

#[test]
fn an_unknown_input_is_refused_before_anything_runs() {
    refused(
        "@plugin=echo name=first\nx\n@plugin=jq input=frist\n.\n",
        &["notes.dbk"],
        &["3:18: no cell is named `frist`"],
    );
}

#[test]
fn a_timeout_in_hours_runs_and_a_bad_one_fails_with_the_editors_message() {
    let home = tempfile::tempdir().unwrap();
    let content = "@plugin=echo timeout=1h\nhello\n@end\n@plugin=echo timeout=10\nworld\n";
    let path = notebook(home.path(), content);
    let output = run(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "@plugin=echo timeout=1h\nhello\n@output status=ok mime=text/plain\n> hello\n@end\n\
         @plugin=echo timeout=10\nworld\n@output status=error mime=text/plain\n\
         > `10` is not a duration: write a positive whole number with `ms`, `s`, `m` or `h`, like `500ms`, `10s`, `2m` or `1h`\n"
    );
}

/// README's run command runs the tour; its outputs must stay current, so
/// that the run leaves the committed file as it is.
#[test]
fn the_tour_notebook_is_current() {
    let tour = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tour.dbk");
    let home = tempfile::tempdir().unwrap();
    let copy = home.path().join("tour.dbk");
    std::fs::copy(&tour, &copy).unwrap();
    let output = run(home.path(), &["tour.dbk", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = run(home.path(), &["tour.dbk"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        std::fs::read_to_string(&tour).unwrap()
    );
}

/// The Prometheus example parses cleanly: every cell names a bundled plugin
/// and checks by status (its data is live).
#[test]
fn the_prometheus_example_checks_by_status() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/prometheus.dbk");
    let text = std::fs::read_to_string(example).unwrap();
    let parsed = databook_notebook::parse(&text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.cells.len(), 4);
    for cell in &parsed.cells {
        assert_eq!(cell.option("check"), Some("status"));
    }
}

/// Two real Prometheus servers, one per environment: `[env]` points the
/// `prometheus` plugin at the first, `--env prod` (or `DATABOOK_ENV`) at
/// the second, and the plugin's grant (`$PROMETHEUS_URL`) follows; the
/// output block does not say which ran, `--json` does.
#[test]
fn environments_switch_the_server_a_cell_queries() {
    let (staging_port, prod_port) = (common::free_port(), common::free_port());
    let _staging = common::Prometheus::start(
        staging_port,
        "staging",
        &format!("127.0.0.1:{staging_port}"),
    );
    let _prod = common::Prometheus::start(prod_port, "prod", &format!("127.0.0.1:{prod_port}"));
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("databook.toml"),
        format!(
            "[env]\nPROMETHEUS_URL = \"http://127.0.0.1:{staging_port}\"\n\n\
             [environments.prod]\nPROMETHEUS_URL = \"http://127.0.0.1:{prod_port}\"\n"
        ),
    )
    .unwrap();
    let path = notebook(home.path(), "@plugin=prometheus name=up\nup\n");

    // The job each server scrapes itself as, once it has: at most 30 s.
    let job_seen = |extra: &[&str], env: Option<&str>| -> (String, serde_json::Value) {
        for _ in 0..150 {
            let mut command = databook_run(home.path(), &["notes.dbk", "--json"]);
            command.args(extra);
            if let Some(env) = env {
                command.env("DATABOOK_ENV", env);
            }
            let output = command.output().unwrap();
            let line: serde_json::Value =
                serde_json::from_str(text(&output.stdout).lines().next().unwrap_or("null"))
                    .unwrap_or_default();
            let data = line["data"].as_str().unwrap_or_default().to_string();
            for job in ["staging", "prod"] {
                if data.contains(&format!("\"{job}\"")) {
                    return (job.to_string(), line["environment"].clone());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("no server answered with data within 30 s");
    };
    assert_eq!(
        job_seen(&[], None),
        ("staging".into(), serde_json::Value::Null)
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.contains("staging") && !written.contains("environment"),
        "{written}"
    );
    assert_eq!(
        job_seen(&["--env", "prod"], None),
        ("prod".into(), "prod".into())
    );
    assert_eq!(job_seen(&[], Some("prod")), ("prod".into(), "prod".into()));

    let output = run(home.path(), &["notes.dbk", "--env", "prd"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("there is no environment \"prd\" (did you mean \"prod\"?)"),
        "{}",
        text(&output.stderr)
    );
}

/// `{{NAME}}` in a body is the variable's value, from the current
/// environment, when the plugin may read it; a secret's value is masked in
/// what comes back; `\{{` is written as it is; a variable the plugin is
/// not granted is the run's error, naming it. The body in the file keeps
/// its `{{NAME}}`.
#[test]
fn variables_in_bodies_come_from_the_environment_when_granted() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("databook.toml"),
        "[env]\nGREETING = \"hello\"\nSECRET_TOKEN = \"s3cr3t\"\n\n\
         [environments.staging]\nGREETING = \"hello staging\"\n\n\
         [plugin.echo.permissions]\nenv = [\"GREETING\"]\nsecrets = [\"SECRET_TOKEN\"]\n",
    )
    .unwrap();
    let path = notebook(
        home.path(),
        "@plugin=echo name=a\nsay {{GREETING}} \\{{GREETING}}\n\n\
         @plugin=echo name=b\ntoken {{ SECRET_TOKEN }}\n\n\
         @plugin=jq name=c\n{{GREETING}}\n",
    );
    let results = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["notes.dbk", "--json"];
        args.extend_from_slice(extra);
        let output = run(home.path(), &args);
        text(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let ran = results(&[]);
    assert_eq!(ran[0]["data"], "say hello {{GREETING}}");
    assert_eq!(ran[1]["data"], "token •••", "the secret is masked");
    assert_eq!(ran[2]["status"], "error");
    assert!(
        ran[2]["data"]
            .as_str()
            .unwrap()
            .contains("{{GREETING}}: the plugin `jq` may not read GREETING"),
        "{}",
        ran[2]["data"]
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.contains("@plugin=echo name=a\nsay {{GREETING}} \\{{GREETING}}\n"),
        "{written}"
    );
    assert!(!written.contains("s3cr3t"), "{written}");

    let staging = results(&["--env", "staging"]);
    assert_eq!(staging[0]["data"], "say hello staging {{GREETING}}");
}

/// The `--json` lines of `databook run notes.dbk ARGS`, and the output.
fn json_run(home: &Path, extra: &[&str]) -> (Vec<serde_json::Value>, Output) {
    let mut args = vec!["notes.dbk", "--json"];
    args.extend_from_slice(extra);
    let output = run(home, &args);
    let lines = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (lines, output)
}

/// A chained pair against a real local API: `me` takes the token out of
/// `login`'s result, so running `me` alone runs `login` first; a value
/// that is not there is the run's error, saying what there is.
#[test]
fn chained_requests_take_a_token_from_the_login_cell() {
    let api = common::ApiServer::start();
    let home = tempfile::tempdir().unwrap();
    let path = notebook(
        home.path(),
        &format!(
            "@plugin=http name=me\nGET {}\nAuthorization: Bearer {{{{login.token}}}}\n\n\
             @plugin=http name=login\nPOST {}\n\n\
             @plugin=echo name=who\nuser {{{{ me.name }}}} is {{{{login.user.id}}}}, {{{{login.user.roles[0]}}}}; {{{{login.user}}}}\n\n\
             @plugin=echo name=wrong\n{{{{login.nope}}}}\n",
            api.url("/me"),
            api.url("/login"),
        ),
    );
    let (ran, output) = json_run(home.path(), &["--cell", "me"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let names: Vec<&str> = ran.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["login", "me"], "login runs first");
    let me: serde_json::Value = serde_json::from_str(ran[1]["data"].as_str().unwrap()).unwrap();
    assert_eq!(me["name"], "ada", "the token went along: {me}");

    let (ran, _) = json_run(home.path(), &[]);
    let by_name = |name: &str| ran.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(
        by_name("who")["data"],
        r#"user ada is 7, admin; {"id":7,"roles":["admin"]}"#
    );
    let wrong = by_name("wrong");
    assert_eq!(wrong["status"], "error");
    assert!(
        wrong["data"].as_str().unwrap().contains(
            "{{login.nope}}: in the result of the cell `login`, it has no key `nope` (its keys: token, user)"
        ),
        "{}",
        wrong["data"]
    );
    // The file keeps its references; the token is only in the results.
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.contains("Authorization: Bearer {{login.token}}\n"),
        "{written}"
    );
}

/// A value from a cell that does not exist, or from a cell that takes
/// this one's, is refused before anything runs, with the editor's message.
#[test]
fn values_from_unknown_cells_or_in_a_cycle_are_refused() {
    refused(
        "@plugin=echo name=a\n{{nobody.x}}\n",
        &["notes.dbk"],
        &["2:3: no cell is named `nobody`"],
    );
    refused(
        "@plugin=echo name=a\n{{b.x}}\n@plugin=echo name=b input=a\nx\n",
        &["notes.dbk"],
        &[
            "2:3: inputs make a cycle: a → b → a",
            "3:27: inputs make a cycle: a → b → a",
        ],
    );
}

/// `cache=` reuses a result while its key is the same: a cell that counts
/// its runs on a real local server proves which runs happened. Each part
/// of the key (body, options, environment, input, the plugin's wasm) run
/// it again when it changes; `--no-cache` always runs; `cache=DURATION`
/// runs again once the result is older.
#[test]
fn a_cached_cell_runs_again_only_when_its_key_changes() {
    let api = common::ApiServer::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("databook.toml"),
        "[env]\nGREETING = \"hi\"\n[environments.staging]\nGREETING = \"hello\"\n",
    )
    .unwrap();
    let write = |header: &str, extra: &str| {
        notebook(
            home.path(),
            &format!(
                "@plugin=echo name=src\nsource one\n\n@plugin=http name=count {header}\nGET {}\n{extra}",
                api.url("/count")
            ),
        )
    };
    let count =
        |ran: &[serde_json::Value]| ran.iter().find(|r| r["name"] == "count").unwrap().clone();
    let path = write("cache=true", "");
    let (ran, output) = json_run(home.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        (api.counted(), &count(&ran)["cached"]),
        (1, &serde_json::json!(false))
    );
    let after_first = std::fs::read_to_string(&path).unwrap();

    let (ran, _) = json_run(home.path(), &[]);
    assert_eq!(api.counted(), 1, "not run again");
    assert_eq!(count(&ran)["cached"], true);
    assert_eq!(count(&ran)["data"], r#"{"runs":1}"#);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        after_first,
        "the output says nothing different"
    );

    json_run(home.path(), &["--no-cache"]);
    assert_eq!(api.counted(), 2, "--no-cache runs it");
    json_run(home.path(), &[]);
    assert_eq!(api.counted(), 2, "and its result is the one reused next");

    let mut expected = 2;
    let mut runs_again = |why: &str, args: &[&str]| {
        json_run(home.path(), args);
        expected += 1;
        assert_eq!(api.counted(), expected, "runs again when {why} changes");
        json_run(home.path(), args);
        assert_eq!(api.counted(), expected, "then is reused, {why} unchanged");
    };
    write("cache=true", "X-Note: 1\n");
    runs_again("the body", &[]);
    write("cache=true show=body", "X-Note: 1\n");
    runs_again("an option", &[]);
    runs_again("the environment", &["--env", "staging"]);
    write("cache=true show=body input=src", "X-Note: 1\n");
    runs_again("the input cell's presence", &["--env", "staging"]);
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("source one", "source two"),
    )
    .unwrap();
    runs_again("the input's result", &["--env", "staging"]);

    // The same plugin with another wasm (a custom section added, which
    // changes nothing it does).
    let plugins = home.path().join("plugins");
    let http = plugins.join("http");
    std::fs::create_dir_all(&http).unwrap();
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/http");
    std::fs::copy(builtin.join("config.toml"), http.join("config.toml")).unwrap();
    let mut wasm = std::fs::read(builtin.join("plugin.wasm")).unwrap();
    let name = b"databook-test";
    wasm.extend_from_slice(&[0, (1 + name.len() + 1) as u8, name.len() as u8]);
    wasm.extend_from_slice(name);
    wasm.push(1);
    std::fs::write(http.join("plugin.wasm"), wasm).unwrap();
    let plugins_arg = plugins.to_str().unwrap();
    runs_again(
        "the plugin's wasm",
        &["--env", "staging", "--plugins", plugins_arg],
    );

    // A duration: reused while younger, run once older.
    write("cache=1s", "");
    json_run(home.path(), &[]);
    let before = api.counted();
    json_run(home.path(), &[]);
    assert_eq!(api.counted(), before, "reused while younger than 1s");
    std::thread::sleep(Duration::from_millis(1100));
    json_run(home.path(), &[]);
    assert_eq!(api.counted(), before + 1, "run again once older");
}

/// A process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example API (`examples/api/server.py`) on `port`, and waits
/// (a bounded while) until it accepts connections.
fn example_api(port: u16, name: &str) -> Killed {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/api/server.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(name)
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 runs the example API");
    let server = Killed(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the example API did not start on port {port}");
}

/// The example of environments and chained requests, against its own API
/// started for real in two environments: its outputs are current, the
/// `staging` environment asks the other server, and the cached total is
/// reused on the next run.
#[test]
fn the_api_example_is_current_and_switches_servers_by_environment() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/api");
    let home = tempfile::tempdir().unwrap();
    let (dev, staging) = (common::free_port(), common::free_port());
    let config = std::fs::read_to_string(example.join("databook.toml"))
        .unwrap()
        .replace("127.0.0.1:8765", &format!("127.0.0.1:{dev}"))
        .replace("127.0.0.1:8766", &format!("127.0.0.1:{staging}"));
    std::fs::write(home.path().join("databook.toml"), config).unwrap();
    let notebook = std::fs::read_to_string(example.join("chained.dbk")).unwrap();
    std::fs::write(home.path().join("chained.dbk"), &notebook).unwrap();
    eprintln!(
        "ports dev {dev} staging {staging} home {}",
        home.path().display()
    );
    let home = Box::leak(Box::new(home));
    let _dev = example_api(dev, "dev");
    let _staging = example_api(staging, "staging");

    let output = run(home.path(), &["chained.dbk", "--check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let output = run(home.path(), args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let me = |ran: &[serde_json::Value]| -> serde_json::Value {
        let me = ran.iter().find(|r| r["name"] == "me").unwrap();
        serde_json::from_str(me["data"].as_str().unwrap()).unwrap()
    };

    // Staging: the other server answers, and the file says so.
    let ran = lines(&["chained.dbk", "--json", "--env", "staging"]);
    assert_eq!(me(&ran)["server"], "staging");
    assert!(ran.iter().all(|r| r["environment"] == "staging"));
    let written = std::fs::read_to_string(home.path().join("chained.dbk")).unwrap();
    assert!(
        written.contains(">   \"server\": \"staging\"\n"),
        "{written}"
    );

    // Back to the default: the file is as it was. The total ran again
    // (the environment is part of what it depends on), and the next run,
    // in the same environment, reuses it.
    let ran = lines(&["chained.dbk", "--json"]);
    assert_eq!(me(&ran)["server"], "dev");
    assert_eq!(
        std::fs::read_to_string(home.path().join("chained.dbk")).unwrap(),
        notebook
    );
    let total =
        |ran: &[serde_json::Value]| ran.iter().find(|r| r["name"] == "total").unwrap().clone();
    assert_eq!(total(&ran)["cached"], false);
    let ran = lines(&["chained.dbk", "--json"]);
    let total = total(&ran);
    assert_eq!(
        (&total["data"], &total["cached"]),
        (&serde_json::json!("24.75"), &serde_json::json!(true))
    );
}

/// A results store that cannot be read is reported, naming it; the run
/// goes on without it and leaves a good store in its place.
#[test]
fn a_broken_results_store_is_reported_and_replaced() {
    let home = tempfile::tempdir().unwrap();
    notebook(home.path(), "@plugin=echo name=a cache=true\nhi\n");
    let output = run(home.path(), &["notes.dbk"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let store = std::fs::read_dir(home.path().join(".databook/results"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "json"))
        .expect("a results file");
    std::fs::write(&store, "{not json").unwrap();

    let (ran, output) = json_run(home.path(), &[]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("not a results file") && stderr.contains("earlier results are not reused"),
        "{stderr}"
    );
    assert_eq!(ran[0]["cached"], false, "nothing to reuse");
    let (ran, output) = json_run(home.path(), &[]);
    assert!(
        text(&output.stderr)
            .lines()
            .all(|l| !l.starts_with("warning")),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ran[0]["cached"], true, "the store was written anew");
}
