//! `echo`: returns a cell's body as its output.
//!
//! The smallest useful plugin, the example to copy, and the subject of the
//! runtime's benchmarks.

wit_bindgen::generate!({
    world: "plugin-basic",
    path: "../../wit/0.1",
});

use databook::plugin::types::Output;
use exports::databook::plugin::plugin::{Cell, Description, Guest, OptionDoc, RunError};

struct Echo;

impl Guest for Echo {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let mime = cell
            .options
            .iter()
            .find(|(key, _)| key == "mime")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| "text/plain".to_string());
        Ok(Output {
            mime,
            data: cell.body,
        })
    }

    fn describe() -> Description {
        Description {
            language: None,
            options: vec![OptionDoc {
                name: "mime".to_string(),
                documentation: "The MIME type to label the body with \
                                (default `text/plain`)."
                    .to_string(),
            }],
        }
    }
}

export!(Echo);
