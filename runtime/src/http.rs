//! The host side of `http-request`: reqwest, behind the plugin's origin
//! allow-list, which is checked before connecting and on every redirect.

use std::sync::Arc;

use url::Url;

use crate::grant::{Grant, OriginPattern};
use crate::host::{HttpError, Request, Response};

/// At most this many redirects are followed for one request.
const MAX_REDIRECTS: usize = 10;

/// One plugin's HTTP client: its grant is built into the redirect policy.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    grant: Arc<Grant>,
    /// The largest response body accepted, in bytes.
    max_body: u64,
}

/// A redirect to an origin the plugin was not granted: carried through
/// reqwest's error so the plugin gets `denied` with the origin.
#[derive(Debug)]
struct DeniedRedirect(String);

impl std::fmt::Display for DeniedRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to {} denied", self.0)
    }
}

impl std::error::Error for DeniedRedirect {}

fn origin_text(url: &Url) -> String {
    OriginPattern::of_url(url).map_or_else(|| url.origin().ascii_serialization(), |o| o.to_string())
}

/// Headers a plugin may not set.
const FORBIDDEN_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

impl HttpClient {
    pub(crate) fn new(grant: Arc<Grant>, max_body: u64) -> Result<HttpClient, String> {
        let policy_grant = grant.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if policy_grant.allows(attempt.url()) {
                attempt.follow()
            } else {
                let origin = origin_text(attempt.url());
                attempt.error(DeniedRedirect(origin))
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .user_agent(concat!("databook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpClient {
            client,
            grant,
            max_body,
        })
    }

    /// Makes the request if its origin is granted; the body is read up to
    /// the limit.
    pub(crate) async fn send(&self, request: Request) -> Result<Response, HttpError> {
        let url = Url::parse(&request.url)
            .map_err(|e| HttpError::Invalid(format!("{:?} is not a URL: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::Invalid(format!(
                "{:?}: only http and https URLs can be requested",
                request.url
            )));
        }
        if !self.grant.allows(&url) {
            return Err(HttpError::Denied(origin_text(&url)));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            HttpError::Invalid(format!("{:?} is not an HTTP method", request.method))
        })?;
        // These say where the request goes and how it is framed: the grant
        // was checked against the URL, so they come from the URL and the
        // body, never from the plugin.
        if let Some((name, _)) = request.headers.iter().find(|(name, _)| {
            FORBIDDEN_HEADERS
                .iter()
                .any(|forbidden| name.trim().eq_ignore_ascii_case(forbidden))
        }) {
            return Err(HttpError::Invalid(format!(
                "a plugin may not set the {name:?} header: databook sets it from the URL and the body"
            )));
        }
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(HttpError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn transport_error(&self, error: reqwest::Error) -> HttpError {
        let mut source: Option<&dyn std::error::Error> = Some(&error);
        while let Some(cause) = source {
            if let Some(DeniedRedirect(origin)) = cause.downcast_ref::<DeniedRedirect>() {
                return HttpError::Denied(origin.clone());
            }
            source = cause.source();
        }
        if error.is_builder() {
            return HttpError::Invalid(error_chain(&error));
        }
        HttpError::Transport(error_chain(&error))
    }
}

/// An error and its causes, in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
