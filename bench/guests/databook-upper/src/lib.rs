//! Returns the cell's body in upper case: the same work as the Extism
//! guest beside it, so that the two systems' costs per call compare.

wit_bindgen::generate!({
    world: "plugin-basic",
    path: "../../../wit/0.1",
});

use databook::plugin::types::Output;
use exports::databook::plugin::plugin::{Cell, Description, Guest, RunError};

struct Upper;

impl Guest for Upper {
    fn run(cell: Cell) -> Result<Output, RunError> {
        Ok(Output {
            mime: "text/plain".to_string(),
            data: cell.body.to_uppercase(),
        })
    }

    fn describe() -> Description {
        Description {
            language: None,
            options: Vec::new(),
        }
    }
}

export!(Upper);
