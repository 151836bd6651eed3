//! The one wasmtime `Engine` of the process, its epoch ticker, the linker
//! with the host functions, and compilation with an on-disk cache of
//! precompiled plugins.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use databook_stdx::ByteSize;

use crate::error::LoadError;
use crate::host::{EPOCH_TICK, HostState, PluginFull};

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Use wasmtime's pooling allocator (fast instantiation from
    /// preallocated slots) rather than allocating each instance on demand.
    pub pooling: bool,
    /// Where precompiled plugins are cached; none to compile every time.
    pub cache_dir: Option<PathBuf>,
    /// How many instances may exist at once; further runs wait their turn.
    pub max_instances: u32,
    /// What the memory limits of the runs under way may add up to at most;
    /// a run whose limit does not fit waits (within its own time limit)
    /// rather than letting the process grow past it.
    pub memory_budget: ByteSize,
    /// With the pooling allocator: how much of each linear memory and table
    /// stays resident when a slot is freed (see [`KEEP_RESIDENT`], the
    /// default); 0 gives every page back.
    pub keep_resident: usize,
}

/// The default memory budget: room for 32 runs at the default 64 MiB limit.
pub const DEFAULT_MEMORY_BUDGET: ByteSize = ByteSize(2 << 30);

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            pooling: true,
            cache_dir: dirs::cache_dir().map(|d| d.join("databook").join("plugins")),
            max_instances: 64,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            keep_resident: KEEP_RESIDENT,
        }
    }
}

/// The runtime: one per process, cheap to clone, shared by every plugin.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    /// One permit per instance slot, so that a burst of runs waits rather
    /// than failing when the pool is full.
    pub(crate) permits: Semaphore,
    /// The memory budget, one permit per MiB: a run holds as many as its
    /// memory limit while it runs.
    pub(crate) memory: Semaphore,
    pub(crate) budget: ByteSize,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// `bytes` in whole MiB, rounded up, at least one.
pub(crate) fn mib(bytes: u64) -> u32 {
    bytes.div_ceil(1 << 20).clamp(1, u64::from(u32::MAX >> 3)) as u32
}

/// How much of each linear memory and table the pooling allocator keeps
/// resident when a slot is freed. With `pagemap_scan` (Linux 6.7 and
/// later) only the pages the run wrote are reset, with `memset`, up to this
/// much, and the next run in the slot takes no page faults on them; the
/// rest goes back to the kernel with `madvise`. A run of a small plugin
/// went from 48 to 18 µs (BENCHMARKS.md); a slot keeps at most this much
/// resident (64 MiB for the default 64 slots).
pub const KEEP_RESIDENT: usize = 1 << 20;

/// The most core instances one plugin's component may hold (its own module
/// plus the shims and adapters `wasm-component-ld` adds).
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;

impl Runtime {
    pub fn new(options: RuntimeOptions) -> Result<Runtime, String> {
        let mut config = Config::new();
        // Time limits and fair sharing of threads both come from epochs: a
        // ticker advances the epoch, and a running guest yields at each one.
        config.epoch_interruption(true);
        if options.pooling {
            let n = options.max_instances;
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(n)
                .total_core_instances(n * CORE_INSTANCES_PER_COMPONENT)
                .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
                .total_memories(n * 2)
                .total_tables(n * CORE_INSTANCES_PER_COMPONENT)
                .total_stacks(n)
                .max_memory_size(4 << 30)
                .linear_memory_keep_resident(options.keep_resident)
                .table_keep_resident(options.keep_resident)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| format!("cannot start wasmtime: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| format!("cannot link WASI: {e}"))?;
        PluginFull::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| format!("cannot link the runtime interface: {e}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("databook-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| format!("cannot start the epoch ticker: {e}"))?
        };
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                cache_dir: options.cache_dir,
                permits: Semaphore::new(options.max_instances as usize),
                memory: Semaphore::new(mib(options.memory_budget.0) as usize),
                budget: options.memory_budget,
                stop,
                ticker: Some(ticker),
            }),
        })
    }

    /// Compiles a plugin's component, or loads it from the cache when this
    /// very wasm (`digest` is its SHA-256) was compiled before by a
    /// compatible engine.
    pub(crate) fn compile(
        &self,
        wasm: &[u8],
        digest: &[u8; 32],
        path: &Path,
    ) -> Result<Component, LoadError> {
        let engine = &self.inner.engine;
        check_is_component(wasm, path)?;
        let cached = self
            .inner
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.cwasm", cache_key(engine, digest))));
        if let Some(file) = cached.as_ref() {
            // Read into memory rather than mapped: a mapped file that someone
            // truncates later would bring the process down.
            if let Ok(bytes) = std::fs::read(file) {
                // SAFETY: the file was written by `write_cache` below into the
                // user's own cache folder, under a name that includes the hash
                // of both the wasm and the engine's settings; wasmtime checks
                // its header and refuses an artifact from another engine.
                match unsafe { Component::deserialize(engine, &bytes) } {
                    Ok(component) => return Ok(component),
                    Err(error) => {
                        tracing::warn!(file = %file.display(), %error, "cached plugin unusable; recompiling");
                    }
                }
            }
        }
        let component = Component::new(engine, wasm).map_err(|e| LoadError::NotAComponent {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        if let Some(file) = cached
            && let Err(error) = write_cache(&component, &file)
        {
            tracing::warn!(file = %file.display(), %error, "could not cache the compiled plugin");
        }
        Ok(component)
    }
}

/// Refuses a `plugin.wasm` that is not a component, saying what it is.
fn check_is_component(wasm: &[u8], path: &Path) -> Result<(), LoadError> {
    let error = |message: &str| {
        Err(LoadError::NotAComponent {
            path: path.to_path_buf(),
            message: message.to_string(),
        })
    };
    if wasmparser::Parser::is_component(wasm) {
        Ok(())
    } else if wasmparser::Parser::is_core_wasm(wasm) {
        error(
            "it is a core WebAssembly module; a plugin must be a component \
             (build it for wasm32-wasip2, e.g. with `plugins/build.sh`)",
        )
    } else {
        error("it is not WebAssembly at all")
    }
}

/// The cache file's name: the hash of the wasm's digest and of everything
/// about the engine that makes an artifact compatible.
fn cache_key(engine: &Engine, digest: &[u8; 32]) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            unreachable!("only written to")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha(Sha256::new());
    hasher.write(digest);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// Writes a compiled component to `file` atomically, so that a concurrent
/// reader never sees half of it.
fn write_cache(component: &Component, file: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, &bytes)?;
    temp.persist(file).map_err(|e| e.error)?;
    Ok(())
}
