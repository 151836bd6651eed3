//! The runtime's errors: why a configuration was refused, why a plugin did
//! not load, why a run produced no output.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use databook_stdx::{ByteSize, Timeout};

/// A mistake in `config.toml` or `databook.toml`, at a file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key, such as `limits.timeout`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// An error in `file`, whose text is `text`, at byte range `span`.
    pub(crate) fn at(
        file: &Path,
        text: &str,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: &str,
    ) -> ConfigError {
        let line = span.map(|span| {
            let start = span.start.min(text.len());
            text[..start].bytes().filter(|&b| b == b'\n').count() + 1
        });
        ConfigError {
            file: file.to_path_buf(),
            line,
            key,
            // toml's messages can run over several lines; the first says it.
            message: message.trim().lines().next().unwrap_or("").to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a plugin could not be loaded. Each names the file at fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: not a WebAssembly component: {message}", path.display())]
    NotAComponent { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Incompatible { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Grant { path: PathBuf, message: String },
    #[error("{}: describe failed: {failure}", path.display())]
    Describe { path: PathBuf, failure: Failure },
}

/// Why a run (or a `describe`, `complete` or `check` call) gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The plugin returned an error of its own.
    #[error("{message}")]
    Plugin {
        message: String,
        hint: Option<String>,
    },
    /// The run took longer than it was allowed.
    #[error("the plugin exceeded its time limit of {0}")]
    Timeout(Timeout),
    /// The plugin tried to grow its memory past its limit.
    #[error("the plugin exceeded its memory limit of {0}")]
    Memory(ByteSize),
    /// The plugin returned more than it may.
    #[error("the plugin's output of {size} exceeds its output limit of {limit}")]
    OutputTooLarge { size: ByteSize, limit: ByteSize },
    /// The plugin trapped: a panic, a stack overflow, an `unreachable`.
    #[error("the plugin crashed: {message}")]
    Trap { message: String },
    /// The plugin's share of the instances stayed full for as long as the
    /// run could wait.
    #[error(
        "the plugin already has {0} runs under way, all its share of instances allows; try again later"
    )]
    Busy(u32),
    /// The runs under way held so much of the process's memory budget
    /// that this run's limit did not fit for as long as it could wait.
    #[error(
        "the runs under way hold the process's memory budget of {budget}, and this plugin's limit of {limit} did not fit in time; try again later"
    )]
    MemoryBudget { limit: ByteSize, budget: ByteSize },
    /// The plugin ended its instance (WASI `exit`) instead of returning.
    #[error("the plugin exited with status {0} instead of returning a result")]
    Exited(i32),
    /// A fault on the host's side, not the plugin's.
    #[error("databook could not run the plugin: {0}")]
    Host(String),
}

impl Failure {
    /// The plugin's hint, when it gave one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Failure::Plugin { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}
