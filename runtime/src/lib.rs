//! Databook's plugin runtime: finds plugins, loads them (`config.toml` and a
//! WebAssembly component), and runs a cell's body through one, each run in
//! a fresh, isolated wasmtime instance that gets nothing its grant does not
//! give it.
//!
//! This crate knows nothing of notebooks, editors or protocols: it takes a
//! body and options and returns a MIME type and data.

mod api;
mod config;
mod discovery;
mod engine;
mod error;
mod grant;
mod host;
mod http;
mod plugin;
mod registry;
mod summary;

pub use api::{ApiVersion, SUPPORTED as SUPPORTED_API};
pub use config::{
    API_VERSION, HttpGrant, Limits, Manifest, PermissionOverride, Permissions, WORKSPACE_FILE,
    Workspace,
};
pub use databook_stdx::{ByteSize, Timeout};
pub use discovery::{Builtin, SearchPath, Source};
pub use engine::{DEFAULT_MEMORY_BUDGET, KEEP_RESIDENT, Runtime, RuntimeOptions};
pub use error::{ConfigError, Failure, LoadError};
pub use grant::{Grant, OriginPattern};
pub use host::{Level, LogLine, Stream};
pub use plugin::{
    Cell, CompletionItem, Description, ItemKind, OptionDoc, Output, Plugin, Problem, RunReport,
    Severity,
};
pub use registry::{Entry, LookupError, Registry};
pub use summary::Summary;
