//! `databook call PLUGIN [INPUT]`: `databook exec`, but run by a `databook
//! serve` over gRPC. The same output and exit codes: 0 on a result, 1 on
//! the plugin's error, 2 when it could not be run (usage, unknown plugin,
//! no connection).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use databook_runtime::Timeout;
use tonic::transport::Endpoint;
use tonic::{Code, Request, Status};

use crate::exec::{parse_option, parse_timeout};
use crate::serve::proto::databook_client::DatabookClient;
use crate::serve::proto::{CellOption, GetRequest};
use crate::serve::{DEFAULT_ADDR, HINT_KEY};
use databook::terminal;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The service's address: HOST:PORT or an http:// URL.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// The plugin to run.
    pub plugin: String,
    /// The cell body to give it; read from stdin when absent.
    pub input: Option<String>,
    /// An option for the plugin, as a cell header would give it; repeatable.
    #[arg(long = "opt", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub options: Vec<(String, String)>,
    /// The call's deadline (such as 500ms or 2s), which the service takes as
    /// the run's time limit when it is below the plugin's own.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

pub async fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let url = endpoint_url(&args.addr)?;
    let body = crate::exec::read_input(args.input.as_deref())?;
    let channel = Endpoint::from_shared(url.clone())
        .with_context(|| format!("{:?} is not a valid address", args.addr))?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|error| {
            // Tonic's chain repeats itself ("transport error: tcp connect
            // error: tcp connect error: ..."); its root says what happened.
            let mut cause: &dyn std::error::Error = &error;
            while let Some(source) = cause.source() {
                cause = source;
            }
            anyhow::anyhow!("cannot connect to {url}: {cause}")
        })?;
    let mut client = DatabookClient::new(channel)
        // A plugin's output may be as large as its limit says; let the
        // server's own message limit be the only one.
        .max_decoding_message_size(usize::MAX);
    let mut request = Request::new(GetRequest {
        plugin: args.plugin.clone(),
        input: body,
        options: args
            .options
            .iter()
            .map(|(key, value)| CellOption {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    });
    if let Some(timeout) = args.timeout {
        request.set_timeout(timeout);
    }
    let status = match client.get(request).await {
        Ok(response) => {
            let response = response.into_inner();
            for line in &response.logs {
                terminal::print_log(&args.plugin, &line.level, &line.message);
            }
            terminal::print_result(&response.mime, &response.data)?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(status) => status,
    };
    let (code, message) = explain(&status, args.timeout, &url);
    if code == 1 {
        let hint = status
            .metadata()
            .get_bin(HINT_KEY)
            .and_then(|hint| hint.to_bytes().ok())
            .map(|hint| String::from_utf8_lossy(&hint).into_owned());
        terminal::print_error(&args.plugin, &message, hint.as_deref());
    } else {
        eprintln!("error: {}", terminal::escape_controls(&message));
    }
    Ok(ExitCode::from(code))
}

/// The exit code for a failed call, and what to tell the user.
fn explain(status: &Status, timeout: Option<Duration>, url: &str) -> (u8, String) {
    match status.code() {
        // The plugin ran and failed: exit 1, as `databook exec` does.
        Code::InvalidArgument
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Internal => (1, status.message().to_string()),
        // Tonic's client cancels a call whose deadline passed before any
        // answer came; that is the deadline's doing, not the user's.
        Code::Cancelled if timeout.is_some() => (
            1,
            format!(
                "no answer within the call's deadline of {}",
                Timeout(timeout.unwrap_or_default())
            ),
        ),
        // The server's own words: the plugin is unknown or failed to load.
        Code::NotFound | Code::FailedPrecondition => (2, status.message().to_string()),
        code => (
            2,
            format!(
                "{url} answered {}: {}",
                crate::serve::code_name(code),
                status.message()
            ),
        ),
    }
}

/// The URL to connect to: `ADDR` as given when it is an `http://` URL,
/// otherwise `http://ADDR`.
fn endpoint_url(addr: &str) -> anyhow::Result<String> {
    match addr.split_once("://") {
        None => Ok(format!("http://{addr}")),
        Some(("http", _)) => Ok(addr.to_string()),
        Some(("https", _)) => anyhow::bail!(
            "{addr}: TLS is not supported; serve plain gRPC on a trusted network, or put a TLS-terminating proxy in front"
        ),
        Some((scheme, _)) => anyhow::bail!(
            "{addr}: unsupported scheme {scheme:?} (use HOST:PORT or http://HOST:PORT)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_http_urls() {
        assert_eq!(
            endpoint_url("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            endpoint_url("http://[::1]:7000").unwrap(),
            "http://[::1]:7000"
        );
        assert!(endpoint_url("https://example.test:443").is_err());
        assert!(endpoint_url("ftp://example.test").is_err());
    }

    #[test]
    fn run_failures_exit_1_and_the_rest_exit_2() {
        let url = "http://127.0.0.1:1";
        let code = |status: Status, timeout| explain(&status, timeout, url).0;
        assert_eq!(code(Status::invalid_argument("bad"), None), 1);
        assert_eq!(code(Status::deadline_exceeded("slow"), None), 1);
        assert_eq!(code(Status::resource_exhausted("big"), None), 1);
        assert_eq!(code(Status::internal("crashed"), None), 1);
        assert_eq!(
            code(
                Status::cancelled("Timeout expired"),
                Some(Duration::from_secs(1))
            ),
            1
        );
        assert_eq!(code(Status::cancelled("gone"), None), 2);
        assert_eq!(code(Status::not_found("unknown plugin"), None), 2);
        assert_eq!(code(Status::failed_precondition("broken"), None), 2);
        assert_eq!(code(Status::unavailable("refused"), None), 2);
        assert_eq!(
            explain(&Status::unimplemented("nope"), None, url).1,
            "http://127.0.0.1:1 answered UNIMPLEMENTED: nope"
        );
    }
}
