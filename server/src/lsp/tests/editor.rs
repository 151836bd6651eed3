//! A fake editor for the language server's tests: it talks to the server
//! in-process over a duplex pipe with real JSON-RPC framing, keeps its own
//! copy of each open document, and answers the server's requests as an
//! editor would (applying `workspace/applyEdit` to its copy and sending the
//! `didChange` that follows).

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use ropey::Rope;
use serde_json::{Value, json};
use tokio::io::{DuplexStream, WriteHalf};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::lsp::transport::{Frame, FrameReader, write_frame};

/// How long a test waits for any one message before it fails.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Default)]
struct Buffers {
    /// uri -> (text, version)
    docs: Arc<StdMutex<HashMap<String, (Rope, i32)>>>,
}

pub struct Editor {
    writer: Arc<Mutex<WriteHalf<DuplexStream>>>,
    next_id: i64,
    pending: Arc<StdMutex<HashMap<i64, oneshot::Sender<Value>>>>,
    notifications: mpsc::UnboundedReceiver<Value>,
    /// Every notification seen so far, for `wait_for`.
    seen: Vec<Value>,
    buffers: Buffers,
    /// Edits the server asked for, as applied.
    pub applied_edits: Arc<StdMutex<Vec<Value>>>,
    /// How many of the next applyEdit requests to refuse, as an editor
    /// whose document changed would.
    pub refuse_edits: Arc<StdMutex<usize>>,
}

/// Converts an LSP position to a char index in `rope`.
fn char_at(rope: &Rope, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let character = position["character"].as_u64().unwrap() as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let line_slice = rope.line(line);
    start + line_slice.utf16_cu_to_char(character.min(line_slice.len_utf16_cu()))
}

fn apply_text_edits(rope: &mut Rope, edits: &[Value]) {
    // Apply from the end so earlier positions stay valid.
    let mut edits: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                char_at(rope, &e["range"]["start"]),
                char_at(rope, &e["range"]["end"]),
                e["newText"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, text) in edits {
        rope.remove(start..end);
        rope.insert(start, &text);
    }
}

impl Editor {
    /// Starts a server with `service` and connects to it.
    pub async fn start(
        service: tower_lsp_server::LspService<crate::lsp::Backend>,
        socket: tower_lsp_server::ClientSocket,
    ) -> Editor {
        let (client_side, server_side) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_side);
        tokio::spawn(crate::lsp::transport::serve(
            server_read,
            server_write,
            service,
            socket,
        ));
        let (client_read, client_write) = tokio::io::split(client_side);
        let writer = Arc::new(Mutex::new(client_write));
        let pending: Arc<StdMutex<HashMap<i64, oneshot::Sender<Value>>>> = Arc::default();
        let (notify_tx, notifications) = mpsc::unbounded_channel();
        let buffers = Buffers::default();
        let applied_edits: Arc<StdMutex<Vec<Value>>> = Arc::default();
        let refuse_edits: Arc<StdMutex<usize>> = Arc::default();

        // Routes what the server sends: responses to their waiters,
        // notifications to the queue, requests answered like an editor.
        let router = {
            let pending = pending.clone();
            let writer = writer.clone();
            let buffers = buffers.clone();
            let applied_edits = applied_edits.clone();
            let refuse_edits = refuse_edits.clone();
            async move {
                let mut frames = FrameReader::new(client_read);
                while let Ok(Some(Frame::Body(body))) = frames.next().await {
                    let message: Value = serde_json::from_slice(&body).unwrap();
                    let has_method = message.get("method").is_some();
                    let id = message.get("id").cloned();
                    match (has_method, id) {
                        // An error about a message that had no usable id:
                        // kept with the notifications, under a made-up name.
                        (false, Some(Value::Null)) => {
                            let _ = notify_tx.send(json!({"method": "<error>", "params": message}));
                        }
                        (false, Some(id)) => {
                            let id = id.as_i64().unwrap();
                            if let Some(waiter) = pending.lock().unwrap().remove(&id) {
                                let _ = waiter.send(message);
                            }
                        }
                        (true, None) => {
                            let _ = notify_tx.send(message);
                        }
                        (true, Some(id)) => {
                            // Kept with the notifications too, so that a test
                            // can see which requests the server made.
                            let _ = notify_tx.send(message.clone());
                            let result = match message["method"].as_str().unwrap() {
                                "workspace/applyEdit" => {
                                    let refuse = {
                                        let mut left = refuse_edits.lock().unwrap();
                                        let refuse = *left > 0;
                                        *left = left.saturating_sub(1);
                                        refuse
                                    };
                                    // The writer is held from the change of the
                                    // copy to the didChange that reports it, as
                                    // `edit` does, so that the server hears of
                                    // versions in the order they were made.
                                    let mut w = writer.lock().await;
                                    let change = if refuse {
                                        Err("test refused".to_string())
                                    } else {
                                        apply_workspace_edit(&buffers, &message["params"]["edit"])
                                    };
                                    if let Err(reason) = change {
                                        json!({"applied": false, "failureReason": reason})
                                    } else {
                                        let change = change.unwrap();
                                        applied_edits
                                            .lock()
                                            .unwrap()
                                            .push(message["params"]["edit"].clone());
                                        // Like an editor: the edit changes the
                                        // document, which the server hears of.
                                        for (uri, version, text) in change {
                                            let note = json!({
                                                "jsonrpc": "2.0",
                                                "method": "textDocument/didChange",
                                                "params": {
                                                    "textDocument": {"uri": uri, "version": version},
                                                    "contentChanges": [{"text": text}],
                                                }
                                            });
                                            write_frame(&mut *w, note.to_string().as_bytes())
                                                .await
                                                .unwrap();
                                        }
                                        json!({"applied": true})
                                    }
                                }
                                _ => Value::Null,
                            };
                            let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                            let mut w = writer.lock().await;
                            write_frame(&mut *w, reply.to_string().as_bytes())
                                .await
                                .unwrap();
                        }
                        (false, None) => panic!("a message with neither method nor id: {message}"),
                    }
                }
            }
        };
        tokio::spawn(router);
        Editor {
            writer,
            next_id: 1,
            pending,
            notifications,
            seen: Vec::new(),
            buffers,
            applied_edits,
            refuse_edits,
        }
    }

    async fn send(&self, message: Value) {
        let mut writer = self.writer.lock().await;
        write_frame(&mut *writer, message.to_string().as_bytes())
            .await
            .unwrap();
    }

    /// Sends raw bytes, framed, as the body of one message.
    pub async fn send_raw(&self, body: &[u8]) {
        let mut writer = self.writer.lock().await;
        write_frame(&mut *writer, body).await.unwrap();
    }

    /// Sends a request and waits for its response (the whole message).
    pub async fn request_raw(&mut self, method: &str, params: Value) -> Value {
        let (_, rx) = self.request_later(method, params).await;
        tokio::time::timeout(WAIT, rx)
            .await
            .unwrap_or_else(|_| panic!("no response to {method}"))
            .unwrap()
    }

    /// Sends a request and returns its result; fails the test on an error.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.request_raw(method, params).await;
        if let Some(error) = response.get("error") {
            panic!("{method} failed: {error}");
        }
        response["result"].clone()
    }

    /// Sends a request without waiting; returns its id.
    pub async fn request_later(
        &mut self,
        method: &str,
        params: Value,
    ) -> (i64, oneshot::Receiver<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        (id, rx)
    }

    pub async fn notify(&self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    pub async fn initialize(&mut self, root: &std::path::Path) -> Value {
        self.initialize_with(root, json!({})).await
    }

    /// Initializes with `workspace` capabilities added to the usual ones.
    pub async fn initialize_with(&mut self, root: &std::path::Path, workspace: Value) -> Value {
        let root_uri = format!("file://{}", root.display());
        let mut capabilities = json!({
            "window": {"workDoneProgress": true},
            "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}},
        });
        for (key, value) in workspace.as_object().unwrap() {
            capabilities["workspace"][key] = value.clone();
        }
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": root_uri,
                    "capabilities": capabilities,
                }),
            )
            .await;
        self.notify("initialized", json!({})).await;
        result
    }

    /// Opens a document with `text`, as version 1.
    pub async fn open(&self, uri: &str, text: &str) {
        self.buffers
            .docs
            .lock()
            .unwrap()
            .insert(uri.to_string(), (Rope::from_str(text), 1));
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "databook", "version": 1, "text": text}}),
        )
        .await;
    }

    /// Replaces `range` ([line, character] pairs) in the document, as the
    /// user typing would, and tells the server.
    pub async fn edit(&self, uri: &str, start: (u32, u32), end: (u32, u32), text: &str) {
        let range = json!({
            "start": {"line": start.0, "character": start.1},
            "end": {"line": end.0, "character": end.1},
        });
        // The writer first, as when an output edit is applied: versions
        // reach the server in the order they were made.
        let mut writer = self.writer.lock().await;
        let version = {
            let mut docs = self.buffers.docs.lock().unwrap();
            let (rope, version) = docs.get_mut(uri).expect("the document is open");
            apply_text_edits(rope, &[json!({"range": range, "newText": text})]);
            *version += 1;
            *version
        };
        let note = json!({
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": range, "text": text}],
            },
        });
        write_frame(&mut *writer, note.to_string().as_bytes())
            .await
            .unwrap();
    }

    /// The editor's copy of a document.
    pub fn text(&self, uri: &str) -> String {
        self.buffers.docs.lock().unwrap()[uri].0.to_string()
    }

    /// The notifications `method` that arrive within `period`.
    pub async fn collect_for(&mut self, method: &str, period: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + period;
        let mut found = Vec::new();
        while let Ok(Some(next)) =
            tokio::time::timeout_at(deadline, self.notifications.recv()).await
        {
            self.seen.push(next.clone());
            if next["method"] == method {
                found.push(next["params"].clone());
            }
        }
        found
    }

    /// Waits for a notification `method` that `matches` and has not
    /// arrived yet.
    pub async fn wait_for_next(&mut self, method: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.notifications.recv())
                .await
                .unwrap_or_else(|_| panic!("no new {method} notification arrived"))
                .expect("the server is running");
            self.seen.push(next.clone());
            if next["method"] == method && matches(&next["params"]) {
                return next["params"].clone();
            }
        }
    }

    /// Waits for a notification `method` that `matches`, looking first at
    /// those already received.
    pub async fn wait_for(&mut self, method: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self
            .seen
            .iter()
            .find(|n| n["method"] == method && matches(&n["params"]))
        {
            return found["params"].clone();
        }
        self.wait_for_next(method, matches).await
    }
}

/// Applies a WorkspaceEdit to the buffers and returns the new full texts;
/// refuses, as VS Code does, an edit made for a version that is no longer
/// the document's.
fn apply_workspace_edit(
    buffers: &Buffers,
    edit: &Value,
) -> Result<Vec<(String, i32, String)>, String> {
    let mut docs = buffers.docs.lock().unwrap();
    let mut plan: Vec<(String, Vec<Value>, Option<i64>)> = Vec::new();
    if let Some(document_changes) = edit.get("documentChanges").and_then(Value::as_array) {
        for change in document_changes {
            let uri = change["textDocument"]["uri"].as_str().unwrap().to_string();
            let version = change["textDocument"]["version"].as_i64();
            plan.push((uri, change["edits"].as_array().unwrap().clone(), version));
        }
    } else if let Some(changes) = edit.get("changes").and_then(Value::as_object) {
        for (uri, edits) in changes {
            plan.push((uri.clone(), edits.as_array().unwrap().clone(), None));
        }
    }
    for (uri, _, expected) in &plan {
        let (_, version) = docs.get(uri).ok_or("edit of a document that is not open")?;
        if expected.is_some_and(|expected| expected != *version as i64) {
            return Err(format!(
                "stale version {expected:?}, the document is at {version}"
            ));
        }
    }
    let mut changed = Vec::new();
    for (uri, edits, _) in plan {
        let (rope, version) = docs.get_mut(&uri).unwrap();
        apply_text_edits(rope, &edits);
        *version += 1;
        changed.push((uri, *version, rope.to_string()));
    }
    Ok(changed)
}
