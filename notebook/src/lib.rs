//! The `.dbk` notebook format: parsing (which never fails), analysis,
//! rendering of outputs as text, and the edits that write them. Plain Rust
//! on plain structs: no LSP, no runtime.
//!
//! Every range is a byte range into the text; turning offsets into lines
//! and UTF-16 columns is the editors' side's (the language server's
//! `convert` module), not this crate's.

pub mod analysis;
pub mod chart;
mod document;
mod dump;
pub mod edit;
pub mod formats;
mod headers;
mod options;
pub mod render;
mod syntax;
mod variables;

pub use crate::analysis::{
    Catalog, CompletionContext, Diagnostic, Fix, Fold, FoldKind, HeaderAnalysis, PluginInfo,
    References, SemanticToken, Symbol, TokenKind, analyze, completion_context,
    document_syntax_diagnostics, folding, header_diagnostics, references, run_order,
    semantic_tokens, semantic_tokens_in, symbols, syntax_diagnostics,
};
pub use crate::document::{CellId, Document};
pub use crate::dump::dump_parse;
pub use crate::edit::{CellAnchor, Edit, clear_output, locate_cell, set_output};
pub use crate::headers::matching_ends;
pub use crate::options::{
    Cache, CellOptions, CheckMode, DATABOOK_OPTIONS, OptionProblem, OwnOption, is_cell_name,
    is_databook_option,
};
pub use crate::render::{output_block, reads_back, render, render_error, view};
pub use crate::syntax::{
    Cell, ErrorKind, Header, Local, Misspelling, OptionEntry, OutputBlock, Parse, Severity,
    Spanned, Status, SyntaxError, TextRange, is_option_key, is_plugin_name, parse, quote_value,
};
pub use crate::variables::{
    BodyRef, PathError, Step, ValueRef, VariableRef, body_refs, follow, result_json, substitute,
    value_refs, value_text, variable_refs,
};
