//! What a plugin may and may not do, one behaviour per test, each with the
//! plugin's manifest written inline. The plugin is `misbehave` (see
//! `plugins/testing/misbehave`), which does whatever bad thing its body
//! names.

mod common;

use std::future::Future as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{MISBEHAVE, TestPlugin, runtime};
use databook_runtime::{Cell, Failure, Level, LoadError, Registry, SearchPath, Stream, Workspace};

fn cell(body: &str) -> Cell {
    Cell {
        body: body.to_string(),
        ..Cell::default()
    }
}

async fn run_ok(plugin: &databook_runtime::Plugin, body: &str) -> String {
    let report = plugin.run(cell(body), None).await;
    match report.result {
        Ok(output) => output.data,
        Err(failure) => panic!("{body:?} failed: {failure}"),
    }
}

async fn run_err(plugin: &databook_runtime::Plugin, body: &str) -> Failure {
    let report = plugin.run(cell(body), None).await;
    match report.result {
        Ok(output) => panic!("{body:?} succeeded with {:?}", output.data),
        Err(failure) => failure,
    }
}

/// After a misbehaving run, the same plugin still runs normally.
async fn still_works(plugin: &databook_runtime::Plugin) {
    assert_eq!(run_ok(plugin, "counter").await, "1");
}

#[tokio::test]
async fn infinite_loop_is_stopped_at_its_time_limit() {
    let plugin = TestPlugin::new("[limits]\ntimeout = \"300ms\"")
        .load()
        .await;
    let failure = run_err(&plugin, "loop").await;
    assert_eq!(
        failure,
        Failure::Timeout(databook_runtime::Timeout(Duration::from_millis(300)))
    );
    assert_eq!(
        failure.to_string(),
        "the plugin exceeded its time limit of 300ms"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_cell_may_lower_the_time_limit_but_not_raise_it() {
    let plugin = TestPlugin::new("[limits]\ntimeout = \"400ms\"")
        .load()
        .await;
    let report = plugin
        .run(cell("loop"), Some(Duration::from_millis(100)))
        .await;
    assert_eq!(
        report.result.unwrap_err().to_string(),
        "the plugin exceeded its time limit of 100ms"
    );
    let report = plugin
        .run(cell("loop"), Some(Duration::from_secs(60)))
        .await;
    assert_eq!(
        report.result.unwrap_err().to_string(),
        "the plugin exceeded its time limit of 400ms"
    );
}

#[tokio::test]
async fn huge_allocation_hits_the_memory_limit() {
    let plugin = TestPlugin::new("").load().await;
    let failure = run_err(&plugin, "alloc 1024").await;
    assert_eq!(
        failure.to_string(),
        "the plugin exceeded its memory limit of 64 MiB"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn allocation_within_a_raised_limit_succeeds() {
    let plugin = TestPlugin::new("[limits]\nmemory = \"256MiB\"")
        .load()
        .await;
    assert_eq!(run_ok(&plugin, "alloc 128").await, "allocated 128 MiB");
    let failure = run_err(&plugin, "alloc 300").await;
    assert_eq!(
        failure.to_string(),
        "the plugin exceeded its memory limit of 256 MiB"
    );
}

#[tokio::test]
async fn panic_ends_the_run_with_its_message() {
    let plugin = TestPlugin::new("").load().await;
    let failure = run_err(&plugin, "panic").await;
    let Failure::Trap { message } = &failure else {
        panic!("expected a trap, got {failure:?}");
    };
    assert!(
        message.contains("misbehave was asked to panic"),
        "{message}"
    );
    assert!(!message.contains("backtrace"), "{message}");
    still_works(&plugin).await;
}

#[tokio::test]
async fn stack_overflow_is_reported_as_such() {
    let plugin = TestPlugin::new("").load().await;
    let failure = run_err(&plugin, "overflow").await;
    assert_eq!(failure.to_string(), "the plugin crashed: stack overflow");
    still_works(&plugin).await;
}

#[tokio::test]
async fn unlisted_env_var_is_invisible() {
    let plugin = TestPlugin::new("[permissions]\nenv = [\"LISTED\"]")
        .env(&[("LISTED", "yes"), ("UNLISTED", "no")])
        .load()
        .await;
    assert_eq!(run_ok(&plugin, "env LISTED").await, "Some(\"yes\")");
    assert_eq!(run_ok(&plugin, "env UNLISTED").await, "None");
}

#[tokio::test]
async fn wasi_environment_is_empty() {
    let plugin = TestPlugin::new("[permissions]\nenv = [\"LISTED\"]")
        .env(&[("LISTED", "yes")])
        .load()
        .await;
    // Even a granted variable is not in the WASI environment, and nothing
    // else is either: get-env is the only way in.
    assert_eq!(run_ok(&plugin, "wasi-env LISTED").await, "None 0");
    assert_eq!(run_ok(&plugin, "wasi-env PATH").await, "None 0");
}

#[tokio::test]
async fn workspace_env_is_read_after_the_process_env() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TestPlugin::new("[permissions]\nenv = [\"A\", \"B\"]").write(tmp.path());
    let workspace = Workspace::parse(
        "[env]\nA = \"from-workspace\"\nB = \"from-workspace\"\n",
        &tmp.path().join("databook.toml"),
    )
    .unwrap();
    let search = SearchPath {
        dirs: vec![dir],
        builtins: &[],
    };
    let process = |name: &str| (name == "A").then(|| "from-process".to_string());
    let plugin = Registry::load_one(runtime(), &search, &workspace, process, MISBEHAVE)
        .await
        .unwrap();
    assert_eq!(run_ok(&plugin, "env A").await, "Some(\"from-process\")");
    assert_eq!(run_ok(&plugin, "env B").await, "Some(\"from-workspace\")");
}

#[tokio::test]
async fn reading_a_file_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let secret_file = tmp.path().join("secret.txt");
    std::fs::write(&secret_file, "top secret").unwrap();
    let plugin = TestPlugin::new("").load().await;
    for path in [
        secret_file.to_str().unwrap(),
        "/etc/passwd",
        "config.toml",
        ".",
    ] {
        let failure = run_err(&plugin, &format!("read {path}")).await;
        assert!(
            failure
                .to_string()
                .starts_with(&format!("cannot read {path}: ")),
            "{failure}"
        );
        assert!(!failure.to_string().contains("top secret"));
    }
}

#[tokio::test]
async fn runs_share_nothing() {
    let plugin = TestPlugin::new("").load().await;
    for _ in 0..5 {
        assert_eq!(run_ok(&plugin, "counter").await, "1");
    }
}

#[tokio::test]
async fn output_over_its_limit_is_refused_with_its_size() {
    let plugin = TestPlugin::new("[limits]\noutput = \"1KiB\"").load().await;
    assert_eq!(run_ok(&plugin, "big 1024").await.len(), 1024);
    let failure = run_err(&plugin, "big 2048").await;
    assert_eq!(
        failure.to_string(),
        "the plugin's output of 2 KiB exceeds its output limit of 1 KiB"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn secret_values_are_masked_in_output_and_logs() {
    let plugin = TestPlugin::new("[permissions]\nsecrets = [\"TOKEN\"]")
        .env(&[("TOKEN", "hunter2")])
        .load()
        .await;
    let report = plugin.run(cell("env TOKEN"), None).await;
    assert_eq!(report.result.unwrap().data, "Some(\"•••\")");

    // Every way out: the log, stdout, stderr, the error and its hint.
    let report = plugin.run(cell("leak TOKEN"), None).await;
    let failure = report.result.unwrap_err();
    assert_eq!(
        failure,
        Failure::Plugin {
            message: "error: •••".into(),
            hint: Some("hint: •••".into())
        }
    );
    let logs: Vec<&str> = report.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logs, ["the secret is •••", "stdout: •••", "stderr: •••"]);
}

#[tokio::test]
async fn a_secret_is_masked_in_completion_items() {
    let plugin = TestPlugin::new("[permissions]\nsecrets = [\"TOKEN\"]")
        .env(&[("TOKEN", "hunter2")])
        .load()
        .await;
    let items = plugin.complete("leak TOKEN", 10, &[]).await.unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.label, "•••");
    assert_eq!(item.insert.as_deref(), Some("•••"));
    assert_eq!(item.detail.as_deref(), Some("detail •••"));
    assert_eq!(item.documentation.as_deref(), Some("documentation •••"));
}

#[tokio::test]
async fn a_secret_is_masked_in_check_problems() {
    let plugin = TestPlugin::new("[permissions]\nsecrets = [\"TOKEN\"]")
        .env(&[("TOKEN", "hunter2")])
        .load()
        .await;
    let problems = plugin.check("leak TOKEN", &[]).await.unwrap();
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages, ["the secret is •••"]);
}

#[tokio::test]
async fn logs_and_printed_lines_reach_the_result() {
    let plugin = TestPlugin::new("").load().await;
    let report = plugin.run(cell("log hello from the plugin"), None).await;
    assert_eq!(report.logs.len(), 1);
    assert_eq!(report.logs[0].level, Level::Info);
    assert_eq!(report.logs[0].stream, Stream::Log);
    assert_eq!(report.logs[0].message, "hello from the plugin");

    let report = plugin.run(cell("print some words"), None).await;
    let lines: Vec<(Stream, &str)> = report
        .logs
        .iter()
        .map(|l| (l.stream, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (Stream::Stdout, "some words"),
            (Stream::Stderr, "some words (stderr)")
        ]
    );
}

#[tokio::test]
async fn a_cancelled_run_stops_and_the_next_one_works() {
    let plugin = TestPlugin::new("[limits]\ntimeout = \"1m\"").load().await;
    let running = tokio::spawn({
        let plugin = plugin.clone();
        async move { plugin.run(cell("loop"), None).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    running.abort();
    let joined = running.await;
    assert!(joined.unwrap_err().is_cancelled());
    // Well short of the minute the run was allowed: it was stopped, not
    // left to time out.
    assert!(started.elapsed() < Duration::from_secs(30));
    still_works(&plugin).await;
}

#[tokio::test]
async fn many_runs_go_on_at_once() {
    let plugin = TestPlugin::new("").load().await;
    let slow = {
        let plugin = plugin.clone();
        tokio::spawn(async move { plugin.run(cell("sleep 300"), None).await })
    };
    let runs: Vec<_> = (0..32)
        .map(|_| {
            let plugin = plugin.clone();
            tokio::spawn(async move { plugin.run(cell("counter"), None).await })
        })
        .collect();
    for run in runs {
        assert_eq!(run.await.unwrap().result.unwrap().data, "1");
    }
    assert_eq!(slow.await.unwrap().result.unwrap().data, "slept 300 ms");
}

#[tokio::test]
async fn optional_exports_are_detected() {
    let plugin = TestPlugin::new("").load().await;
    assert!(plugin.can_complete() && plugin.can_check());
    let items = plugin.complete("co", 2, &[]).await.unwrap();
    let labels: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels, ["counter"]);
    let problems = plugin.check("a bad line", &[]).await.unwrap();
    assert_eq!((problems[0].start, problems[0].end), (2, 5));
    assert_eq!(plugin.description().language.as_deref(), Some("misbehave"));
}

#[tokio::test]
async fn not_a_component_fails_to_load_and_others_still_load() {
    let tmp = tempfile::tempdir().unwrap();
    TestPlugin::new("").write(tmp.path());
    for (name, wasm) in [
        ("garbage", b"this is not wasm".as_slice()),
        ("coremodule", b"\0asm\x01\0\0\0".as_slice()),
    ] {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let config = common::config_for(name, "");
        std::fs::write(dir.join("config.toml"), config).unwrap();
        std::fs::write(dir.join("plugin.wasm"), wasm).unwrap();
    }
    let search = SearchPath {
        dirs: vec![tmp.path().to_path_buf()],
        builtins: &[],
    };
    let registry = Registry::load(runtime(), &search, &Workspace::default(), |_| None).await;
    let message = |name: &str| match registry.get(name) {
        Ok(_) => panic!("{name} loaded"),
        Err(error) => error.to_string(),
    };
    let garbage = message("garbage");
    assert!(
        garbage.contains("garbage/plugin.wasm: not a WebAssembly component"),
        "{garbage}"
    );
    assert!(garbage.contains("not WebAssembly at all"), "{garbage}");
    let core = message("coremodule");
    assert!(core.contains("it is a core WebAssembly module"), "{core}");
    let good = registry.get(MISBEHAVE).unwrap();
    still_works(good).await;
}

#[tokio::test]
async fn broken_config_fails_to_load_with_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    TestPlugin::new("[limits]\ntimeout = \"soon\"").write(tmp.path());
    let search = SearchPath {
        dirs: vec![tmp.path().to_path_buf()],
        builtins: &[],
    };
    let registry = Registry::load(runtime(), &search, &Workspace::default(), |_| None).await;
    let entry = &registry.entries()[0];
    let Err(LoadError::Config(error)) = &entry.plugin else {
        panic!("expected a config error");
    };
    assert_eq!(error.file, tmp.path().join("misbehave/config.toml"));
    assert_eq!(error.line, Some(6));
    assert_eq!(error.key.as_deref(), Some("limits.timeout"));
}

#[tokio::test]
async fn missing_plugin_wasm_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = TestPlugin::new("").write(tmp.path());
    std::fs::remove_file(dir.join("plugin.wasm")).unwrap();
    let search = SearchPath {
        dirs: vec![dir.clone()],
        builtins: &[],
    };
    let error = Registry::load_one(
        runtime(),
        &search,
        &Workspace::default(),
        |_| None,
        MISBEHAVE,
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains(&format!("{}: not found", dir.join("plugin.wasm").display())),
        "{error}"
    );
}

#[tokio::test]
async fn compiled_plugins_are_cached_and_reused() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = databook_runtime::Runtime::new(databook_runtime::RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = TestPlugin::new("").write(tmp.path());
    let search = SearchPath {
        dirs: vec![dir],
        builtins: &[],
    };
    let workspace = Workspace::default();
    let load = || Registry::load_one(&runtime, &search, &workspace, |_| None, MISBEHAVE);
    load().await.unwrap();
    let cached: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(cached.len(), 1, "one artifact is written");
    let artifact = cached[0].as_ref().unwrap().path();
    let written = std::fs::metadata(&artifact).unwrap();

    // Loaded again: the artifact is read, not compiled and written anew
    // (that would be a new file renamed over it).
    let plugin = load().await.unwrap();
    let again = std::fs::metadata(&artifact).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (again.ino(), again.mtime_nsec()),
        (written.ino(), written.mtime_nsec())
    );
    still_works(&plugin).await;

    // A corrupt artifact is replaced, not fatal.
    std::fs::write(&artifact, b"garbage").unwrap();
    still_works(&load().await.unwrap()).await;
    assert_ne!(std::fs::read(&artifact).unwrap(), b"garbage");
}

/// Counts the connections a loopback listener accepts, answering none.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

#[tokio::test]
async fn allowed_origin_is_reached() {
    let server = common::HttpServer::start().await;
    let plugin = TestPlugin::new(&format!("[permissions]\nhttp = [\"{}\"]", server.origin()))
        .load()
        .await;
    let reply = run_ok(&plugin, &format!("http {}/hello", server.origin())).await;
    assert_eq!(reply, "200 hello from the test server");
}

#[tokio::test]
async fn disallowed_host_fails_before_connecting() {
    let (port, connections) = counting_listener().await;
    let plugin = TestPlugin::new("[permissions]\nhttp = [\"http://127.0.0.1:1\"]")
        .load()
        .await;
    let failure = run_err(&plugin, &format!("http http://127.0.0.1:{port}/")).await;
    assert_eq!(
        failure.to_string(),
        format!("denied: http://127.0.0.1:{port}")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn plugin_without_http_grant_reaches_nothing() {
    let (port, connections) = counting_listener().await;
    let plugin = TestPlugin::new("").load().await;
    let failure = run_err(&plugin, &format!("http http://localhost:{port}/")).await;
    assert_eq!(
        failure.to_string(),
        format!("denied: http://localhost:{port}")
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirect_to_unlisted_origin_fails() {
    let (denied_port, connections) = counting_listener().await;
    let server = common::HttpServer::start().await;
    let plugin = TestPlugin::new(&format!("[permissions]\nhttp = [\"{}\"]", server.origin()))
        .load()
        .await;
    let target = format!("http://127.0.0.1:{denied_port}/stolen");
    let failure = run_err(
        &plugin,
        &format!("http {}/redirect?to={target}", server.origin()),
    )
    .await;
    assert_eq!(
        failure.to_string(),
        format!("denied: http://127.0.0.1:{denied_port}")
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirect_within_the_grant_is_followed() {
    let server = common::HttpServer::start().await;
    let plugin = TestPlugin::new(&format!("[permissions]\nhttp = [\"{}\"]", server.origin()))
        .load()
        .await;
    let target = format!("{}/hello", server.origin());
    let reply = run_ok(
        &plugin,
        &format!("http {}/redirect?to={target}", server.origin()),
    )
    .await;
    assert_eq!(reply, "200 hello from the test server");
}

#[tokio::test]
async fn variable_origin_grants_where_the_variable_points() {
    let server = common::HttpServer::start().await;
    let plugin = TestPlugin::new(
        "[permissions]\nenv = [\"TARGET_URL\"]\nhttp = [\"$TARGET_URL\", \"http://127.0.0.1:1\"]",
    )
    .env(&[("TARGET_URL", &format!("{}/api", server.origin()))])
    .load()
    .await;
    let reply = run_ok(&plugin, &format!("http {}/hello", server.origin())).await;
    assert_eq!(reply, "200 hello from the test server");
}

#[tokio::test]
async fn workspace_can_narrow_a_grant() {
    let server = common::HttpServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = TestPlugin::new(&format!("[permissions]\nhttp = [\"{}\"]", server.origin()))
        .write(tmp.path());
    let workspace = Workspace::parse(
        "[plugin.misbehave.permissions]\nhttp = []\n",
        &tmp.path().join("databook.toml"),
    )
    .unwrap();
    let search = SearchPath {
        dirs: vec![dir],
        builtins: &[],
    };
    let plugin = Registry::load_one(runtime(), &search, &workspace, |_| None, MISBEHAVE)
        .await
        .unwrap();
    let failure = run_err(&plugin, &format!("http {}/hello", server.origin())).await;
    assert!(failure.to_string().starts_with("denied: "), "{failure}");
}

/// The API version is read from the component: one built against an API
/// this host does not run is refused with both versions named.
#[tokio::test]
async fn a_plugin_built_for_another_api_version_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut wasm = common::misbehave_wasm();
    // Every mention of the exported interfaces, renamed to a 0.2 API of the
    // same length: the component stays valid.
    let (from, to) = (b"plugin@0.1.0".as_slice(), b"plugin@0.2.0".as_slice());
    let mut renamed = 0;
    let mut at = 0;
    while let Some(i) = wasm[at..].windows(from.len()).position(|w| w == from) {
        wasm[at + i..at + i + from.len()].copy_from_slice(to);
        at += i + from.len();
        renamed += 1;
    }
    assert!(renamed > 0);
    let dir = tmp.path().join("future");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), common::config_for("future", "")).unwrap();
    std::fs::write(dir.join("plugin.wasm"), wasm).unwrap();
    let search = SearchPath {
        dirs: vec![tmp.path().to_path_buf()],
        builtins: &[],
    };
    let registry = Registry::load(runtime(), &search, &Workspace::default(), |_| None).await;
    let error = registry.get("future").err().expect("refused").to_string();
    assert!(
        error.contains("built against databook:plugin@0.2.0")
            && error.contains("runs plugins built against 0.1"),
        "{error}"
    );
}

#[tokio::test]
async fn a_plugin_that_exits_is_reported_as_exiting_not_as_a_host_fault() {
    let plugin = TestPlugin::new("").load().await;
    // WASI 0.2's `exit` carries only success or failure: any status but 0
    // arrives as 1.
    let failure = run_err(&plugin, "exit 3").await;
    assert_eq!(failure, Failure::Exited(1));
    assert_eq!(
        failure.to_string(),
        "the plugin exited with status 1 instead of returning a result"
    );
    still_works(&plugin).await;
}

#[tokio::test]
async fn a_flood_of_empty_log_lines_is_bounded() {
    let plugin = TestPlugin::new("").load().await;
    let report = plugin.run(cell("flood 200000"), None).await;
    assert_eq!(report.result.unwrap().data, "flooded");
    // 64 KiB at 64 bytes a line, and the note that it was cut.
    assert!(report.logs.len() <= 1026, "{} lines", report.logs.len());
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message.contains("the log was cut")),
        "no note"
    );
}

#[tokio::test]
async fn a_run_that_fails_hands_back_only_its_last_log_lines() {
    let plugin = TestPlugin::new("[limits]\ntimeout = \"300ms\"")
        .load()
        .await;
    let report = plugin.run(cell("flood"), None).await;
    assert!(matches!(report.result, Err(Failure::Timeout(_))));
    assert_eq!(report.logs.len(), 51, "the last 50 and a note");
    assert!(
        report.logs[0]
            .message
            .contains("earlier lines of this failed run were left out")
    );
}

#[tokio::test]
async fn a_plugin_cannot_set_the_host_header() {
    let server = common::HttpServer::start().await;
    let plugin = TestPlugin::new(&format!("[permissions]\nhttp = [\"{}\"]", server.origin()))
        .load()
        .await;
    let body = format!("http {}/hello Host:internal.example", server.origin());
    let failure = run_err(&plugin, &body).await;
    assert!(
        failure
            .to_string()
            .contains(r#"may not set the \"Host\" header"#),
        "{failure}"
    );
    // Its own headers of other names still go.
    let reply = run_ok(
        &plugin,
        &format!("http {}/hello X-Trace:1", server.origin()),
    )
    .await;
    assert_eq!(reply, "200 hello from the test server");
}

/// A plugin whose `describe` never returns fails to load at the load-time
/// ceiling, not at its own (here an hour), and the others load beside it.
#[tokio::test]
async fn a_looping_describe_fails_the_load_at_the_ceiling() {
    let tmp = tempfile::tempdir().unwrap();
    TestPlugin::new("").write(tmp.path());
    let dir = tmp.path().join("stuck");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        common::config_for(
            "stuck",
            "[permissions]\nenv = [\"MISBEHAVE_DESCRIBE\"]\n[limits]\ntimeout = \"1h\"",
        ),
    )
    .unwrap();
    std::fs::write(dir.join("plugin.wasm"), common::misbehave_wasm()).unwrap();
    let search = SearchPath {
        dirs: vec![tmp.path().to_path_buf()],
        builtins: &[],
    };
    let lookup = |name: &str| (name == "MISBEHAVE_DESCRIBE").then(|| "loop".to_string());
    let registry = Registry::load(runtime(), &search, &Workspace::default(), lookup).await;
    let error = registry.get("stuck").err().expect("refused").to_string();
    assert!(
        error.contains("describe failed: the plugin exceeded its time limit of 2s"),
        "{error}"
    );
    still_works(registry.get(MISBEHAVE).unwrap()).await;
}

/// A plugin's runs take at most its share of the instances: one more waits
/// only as long as it may run, then is refused as busy, while another
/// plugin runs at once.
/// Runs hold their memory limit's worth of the process's budget: one that
/// does not fit waits, and is refused once it has waited its limit, while
/// a smaller one that fits runs at once.
#[tokio::test]
async fn runs_wait_for_the_memory_budget_rather_than_exceed_it() {
    let runtime = databook_runtime::Runtime::new(databook_runtime::RuntimeOptions {
        cache_dir: Some(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
        memory_budget: "100MiB".parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let big = TestPlugin::new("[limits]\nmemory = \"64MiB\"\ntimeout = \"2s\"")
        .load_in(&runtime)
        .await;
    let small = TestPlugin::new("[limits]\nmemory = \"16MiB\"")
        .load_in(&runtime)
        .await;
    let looping = {
        let big = big.clone();
        tokio::spawn(async move { big.run(cell("loop"), None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = big
        .run(cell("counter"), Some(std::time::Duration::from_millis(300)))
        .await;
    assert_eq!(
        refused.result.unwrap_err().to_string(),
        "the runs under way hold the process's memory budget of 100 MiB, and this plugin's limit of 64 MiB did not fit in time; try again later"
    );
    assert_eq!(
        run_ok(&small, "counter").await,
        "1",
        "16 MiB fits beside 64"
    );
    // A run that waits long enough gets the room the looping run frees.
    let waited = big
        .run(cell("counter"), Some(std::time::Duration::from_secs(5)))
        .await;
    assert!(matches!(
        looping.await.unwrap().result,
        Err(Failure::Timeout(_))
    ));
    assert_eq!(waited.result.unwrap().data, "1");
}

#[tokio::test]
async fn a_busy_plugin_takes_only_its_share_of_instances() {
    let busy = TestPlugin::new("[limits]\nconcurrency = 1\ntimeout = \"2s\"")
        .load()
        .await;
    let other = TestPlugin::new("").load().await;
    let looping = {
        let busy = busy.clone();
        tokio::spawn(async move { busy.run(cell("loop"), None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = busy
        .run(cell("counter"), Some(std::time::Duration::from_millis(200)))
        .await;
    assert_eq!(refused.result.unwrap_err(), Failure::Busy(1));
    assert_eq!(run_ok(&other, "counter").await, "1");
    let looped = looping.await.unwrap();
    assert!(matches!(looped.result, Err(Failure::Timeout(_))));
    still_works(&busy).await;
}

#[tokio::test]
async fn run_then_hands_the_report_over_before_the_instance_is_gone() {
    let plugin = TestPlugin::new("[limits]\nconcurrency = 1").load().await;
    let (data, another_could_start) = plugin
        .run_then(cell("counter"), None, |report| {
            // The instance still holds the plugin's one share, so another
            // run waits for it.
            let another = plugin.run(cell("counter"), None);
            let mut context = std::task::Context::from_waker(std::task::Waker::noop());
            let polled = std::pin::pin!(another).poll(&mut context);
            (report.result.unwrap().data, polled.is_ready())
        })
        .await;
    assert_eq!(data, "1");
    assert!(!another_could_start, "the share was free inside `then`");
    // Once `run_then` has returned, the instance is gone and its share free.
    still_works(&plugin).await;
}
