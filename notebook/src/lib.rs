//! The `.dbk` notebook format: parsing (which never fails), analysis,
//! rendering of outputs as text, and the edits that write them. Plain Rust
//! on plain structs: no LSP, no runtime.

mod dump;
mod syntax;

pub use crate::dump::dump_parse;
pub use crate::syntax::{
    Cell, DATABOOK_OPTIONS, ErrorKind, Header, Misspelling, OptionEntry, OutputBlock, Parse,
    Severity, Spanned, Status, SyntaxError, TextRange, is_option_key, is_plugin_name, parse,
    quote_value,
};
