//! The open documents: for each, its text (a rope, edited incrementally),
//! its version, its parse and its line index, recomputed once per edit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use databook_notebook::{LineIndex, Parse, parse};
use ropey::Rope;
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

use super::convert;

/// One open document, as of one version. Cheap to clone: everything
/// derived from the text is shared.
#[derive(Clone)]
pub struct Snapshot {
    pub version: i32,
    pub text: Arc<str>,
    pub parse: Arc<Parse>,
    pub index: Arc<LineIndex>,
}

impl Snapshot {
    fn new(version: i32, text: String) -> Snapshot {
        let parse = parse(&text);
        let index = LineIndex::new(&text);
        Snapshot {
            version,
            text: text.into(),
            parse: Arc::new(parse),
            index: Arc::new(index),
        }
    }
}

struct Document {
    rope: Rope,
    snapshot: Snapshot,
}

/// Every open document, by URI.
#[derive(Default)]
pub struct Documents {
    open: Mutex<HashMap<Uri, Document>>,
}

impl Documents {
    pub fn open(&self, uri: Uri, version: i32, text: String) -> Snapshot {
        let snapshot = Snapshot::new(version, text);
        let document = Document {
            rope: Rope::from_str(&snapshot.text),
            snapshot: snapshot.clone(),
        };
        self.lock().insert(uri, document);
        snapshot
    }

    /// Applies a `didChange`'s edits in order, then parses once.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Option<Snapshot> {
        let mut open = self.lock();
        let document = open.get_mut(uri)?;
        for change in changes {
            match change.range {
                Some(range) => {
                    let start = convert::rope_char(&document.rope, range.start);
                    let end = convert::rope_char(&document.rope, range.end).max(start);
                    document.rope.remove(start..end);
                    document.rope.insert(start, &change.text);
                }
                None => document.rope = Rope::from_str(&change.text),
            }
        }
        document.snapshot = Snapshot::new(version, document.rope.to_string());
        Some(document.snapshot.clone())
    }

    pub fn close(&self, uri: &Uri) {
        self.lock().remove(uri);
    }

    pub fn get(&self, uri: &Uri) -> Option<Snapshot> {
        self.lock().get(uri).map(|d| d.snapshot.clone())
    }

    pub fn all(&self) -> Vec<(Uri, Snapshot)> {
        self.lock()
            .iter()
            .map(|(uri, d)| (uri.clone(), d.snapshot.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, Document>> {
        // A panic elsewhere must not make every later request fail too.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}
