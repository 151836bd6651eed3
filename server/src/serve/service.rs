//! The `databook.v1.Databook` service: `Get` runs a plugin in a fresh
//! instance, `ListPlugins` says what was loaded. It holds the registry,
//! loaded once at start, and nothing that one call could leave for another.

use std::sync::Arc;
use std::time::Duration;

use databook_runtime::{Cell, Failure, LookupError, Plugin, Registry, Stream, Timeout};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

use super::metrics::{Metrics, UNKNOWN_PLUGIN};
use super::proto;

/// The binary metadata key that carries a plugin's hint with its error.
pub const HINT_KEY: &str = "databook-hint-bin";

pub struct DatabookService {
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
}

impl DatabookService {
    pub fn new(registry: Arc<Registry>, metrics: Arc<Metrics>) -> DatabookService {
        DatabookService { registry, metrics }
    }
}

#[tonic::async_trait]
impl proto::databook_server::Databook for DatabookService {
    async fn get(
        &self,
        request: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetResponse>, Status> {
        let deadline = client_deadline(request.metadata());
        let proto::GetRequest {
            plugin: name,
            input,
            options,
        } = request.into_inner();
        let plugin = match self.registry.get(&name) {
            Ok(plugin) => plugin.clone(),
            Err(error) => {
                let (label, code) = match &error {
                    LookupError::Unknown { .. } => (UNKNOWN_PLUGIN, Code::NotFound),
                    LookupError::Failed { .. } => (name.as_str(), Code::FailedPrecondition),
                };
                self.metrics.refused(label, code);
                return Err(Status::new(code, error.to_string()));
            }
        };
        // Counts the run as in flight until it is answered, or cancelled by
        // the client going away (tonic then drops this future, and with it
        // the run's instance).
        let guard = self.metrics.start(&name);
        let cell = Cell {
            body: input,
            options: options.into_iter().map(|o| (o.key, o.value)).collect(),
            input: None,
        };
        let result = run(&plugin, cell, deadline).await;
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        guard.finish(code);
        result.map(Response::new)
    }

    async fn list_plugins(
        &self,
        _request: Request<proto::ListPluginsRequest>,
    ) -> Result<Response<proto::ListPluginsResponse>, Status> {
        let plugins = self
            .registry
            .entries()
            .iter()
            .map(|entry| proto::PluginInfo {
                name: entry.name.clone(),
                source: entry.source.to_string(),
                status: Some(match &entry.plugin {
                    Ok(plugin) => proto::plugin_info::Status::Loaded(describe(plugin)),
                    Err(error) => proto::plugin_info::Status::LoadError(error.to_string()),
                }),
            })
            .collect();
        Ok(Response::new(proto::ListPluginsResponse { plugins }))
    }
}

/// Runs `cell` through `plugin` within the client's deadline, if it set
/// one, and turns the report into the call's answer.
async fn run(
    plugin: &Plugin,
    cell: Cell,
    deadline: Option<Duration>,
) -> Result<proto::GetResponse, Status> {
    // Answer a little before the deadline, so that the client hears why the
    // run stopped rather than only that its own timer ran out (tonic's
    // server and client both cancel the call at the deadline itself).
    let limit = deadline.map(|d| d.saturating_sub(slack(d)));
    let by_deadline = limit.is_some_and(|l| l < plugin.time_limit(None));
    let deadline_passed = || {
        let deadline = Timeout(deadline.unwrap_or_default());
        Status::deadline_exceeded(format!(
            "the plugin did not finish within the call's deadline of {deadline}"
        ))
    };
    let report = match limit {
        // The limit covers waiting for a free instance as well as the run,
        // since the client's deadline does.
        Some(limit) => match tokio::time::timeout(limit, plugin.run(cell, Some(limit))).await {
            Ok(report) => report,
            Err(_elapsed) => return Err(deadline_passed()),
        },
        None => plugin.run(cell, None).await,
    };
    match report.result {
        Ok(output) => Ok(proto::GetResponse {
            mime: output.mime,
            data: output.data,
            logs: report
                .logs
                .into_iter()
                .map(|line| proto::LogLine {
                    level: line.level.to_string(),
                    stream: match line.stream {
                        Stream::Log => "log",
                        Stream::Stdout => "stdout",
                        Stream::Stderr => "stderr",
                    }
                    .to_string(),
                    message: line.message,
                })
                .collect(),
        }),
        Err(Failure::Timeout(_)) if by_deadline => Err(deadline_passed()),
        Err(failure) => Err(status_of(&failure)),
    }
}

/// How much earlier than the client's deadline a run is stopped: a tenth of
/// it, at most 100 ms; enough for the answer to cross the network before the
/// client gives up.
fn slack(deadline: Duration) -> Duration {
    (deadline / 10).min(Duration::from_millis(100))
}

/// The gRPC status for a run that gave no output: the code says what kind
/// of failure it was, the message is the plugin's (or the host's), and a
/// plugin's hint rides along in binary metadata.
pub fn status_of(failure: &Failure) -> Status {
    let code = match failure {
        // The plugin refused this input: the request is at fault.
        Failure::Plugin { .. } => Code::InvalidArgument,
        Failure::Timeout(_) => Code::DeadlineExceeded,
        Failure::Memory(_)
        | Failure::OutputTooLarge { .. }
        | Failure::Busy(_)
        | Failure::MemoryBudget { .. } => Code::ResourceExhausted,
        // A crash is a bug in the plugin and a host fault one in databook:
        // neither is the caller's, and neither goes away on a retry, which
        // ABORTED or UNAVAILABLE would invite.
        Failure::Trap { .. } | Failure::Exited(_) | Failure::Host(_) => Code::Internal,
    };
    let mut status = Status::new(code, failure.to_string());
    if let Some(hint) = failure.hint() {
        status
            .metadata_mut()
            .insert_bin(HINT_KEY, MetadataValue::from_bytes(hint.as_bytes()));
    }
    status
}

/// What a loaded plugin is, may touch and is allowed, for `ListPlugins`.
fn describe(plugin: &Plugin) -> proto::LoadedPlugin {
    let plugin = plugin.summary();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    proto::LoadedPlugin {
        exports: plugin
            .optional_exports()
            .iter()
            .map(|e| e.to_string())
            .collect(),
        permissions: Some(proto::Permissions {
            env: plugin.env.into_iter().map(|(name, _)| name).collect(),
            secrets: plugin.secrets,
            http: plugin
                .origins
                .into_iter()
                .map(|(origin, _)| origin)
                .collect(),
        }),
        limits: Some(proto::Limits {
            timeout_ms: millis(plugin.limits.timeout.0),
            memory_bytes: plugin.limits.memory.0,
            output_bytes: plugin.limits.output.0,
        }),
        version: plugin.version,
        description: plugin.description,
    }
}

/// The client's deadline, from the `grpc-timeout` header, when it sent a
/// valid one.
fn client_deadline(metadata: &MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses a `grpc-timeout` value: at most eight digits and a unit (`H`,
/// `M`, `S`, `m`, `u`, `n`), as gRPC over HTTP/2 defines it.
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(value * 3600),
        'M' => Duration::from_secs(value * 60),
        'S' => Duration::from_secs(value),
        'm' => Duration::from_millis(value),
        'u' => Duration::from_micros(value),
        'n' => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use databook_runtime::ByteSize;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let cases = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("250m", Duration::from_millis(250)),
            ("99999999u", Duration::from_micros(99_999_999)),
            ("7n", Duration::from_nanos(7)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_grpc_timeout(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for text in [
            "",
            "m",
            "10",
            "123456789m",
            "1.5S",
            "-1S",
            "10s",
            "10 m",
            "1é",
        ] {
            assert_eq!(parse_grpc_timeout(text), None, "{text:?}");
        }
    }

    #[test]
    fn slack_is_a_tenth_of_the_deadline_up_to_100ms() {
        assert_eq!(slack(Duration::from_millis(300)), Duration::from_millis(30));
        assert_eq!(slack(Duration::from_secs(60)), Duration::from_millis(100));
    }

    #[test]
    fn failures_map_to_their_codes_with_the_plugins_message() {
        let plugin = Failure::Plugin {
            message: "no such metric".into(),
            hint: Some("try `up` — it always exists".into()),
        };
        let status = status_of(&plugin);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "no such metric");
        let hint = status
            .metadata()
            .get_bin(HINT_KEY)
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_eq!(&hint[..], "try `up` — it always exists".as_bytes());

        let cases = [
            (
                Failure::Timeout(Timeout(Duration::from_secs(2))),
                Code::DeadlineExceeded,
            ),
            (Failure::Memory(ByteSize(64 << 20)), Code::ResourceExhausted),
            (Failure::Busy(16), Code::ResourceExhausted),
            (Failure::Exited(1), Code::Internal),
            (
                Failure::OutputTooLarge {
                    size: ByteSize(2 << 20),
                    limit: ByteSize(1 << 20),
                },
                Code::ResourceExhausted,
            ),
            (
                Failure::Trap {
                    message: "unreachable".into(),
                },
                Code::Internal,
            ),
            (Failure::Host("no slot".into()), Code::Internal),
        ];
        for (failure, code) in cases {
            let status = status_of(&failure);
            assert_eq!(status.code(), code, "{failure}");
            assert_eq!(status.message(), failure.to_string());
            assert!(status.metadata().get_bin(HINT_KEY).is_none());
        }
    }
}
