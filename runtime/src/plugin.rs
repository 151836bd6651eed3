//! A loaded plugin: compiled once, pre-instantiated once, then run in a
//! fresh store and instance for every call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest as _;
use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::config::{Manifest, Permissions};
use crate::discovery::Source;
use crate::engine::{Runtime, RuntimeInner};
use crate::error::{Failure, LoadError};
use crate::grant::{Grant, mask};
use crate::host::{FAILED_RUN_LINES, HostState, LogLine, checking, completion, plugin_exports};
use crate::http::HttpClient;
use databook_stdx::{ByteSize, Timeout};

/// The longest a plugin's `describe` may take at load, whatever its limit.
pub const DESCRIBE_LIMIT: Duration = Duration::from_secs(2);

/// The longest `complete` and `check` may take: they answer an editor
/// while the user types, whatever the plugin's limit for a run.
pub const EDITOR_LIMIT: Duration = Duration::from_secs(1);

/// A result: a MIME type and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub mime: String,
    pub data: String,
}

/// What a run is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    /// The cell's body.
    pub body: String,
    /// The header's options, databook's own removed.
    pub options: Vec<(String, String)>,
    /// The latest full output of the `input=` cell.
    pub input: Option<Output>,
}

/// What a run produced, with its log and how long it took.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub result: Result<Output, Failure>,
    pub logs: Vec<LogLine>,
    pub elapsed: Duration,
}

/// What a plugin says about itself, from its `describe` export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description {
    /// The language of a cell's body, for highlighting.
    pub language: Option<String>,
    /// The options the plugin accepts, with their documentation.
    pub options: Vec<OptionDoc>,
}

/// One option a plugin accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDoc {
    pub name: String,
    pub documentation: String,
}

/// What sort of thing a completion item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Keyword,
    Function,
    Variable,
    Field,
    Value,
    Text,
}

/// A suggestion from a plugin's `complete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionItem {
    pub label: String,
    pub insert: Option<String>,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    pub kind: ItemKind,
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// A problem a plugin's `check` found in a body, at byte offsets into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub start: usize,
    pub end: usize,
    pub severity: Severity,
    pub message: String,
}

/// A plugin, ready to run. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    name: Arc<str>,
    manifest: Manifest,
    source: Source,
    /// The permissions in force: the manifest's, as the workspace changed them.
    permissions: Permissions,
    grant: Arc<Grant>,
    description: Description,
    http: HttpClient,
    runtime: Arc<RuntimeInner>,
    pre: InstancePre<HostState>,
    exports: plugin_exports::GuestIndices,
    completion: Option<completion::GuestIndices>,
    checking: Option<checking::GuestIndices>,
    /// The plugin's share of the runtime's instances (`limits.concurrency`).
    share: tokio::sync::Semaphore,
    /// The SHA-256 of its wasm.
    digest: [u8; 32],
}

/// A call's reply, with the run's log.
struct Called<R> {
    reply: Result<R, Failure>,
    logs: Vec<LogLine>,
}

/// The future of one call into a guest, borrowing the plugin and the store.
type GuestCall<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// Text a plugin supplied, in which every secret it read is replaced by
/// `•••`. Every reply type of [`Plugin::call`] implements it, so that no
/// reply can leave a call unmasked.
trait Masked {
    fn mask(&mut self, secrets: &[String]);
}

impl Masked for String {
    fn mask(&mut self, secrets: &[String]) {
        mask(self, secrets);
    }
}

impl<T: Masked> Masked for Option<T> {
    fn mask(&mut self, secrets: &[String]) {
        if let Some(value) = self {
            value.mask(secrets);
        }
    }
}

impl<T: Masked> Masked for Vec<T> {
    fn mask(&mut self, secrets: &[String]) {
        for item in self {
            item.mask(secrets);
        }
    }
}

impl<T: Masked, E: Masked> Masked for Result<T, E> {
    fn mask(&mut self, secrets: &[String]) {
        match self {
            Ok(value) => value.mask(secrets),
            Err(error) => error.mask(secrets),
        }
    }
}

impl Masked for Failure {
    fn mask(&mut self, secrets: &[String]) {
        match self {
            Failure::Plugin { message, hint } => {
                message.mask(secrets);
                hint.mask(secrets);
            }
            Failure::Trap { message } | Failure::Host(message) => message.mask(secrets),
            Failure::Timeout(_)
            | Failure::Memory(_)
            | Failure::OutputTooLarge { .. }
            | Failure::Exited(_)
            | Failure::Busy(_)
            | Failure::MemoryBudget { .. } => {}
        }
    }
}

impl Masked for Output {
    fn mask(&mut self, secrets: &[String]) {
        self.mime.mask(secrets);
        self.data.mask(secrets);
    }
}

impl Masked for CompletionItem {
    fn mask(&mut self, secrets: &[String]) {
        self.label.mask(secrets);
        self.insert.mask(secrets);
        self.detail.mask(secrets);
        self.documentation.mask(secrets);
    }
}

impl Masked for Problem {
    fn mask(&mut self, secrets: &[String]) {
        self.message.mask(secrets);
    }
}

impl Masked for Description {
    fn mask(&mut self, secrets: &[String]) {
        self.language.mask(secrets);
        for option in &mut self.options {
            option.name.mask(secrets);
            option.documentation.mask(secrets);
        }
    }
}

impl Plugin {
    /// Everything of a load but `describe`, none of it waiting: reads and
    /// checks the config, compiles (or loads from the cache) the component,
    /// checks its API version, links it, and resolves its grant with
    /// `permissions` (the workspace's version of the manifest's) and
    /// `lookup` (variables). Compiling holds the thread, so loads that run
    /// together do this part one after another and only then describe.
    pub(crate) fn prepare(
        runtime: &Runtime,
        name: &str,
        source: &Source,
        permissions: impl FnOnce(&Manifest) -> Permissions,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Plugin, LoadError> {
        let config_path = source.config_path();
        let wasm_path = source.wasm_path();
        let io_error = |path: &std::path::Path, e: std::io::Error| LoadError::Io {
            path: path.to_path_buf(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            },
        };
        let manifest = match source {
            Source::Dir(_) => {
                let text =
                    std::fs::read_to_string(&config_path).map_err(|e| io_error(&config_path, e))?;
                Manifest::parse(&text, &config_path, name)?
            }
            Source::Builtin(builtin) => Manifest::parse(builtin.config, &config_path, name)?,
        };
        let wasm: std::borrow::Cow<'_, [u8]> = match source {
            Source::Dir(_) => std::fs::read(&wasm_path)
                .map_err(|e| io_error(&wasm_path, e))?
                .into(),
            Source::Builtin(builtin) => builtin.wasm.into(),
        };
        let digest: [u8; 32] = sha2::Sha256::digest(&wasm).into();
        let component = runtime.compile(&wasm, &digest, &wasm_path)?;
        let incompatible = |message: String| LoadError::Incompatible {
            path: wasm_path.clone(),
            message,
        };
        crate::api::check(crate::api::exported_version(&wasm)).map_err(incompatible)?;
        drop(wasm);
        let pre = runtime.inner.linker.instantiate_pre(&component).map_err(|e| {
            incompatible(format!(
                "it needs something databook does not provide: {e:#} (only wit/runtime.wit and an empty WASI are offered)"
            ))
        })?;
        let exports = plugin_exports::GuestIndices::new(&pre).map_err(|e| {
            incompatible(format!(
                "it does not export databook:plugin/plugin@0.1.0 ({e}); was it built against wit/plugin.wit?"
            ))
        })?;
        let permissions = permissions(&manifest);
        let concurrency = manifest.limits.concurrency;
        let grant =
            Arc::new(
                Grant::resolve(&permissions, lookup).map_err(|message| LoadError::Grant {
                    path: config_path.clone(),
                    message,
                })?,
            );
        // A response body larger than the plugin's memory could never be
        // handed to it anyway.
        let http = HttpClient::new(grant.clone(), manifest.limits.memory.0).map_err(|message| {
            LoadError::Grant {
                path: config_path.clone(),
                message: format!("cannot set up its HTTP client: {message}"),
            }
        })?;
        let plugin = Plugin {
            inner: Arc::new(PluginInner {
                name: name.into(),
                completion: completion::GuestIndices::new(&pre).ok(),
                checking: checking::GuestIndices::new(&pre).ok(),
                manifest,
                source: source.clone(),
                permissions,
                grant,
                description: Description::default(),
                http,
                runtime: runtime.inner.clone(),
                pre,
                exports,
                share: tokio::sync::Semaphore::new(concurrency as usize),
                digest,
            }),
        };
        Ok(plugin)
    }

    /// Asks a prepared plugin to describe itself (and checks the types of
    /// its optional exports), within [`DESCRIBE_LIMIT`].
    pub(crate) async fn describe(mut self) -> Result<Plugin, LoadError> {
        let plugin = &mut self;
        let wasm_path = plugin.inner.source.wasm_path();
        // Whatever a plugin's own limit, describing itself may not hold up
        // the start of the program that loads it.
        let timeout = plugin.inner.manifest.limits.timeout.0.min(DESCRIBE_LIMIT);
        let described = plugin
            .call(
                timeout,
                |inner, store, instance| {
                    Box::pin(async move {
                        let guest = inner.exports.load(&mut *store, &instance)?;
                        // Check the optional exports' types now, once, so that a
                        // mismatch is a load error rather than a failure later.
                        if let Some(completion) = &inner.completion {
                            completion.load(&mut *store, &instance)?;
                        }
                        if let Some(checking) = &inner.checking {
                            checking.load(&mut *store, &instance)?;
                        }
                        let d = guest.call_describe(&mut *store).await?;
                        Ok(Description {
                            language: d.language,
                            options: d
                                .options
                                .into_iter()
                                .map(|o| OptionDoc {
                                    name: o.name,
                                    documentation: o.documentation,
                                })
                                .collect(),
                        })
                    })
                },
                |called| called.reply,
            )
            .await;
        let description = described.map_err(|failure| LoadError::Describe {
            path: wasm_path,
            failure,
        })?;
        Arc::get_mut(&mut plugin.inner)
            .expect("not shared before it is returned")
            .description = description;
        Ok(self)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn source(&self) -> &Source {
        &self.inner.source
    }

    /// The permissions in force (the workspace may have changed the
    /// manifest's).
    pub fn permissions(&self) -> &Permissions {
        &self.inner.permissions
    }

    /// The permissions resolved: variable values and origins.
    pub fn grant(&self) -> &Grant {
        &self.inner.grant
    }

    pub fn description(&self) -> &Description {
        &self.inner.description
    }

    /// The SHA-256 of the plugin's wasm: a rebuilt plugin has another.
    pub fn wasm_digest(&self) -> &[u8; 32] {
        &self.inner.digest
    }

    /// Whether the plugin exports `complete`.
    pub fn can_complete(&self) -> bool {
        self.inner.completion.is_some()
    }

    /// Whether the plugin exports `check`.
    pub fn can_check(&self) -> bool {
        self.inner.checking.is_some()
    }

    /// The time limit for a run that asks for `requested`: the plugin's own
    /// limit is the default and the ceiling.
    pub fn time_limit(&self, requested: Option<Duration>) -> Duration {
        let ceiling = self.inner.manifest.limits.timeout.0;
        requested.map_or(ceiling, |t| t.min(ceiling))
    }

    /// Runs a cell in a fresh instance. Dropping the returned future cancels
    /// the run at once (the instance is thrown away).
    pub async fn run(&self, cell: Cell, timeout: Option<Duration>) -> RunReport {
        self.run_then(cell, timeout, |report| report).await
    }

    /// Runs a cell in a fresh instance, as [`Plugin::run`], and hands the
    /// report to `then` as soon as it is in hand, before the instance is
    /// torn down (a third of a small run: BENCHMARKS.md); what `then`
    /// returns comes back once the instance is gone and its slot free.
    pub async fn run_then<T>(
        &self,
        cell: Cell,
        timeout: Option<Duration>,
        then: impl FnOnce(RunReport) -> T,
    ) -> T {
        let started = Instant::now();
        let limit = self.inner.manifest.limits.output;
        // A secret whose value is in the body (put there by `{{NAME}}`, or
        // pasted) was handed to the plugin as surely as one it read: it is
        // masked in what the run returns too.
        let grant = &self.inner.grant;
        let revealed: Vec<String> = grant
            .secrets()
            .iter()
            .filter_map(|name| grant.env(name))
            .filter(|value| !value.is_empty() && cell.body.contains(*value))
            .map(str::to_string)
            .collect();
        let cell = plugin_exports::Cell {
            body: cell.body,
            options: cell.options,
            input: cell.input.map(|o| plugin_exports::Output {
                mime: o.mime,
                data: o.data,
            }),
        };
        let report = |Called { reply, logs }: Called<Result<Output, Failure>>| {
            let result = match reply.and_then(|result| result) {
                // The MIME type goes into the notebook's `@output` header: a
                // line break in it would write lines of the plugin's choosing.
                Ok(output) if !databook_stdx::is_mime_type(&output.mime) => Err(Failure::Plugin {
                    message: format!(
                        "the plugin returned {:?} as its MIME type, which is not one (write it like text/plain or application/json)",
                        output.mime
                    ),
                    hint: None,
                }),
                Ok(output) if output.data.len() as u64 > limit.0 => Err(Failure::OutputTooLarge {
                    size: ByteSize(output.data.len() as u64),
                    limit,
                }),
                other => other,
            };
            let elapsed = started.elapsed();
            if let Err(failure) = &result {
                tracing::debug!(plugin = %self.inner.name, %failure, ?elapsed, "run failed");
            }
            then(RunReport {
                result,
                logs,
                elapsed,
            })
        };
        self.call(
            self.time_limit(timeout),
            |inner, store, instance| {
                Box::pin(async move {
                    store.data_mut().secrets_read.extend(revealed);
                    let guest = inner.exports.load(&mut *store, &instance)?;
                    let result = guest.call_run(&mut *store, &cell).await?;
                    Ok(result
                        .map(|output| Output {
                            mime: output.mime,
                            data: output.data,
                        })
                        .map_err(|error| Failure::Plugin {
                            message: error.message,
                            hint: error.hint,
                        }))
                })
            },
            report,
        )
        .await
    }

    /// Asks the plugin what may go at byte `offset` of `body`; nothing when
    /// it does not complete.
    pub async fn complete(
        &self,
        body: &str,
        offset: usize,
        options: &[(String, String)],
    ) -> Result<Vec<CompletionItem>, Failure> {
        if !self.can_complete() {
            return Ok(Vec::new());
        }
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let (body, options) = (body.to_string(), options.to_vec());
        self.call(
            self.time_limit(Some(EDITOR_LIMIT)),
            |inner, store, instance| {
                Box::pin(async move {
                    let Some(guest) = &inner.completion else {
                        return Ok(Vec::new());
                    };
                    let guest = guest.load(&mut *store, &instance)?;
                    let items = guest
                        .call_complete(&mut *store, &body, offset, &options)
                        .await?;
                    Ok(items
                        .into_iter()
                        .map(|item| CompletionItem {
                            label: item.label,
                            insert: item.insert,
                            detail: item.detail,
                            documentation: item.documentation,
                            kind: match item.kind {
                                completion::ItemKind::Keyword => ItemKind::Keyword,
                                completion::ItemKind::Function => ItemKind::Function,
                                completion::ItemKind::Variable => ItemKind::Variable,
                                completion::ItemKind::Field => ItemKind::Field,
                                completion::ItemKind::Value => ItemKind::Value,
                                completion::ItemKind::Text => ItemKind::Text,
                            },
                        })
                        .collect())
                })
            },
            |called| called.reply,
        )
        .await
    }

    /// Asks the plugin for problems in `body`; none when it does not check.
    pub async fn check(
        &self,
        body: &str,
        options: &[(String, String)],
    ) -> Result<Vec<Problem>, Failure> {
        if !self.can_check() {
            return Ok(Vec::new());
        }
        let (text, options) = (body.to_string(), options.to_vec());
        self.call(
            self.time_limit(Some(EDITOR_LIMIT)),
            |inner, store, instance| {
                Box::pin(async move {
                    let Some(guest) = &inner.checking else {
                        return Ok(Vec::new());
                    };
                    let guest = guest.load(&mut *store, &instance)?;
                    let problems = guest.call_check(&mut *store, &text, &options).await?;
                    Ok(problems
                        .into_iter()
                        .map(|p| {
                            // Clamp to the body so a careless plugin cannot
                            // point past it.
                            let end = (p.end as usize).min(text.len());
                            Problem {
                                start: (p.start as usize).min(end),
                                end,
                                severity: match p.severity {
                                    checking::Severity::Error => Severity::Error,
                                    checking::Severity::Warning => Severity::Warning,
                                    checking::Severity::Info => Severity::Info,
                                },
                                message: p.message,
                            }
                        })
                        .collect())
                })
            },
            |called| called.reply,
        )
        .await
    }

    /// Makes one call in a fresh store and instance, within the plugin's
    /// limits and the time limit `timeout`: `guest` gets the plugin, the
    /// store and the new instance, and calls the export it needs. Whatever
    /// it returns is masked, and handed to `then` before the instance is
    /// torn down; what `then` returns is returned after.
    async fn call<R: Masked + Send + 'static, T>(
        &self,
        timeout: Duration,
        guest: impl for<'a> FnOnce(
            &'a PluginInner,
            &'a mut Store<HostState>,
            wasmtime::component::Instance,
        ) -> GuestCall<'a, R>,
        then: impl FnOnce(Called<R>) -> T,
    ) -> T {
        let inner = &*self.inner;
        let limits = inner.manifest.limits;
        // First the plugin's own share, then one of the process's slots,
        // then its memory limit's worth of the process's budget (all of it,
        // for a limit larger than the budget); the wait is bounded by the
        // call's limit. No semaphore is ever closed while this plugin holds
        // them.
        let runtime = &inner.runtime;
        let memory = crate::engine::mib(limits.memory.0).min(crate::engine::mib(runtime.budget.0));
        let waiting_for_memory = std::sync::atomic::AtomicBool::new(false);
        let slots = async {
            let share = inner.share.acquire().await;
            let slot = runtime.permits.acquire().await;
            waiting_for_memory.store(true, std::sync::atomic::Ordering::Relaxed);
            let memory = runtime.memory.acquire_many(memory).await;
            (share, slot, memory)
        };
        let Ok(permits) = tokio::time::timeout(timeout, slots).await else {
            let failure = if waiting_for_memory.load(std::sync::atomic::Ordering::Relaxed) {
                Failure::MemoryBudget {
                    limit: limits.memory,
                    budget: runtime.budget,
                }
            } else {
                Failure::Busy(limits.concurrency)
            };
            return then(Called {
                reply: Err(failure),
                logs: Vec::new(),
            });
        };
        let state = HostState::new(
            inner.name.clone(),
            inner.grant.clone(),
            inner.http.clone(),
            limits.memory.0,
        );
        let mut store = Store::new(&inner.runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);

        let work = async {
            let instance = inner.pre.instantiate_async(&mut store).await?;
            guest(inner, &mut store, instance).await
        };
        let outcome = tokio::time::timeout(timeout, work).await;
        let state = store.data_mut();
        let mut reply = match outcome {
            Err(_elapsed) => Err(Failure::Timeout(Timeout(timeout))),
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(classify(error, state, limits.memory)),
        };
        if !state.secrets_read.is_empty() {
            reply.mask(&state.secrets_read);
        }
        let mut logs = state.take_logs();
        // A run that failed (a loop, a flood) keeps only its last lines.
        if reply.is_err() && logs.len() > FAILED_RUN_LINES {
            let left_out = logs.len() - FAILED_RUN_LINES;
            logs.drain(..left_out);
            logs.insert(
                0,
                LogLine {
                    level: crate::host::Level::Warn,
                    stream: crate::host::Stream::Log,
                    message: format!("({left_out} earlier lines of this failed run were left out)"),
                },
            );
        }
        let handed = then(Called { reply, logs });
        // The instance goes (its slot reset and freed), then the permits.
        drop(store);
        drop(permits);
        handed
    }
}

/// Turns a wasmtime error into what the user is told: which limit was hit,
/// or the trap and what the plugin printed before it (a panic's message).
fn classify(error: wasmtime::Error, state: &HostState, memory: ByteSize) -> Failure {
    if state.limiter.exceeded {
        return Failure::Memory(memory);
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Failure::Exited(exit.0);
    }
    let Some(trap) = error.downcast_ref::<wasmtime::Trap>() else {
        // Not the guest's doing: instantiation or the host failed.
        return Failure::Host(format!("{error:#}"));
    };
    let trap = match trap {
        wasmtime::Trap::StackOverflow => "stack overflow".to_string(),
        other => other.to_string(),
    };
    let message = match state.stderr_tail() {
        Some(stderr) => {
            // A Rust panic prints `thread '<unnamed>' (1) panicked at FILE:`,
            // its message, and advice about RUST_BACKTRACE that a plugin's
            // user cannot follow; keep what says what happened.
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|line| !line.starts_with("note: run with `RUST_BACKTRACE"))
                .map(
                    |line| match (line.starts_with("thread '"), line.find("panicked at")) {
                        (true, Some(at)) => &line[at..],
                        _ => line,
                    },
                )
                .collect();
            let last = lines[lines.len().saturating_sub(5)..].join("\n");
            format!("{last} ({trap})")
        }
        None => trap,
    };
    Failure::Trap { message }
}
