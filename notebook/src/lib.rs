//! The `.dbk` notebook format: parsing (which never fails), analysis,
//! rendering of outputs as text, and the edits that write them. Plain Rust
//! on plain structs: no LSP, no runtime.
