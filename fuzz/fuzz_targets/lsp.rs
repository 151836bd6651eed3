//! The language server, in process (`databook::lsp::service` behind
//! `transport::serve`, over in-memory pipes), fed either arbitrary bytes or
//! an arbitrary session: initialize, documents opened and changed with
//! random ranges and text, every request at random positions, databook's
//! own requests and commands with random arguments, malformed frames and
//! bodies, shutdown. It must never panic, and must answer every request
//! (with a result or an error) in bounded time: requests other than runs
//! within `ANSWER_WITHIN`, and runs within `ANSWER_WITHIN` once the
//! session cancels them. Then `shutdown` and `exit` end the session within
//! `ANSWER_WITHIN`.
//!
//! No plugin folder is given, and the process's `XDG_DATA_HOME` and
//! `DATABOOK_PLUGINS` point nowhere, so only the built-in plugins load; the
//! workspace's `databook.toml` takes every network grant away from `http`
//! and `prometheus`, so a run reaches nothing. Runs' kept results go to a
//! folder of this process, emptied before each input, so that one input's
//! session does not change the next.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use databook::lsp::ext::DatabookCommand;
use databook::lsp::{service, transport};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// How long the server may take to answer a request (or, for a run, to
/// answer once cancelled). Generous: plugins load in the background at
/// `initialize`, on a machine where other work runs.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The folder the sessions work in, set up once for the process.
fn workspace() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("databook-fuzz-lsp-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(
            dir.join("databook.toml"),
            "[plugin.http.permissions]\nhttp = []\n\n\
             [plugin.prometheus.permissions]\nhttp = []\nenv = []\nsecrets = []\n",
        )
        .unwrap();
        // SAFETY: set once, before the first session starts any thread.
        unsafe {
            std::env::set_var("XDG_DATA_HOME", dir.join("data"));
            std::env::remove_var("DATABOOK_PLUGINS");
            std::env::remove_var("PROMETHEUS_URL");
        }
        // A session without a root works in the current folder: this one,
        // whose `databook.toml` takes the grants away. (So the fuzzer must
        // be given absolute paths, as `cargo fuzz run` and smoke.sh do.)
        std::env::set_current_dir(&dir).unwrap();
        dir
    })
}

fn uri(doc: Doc) -> String {
    let dir = workspace().display().to_string();
    match doc {
        Doc::A => format!("file://{dir}/a.dbk"),
        Doc::B => format!("file://{dir}/sub/b%20c.dbk"),
        Doc::Untitled => "untitled:Untitled-1".into(),
        Doc::Outside => "file:///databook-fuzz-nowhere/x.dbk".into(),
        Doc::Odd => "file:///%ZZ/%00.dbk".into(),
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Doc {
    A,
    B,
    Untitled,
    Outside,
    Odd,
}

/// Pieces of notebook text: structure most of the time, anything else
/// some of the time.
#[derive(Arbitrary, Debug)]
enum Piece {
    Text(String),
    Newline,
    CrLf,
    Echo,
    EchoNamed,
    EchoTimeSeries,
    Jq,
    JqInput,
    Http,
    Prometheus,
    Unknown,
    Output,
    OutputLine,
    End,
    Misspelled,
    Emoji,
}

impl Piece {
    fn text(&self) -> &str {
        match self {
            Piece::Text(s) => s,
            Piece::Newline => "\n",
            Piece::CrLf => "\r\n",
            Piece::Echo => "@plugin=echo\nhello\n",
            Piece::EchoNamed => "@plugin=echo name=a timeout=2s\n{\"x\":1}\n",
            Piece::EchoTimeSeries => {
                "@plugin=echo mime=application/vnd.databook.timeseries+json\n\
                 {\"series\":[{\"labels\":{\"a\":\"b\"},\"points\":[[0,1],[60,2]]}]}\n"
            }
            Piece::Jq => "@plugin=jq name=b\n.x\n",
            Piece::JqInput => "@plugin=jq input=a\n.\n",
            Piece::Http => "@plugin=http\nGET http://127.0.0.1:9/\n",
            Piece::Prometheus => "@plugin=prometheus range=5m\nup\n",
            Piece::Unknown => "@plugin=nope x=\"y\n",
            Piece::Output => "@output status=ok mime=text/plain\n",
            Piece::OutputLine => "> out\n",
            Piece::End => "@end\n",
            Piece::Misspelled => "@plugn=echo\n",
            Piece::Emoji => "é🦀\u{2028}",
        }
    }
}

fn text(pieces: &[Piece]) -> String {
    pieces.iter().map(Piece::text).collect()
}

/// A position: mostly near the start of a document, sometimes far off.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Pos {
    line: u16,
    character: u16,
}

impl Pos {
    fn json(self) -> Value {
        let widen = |n: u16| if n > 65000 { u32::MAX - u32::from(65535 - n) } else { u32::from(n % 48) };
        json!({"line": widen(self.line), "character": widen(self.character)})
    }
}

fn range(a: Pos, b: Pos) -> Value {
    json!({"start": a.json(), "end": b.json()})
}

/// A width for `databook/render`: a screen's, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Width {
    Screen(u8),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
struct Change {
    range: Option<(Pos, Pos)>,
    text: Vec<Piece>,
}

#[derive(Arbitrary, Debug)]
enum Arg {
    Uri(Doc),
    Index(u8),
    Header(Piece),
    Str(String),
    Int(i64),
    Float(f64),
    Null,
    Array(Vec<u8>),
}

impl Arg {
    fn json(&self) -> Value {
        match self {
            Arg::Uri(doc) => json!(uri(*doc)),
            Arg::Index(n) => json!(n),
            Arg::Header(p) => json!(p.text().lines().next().unwrap_or("")),
            Arg::Str(s) => json!(s),
            Arg::Int(n) => json!(n),
            Arg::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Arg::Null => Value::Null,
            Arg::Array(a) => json!(a),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Command {
    Known(u8),
    Other(String),
}

/// A frame that breaks the framing; the server must find the next one.
#[derive(Arbitrary, Debug)]
enum BadFrame {
    /// `Content-Length: <not a number>`.
    BadLength(String),
    /// Headers without `Content-Length`, then a body with no frame in it.
    NoLength(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Initialize { root: bool, lens_refresh: bool },
    Initialized,
    DidOpen { doc: Doc, text: Vec<Piece> },
    DidChange { doc: Doc, stale: bool, changes: Vec<Change> },
    DidSave(Doc),
    DidClose(Doc),
    Completion(Doc, Pos),
    Hover(Doc, Pos),
    CodeLens(Doc),
    CodeAction(Doc, Pos, Pos),
    SemanticTokensFull(Doc),
    SemanticTokensRange(Doc, Pos, Pos),
    DocumentSymbol(Doc),
    FoldingRange(Doc),
    Results(Doc),
    Cells(Doc),
    Render { doc: Doc, cell: Option<u8>, position: Option<Pos>, width: Option<Width> },
    ExecuteCommand { command: Command, args: Vec<Arg> },
    Cancel(u8),
    UnknownRequest(String),
    /// A body that may be anything: not JSON, JSON but not JSON-RPC, a
    /// response to nothing.
    Body(Vec<u8>),
    Bad(BadFrame),
    Shutdown,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Anything at all, as the whole input stream.
    Bytes(Vec<u8>),
    Session(Vec<Msg>),
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads the server's frames: answers its requests to the editor
/// (`applyEdit` is applied or refused as the input says) and passes the
/// responses to the session's requests on.
async fn client_reader(
    from_server: DuplexStream,
    replies: mpsc::UnboundedSender<Vec<u8>>,
    responses: mpsc::UnboundedSender<Value>,
    apply: bool,
) {
    let mut frames = transport::FrameReader::new(from_server);
    while let Ok(Some(f)) = frames.next().await {
        let transport::Frame::Body(body) = f else {
            panic!("the server wrote a malformed frame: {f:?}");
        };
        let message: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("the server wrote a body that is not JSON ({e}): {body:?}"));
        match (message.get("id"), message.get("method")) {
            (Some(id), Some(method)) => {
                let result = if method == "workspace/applyEdit" {
                    json!({"applied": apply})
                } else {
                    Value::Null
                };
                let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                let _ = replies.send(serde_json::to_vec(&reply).unwrap());
            }
            (Some(_), None) => {
                let _ = responses.send(message);
            }
            _ => {}
        }
    }
}

/// What the session is waiting for.
struct Pending {
    /// Request id to method, for the failure message.
    waiting: HashMap<i64, String>,
    /// The ids of runs, which may last until cancelled.
    runs: Vec<i64>,
}

fn answered(pending: &mut Pending, response: Value) {
    if let Some(id) = response["id"].as_i64() {
        pending.waiting.remove(&id);
    }
}

async fn session(msgs: Vec<Msg>, within: Duration) {
    let (mut to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let (service, socket) = service(Vec::new());
    let server = tokio::spawn(transport::serve(server_in, server_out, service, socket));

    let apply = msgs.len() % 2 == 0;
    let (replies_tx, mut replies) = mpsc::unbounded_channel();
    let (responses_tx, mut responses) = mpsc::unbounded_channel();
    let reader = tokio::spawn(client_reader(from_server, replies_tx, responses_tx, apply));

    let mut next_id: i64 = 0;
    let mut pending = Pending {
        waiting: HashMap::new(),
        runs: Vec::new(),
    };
    let mut versions: HashMap<String, i32> = HashMap::new();
    let mut bytes = Vec::new();
    for msg in msgs.iter().take(64) {
        let mut request = |method: &str, params: Value, pending: &mut Pending| {
            next_id += 1;
            pending.waiting.insert(next_id, method.to_string());
            json!({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params})
        };
        let notify = |method: &str, params: Value| json!({"jsonrpc": "2.0", "method": method, "params": params});
        let td = |doc: Doc| json!({"textDocument": {"uri": uri(doc)}});
        let at = |doc: Doc, pos: Pos| json!({"textDocument": {"uri": uri(doc)}, "position": pos.json()});
        let value = match msg {
            Msg::Initialize { root, lens_refresh } => {
                let mut params = json!({
                    "processId": null,
                    "capabilities": {"workspace": {"codeLens": {"refreshSupport": lens_refresh}}},
                });
                if *root {
                    params["rootUri"] = json!(format!("file://{}", workspace().display()));
                }
                request("initialize", params, &mut pending)
            }
            Msg::Initialized => notify("initialized", json!({})),
            Msg::DidOpen { doc, text: t } => {
                let v = versions.entry(uri(*doc)).or_insert(0);
                *v += 1;
                notify(
                    "textDocument/didOpen",
                    json!({"textDocument": {"uri": uri(*doc), "languageId": "databook", "version": *v, "text": text(t)}}),
                )
            }
            Msg::DidChange { doc, stale, changes } => {
                let v = versions.entry(uri(*doc)).or_insert(0);
                if !stale {
                    *v += 1;
                }
                let changes: Vec<Value> = changes
                    .iter()
                    .take(8)
                    .map(|c| match c.range {
                        Some((a, b)) => json!({"range": range(a, b), "text": text(&c.text)}),
                        None => json!({"text": text(&c.text)}),
                    })
                    .collect();
                notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": uri(*doc), "version": *v}, "contentChanges": changes}),
                )
            }
            Msg::DidSave(doc) => notify("textDocument/didSave", td(*doc)),
            Msg::DidClose(doc) => notify("textDocument/didClose", td(*doc)),
            Msg::Completion(doc, pos) => request("textDocument/completion", at(*doc, *pos), &mut pending),
            Msg::Hover(doc, pos) => request("textDocument/hover", at(*doc, *pos), &mut pending),
            Msg::CodeLens(doc) => request("textDocument/codeLens", td(*doc), &mut pending),
            Msg::CodeAction(doc, a, b) => request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri(*doc)}, "range": range(*a, *b), "context": {"diagnostics": []}}),
                &mut pending,
            ),
            Msg::SemanticTokensFull(doc) => request("textDocument/semanticTokens/full", td(*doc), &mut pending),
            Msg::SemanticTokensRange(doc, a, b) => request(
                "textDocument/semanticTokens/range",
                json!({"textDocument": {"uri": uri(*doc)}, "range": range(*a, *b)}),
                &mut pending,
            ),
            Msg::DocumentSymbol(doc) => request("textDocument/documentSymbol", td(*doc), &mut pending),
            Msg::FoldingRange(doc) => request("textDocument/foldingRange", td(*doc), &mut pending),
            Msg::Results(doc) => request("databook/results", json!({"uri": uri(*doc)}), &mut pending),
            Msg::Cells(doc) => request("databook/cells", json!({"uri": uri(*doc)}), &mut pending),
            Msg::Render { doc, cell, position, width } => {
                let mut params = json!({"uri": uri(*doc)});
                if let Some(cell) = cell {
                    params["cell"] = json!(cell);
                }
                if let Some(p) = position {
                    params["position"] = p.json();
                }
                match width {
                    Some(Width::Screen(w)) => params["width"] = json!(w),
                    Some(Width::Any(w)) => params["width"] = json!(w),
                    None => {}
                }
                request("databook/render", params, &mut pending)
            }
            Msg::ExecuteCommand { command, args } => {
                let command = match command {
                    Command::Known(n) => DatabookCommand::NAMES[*n as usize % DatabookCommand::NAMES.len()].to_string(),
                    Command::Other(s) => s.clone(),
                };
                let args: Vec<Value> = args.iter().take(6).map(Arg::json).collect();
                let is_run = command == "databook.run" || command == "databook.runAll";
                let value = request(
                    "workspace/executeCommand",
                    json!({"command": command, "arguments": args}),
                    &mut pending,
                );
                if is_run {
                    pending.runs.push(next_id);
                }
                value
            }
            Msg::Cancel(back) => notify("$/cancelRequest", json!({"id": next_id - i64::from(*back % 4)})),
            Msg::UnknownRequest(method) => request(method, json!({}), &mut pending),
            Msg::Body(body) => {
                bytes.extend(frame(body));
                continue;
            }
            Msg::Bad(BadFrame::BadLength(length)) => {
                let length = length.replace(['\r', '\n'], "");
                bytes.extend(format!("Content-Length: {length}\r\n\r\n").into_bytes());
                continue;
            }
            Msg::Bad(BadFrame::NoLength(body)) => {
                // Nothing in it may look like the next frame's header.
                let body: Vec<u8> = body.iter().copied().filter(|b| !b"cC".contains(b)).collect();
                bytes.extend(b"X-Other: 1\r\n\r\n");
                bytes.extend(body);
                continue;
            }
            Msg::Shutdown => request("shutdown", Value::Null, &mut pending),
        };
        bytes.extend(frame(&serde_json::to_vec(&value).unwrap()));
    }

    // The session, written as the client goes (the server's requests are
    // answered in between).
    let deadline = tokio::time::Instant::now() + within;
    let mut chunks = bytes.chunks(4096);
    let mut chunk = chunks.next();
    let mut replies_open = true;
    loop {
        let only_runs = pending.waiting.keys().all(|id| pending.runs.contains(id));
        if chunk.is_none() && only_runs {
            break;
        }
        tokio::select! {
            result = to_server.write_all(chunk.unwrap_or_default()), if chunk.is_some() => {
                result.expect("the server reads its input while it runs");
                chunk = chunks.next();
            }
            reply = replies.recv(), if replies_open => match reply {
                Some(reply) => to_server.write_all(&frame(&reply)).await.expect("the server reads its input"),
                None => replies_open = false,
            },
            Some(response) = responses.recv() => answered(&mut pending, response),
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let unanswered: Vec<_> = pending
        .waiting
        .iter()
        .filter(|(id, _)| !pending.runs.contains(id))
        .collect();
    assert!(
        unanswered.is_empty(),
        "requests not answered within {within:?}: {unanswered:?}"
    );

    // Runs still going are cancelled, and must then end.
    if !pending.waiting.is_empty() {
        let mut cancel = Vec::new();
        for id in pending.waiting.keys() {
            cancel.extend(frame(
                &serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}}))
                    .unwrap(),
            ));
        }
        to_server.write_all(&cancel).await.unwrap();
        let deadline = tokio::time::Instant::now() + within;
        while !pending.waiting.is_empty() {
            tokio::select! {
                Some(reply) = replies.recv() => to_server.write_all(&frame(&reply)).await.unwrap(),
                Some(response) = responses.recv() => answered(&mut pending, response),
                _ = tokio::time::sleep_until(deadline) => panic!(
                    "runs not answered within {within:?} of being cancelled: {:?}",
                    pending.waiting
                ),
            }
        }
    }

    // Shutdown and exit end the session.
    let shutdown = json!({"jsonrpc": "2.0", "id": -1, "method": "shutdown"});
    let exit = json!({"jsonrpc": "2.0", "method": "exit"});
    to_server.write_all(&frame(&serde_json::to_vec(&shutdown).unwrap())).await.unwrap();
    to_server.write_all(&frame(&serde_json::to_vec(&exit).unwrap())).await.unwrap();
    let ended = tokio::time::timeout(within, async {
        loop {
            tokio::select! {
                Some(reply) = replies.recv() => { let _ = to_server.write_all(&frame(&reply)).await; }
                _ = tokio::time::sleep(Duration::from_millis(1)) => if server.is_finished() { break },
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server did not stop within {within:?} of shutdown and exit");
    server.await.expect("the server task does not panic");
    drop(to_server);
    reader.abort();
}

/// Arbitrary bytes as the whole input: the server must not panic, and
/// must stop once the input ends (after the runs the bytes started, which
/// may take their plugin's whole time limit, 10 s by default).
async fn bytes(input: Vec<u8>) {
    let (mut to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, mut from_server) = tokio::io::duplex(1 << 16);
    let (service, socket) = service(Vec::new());
    let server = tokio::spawn(transport::serve(server_in, server_out, service, socket));
    // The server's output is drained so that it never blocks on writing.
    let drain = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut tokio::io::sink()).await;
    });
    let _ = to_server.write_all(&input).await;
    drop(to_server);
    let within = ANSWER_WITHIN * 3;
    let ended = tokio::time::timeout(within, server).await;
    match ended {
        Ok(joined) => joined.expect("the server task does not panic"),
        Err(_) => panic!("the server did not stop within {within:?} of its input ending"),
    }
    drain.abort();
}

/// The first load of the built-in plugins compiles them (then they come
/// from wasmtime's cache): done once, before the first input, so that it
/// does not count against an input's time.
fn warm_up() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let pos = Pos { line: 1, character: 0 };
        let msgs = vec![
            Msg::Initialize { root: true, lens_refresh: false },
            Msg::DidOpen { doc: Doc::A, text: vec![Piece::Echo] },
            Msg::Completion(Doc::A, pos),
        ];
        rt.block_on(session(msgs, Duration::from_secs(600)));
    });
}

fuzz_target!(|input: Input| {
    let dir = workspace();
    warm_up();
    let _ = std::fs::remove_dir_all(dir.join(".databook"));
    let _ = std::fs::remove_dir_all(dir.join("sub").join(".databook"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match input {
        Input::Bytes(b) => rt.block_on(bytes(b)),
        Input::Session(msgs) => rt.block_on(session(msgs, ANSWER_WITHIN)),
    }
    rt.shutdown_timeout(Duration::from_secs(1));
});
