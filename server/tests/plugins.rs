//! The bundled plugins (`http`, `jq`, `prometheus`) against real servers:
//! an axum server on a free loopback port for `http`, and a real
//! `prometheus` process, scraping itself, for `prometheus`. Each plugin is
//! loaded from its folder under `plugins/`, as built by `plugins/build.sh`.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use databook_runtime::{
    Cell, Failure, ItemKind, Output, Plugin, Registry, Runtime, RuntimeOptions, SearchPath,
    Severity, Workspace,
};
use serde_json::{Value, json};

use common::Prometheus;

/// One runtime for every test in the binary, as in the real program.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeOptions {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")),
            ..RuntimeOptions::default()
        })
        .expect("the runtime starts")
    })
}

fn plugin_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(name)
}

/// Loads the plugin `plugins/NAME`, reading variables from `env` only and
/// permission changes from `workspace`.
async fn load_in(name: &str, env: &[(&str, &str)], workspace: &Workspace) -> Plugin {
    let search = SearchPath {
        dirs: vec![plugin_dir(name)],
        builtins: &[],
    };
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Registry::load_one(
        runtime(),
        &search,
        workspace,
        |var| env.get(var).cloned(),
        name,
    )
    .await
    .unwrap_or_else(|e| panic!("{name} loads: {e}; build it with plugins/build.sh"))
}

async fn load(name: &str, env: &[(&str, &str)]) -> Plugin {
    load_in(name, env, &Workspace::default()).await
}

fn cell(body: &str, options: &[(&str, &str)]) -> Cell {
    Cell {
        body: body.to_string(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        input: None,
    }
}

async fn run_ok(plugin: &Plugin, cell: Cell) -> Output {
    let body = cell.body.clone();
    match plugin.run(cell, None).await.result {
        Ok(output) => output,
        Err(failure) => panic!("{body:?} failed: {failure} (hint: {:?})", failure.hint()),
    }
}

/// The plugin's own error: its message and its hint.
async fn run_err(plugin: &Plugin, cell: Cell) -> (String, Option<String>) {
    let body = cell.body.clone();
    match plugin.run(cell, None).await.result {
        Ok(output) => panic!("{body:?} succeeded with {output:?}"),
        Err(Failure::Plugin { message, hint }) => (message, hint),
        Err(failure) => panic!("{body:?} failed outside the plugin: {failure}"),
    }
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(&output.data)
        .unwrap_or_else(|e| panic!("{:?} is not JSON: {e}", output.data))
}

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------- http --

/// A real HTTP server on a free loopback port.
struct TestServer {
    port: u16,
}

impl TestServer {
    async fn start() -> TestServer {
        use axum::extract::Path;
        use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
        use axum::response::{IntoResponse, Redirect};
        use axum::routing::{any, get};

        let app = axum::Router::new()
            .route(
                "/json",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                        r#"{"name":"databook","items":[1,2,3]}"#,
                    )
                }),
            )
            .route("/text", get(|| async { "plain words" }))
            .route(
                "/status/{code}",
                get(|Path(code): Path<u16>| async move {
                    let status = StatusCode::from_u16(code).unwrap();
                    (status, [("x-reason", "test")], "no such thing here")
                }),
            )
            .route(
                "/echo",
                any(
                    |method: Method, headers: HeaderMap, body: String| async move {
                        let content_type = headers
                            .get(header::CONTENT_TYPE)
                            .map(|v| v.to_str().unwrap().to_string());
                        let token = headers
                            .get("x-token")
                            .map(|v| v.to_str().unwrap().to_string());
                        let echoed = serde_json::json!({
                            "method": method.as_str(),
                            "content_type": content_type,
                            "token": token,
                            "body": body,
                        });
                        (
                            [(header::CONTENT_TYPE, "application/json")],
                            echoed.to_string(),
                        )
                            .into_response()
                    },
                ),
            )
            .route(
                "/redirect",
                // `/redirect?to=URL`, the URL written as it is.
                get(|uri: Uri| async move {
                    let to = uri.query().and_then(|q| q.strip_prefix("to="));
                    Redirect::temporary(to.expect("a redirect target"))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestServer { port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

#[tokio::test]
async fn http_json_response_is_application_json() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let output = run_ok(&http, cell(&server.url("/json"), &[])).await;
    assert_eq!(output.mime, "application/json");
    assert_eq!(
        json_of(&output),
        json!({"name": "databook", "items": [1, 2, 3]})
    );
}

#[tokio::test]
async fn http_text_response_is_text_plain() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let body = format!("# a comment\nGET {} HTTP/1.1\n", server.url("/text"));
    let output = run_ok(&http, cell(&body, &[])).await;
    assert_eq!(
        output,
        Output {
            mime: "text/plain".into(),
            data: "plain words".into()
        }
    );
}

#[tokio::test]
async fn http_sends_method_headers_and_body() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let body = format!("POST {}\nX-Token: abc\n\n{{\"a\": 1}}", server.url("/echo"));
    let output = run_ok(&http, cell(&body, &[])).await;
    // A JSON body sent with no Content-Type goes as application/json.
    assert_eq!(
        json_of(&output),
        json!({"method": "POST", "content_type": "application/json",
               "token": "abc", "body": "{\"a\": 1}"})
    );
    let body = format!(
        "PUT {}\nContent-Type: text/csv\n\na,b\n1,2",
        server.url("/echo")
    );
    let output = run_ok(&http, cell(&body, &[])).await;
    assert_eq!(
        json_of(&output),
        json!({"method": "PUT", "content_type": "text/csv",
               "token": null, "body": "a,b\n1,2"})
    );
}

#[tokio::test]
async fn http_error_status_is_an_error_unless_allowed() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let url = server.url("/status/404");
    let (message, hint) = run_err(&http, cell(&url, &[])).await;
    assert_eq!(
        message,
        format!("GET {url} answered 404 Not Found: no such thing here")
    );
    assert!(hint.unwrap().contains("allow-status=404"));

    let output = run_ok(&http, cell(&url, &[("allow-status", "4xx")])).await;
    assert_eq!(output.data, "no such thing here");
    let output = run_ok(&http, cell(&url, &[("allow-status", "any")])).await;
    assert_eq!(output.data, "no such thing here");
    let (message, _) = run_err(
        &http,
        cell(&server.url("/status/500"), &[("allow-status", "404")]),
    )
    .await;
    assert!(
        message.contains("answered 500 Internal Server Error"),
        "{message}"
    );
}

#[tokio::test]
async fn http_shows_status_and_headers_on_request() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let url = server.url("/status/201");
    let output = run_ok(&http, cell(&url, &[("show", "headers")])).await;
    assert_eq!(output.mime, "text/plain");
    assert!(output.data.starts_with("201 Created\n"), "{}", output.data);
    assert!(output.data.contains("x-reason: test\n"), "{}", output.data);
    assert!(!output.data.contains("no such thing"), "{}", output.data);

    let output = run_ok(&http, cell(&url, &[("show", "all")])).await;
    assert!(output.data.starts_with("201 Created\n"), "{}", output.data);
    assert!(
        output.data.ends_with("\n\nno such thing here"),
        "{}",
        output.data
    );

    let output = run_ok(&http, cell(&server.url("/json"), &[("show", "response")])).await;
    assert_eq!(output.mime, "application/json");
    let response = json_of(&output);
    assert_eq!(response["status"], 200);
    assert_eq!(
        response["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(response["body"]["items"], json!([1, 2, 3]));

    let (message, hint) = run_err(&http, cell(&url, &[("show", "everything")])).await;
    assert_eq!(
        message,
        "show=everything is not something the http plugin shows"
    );
    assert!(hint.unwrap().contains("show=headers"));
}

#[tokio::test]
async fn http_follows_a_redirect_to_an_allowed_origin() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    // From 127.0.0.1 to localhost: another origin, granted by default.
    let target = format!("http://localhost:{}/json", server.port);
    let output = run_ok(
        &http,
        cell(&server.url(&format!("/redirect?to={target}")), &[]),
    )
    .await;
    assert_eq!(json_of(&output)["name"], "databook");
}

#[tokio::test]
async fn http_refuses_a_redirect_to_a_denied_origin() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let url = server.url("/redirect?to=http://example.com/x");
    let (message, hint) = run_err(&http, cell(&url, &[])).await;
    assert_eq!(
        message,
        format!("{url} redirected to http://example.com, which the http plugin may not call")
    );
    let hint = hint.unwrap();
    assert!(hint.contains("[plugin.http.permissions]"), "{hint}");
    assert!(hint.contains("\"http://example.com\""), "{hint}");
}

#[tokio::test]
async fn http_reaches_only_what_the_workspace_grants() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let (message, _) = run_err(&http, cell("GET https://example.com/", &[])).await;
    assert_eq!(message, "the http plugin may not call https://example.com");

    // A workspace that narrows the grant to the test server's one origin:
    // a redirect to localhost, allowed by default, is now denied.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("databook.toml");
    let text = format!(
        "[plugin.http.permissions]\nhttp = [\"http://127.0.0.1:{}\"]\n",
        server.port
    );
    let workspace = Workspace::parse(&text, &file).unwrap();
    let narrowed = load_in("http", &[], &workspace).await;
    run_ok(&narrowed, cell(&server.url("/text"), &[])).await;
    let target = format!("http://localhost:{}/json", server.port);
    let url = server.url(&format!("/redirect?to={target}"));
    let (message, _) = run_err(&narrowed, cell(&url, &[])).await;
    assert!(
        message.ends_with(&format!(
            "redirected to http://localhost:{}, which the http plugin may not call",
            server.port
        )),
        "{message}"
    );
}

#[tokio::test]
async fn http_unreachable_server_names_the_url() {
    let http = load("http", &[]).await;
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let (message, hint) = run_err(&http, cell(&url, &[])).await;
    assert!(
        message.starts_with(&format!("could not reach {url}: ")),
        "{message}"
    );
    assert!(hint.unwrap().contains("is the server running"));
}

#[tokio::test]
async fn http_syntax_errors_are_reported_at_their_place() {
    let http = load("http", &[]).await;
    let body = "GET http://127.0.0.1/\nAccept application/json\n";
    let problems = http.check(body, &[]).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!(&body[problem.start..problem.end], "Accept application/json");
    assert_eq!(problem.severity, Severity::Error);
    assert!(
        problem.message.contains("`Name: value`"),
        "{}",
        problem.message
    );

    let (message, _) = run_err(&http, cell("get http://127.0.0.1/", &[])).await;
    assert_eq!(
        message,
        "line 1: `get` is not an HTTP method (write it in capitals: GET)"
    );
    assert!(
        http.check("GET http://127.0.0.1/", &[])
            .await
            .unwrap()
            .is_empty()
    );
    let description = http.description();
    assert_eq!(description.language.as_deref(), Some("http"));
    let options: Vec<&str> = description
        .options
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(options, ["show", "allow-status"]);
}

// ------------------------------------------------------------------ jq --

/// A jq cell over `input`, as a notebook's `input=` hands it.
fn jq_cell(filter: &str, input: Option<Output>, options: &[(&str, &str)]) -> Cell {
    Cell {
        input,
        ..cell(filter, options)
    }
}

#[tokio::test]
async fn jq_filters_the_output_of_an_http_cell() {
    let server = TestServer::start().await;
    let http = load("http", &[]).await;
    let jq = load("jq", &[]).await;
    let response = run_ok(&http, cell(&server.url("/json"), &[])).await;

    let doubled = run_ok(
        &jq,
        jq_cell(".items | map(. * 2)", Some(response.clone()), &[]),
    )
    .await;
    assert_eq!(doubled.mime, "application/json");
    assert_eq!(json_of(&doubled), json!([2, 4, 6]));

    // Several results are gathered into an array.
    let each = run_ok(&jq, jq_cell(".items[]", Some(response.clone()), &[])).await;
    assert_eq!(json_of(&each), json!([1, 2, 3]));

    let name = run_ok(&jq, jq_cell(".name", Some(response.clone()), &[])).await;
    assert_eq!(name.data, "\"databook\"");
    let raw = run_ok(&jq, jq_cell(".name", Some(response), &[("raw", "true")])).await;
    assert_eq!(
        raw,
        Output {
            mime: "text/plain".into(),
            data: "databook".into()
        }
    );

    // The whole response, status and headers included, through show=response.
    let full = run_ok(&http, cell(&server.url("/json"), &[("show", "response")])).await;
    let status = run_ok(&jq, jq_cell("[.status, .body.items[-1]]", Some(full), &[])).await;
    assert_eq!(json_of(&status), json!([200, 3]));
}

#[tokio::test]
async fn jq_without_input_runs_over_null() {
    let jq = load("jq", &[]).await;
    let output = run_ok(&jq, jq_cell(r#"{"a": [1, 2]} | .a | add"#, None, &[])).await;
    assert_eq!(json_of(&output), json!(3));
    let output = run_ok(&jq, jq_cell(".", None, &[])).await;
    assert_eq!(json_of(&output), json!(null));
    let output = run_ok(&jq, jq_cell("empty", None, &[])).await;
    assert_eq!(json_of(&output), json!([]));
}

#[tokio::test]
async fn jq_reads_text_input_as_a_string() {
    let jq = load("jq", &[]).await;
    let text = Output {
        mime: "text/plain".into(),
        data: "plain words here".into(),
    };
    let output = run_ok(&jq, jq_cell(r#"split(" ") | length"#, Some(text), &[])).await;
    assert_eq!(json_of(&output), json!(3));

    let broken = Output {
        mime: "application/json".into(),
        data: "{\"a\": ".into(),
    };
    let (message, _) = run_err(&jq, jq_cell(".", Some(broken), &[])).await;
    assert!(
        message.starts_with("the input (application/json) is not valid JSON"),
        "{message}"
    );
}

#[tokio::test]
async fn jq_syntax_errors_point_into_the_filter() {
    let jq = load("jq", &[]).await;
    let filter = ".items\n| map(. +)";
    let problems = jq.check(filter, &[]).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(&filter[problems[0].start..problems[0].end], ")");
    assert_eq!(problems[0].severity, Severity::Error);
    let (message, _) = run_err(&jq, jq_cell(filter, None, &[])).await;
    assert_eq!(
        message,
        format!(
            "the filter has an error at line 2, column 10: {}",
            problems[0].message
        )
    );

    let filter = ".a | frobnicate(1)";
    let problems = jq.check(filter, &[]).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(&filter[problems[0].start..problems[0].end], "frobnicate");
    assert_eq!(problems[0].message, "undefined filter `frobnicate/1`");

    // An unfinished filter is marked where it stops, before any blank lines.
    let problems = jq.check(".a |\n\n", &[]).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].start, problems[0].end), (4, 4));
    assert_eq!(
        problems[0].message,
        "expected term, but the filter ends here"
    );

    assert!(jq.check(".a | map(. + 1)", &[]).await.unwrap().is_empty());

    let (message, _) = run_err(&jq, jq_cell("1 | .a", None, &[])).await;
    assert_eq!(message, "the filter failed: cannot index 1 with \"a\"");
}

// ---------------------------------------------------------- prometheus --

/// Waits (at most about 30 s) until the scrapes have counted
/// themselves: `prometheus_http_requests_total{handler="/metrics"}`
/// appears from the second scrape on (and `up` from the first). Asks
/// through the plugin itself.
async fn wait_for_data(server: &mut Prometheus, plugin: &Plugin) {
    for _ in 0..150 {
        if let Some(status) = server.exited() {
            panic!("prometheus exited ({status}): {}", server.log());
        }
        let query = "prometheus_http_requests_total{handler=\"/metrics\"}";
        let report = plugin.run(cell(query, &[]), None).await;
        if let Ok(output) = report.result
            && !json_of(&output)["rows"].as_array().unwrap().is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("prometheus had not scraped itself twice after 30 s");
}

/// A started Prometheus with data, and the plugin pointed at it.
async fn prometheus_with_data() -> (Prometheus, Plugin) {
    let mut server = Prometheus::scraping_itself();
    let plugin = load("prometheus", &[("PROMETHEUS_URL", &server.url())]).await;
    wait_for_data(&mut server, &plugin).await;
    (server, plugin)
}

#[tokio::test]
async fn prometheus_instant_queries_give_tables() {
    let (server, plugin) = prometheus_with_data().await;
    let output = run_ok(&plugin, cell("up", &[])).await;
    assert_eq!(output.mime, "application/vnd.databook.table+json");
    let table = json_of(&output);
    assert_eq!(
        table["columns"],
        json!(["__name__", "instance", "job", "value"])
    );
    assert_eq!(
        table["rows"],
        json!([[
            "up",
            format!("127.0.0.1:{}", server.port),
            "prometheus",
            1.0
        ]])
    );

    let output = run_ok(
        &plugin,
        cell("sum by (handler) (prometheus_http_requests_total)", &[]),
    )
    .await;
    let table = json_of(&output);
    assert_eq!(table["columns"], json!(["handler", "value"]));
    let rows = table["rows"].as_array().unwrap();
    let metrics = rows
        .iter()
        .find(|row| row[0] == "/metrics")
        .unwrap_or_else(|| panic!("no /metrics row in {rows:?}"));
    assert!(metrics[1].as_f64().unwrap() >= 1.0, "{metrics:?}");

    let output = run_ok(&plugin, cell("1 + 1", &[])).await;
    assert_eq!(
        json_of(&output),
        json!({"columns": ["value"], "rows": [[2.0]]})
    );

    // Long before the server started, there was no data.
    let output = run_ok(&plugin, cell("up", &[("at", "2001-09-09T01:46:40Z")])).await;
    assert_eq!(json_of(&output)["rows"], json!([]));
}

#[tokio::test]
async fn prometheus_range_queries_give_time_series() {
    let (server, plugin) = prometheus_with_data().await;
    let output = run_ok(&plugin, cell("up", &[("range", "5m"), ("step", "1s")])).await;
    assert_eq!(output.mime, "application/vnd.databook.timeseries+json");
    let data = json_of(&output);
    let series = data["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{data}");
    assert_eq!(
        series[0]["labels"],
        json!({"__name__": "up", "instance": format!("127.0.0.1:{}", server.port),
               "job": "prometheus"})
    );
    let points = series[0]["points"].as_array().unwrap();
    assert!(!points.is_empty());
    for point in points {
        assert!(point[0].as_f64().unwrap() > 1.7e9, "{point}");
        assert_eq!(point[1], json!(1.0), "{point}");
    }

    // `at` as unix seconds ends the range: ten minutes long ago hold no
    // series at all.
    let output = run_ok(
        &plugin,
        cell("up", &[("range", "10m"), ("at", "1000000000")]),
    )
    .await;
    assert_eq!(json_of(&output), json!({"series": []}));

    let (message, hint) = run_err(&plugin, cell("up", &[("range", "soon")])).await;
    assert!(
        message.starts_with("range=soon is not a duration"),
        "{message}"
    );
    assert!(hint.unwrap().contains("15m"));
}

#[tokio::test]
async fn prometheus_completes_names_from_the_server() {
    let (_server, plugin) = prometheus_with_data().await;
    let labels = |items: Vec<databook_runtime::CompletionItem>| -> Vec<String> {
        items.into_iter().map(|item| item.label).collect()
    };

    let body = "rate(prometheus_http_req";
    let items = plugin.complete(body, body.len(), &[]).await.unwrap();
    assert!(
        items
            .iter()
            .any(|i| i.label == "prometheus_http_requests_total" && i.kind == ItemKind::Variable),
        "{items:?}"
    );
    assert!(
        labels(items)
            .iter()
            .all(|l| l.contains("prometheus_http_req"))
    );

    let body = "up{jo";
    let items = labels(plugin.complete(body, body.len(), &[]).await.unwrap());
    assert_eq!(items, ["job"]);

    let body = "prometheus_http_requests_total{handler=\"/metr";
    let items = labels(plugin.complete(body, body.len(), &[]).await.unwrap());
    assert_eq!(items, ["/metrics"]);

    // The cursor in the middle of the body: only the text before it counts.
    let body = "up{job=\"\"} + 1";
    let items = labels(plugin.complete(body, 8, &[]).await.unwrap());
    assert_eq!(items, ["prometheus"]);
}

#[tokio::test]
async fn prometheus_passes_its_errors_through() {
    let (_server, plugin) = prometheus_with_data().await;
    // Valid syntax, so only Prometheus can refuse it: a range of one
    // second's steps over a year is more points than it returns.
    let (message, hint) = run_err(&plugin, cell("up", &[("range", "365d"), ("step", "1s")])).await;
    assert!(message.contains("exceeded maximum resolution"), "{message}");
    assert!(hint.is_some());

    let (message, hint) = run_err(&plugin, cell("sum(up", &[])).await;
    assert!(message.contains("parse error"), "{message}");
    assert!(hint.unwrap().contains("line:column"));
}

#[tokio::test]
async fn prometheus_unreachable_names_the_url() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let plugin = load("prometheus", &[("PROMETHEUS_URL", &url)]).await;
    let (message, hint) = run_err(&plugin, cell("up", &[])).await;
    assert!(
        message.starts_with(&format!("cannot reach Prometheus at {url}: ")),
        "{message}"
    );
    assert!(hint.unwrap().contains("PROMETHEUS_URL"));

    // Completion has nowhere to show an error: it is empty.
    let items = plugin.complete("u", 1, &[]).await.unwrap();
    assert!(
        items.iter().all(|i| i.kind == ItemKind::Function),
        "{items:?}"
    );
}

#[tokio::test]
async fn prometheus_token_is_sent_as_bearer_and_masked() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    // A stand-in for Prometheus that refuses every query, quoting the
    // Authorization header it got in its error message.
    let app = axum::Router::new().route(
        "/api/v1/query",
        post(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .map_or("none", |v| v.to_str().unwrap())
                .to_string();
            let body = json!({"status": "error", "errorType": "bad_data",
                              "error": format!("got Authorization: {auth}")});
            (StatusCode::BAD_REQUEST, body.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let plugin = load(
        "prometheus",
        &[
            ("PROMETHEUS_URL", &url),
            ("PROMETHEUS_TOKEN", "s3cret-token"),
        ],
    )
    .await;
    let (message, _) = run_err(&plugin, cell("up", &[])).await;
    assert_eq!(message, "got Authorization: Bearer •••");

    let plugin = load("prometheus", &[("PROMETHEUS_URL", &url)]).await;
    let (message, _) = run_err(&plugin, cell("up", &[])).await;
    assert_eq!(message, "got Authorization: none");
}

#[tokio::test]
async fn prometheus_check_finds_syntax_errors_without_a_server() {
    // Nothing listens there: a check that called out would fail or hang.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let plugin = load("prometheus", &[("PROMETHEUS_URL", &url)]).await;
    let check = async |body: &str| {
        let problems = plugin.check(body, &[]).await.unwrap();
        assert!(problems.len() <= 1, "{problems:?}");
        problems
            .first()
            .map(|p| (body[p.start..p.end].to_string(), p.message.clone()))
    };
    assert_eq!(
        check("sum by (handler) (rate(prometheus_http_requests_total[5m]))").await,
        None
    );
    assert_eq!(
        check("sum(rate(x[5m])) +* 2").await,
        Some(("*".into(), "unexpected `*`".into()))
    );
    assert_eq!(
        check("rate(up[5x])").await,
        Some(("5x".into(), "bad number or duration syntax: 5x".into()))
    );
    assert_eq!(
        check("up{job=\"a\"} +").await,
        Some(("+".into(), "the query ends after `+`".into()))
    );
    let description = plugin.description();
    assert_eq!(description.language.as_deref(), Some("promql"));
    let options: Vec<&str> = description
        .options
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(options, ["range", "step", "at"]);
}

#[tokio::test]
async fn databook_exec_runs_the_built_in_prometheus() {
    let (server, _plugin) = prometheus_with_data().await;
    let home = tempfile::tempdir().unwrap();
    let output = common::databook(home.path())
        .args(["exec", "prometheus", "up"])
        .env("PROMETHEUS_URL", server.url())
        .env_remove("PROMETHEUS_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let table: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(table["rows"][0][2], "prometheus", "{table}");
    assert_eq!(table["rows"][0][3], 1.0, "{table}");
}

// ------------------------------------------- databook plugin new / build --

#[test]
fn plugin_new_scaffolds_a_crate_that_builds_and_runs() {
    let home = tempfile::tempdir().unwrap();
    let databook = |args: &[&str]| {
        let output = common::databook(home.path())
            .args(args)
            // Shared by every run of this test, so that wit-bindgen is
            // compiled once.
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded-plugins"),
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };

    let (code, stdout, stderr) = databook(&["plugin", "new", "greet"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("databook plugin build greet"), "{stdout}");
    let dir = home.path().join("greet");
    for file in [
        "config.toml",
        "Cargo.toml",
        "src/lib.rs",
        "wit/plugin.wit",
        "wit/runtime.wit",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.starts_with("name = \"greet\"\n"), "{config}");

    let (code, _, stderr) = databook(&["plugin", "new", "greet"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("greet already exists"), "{stderr}");
    let (code, _, stderr) = databook(&["plugin", "new", "Greet!"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot name a plugin"), "{stderr}");

    let (code, stdout, stderr) = databook(&["plugin", "build", "greet"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("built greet/plugin.wasm ("), "{stdout}");
    assert!(
        stdout.contains("loaded greet 0.1.0 (run, describe)"),
        "{stdout}"
    );
    assert!(dir.join("plugin.wasm").is_file());

    let (code, stdout, stderr) = databook(&[
        "exec",
        "--plugins",
        ".",
        "greet",
        "world",
        "--opt",
        "greeting=Hi",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "Hi, world!\n");

    let (code, _, stderr) = databook(&["plugin", "build", "nowhere"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nowhere is not a plugin crate"), "{stderr}");
}

// ------------------------------------------ prometheus through a notebook --

/// Queries in a notebook, run headless: an instant query writes a table, a
/// range query a time series, each under its cell.
#[tokio::test]
async fn prometheus_cells_run_in_a_notebook() {
    let (server, _plugin) = prometheus_with_data().await;
    let home = tempfile::tempdir().unwrap();
    let notebook = home.path().join("checks.dbk");
    std::fs::write(
        &notebook,
        "@plugin=prometheus name=up\nup\n@end\n\
         @plugin=prometheus name=history range=1m step=1s\nup\n",
    )
    .unwrap();
    let output = common::databook(home.path())
        .args(["run", "checks.dbk", "--json"])
        .env("PROMETHEUS_URL", server.url())
        .env_remove("PROMETHEUS_TOKEN")
        .output()
        .unwrap();
    let stderr = common::text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let written = std::fs::read_to_string(&notebook).unwrap();
    assert!(
        written.contains("@output status=ok mime=application/vnd.databook.table+json\n"),
        "{written}"
    );
    assert!(
        written.contains("@output status=ok mime=application/vnd.databook.timeseries+json\n> {"),
        "{written}"
    );
    let results: Vec<Value> = common::text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let series: Value = serde_json::from_str(results[1]["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        series["series"][0]["labels"]["job"], "prometheus",
        "{series}"
    );
    let points = series["series"][0]["points"].as_array().unwrap();
    assert!(!points.is_empty(), "{series}");
}

/// In an editor: completion inside a prometheus cell lists the server's
/// metrics, and a PromQL syntax error is a diagnostic on the body.
#[tokio::test]
async fn prometheus_completes_and_checks_in_the_editor() {
    let (server, _plugin) = prometheus_with_data().await;
    let home = tempfile::tempdir().unwrap();
    let url = server.url();
    let mut lsp = common::LspProcess::start(home.path(), &[("PROMETHEUS_URL", url.as_str())]);
    lsp.initialize(home.path());
    let uri = format!("file://{}/live.dbk", home.path().display());
    let text =
        "@plugin=prometheus\nprometheus_http_req\n@end\n@plugin=prometheus\nsum(rate(up[5m])\n";
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "databook", "version": 1, "text": text}}),
    );
    let published = lsp.until(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    let diagnostic = &published["params"]["diagnostics"][0];
    assert_eq!(diagnostic["source"], "prometheus", "{diagnostic}");
    assert_eq!(diagnostic["range"]["start"]["line"], 4, "{diagnostic}");

    let reply = lsp.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 19}}),
    );
    let labels: Vec<&str> = reply["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"prometheus_http_requests_total"),
        "{labels:?}"
    );
}
