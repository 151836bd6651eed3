//! What every Databook crate must read and suggest the same way, so that the
//! notebook, the runtime and the binary can never disagree about it:
//! durations and sizes as users write them (`10s`, `64MiB`, in `config.toml`
//! and in cell headers alike), the "did you mean" suggestions for a
//! mistyped name, and what a MIME type is.

mod mime;
mod suggest;
mod units;

pub use mime::is_mime_type;
pub use suggest::suggestions;
pub use units::{ByteSize, Timeout};
