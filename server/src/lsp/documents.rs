//! The open documents: for each, its version, its text as a rope (which is
//! also its line index, for LSP positions) and as a `Document` (text and
//! parse, reparsed incrementally). An edit updates both once.
//!
//! An edit leaves the `Document` unsettled (`Document::edit`): the text and
//! cells after it are only owed their move. A keystroke's diagnostics read
//! it as it is, through a [`Draft`]; everything else gets a [`Snapshot`],
//! settled first, so that a run of keystrokes moves the rest of the
//! document once, when something reads it whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use databook_notebook::{Document, Parse};
use ropey::Rope;
use tower_lsp_server::ls_types::{TextDocumentContentChangeEvent, Uri};

use super::convert;

/// One open document, as of one version, settled: its whole text and
/// parse can be read. Cheap to clone: the rope shares its nodes and the
/// document is behind an `Arc`.
#[derive(Clone)]
pub struct Snapshot {
    pub version: i32,
    pub rope: Rope,
    document: Arc<Document>,
}

impl Snapshot {
    pub fn text(&self) -> &str {
        self.document.text()
    }

    pub fn parse(&self) -> &Parse {
        self.document.parse()
    }

    pub fn document(&self) -> &Document {
        &self.document
    }
}

/// One open document, as of one version, as the last edit left it (maybe
/// unsettled): read through the `Document`'s accessors only, which is what
/// a keystroke's diagnostics need.
pub struct Draft {
    pub version: i32,
    pub rope: Rope,
    document: Arc<Document>,
}

impl Draft {
    pub fn document(&self) -> &Document {
        &self.document
    }
}

/// Every open document, by URI.
#[derive(Default)]
pub struct Documents {
    open: Mutex<HashMap<Uri, Snapshot>>,
}

impl Documents {
    pub fn open(&self, uri: Uri, version: i32, text: String) -> Snapshot {
        let snapshot = Snapshot {
            version,
            rope: Rope::from_str(&text),
            document: Arc::new(Document::new(text)),
        };
        self.lock().insert(uri, snapshot.clone());
        snapshot
    }

    /// Applies a `didChange`'s edits in order. Each reparses only the cells
    /// it can have changed; the document is copied only if an older
    /// snapshot is still in use.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Option<i32> {
        let mut open = self.lock();
        let snapshot = open.get_mut(uri)?;
        for change in changes {
            match change.range {
                Some(range) => {
                    let start = convert::rope_char(&snapshot.rope, range.start);
                    let end = convert::rope_char(&snapshot.rope, range.end).max(start);
                    let bytes = snapshot.rope.char_to_byte(start)..snapshot.rope.char_to_byte(end);
                    snapshot.rope.remove(start..end);
                    snapshot.rope.insert(start, &change.text);
                    Arc::make_mut(&mut snapshot.document).edit(bytes, &change.text);
                }
                None => {
                    snapshot.rope = Rope::from_str(&change.text);
                    snapshot.document = Arc::new(Document::new(change.text));
                }
            }
        }
        snapshot.version = version;
        Some(version)
    }

    pub fn close(&self, uri: &Uri) {
        self.lock().remove(uri);
    }

    /// The current version of a document, without holding on to it.
    pub fn version(&self, uri: &Uri) -> Option<i32> {
        self.lock().get(uri).map(|s| s.version)
    }

    /// The document, settled.
    pub fn get(&self, uri: &Uri) -> Option<Snapshot> {
        self.lock().get_mut(uri).map(settled)
    }

    /// The document as the last edit left it, for a keystroke's
    /// diagnostics.
    pub fn draft(&self, uri: &Uri) -> Option<Draft> {
        self.lock().get(uri).map(|s| Draft {
            version: s.version,
            rope: s.rope.clone(),
            document: s.document.clone(),
        })
    }

    /// Every document, settled.
    pub fn all(&self) -> Vec<(Uri, Snapshot)> {
        self.lock()
            .iter_mut()
            .map(|(uri, s)| (uri.clone(), settled(s)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uri, Snapshot>> {
        // A panic elsewhere must not make every later request fail too.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Settles the document kept (copying it only if a [`Draft`] of it is
/// still in use) and returns a snapshot of it.
fn settled(snapshot: &mut Snapshot) -> Snapshot {
    if !snapshot.document.is_settled() {
        Arc::make_mut(&mut snapshot.document).settle();
    }
    snapshot.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    fn change(start: (u32, u32), end: (u32, u32), text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range {
                start: Position::new(start.0, start.1),
                end: Position::new(end.0, end.1),
            }),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn incremental_edits_match_a_fresh_parse() {
        let documents = Documents::default();
        let uri: Uri = "file:///x.dbk".parse().unwrap();
        documents.open(
            uri.clone(),
            1,
            "@plugin=echo\nhé😀llo\n@plugin=jq\n.\n".into(),
        );
        // Keep an old snapshot alive, so the document must be copied.
        let old = documents.get(&uri).unwrap();
        documents
            .change(
                &uri,
                2,
                vec![
                    change((1, 4), (1, 4), "X"),
                    change((2, 8), (2, 10), "echo name=b"),
                    change((0, 0), (0, 0), "# top\n"),
                ],
            )
            .unwrap();
        // The edits leave the document unsettled; a draft reads it as it is,
        // and a snapshot taken meanwhile settles a copy of it.
        let draft = documents.draft(&uri).unwrap();
        assert!(!draft.document().is_settled());
        let now = documents.get(&uri).unwrap();
        assert!(now.document().is_settled());
        let expected = "# top\n@plugin=echo\nhé😀Xllo\n@plugin=echo name=b\n.\n";
        assert_eq!(draft.document().slice(0..expected.len()).unwrap(), expected);
        assert!(!draft.document().is_settled());
        assert_eq!(now.text(), expected);
        assert_eq!(now.rope.to_string(), expected);
        assert_eq!(now.parse(), &databook_notebook::parse(expected));
        assert_eq!(old.text(), "@plugin=echo\nhé😀llo\n@plugin=jq\n.\n");
    }
}
