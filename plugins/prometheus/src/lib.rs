//! `prometheus`: runs a cell's PromQL against Prometheus' HTTP API.
//!
//! An instant query by default; a range query when the cell has `range=`.
//! A matrix comes back as `application/vnd.databook.timeseries+json`, a
//! vector, a scalar or a string as `application/vnd.databook.table+json`
//! (the shapes of `plugins.md`). The server is `PROMETHEUS_URL` (default
//! `http://127.0.0.1:9090`), with `PROMETHEUS_TOKEN`, when set, sent as a
//! Bearer token. Completion asks the same server for names; `check` only
//! parses, with no network.

mod complete;
mod syntax;

wit_bindgen::generate!({
    world: "plugin-full",
    path: "../../wit/0.1",
});

use std::time::Duration;

use chrono::{DateTime, Utc};
use databook::plugin::runtime::{self, HttpError, Level, Request};
use databook::plugin::types::Output;
use exports::databook::plugin::checking::{self, Problem, Severity};
use exports::databook::plugin::completion::{self, Item, ItemKind};
use exports::databook::plugin::plugin::{Cell, Description, Guest, OptionDoc, RunError};
use serde_json::{Map, Value, json};

/// Where Prometheus is when `PROMETHEUS_URL` is not set.
const DEFAULT_URL: &str = "http://127.0.0.1:9090";

/// A range query's default number of steps: enough for a sparkline, few
/// enough to stay far below Prometheus' limit of 11,000 points a series.
const DEFAULT_STEPS: u32 = 60;

/// At most this many completion items are returned.
const MAX_ITEMS: usize = 200;

fn error(message: impl Into<String>, hint: impl Into<Option<String>>) -> RunError {
    RunError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// The server's base URL, without a trailing slash.
fn base_url() -> String {
    runtime::get_env("PROMETHEUS_URL")
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

/// What a cell's options ask for.
struct Query {
    /// `range=`: a range query over this long, ending at `at`.
    range: Option<Duration>,
    /// `step=`, or the default for the range.
    step: Option<Duration>,
    /// `at=`: the evaluation time (the end of a range), or now.
    at: Option<DateTime<Utc>>,
}

fn parse_duration(key: &str, value: &str) -> Result<Duration, RunError> {
    // promql-parser takes a bare number as seconds and panics on a negative
    // or non-finite one, so those are refused here first.
    let bad_number = value
        .parse::<f64>()
        .is_ok_and(|seconds| !seconds.is_finite() || seconds <= 0.0);
    let parsed = if bad_number {
        Err("it must be more than 0".to_string())
    } else {
        promql_parser::util::parse_duration(value)
    };
    parsed.map_err(|why| {
        error(
            format!("{key}={value} is not a duration: {why}"),
            Some("write a duration as PromQL does, such as 30s, 15m, 1h30m or 7d".to_string()),
        )
    })
}

fn parse_time(value: &str) -> Result<DateTime<Utc>, RunError> {
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
    {
        let whole = seconds.floor();
        let nanos = ((seconds - whole) * 1e9).round() as u32;
        if let Some(time) = DateTime::from_timestamp(whole as i64, nanos.min(999_999_999)) {
            return Ok(time);
        }
    }
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|why| {
            error(
                format!("at={value} is not a time: {why}"),
                Some(
                    "write an RFC 3339 time such as 2026-01-02T15:04:05Z, or unix seconds"
                        .to_string(),
                ),
            )
        })
}

impl Query {
    fn parse(options: &[(String, String)]) -> Result<Query, RunError> {
        let mut query = Query {
            range: None,
            step: None,
            at: None,
        };
        for (key, value) in options {
            match key.as_str() {
                "range" => query.range = Some(parse_duration(key, value)?),
                "step" => query.step = Some(parse_duration(key, value)?),
                "at" => query.at = Some(parse_time(value)?),
                _ => {
                    return Err(error(
                        format!("the prometheus plugin has no option {key:?}"),
                        Some("its options are range=, step= and at=".to_string()),
                    ));
                }
            }
        }
        if query.step.is_some() && query.range.is_none() {
            return Err(error(
                "step= applies to a range query, and this cell has no range=",
                Some("add range= (such as range=15m), or remove step=".to_string()),
            ));
        }
        Ok(query)
    }

    /// The API path and its form parameters for `promql`.
    fn request(&self, promql: &str) -> (&'static str, Vec<(&'static str, String)>) {
        let seconds =
            |time: DateTime<Utc>| format!("{:.3}", time.timestamp_millis() as f64 / 1000.0);
        let mut params = vec![("query", promql.to_string())];
        match self.range {
            None => {
                if let Some(at) = self.at {
                    params.push(("time", seconds(at)));
                }
                ("/api/v1/query", params)
            }
            Some(range) => {
                let end = self.at.unwrap_or_else(Utc::now);
                let start = end - chrono::Duration::from_std(range).unwrap_or_default();
                let step = self.step.unwrap_or_else(|| default_step(range));
                params.push(("start", seconds(start)));
                params.push(("end", seconds(end)));
                params.push(("step", format!("{:.3}", step.as_secs_f64())));
                ("/api/v1/query_range", params)
            }
        }
    }
}

/// The range divided into `DEFAULT_STEPS` steps, in whole seconds, at
/// least one.
fn default_step(range: Duration) -> Duration {
    Duration::from_secs(range.as_secs().div_ceil(u64::from(DEFAULT_STEPS)).max(1))
}

fn form(params: &[(&str, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

fn auth_headers() -> Vec<(String, String)> {
    match runtime::get_env("PROMETHEUS_TOKEN").filter(|t| !t.is_empty()) {
        Some(token) => vec![("Authorization".to_string(), format!("Bearer {token}"))],
        None => Vec::new(),
    }
}

/// The hint for a server that cannot be reached or refuses us.
fn url_hint(base: &str) -> String {
    format!(
        "is Prometheus running at {base}? Point PROMETHEUS_URL at it (in the environment or in databook.toml's [env])"
    )
}

/// How the parameters of a call are sent.
#[derive(Clone, Copy)]
enum Method {
    /// In the URL: `/api/v1/label/NAME/values` answers only GET.
    Get,
    /// As a form: a long query does not fit every URL length limit.
    Post,
}

/// Calls the API at `path` and returns its `data`, or the error to show.
fn call(
    base: &str,
    method: Method,
    path: &str,
    params: &[(&str, String)],
) -> Result<Value, RunError> {
    let mut url = format!("{base}{path}");
    let mut headers = auth_headers();
    let body = match method {
        Method::Get => {
            if !params.is_empty() {
                url = format!("{url}?{}", form(params));
            }
            Vec::new()
        }
        Method::Post => {
            headers.push((
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ));
            form(params).into_bytes()
        }
    };
    let method = match method {
        Method::Get => "GET",
        Method::Post => "POST",
    };
    let response = runtime::http_request(&Request {
        method: method.into(),
        url: url.clone(),
        headers,
        body,
    })
    .map_err(|e| match e {
        HttpError::Denied(origin) => error(
            format!("the prometheus plugin may not call {origin}"),
            Some(format!(
                "its grant follows PROMETHEUS_URL; check that databook.toml does not narrow [plugin.prometheus.permissions] http (PROMETHEUS_URL is {base})"
            )),
        ),
        HttpError::Invalid(what) => error(
            format!("cannot call Prometheus at {base}: {what}"),
            Some("PROMETHEUS_URL must be an http:// or https:// URL".to_string()),
        ),
        HttpError::Transport(cause) => error(
            format!("cannot reach Prometheus at {base}: {cause}"),
            Some(url_hint(base)),
        ),
        HttpError::TooLarge(limit) => error(
            format!("Prometheus' answer is larger than {limit} bytes, the most databook accepts"),
            Some("narrow the query, or give a range query a larger step=".to_string()),
        ),
    })?;
    let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
    let status = response.status;
    match parsed {
        Some(answer) if answer["status"] == "success" => {
            if let Some(warnings) = answer["warnings"].as_array() {
                for warning in warnings.iter().filter_map(Value::as_str) {
                    runtime::log(Level::Warn, &format!("Prometheus: {warning}"));
                }
            }
            Ok(answer["data"].clone())
        }
        Some(answer) if answer["status"] == "error" => {
            let kind = answer["errorType"].as_str().unwrap_or("error");
            let message = answer["error"].as_str().unwrap_or("no message").to_string();
            let hint = match kind {
                "bad_data" => "Prometheus could not run the query as written; the position, if any, is line:column in the query".to_string(),
                "timeout" => "the query took too long: narrow it, or give a range query a larger step=".to_string(),
                "execution" => "Prometheus failed while evaluating the query (too many points or samples?)".to_string(),
                other => format!("Prometheus answered {status} ({other})"),
            };
            Err(error(message, Some(hint)))
        }
        _ if status == 401 || status == 403 => Err(error(
            format!("Prometheus at {base} refused the request: HTTP {status}"),
            Some("set PROMETHEUS_TOKEN to a token it accepts (sent as a Bearer token)".to_string()),
        )),
        _ => {
            let text = String::from_utf8_lossy(&response.body);
            let start: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let start: String = start.chars().take(200).collect();
            Err(error(
                format!("{url} answered HTTP {status}, not Prometheus' API: {start}"),
                Some(url_hint(base)),
            ))
        }
    }
}

/// A sample value: Prometheus writes numbers as strings, so that NaN and
/// the infinities survive JSON. Finite ones become numbers.
fn number(value: &Value) -> Option<f64> {
    value
        .as_str()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// A table cell for a value: a number, or the string Prometheus wrote for
/// one JSON cannot hold (`NaN`, `+Inf`).
fn table_value(value: &Value) -> Value {
    match number(value) {
        Some(v) => json!(v),
        None => value.clone(),
    }
}

/// A timestamp and value pair, `[1732350000.0, "0.2"]`.
fn point(pair: &Value) -> Value {
    json!([pair[0].as_f64(), number(&pair[1])])
}

fn timeseries(result: &[Value]) -> Value {
    let series: Vec<Value> = result
        .iter()
        .map(|series| {
            let points: Vec<Value> = series["values"]
                .as_array()
                .map(|values| values.iter().map(point).collect())
                .unwrap_or_default();
            json!({"labels": series["metric"], "points": points})
        })
        .collect();
    json!({ "series": series })
}

fn table(result: &[Value]) -> Value {
    let labels = |sample: &Value| sample["metric"].as_object().cloned().unwrap_or_default();
    let mut names: Vec<String> = result
        .iter()
        .flat_map(|sample| labels(sample).into_iter().map(|(name, _)| name))
        .collect();
    names.sort();
    names.dedup();
    let rows: Vec<Value> = result
        .iter()
        .map(|sample| {
            let metric: Map<String, Value> = labels(sample);
            let mut row: Vec<Value> = names
                .iter()
                .map(|name| metric.get(name).cloned().unwrap_or(Value::Null))
                .collect();
            row.push(table_value(&sample["value"][1]));
            Value::Array(row)
        })
        .collect();
    let mut columns = names;
    columns.push("value".to_string());
    json!({"columns": columns, "rows": rows})
}

/// The query's `data` as a databook output.
fn output(data: &Value) -> Result<Output, RunError> {
    let result = &data["result"];
    let (mime, value) = match (data["resultType"].as_str(), result) {
        (Some("matrix"), Value::Array(series)) => (
            "application/vnd.databook.timeseries+json",
            timeseries(series),
        ),
        (Some("vector"), Value::Array(samples)) => {
            ("application/vnd.databook.table+json", table(samples))
        }
        (Some("scalar"), pair) => (
            "application/vnd.databook.table+json",
            json!({"columns": ["value"], "rows": [[table_value(&pair[1])]]}),
        ),
        (Some("string"), pair) => (
            "application/vnd.databook.table+json",
            json!({"columns": ["value"], "rows": [[pair[1]]]}),
        ),
        (kind, _) => {
            return Err(error(
                format!(
                    "Prometheus answered a result of type {kind:?}, which databook does not read"
                ),
                None,
            ));
        }
    };
    Ok(Output {
        mime: mime.to_string(),
        data: value.to_string(),
    })
}

/// The strings in a `/api/v1/label…` answer's data.
fn names(base: &str, path: &str, metric: Option<&str>) -> Vec<String> {
    let mut params = Vec::new();
    if let Some(metric) = metric {
        params.push(("match[]", metric.to_string()));
    }
    match call(base, Method::Get, path, &params) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        Ok(_) => Vec::new(),
        Err(failure) => {
            // Completion cannot show an error; the log says why it is empty.
            runtime::log(Level::Warn, &failure.message);
            Vec::new()
        }
    }
}

/// The candidates that contain `word` (ignoring case), those that start
/// with it first.
fn filtered(candidates: Vec<String>, word: &str) -> Vec<String> {
    let word = word.to_ascii_lowercase();
    let (mut starting, containing): (Vec<String>, Vec<String>) = candidates
        .into_iter()
        .filter(|c| c.to_ascii_lowercase().contains(&word))
        .partition(|c| c.to_ascii_lowercase().starts_with(&word));
    starting.extend(containing);
    starting.truncate(MAX_ITEMS);
    starting
}

fn item(label: String, kind: ItemKind, detail: &str) -> Item {
    Item {
        label,
        insert: None,
        detail: Some(detail.to_string()),
        documentation: None,
        kind,
    }
}

struct Prometheus;

impl Guest for Prometheus {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let query = Query::parse(&cell.options)?;
        let promql = cell.body.trim();
        if promql.is_empty() {
            return Err(error(
                "the cell has no query",
                Some("write a PromQL expression, such as `up`".to_string()),
            ));
        }
        let base = base_url();
        let (path, params) = query.request(promql);
        let data = call(&base, Method::Post, path, &params)?;
        output(&data)
    }

    fn describe() -> Description {
        let option = |name: &str, documentation: &str| OptionDoc {
            name: name.to_string(),
            documentation: documentation.to_string(),
        };
        Description {
            language: Some("promql".to_string()),
            options: vec![
                option(
                    "range",
                    "Makes the cell a range query over this duration, ending at `at` \
                     (such as `15m`, `1h30m`, `7d`). The result is a time series \
                     (`application/vnd.databook.timeseries+json`; a NaN or infinite \
                     sample is a `null` point). Without `range`, the query is an \
                     instant query and the result is a table of the label names \
                     then `value`.",
                ),
                option(
                    "step",
                    "The resolution of a range query (such as `30s`). Default: the \
                     range divided by 60, in whole seconds, at least `1s`, so a \
                     series has about 60 points.",
                ),
                option(
                    "at",
                    "The evaluation time (for a range query, its end): an RFC 3339 \
                     time such as `2026-01-02T15:04:05Z`, or unix seconds. Default: now.",
                ),
            ],
        }
    }
}

impl completion::Guest for Prometheus {
    fn complete(body: String, offset: u32, _options: Vec<(String, String)>) -> Vec<Item> {
        let mut offset = (offset as usize).min(body.len());
        while !body.is_char_boundary(offset) {
            offset -= 1;
        }
        let base = base_url();
        match complete::context(&body[..offset]) {
            complete::Context::Metric { word } => {
                let metrics = names(&base, "/api/v1/label/__name__/values", None);
                let mut items: Vec<Item> = filtered(metrics, &word)
                    .into_iter()
                    .map(|name| item(name, ItemKind::Variable, "metric"))
                    .collect();
                let functions = complete::FUNCTIONS.iter().map(|f| f.to_string()).collect();
                items.extend(
                    filtered(functions, &word)
                        .into_iter()
                        .map(|name| item(name, ItemKind::Function, "function")),
                );
                items
            }
            complete::Context::LabelName { metric, word } => {
                let labels = names(&base, "/api/v1/labels", metric.as_deref());
                filtered(labels, &word)
                    .into_iter()
                    .filter(|name| name != "__name__")
                    .map(|name| item(name, ItemKind::Field, "label"))
                    .collect()
            }
            complete::Context::LabelValue {
                metric,
                label,
                word,
            } => {
                let path = format!("/api/v1/label/{label}/values");
                let values = names(&base, &path, metric.as_deref());
                filtered(values, &word)
                    .into_iter()
                    .map(|value| {
                        // Inside double quotes, a backslash and a quote are
                        // escaped.
                        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                        Item {
                            insert: (escaped != value).then_some(escaped),
                            ..item(value, ItemKind::Value, &format!("{label} value"))
                        }
                    })
                    .collect()
            }
            complete::Context::None => Vec::new(),
        }
    }
}

impl checking::Guest for Prometheus {
    fn check(body: String, _options: Vec<(String, String)>) -> Vec<Problem> {
        syntax::check(&body)
            .map(|error| Problem {
                start: error.range.start as u32,
                end: error.range.end as u32,
                severity: Severity::Error,
                message: error.message,
            })
            .into_iter()
            .collect()
    }
}

export!(Prometheus);
