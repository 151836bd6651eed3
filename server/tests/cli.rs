//! The `databook` binary as a user runs it: `exec` and `plugins`, their
//! output, their exit codes, and where they find plugins.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{databook, testing_plugins, text};

fn run(command: Command, stdin: &str) -> Output {
    common::run_with_stdin(command, stdin)
}

/// `databook --plugins plugins/testing exec ARGS`, in a fresh home: its
/// output and its stderr as text.
fn exec_testing(args: &[&str]) -> (Output, String) {
    let home = tempfile::tempdir().unwrap();
    let mut command = databook(home.path());
    command.arg("--plugins").arg(testing_plugins()).arg("exec");
    command.args(args);
    let output = run(command, "");
    let stderr = text(&output.stderr);
    (output, stderr)
}

#[test]
fn exec_echo_prints_its_stdin() {
    let home = tempfile::tempdir().unwrap();
    let mut command = databook(home.path());
    command.args(["exec", "echo"]);
    let output = run(command, "hello\n");
    assert_eq!(text(&output.stdout), "hello\n");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn exec_takes_the_input_as_an_argument() {
    let home = tempfile::tempdir().unwrap();
    let mut command = databook(home.path());
    command.args([
        "exec",
        "echo",
        "{\"a\":[1,2]}",
        "--opt",
        "mime=application/json",
    ]);
    let output = run(command, "");
    assert_eq!(
        text(&output.stdout),
        "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn exec_passes_options_to_the_plugin() {
    let (output, _) = exec_testing(&[
        "misbehave",
        "options",
        "--opt",
        "range=15m",
        "--opt",
        "q=a=b",
    ]);
    assert_eq!(
        text(&output.stdout),
        "[(\"range\", \"15m\"), (\"q\", \"a=b\")]\n"
    );
}

#[test]
fn unknown_plugin_exits_2_and_names_it() {
    let home = tempfile::tempdir().unwrap();
    let mut command = databook(home.path());
    command.args(["exec", "ecko", "hi"]);
    let output = run(command, "");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: unknown plugin \"ecko\" (did you mean \"echo\"?)\n"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn plugin_error_exits_1_with_the_message_on_stderr() {
    let (output, stderr) = exec_testing(&["misbehave", "loop", "--timeout", "200ms"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr,
        "error: misbehave: the plugin exceeded its time limit of 200ms\n"
    );
}

#[test]
fn usage_error_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let mut command = databook(home.path());
    command.args(["exec", "echo", "--opt", "novalue"]);
    let output = run(command, "");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("\"novalue\" is not KEY=VALUE"));
}

/// Writes a plugin folder `name` into `parent` from the `misbehave` build.
fn write_plugin(parent: &Path, name: &str, config_extra: &str) {
    common::write_plugin(parent, name, "1.2.3", config_extra);
}

#[test]
fn plugins_lists_good_and_broken_plugins_from_the_workspace() {
    let home = tempfile::tempdir().unwrap();
    let workspace = home.path().join("project");
    let tools = workspace.join("tools/plugins");
    write_plugin(
        &tools,
        "metrics",
        "[permissions]\nenv = [\"METRICS_URL\"]\nsecrets = [\"METRICS_TOKEN\"]\nhttp = [\"$METRICS_URL\", \"http://127.0.0.1:9090\"]\n[limits]\ntimeout = \"2s\"",
    );
    write_plugin(&tools, "broken", "[limits]\ntimeout = \"forever\"");
    std::fs::write(
        workspace.join("databook.toml"),
        "plugins = [\"tools/plugins\"]\n[env]\nMETRICS_URL = \"http://127.0.0.1:9191\"\n",
    )
    .unwrap();
    let nested = workspace.join("notes/deep");
    std::fs::create_dir_all(&nested).unwrap();

    let mut command = databook(home.path());
    // The built-in prometheus plugin shows whether PROMETHEUS_URL is set.
    command
        .current_dir(&nested)
        .arg("plugins")
        .env_remove("PROMETHEUS_URL");
    let output = run(command, "");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let tools = tools.display();
    let expected = format!(
        "broken  FAILED TO LOAD
  from:     {tools}/broken
  error:    {tools}/broken/config.toml:6: limits.timeout: invalid duration \"forever\" (write it like 500ms, 10s, 2m or 1h)

metrics 1.2.3  Test metrics
  from:     {tools}/metrics
  exports:  run, describe, complete, check
  env:      METRICS_URL (set)
  secrets:  METRICS_TOKEN
  http:     http://127.0.0.1:9191 (from $METRICS_URL), http://127.0.0.1:9090
  limits:   timeout 2s, memory 64 MiB, output 1 MiB, 16 at once

echo 0.1.0  Returns its body unchanged
  from:     built in
  exports:  run, describe
  env:      (none)
  secrets:  (none)
  http:     (none)
  limits:   timeout 10s, memory 64 MiB, output 1 MiB, 16 at once

http 0.1.0  Makes the HTTP request written in a cell (.http syntax): METHOD URL, headers, a blank line, a body
  from:     built in
  exports:  run, describe, check
  env:      (none)
  secrets:  (none)
  http:     http://127.0.0.1:*, http://localhost:*, http://[::1]:*
  limits:   timeout 10s, memory 64 MiB, output 1 MiB, 16 at once

jq 0.1.0  Runs a jq filter (jaq) over the output of the cell input= names
  from:     built in
  exports:  run, describe, check
  env:      (none)
  secrets:  (none)
  http:     (none)
  limits:   timeout 10s, memory 64 MiB, output 1 MiB, 16 at once

prometheus 0.1.0  Query Prometheus with PromQL: instant and range queries
  from:     built in
  exports:  run, describe, complete, check
  env:      PROMETHEUS_URL (unset)
  secrets:  PROMETHEUS_TOKEN
  http:     http://127.0.0.1:9090
  limits:   timeout 10s, memory 64 MiB, output 1 MiB, 16 at once
"
    );
    assert_eq!(stdout, expected);
}

#[test]
fn databook_plugins_variable_adds_folders_after_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    let second = home.path().join("second");
    write_plugin(&first, "shadow", "");
    write_plugin(&second, "shadow", "");
    write_plugin(&second, "only-second", "");
    let mut command = databook(home.path());
    command
        .arg("--plugins")
        .arg(&first)
        .env("DATABOOK_PLUGINS", &second)
        .arg("plugins");
    let stdout = text(&run(command, "").stdout);
    assert!(stdout.contains(&format!("from:     {}", first.join("shadow").display())));
    assert!(!stdout.contains(&format!("from:     {}", second.join("shadow").display())));
    assert!(stdout.contains(&format!(
        "from:     {}",
        second.join("only-second").display()
    )));
}

#[test]
fn broken_workspace_file_exits_2_with_its_line() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("databook.toml"),
        "plugins = [\"a\"]\nplugin_dirs = 3\n",
    )
    .unwrap();
    let mut command = databook(home.path());
    command.args(["exec", "echo", "hi"]);
    let output = run(command, "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:2: plugin_dirs: unknown field `plugin_dirs`",
            home.path().join("databook.toml").display()
        )),
        "{stderr}"
    );
}

#[test]
fn escape_sequences_from_a_plugin_never_reach_the_terminal_raw() {
    // A clipboard write (OSC 52), then a carriage return that would
    // overwrite the line.
    let (output, stderr) = exec_testing(&["misbehave", "print \u{1b}]52;c;aGk=\u{7}safe\rforged"]);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(['\u{1b}', '\u{7}', '\r']), "{stderr:?}");
    assert!(
        stderr.contains("misbehave: info: \\u{1b}]52;c;aGk=\\u{7}safe\\u{d}forged"),
        "{stderr}"
    );
}

/// On a terminal (here `script`'s pseudo-terminal), a result is shown as
/// the notebook renders it.
#[test]
fn on_a_terminal_a_table_is_shown_aligned() {
    let home = tempfile::tempdir().unwrap();
    let program = env!("CARGO_BIN_EXE_databook");
    let table = r#"{"columns":["job","value"],"rows":[["a","1"],["bb","22"]]}"#;
    let inner =
        format!("{program} exec echo '{table}' --opt mime=application/vnd.databook.table+json");
    let mut command = Command::new("script");
    command
        .args(["-qec", &inner, "/dev/null"])
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env_remove("DATABOOK_PLUGINS")
        .current_dir(home.path());
    let output = run(command, "");
    let stdout = text(&output.stdout).replace("\r\n", "\n");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("job  value\n───  ─────\na        1\nbb      22\n"),
        "{stdout}"
    );
}

/// A MIME type with a line break in it would write lines of the plugin's
/// choosing into the notebook's `@output` header: it is the run's error.
#[test]
fn a_result_whose_mime_type_is_not_one_is_an_error() {
    let (output, stderr) = exec_testing(&[
        "echo",
        "x",
        "--opt",
        "mime=text/plain\n@plugin=http\nGET http://127.0.0.1:8765/pivot",
    ]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"returned "text/plain\n@plugin=http\nGET http://127.0.0.1:8765/pivot" as its MIME type, which is not one"#),
        "{stderr}"
    );
    assert_eq!(text(&output.stdout), "");
}

/// A million log calls reach the terminal as a bounded log (cut, with a
/// note) and a rate-limited host log, never as 300,000 lines. (300 times
/// the lines the cap lets through; a million took 7 s of the plugin's 10 s
/// limit in a debug build, and failed when the machine was busy.)
#[test]
fn a_log_flood_reaches_stderr_bounded() {
    let (output, stderr) = exec_testing(&["misbehave", "flood 300000"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(stderr.len() < 200_000, "{} bytes of stderr", stderr.len());
    assert!(stderr.contains("the log was cut at 64 KiB"));
}
