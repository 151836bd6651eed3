//! What a plugin's instance lives in: the store's data, the host functions
//! of `wit/runtime.wit`, and the limits each run is held to.
//!
//! Every host function checks the plugin's grant before it does anything;
//! a refusal is a WIT error value the plugin can report, never a trap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::grant::{Grant, mask};
use crate::http::HttpClient;

// The host functions are those of the newest API version; older versions'
// imports, when there are any, are linked to these.
pub(crate) use crate::api::v0_1::PluginFull;
use crate::api::v0_1::databook;
pub(crate) use crate::api::v0_1::databook::plugin::runtime::{
    HttpError, Level as WitLevel, Request, Response,
};
pub(crate) use crate::api::v0_1::exports::databook::plugin::{
    checking, completion, plugin as plugin_exports,
};

/// How much of a run's log (its `log` calls and its stdout and stderr) is
/// kept; the rest is dropped with a note saying so. Every line counts
/// `LINE_COST` bytes besides its text, so that empty lines are bounded too.
const LOG_CAP: usize = 64 << 10;
const LINE_COST: usize = 64;
/// At most this many lines of a run that failed are handed back: its last.
pub(crate) const FAILED_RUN_LINES: usize = 50;
/// How many plugin log lines a second, across all runs, reach the host's
/// own log; the rest are counted and said once the second is over.
const HOST_LOG_PER_SECOND: u32 = 100;

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The plugin's `log` calls.
    Log,
    /// What the plugin printed on stdout.
    Stdout,
    /// What the plugin printed on stderr.
    Stderr,
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub stream: Stream,
    pub message: String,
}

/// The data of one run's store: its WASI context (empty), its grant, its
/// limits and what it has logged.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    grant: Arc<Grant>,
    http: HttpClient,
    plugin: Arc<str>,
    logs: Vec<LogLine>,
    log_bytes: usize,
    /// Secret values the plugin has read: these are masked in what it returns.
    pub(crate) secrets_read: Vec<String>,
    stdout: CappedPipe,
    stderr: CappedPipe,
}

impl HostState {
    pub(crate) fn new(
        plugin: Arc<str>,
        grant: Arc<Grant>,
        http: HttpClient,
        memory_limit: u64,
    ) -> HostState {
        let stdout = CappedPipe::new(LOG_CAP);
        let stderr = CappedPipe::new(LOG_CAP);
        // Nothing in it: no arguments, no environment, no preopened
        // folders, no network; stdin is empty and the output is captured.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_limit,
                exceeded: false,
            },
            grant,
            http,
            plugin,
            logs: Vec::new(),
            log_bytes: 0,
            secrets_read: Vec::new(),
            stdout,
            stderr,
        }
    }

    /// Whether the log has room for another line.
    fn log_is_open(&self) -> bool {
        self.log_bytes < LOG_CAP
    }

    fn push_log(&mut self, level: Level, stream: Stream, message: String) {
        if !self.log_is_open() {
            return;
        }
        self.log_bytes += message.len() + LINE_COST;
        if self.log_bytes >= LOG_CAP {
            self.logs.push(LogLine {
                level: Level::Warn,
                stream: Stream::Log,
                message: format!("(the log was cut at {} KiB)", LOG_CAP >> 10),
            });
        }
        self.logs.push(LogLine {
            level,
            stream,
            message,
        });
    }

    /// The run's log, with the guest's stdout and stderr as lines after its
    /// `log` calls, every secret it read masked.
    pub(crate) fn take_logs(&mut self) -> Vec<LogLine> {
        for (stream, level, pipe) in [
            (Stream::Stdout, Level::Info, self.stdout.clone()),
            (Stream::Stderr, Level::Warn, self.stderr.clone()),
        ] {
            let (text, cut) = pipe.contents();
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                self.push_log(level, stream, line.to_string());
            }
            if cut {
                self.push_log(
                    Level::Warn,
                    stream,
                    format!("(the plugin's output was cut at {} KiB)", LOG_CAP >> 10),
                );
            }
        }
        let mut logs = std::mem::take(&mut self.logs);
        for line in &mut logs {
            mask(&mut line.message, &self.secrets_read);
        }
        logs
    }

    /// The last lines the plugin wrote to stderr (where a Rust panic
    /// message goes), for the message of a crash.
    pub(crate) fn stderr_tail(&self) -> Option<String> {
        let (text, _) = self.stderr.contents();
        let mut tail = text.trim().to_string();
        if tail.is_empty() {
            return None;
        }
        mask(&mut tail, &self.secrets_read);
        Some(tail)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl databook::plugin::types::Host for HostState {}

impl databook::plugin::runtime::Host for HostState {
    async fn http_request(&mut self, request: Request) -> Result<Response, HttpError> {
        let result = self.http.send(request).await;
        if let Err(error) = &result {
            tracing::debug!(plugin = %self.plugin, ?error, "http-request failed");
        }
        result
    }

    fn get_env(&mut self, name: String) -> Option<String> {
        let value = self.grant.env(&name)?.to_string();
        if self.grant.is_secret(&name) && !self.secrets_read.contains(&value) {
            self.secrets_read.push(value.clone());
        }
        Some(value)
    }

    fn log(&mut self, level: WitLevel, message: String) {
        let level = match level {
            WitLevel::Trace => Level::Trace,
            WitLevel::Debug => Level::Debug,
            WitLevel::Info => Level::Info,
            WitLevel::Warn => Level::Warn,
            WitLevel::Error => Level::Error,
        };
        if !self.log_is_open() {
            return;
        }
        if host_log_allows() {
            let mut masked = message.clone();
            mask(&mut masked, &self.secrets_read);
            // Quoted and escaped (`{:?}`): a line break in a plugin's
            // message must not forge a line of the host's log.
            match level {
                Level::Trace => tracing::trace!(plugin = %self.plugin, "{masked:?}"),
                Level::Debug => tracing::debug!(plugin = %self.plugin, "{masked:?}"),
                Level::Info => tracing::info!(plugin = %self.plugin, "{masked:?}"),
                Level::Warn => tracing::warn!(plugin = %self.plugin, "{masked:?}"),
                Level::Error => tracing::error!(plugin = %self.plugin, "{masked:?}"),
            }
        }
        self.push_log(level, Stream::Log, message);
    }
}

/// Whether one more plugin line may go to the host's own log this second.
fn host_log_allows() -> bool {
    static WINDOW: Mutex<Option<(std::time::Instant, u32, u64)>> = Mutex::new(None);
    let mut window = WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    let now = std::time::Instant::now();
    let (start, count, dropped) = window.get_or_insert((now, 0, 0));
    if now.duration_since(*start) >= Duration::from_secs(1) {
        if *dropped > 0 {
            tracing::warn!("{dropped} plugin log lines were left out of this log");
        }
        *window = Some((now, 1, 0));
        return true;
    }
    if *count < HOST_LOG_PER_SECOND {
        *count += 1;
        true
    } else {
        *dropped += 1;
        false
    }
}

/// Refuses to grow a memory or table past the plugin's limit, and notes that
/// it did, so that the run's error can name the limit instead of the
/// allocation failure the guest turns it into.
pub(crate) struct MemoryLimiter {
    limit: u64,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.limit;
        self.exceeded |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer; count it as such against the limit.
        let allowed = (desired as u64).saturating_mul(8) <= self.limit;
        self.exceeded |= !allowed;
        Ok(allowed)
    }
}

/// A guest's stdout or stderr: keeps the first `cap` bytes and drops the
/// rest (noting that it did), so a chatty plugin can neither fill the host's
/// memory nor crash for writing too much.
#[derive(Clone)]
struct CappedPipe {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    cap: usize,
}

impl CappedPipe {
    fn new(cap: usize) -> CappedPipe {
        CappedPipe {
            inner: Arc::new(Mutex::new((Vec::new(), false))),
            cap,
        }
    }

    fn contents(&self) -> (String, bool) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (String::from_utf8_lossy(&inner.0).into_owned(), inner.1)
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(inner.0.len());
        let kept = room.min(buf.len());
        inner.0.extend_from_slice(&buf[..kept]);
        inner.1 |= kept < buf.len();
        // Everything is accepted: what does not fit is dropped, not refused.
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// How long an idle ticker waits between epochs: the granularity of time
/// limits and of the yields that let many runs share a thread.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);
