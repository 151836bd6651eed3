//! `http`: makes the HTTP request a cell writes, in the syntax of `.http`
//! files (see `request.rs`), and returns the response's body.
//!
//! The request goes through the host's `http-request`, so it reaches only
//! the origins the plugin was granted: loopback on any port by default,
//! more when a workspace's `databook.toml` says so.

mod request;

wit_bindgen::generate!({
    world: "plugin-checking",
    path: "../../wit/0.1",
});

use databook::plugin::runtime::{self, HttpError, Response};
use databook::plugin::types::Output;
use exports::databook::plugin::checking::{self, Problem, Severity};
use exports::databook::plugin::plugin::{Cell, Description, Guest, OptionDoc, RunError};
use http_types::StatusCode;

/// How much of an error response's body an error message quotes.
const QUOTED_BODY: usize = 300;

/// What a run returns of the response (`show=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    /// The body: `application/json` when it is JSON, else `text/plain`.
    Body,
    /// The status line and headers, as text.
    Headers,
    /// The status line, headers, a blank line and the body, as text.
    All,
    /// `{"status", "headers", "body"}` as JSON, for a `jq` cell to take apart.
    Response,
}

/// Which statuses are a result rather than an error (`allow-status=`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    /// 2xx only, the default.
    Success,
    /// Every status.
    Any,
    /// 2xx, and these codes or classes (a class is `4` for `4xx`).
    Listed { codes: Vec<u16>, classes: Vec<u16> },
}

impl Allowed {
    fn allows(&self, status: u16) -> bool {
        let success = (200..300).contains(&status);
        match self {
            Allowed::Success => success,
            Allowed::Any => true,
            Allowed::Listed { codes, classes } => {
                success || codes.contains(&status) || classes.contains(&(status / 100))
            }
        }
    }
}

struct Options {
    show: Show,
    allowed: Allowed,
}

fn usage(message: String, hint: &str) -> RunError {
    RunError {
        message,
        hint: Some(hint.to_string()),
    }
}

impl Options {
    fn parse(options: &[(String, String)]) -> Result<Options, RunError> {
        let mut parsed = Options {
            show: Show::Body,
            allowed: Allowed::Success,
        };
        for (key, value) in options {
            match key.as_str() {
                "show" => {
                    parsed.show = match value.as_str() {
                        "body" => Show::Body,
                        "headers" => Show::Headers,
                        "all" => Show::All,
                        "response" => Show::Response,
                        _ => {
                            return Err(usage(
                                format!("show={value} is not something the http plugin shows"),
                                "write show=body (the default), show=headers, show=all or show=response",
                            ));
                        }
                    }
                }
                "allow-status" => parsed.allowed = parse_allowed(value)?,
                _ => {
                    return Err(usage(
                        format!("the http plugin has no option {key:?}"),
                        "its options are show= and allow-status=",
                    ));
                }
            }
        }
        Ok(parsed)
    }
}

fn parse_allowed(value: &str) -> Result<Allowed, RunError> {
    if value == "any" {
        return Ok(Allowed::Any);
    }
    let mut codes = Vec::new();
    let mut classes = Vec::new();
    for item in value.split(',').map(str::trim) {
        let class = item
            .strip_suffix("xx")
            .and_then(|digit| digit.parse::<u16>().ok())
            .filter(|digit| (1..=5).contains(digit));
        match (class, item.parse::<u16>()) {
            (Some(class), _) => classes.push(class),
            (None, Ok(code)) if (100..600).contains(&code) => codes.push(code),
            _ => {
                return Err(usage(
                    format!("allow-status={value}: {item:?} is not a status or a class of them"),
                    "write allow-status=any, or a list such as allow-status=404,5xx",
                ));
            }
        }
    }
    Ok(Allowed::Listed { codes, classes })
}

/// `200 OK`, or the code alone for one without a standard reason.
fn status_line(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a `content-type` is JSON: `application/json`, or any `+json`
/// type such as `application/problem+json`.
fn is_json_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// The response's body as text, or a note saying what it is when it is
/// not text (an image, an archive).
fn body_text(response: &Response) -> Result<&str, String> {
    std::str::from_utf8(&response.body).map_err(|_| {
        let kind = header(response, "content-type").unwrap_or("an unknown type");
        format!(
            "({} bytes of {kind}, which is not text)",
            response.body.len()
        )
    })
}

/// The body parsed as JSON, when the server says it is JSON and it is.
fn body_json(response: &Response) -> Option<serde_json::Value> {
    let content_type = header(response, "content-type")?;
    if !is_json_type(content_type) {
        return None;
    }
    serde_json::from_slice(&response.body).ok()
}

fn headers_text(response: &Response) -> String {
    let mut text = status_line(response.status);
    text.push('\n');
    for (name, value) in &response.headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text
}

fn render(show: Show, response: &Response) -> Output {
    let text = |data: String| Output {
        mime: "text/plain".into(),
        data,
    };
    match show {
        Show::Body => match (body_json(response), body_text(response)) {
            (Some(_), Ok(body)) => Output {
                mime: "application/json".into(),
                data: body.to_string(),
            },
            (None, Ok(body)) => text(body.to_string()),
            (_, Err(note)) => text(note),
        },
        Show::Headers => text(headers_text(response)),
        Show::All => {
            let body = body_text(response).map_or_else(|note| note, str::to_string);
            text(format!("{}\n{body}", headers_text(response)))
        }
        Show::Response => {
            // Headers as an object, as a jq filter reads them
            // (`.headers["content-type"]`); a repeated header's values are
            // joined with ", " as HTTP allows.
            let mut headers = serde_json::Map::new();
            for (name, value) in &response.headers {
                match headers.get_mut(name) {
                    Some(serde_json::Value::String(joined)) => {
                        joined.push_str(", ");
                        joined.push_str(value);
                    }
                    _ => {
                        headers.insert(name.clone(), value.clone().into());
                    }
                }
            }
            let body = body_json(response).unwrap_or_else(|| {
                body_text(response)
                    .map_or_else(|note| note, str::to_string)
                    .into()
            });
            let value = serde_json::json!({
                "status": response.status,
                "headers": headers,
                "body": body,
            });
            Output {
                mime: "application/json".into(),
                data: value.to_string(),
            }
        }
    }
}

/// The first `QUOTED_BODY` characters of a body, on one line.
fn quoted_body(response: &Response) -> Option<String> {
    let body = String::from_utf8_lossy(&response.body);
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.is_empty() {
        return None;
    }
    Some(match body.char_indices().nth(QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body,
    })
}

fn status_error(method: &str, url: &str, response: &Response) -> RunError {
    let mut message = format!("{method} {url} answered {}", status_line(response.status));
    if let Some(body) = quoted_body(response) {
        message.push_str(": ");
        message.push_str(&body);
    }
    RunError {
        message,
        hint: Some(format!(
            "to take this response as the result, add allow-status={} (or allow-status=any) to the cell's header",
            response.status
        )),
    }
}

/// The scheme, host and port of `url`, as the host writes an origin.
fn starts_at_origin(url: &str, origin: &str) -> bool {
    url.strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

fn request_error(url: &str, error: HttpError) -> RunError {
    match error {
        HttpError::Denied(origin) => RunError {
            message: if starts_at_origin(url, &origin) {
                format!("the http plugin may not call {origin}")
            } else {
                format!("{url} redirected to {origin}, which the http plugin may not call")
            },
            hint: Some(format!(
                "grant it in databook.toml:\n[plugin.http.permissions]\nhttp = [\"http://127.0.0.1:*\", \"http://localhost:*\", \"{origin}\"]\n(the list replaces the plugin's own, so keep the ones you still need)"
            )),
        },
        HttpError::Invalid(what) => RunError {
            message: format!("the request cannot be sent: {what}"),
            hint: None,
        },
        HttpError::Transport(cause) => RunError {
            message: format!("could not reach {url}: {cause}"),
            hint: Some("is the server running, and are its host and port right?".into()),
        },
        HttpError::TooLarge(limit) => RunError {
            message: format!(
                "the response from {url} is larger than {limit} bytes, the most databook accepts"
            ),
            hint: None,
        },
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

struct Http;

impl Guest for Http {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let options = Options::parse(&cell.options)?;
        let mut request = request::parse(&cell.body).map_err(|error| RunError {
            message: format!("line {}: {}", line_of(&cell.body, error.start), error.message),
            hint: Some(
                "a request is `METHOD URL`, then `Name: value` header lines, a blank line and the body"
                    .into(),
            ),
        })?;
        // A JSON body sent without a Content-Type is almost always meant as
        // JSON; servers that read it by type would otherwise refuse it.
        let has_type = request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !has_type
            && !request.body.trim().is_empty()
            && serde_json::from_str::<serde_json::Value>(&request.body).is_ok()
        {
            request
                .headers
                .push(("Content-Type".into(), "application/json".into()));
        }
        let response = runtime::http_request(&runtime::Request {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers,
            body: request.body.into_bytes(),
        })
        .map_err(|error| request_error(&request.url, error))?;
        if !options.allowed.allows(response.status) {
            return Err(status_error(&request.method, &request.url, &response));
        }
        Ok(render(options.show, &response))
    }

    fn describe() -> Description {
        let option = |name: &str, documentation: &str| OptionDoc {
            name: name.into(),
            documentation: documentation.into(),
        };
        Description {
            language: Some("http".into()),
            options: vec![
                option(
                    "show",
                    "What to return of the response:\n\
                     - `body` (default): the body, as `application/json` when the server \
                     says it is JSON, else as text;\n\
                     - `headers`: the status line and the headers;\n\
                     - `all`: the status line, the headers, a blank line and the body;\n\
                     - `response`: JSON `{\"status\": 200, \"headers\": {...}, \"body\": ...}` \
                     (header names in lower case, a repeated header's values joined with \
                     `, `; the body parsed when it is JSON, else a string), for a `jq` cell.",
                ),
                option(
                    "allow-status",
                    "Statuses outside 2xx that are a result rather than an error: `any`, or \
                     a list such as `404,5xx`. By default a status outside 2xx is an error \
                     whose message gives the status and the start of the body.",
                ),
            ],
        }
    }
}

impl checking::Guest for Http {
    fn check(body: String, _options: Vec<(String, String)>) -> Vec<Problem> {
        match request::parse(&body) {
            Ok(_) => Vec::new(),
            Err(error) => vec![Problem {
                start: error.start as u32,
                end: error.end as u32,
                severity: Severity::Error,
                message: error.message,
            }],
        }
    }
}

export!(Http);
