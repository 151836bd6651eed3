//! The library behind the `databook` binary: what running a cell means
//! (`cells`), each cell's latest result kept and shown (`results`), the
//! language server (`lsp`), where plugins come from
//! (`setup`), and what the terminal may be shown (`terminal`). The binary
//! adds the command line and one module per subcommand.

pub mod builtins;
pub mod cells;
pub mod lsp;
pub mod results;
pub mod setup;
pub mod terminal;
