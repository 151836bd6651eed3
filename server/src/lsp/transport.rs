//! JSON-RPC framing in front of tower-lsp-server's `Server`.
//!
//! `Server` stops reading (and so ends the session) at the first message it
//! cannot decode. This layer reads the client's frames itself, answers a
//! frame that is not JSON with a parse error (and one that is JSON but not a
//! JSON-RPC message with an invalid-request error), and hands only good
//! messages on, so that one bad message never ends a session.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};
use tower_lsp_server::{ClientSocket, LspService, Server};

use super::Backend;

/// A frame larger than this is refused (and skipped) rather than buffered.
const MAX_FRAME: usize = 64 << 20;

/// How many requests the server works on at once. Runs are requests that
/// last as long as the run (so that `$/cancelRequest` can stop them), so
/// this is well above the number of cells anyone runs at once.
const CONCURRENCY: usize = 64;

/// What reading one frame gave.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A frame's body.
    Body(Vec<u8>),
    /// A frame that could not be read; it was skipped. Carries why.
    Bad(String),
}

/// Reads `Content-Length`-framed messages.
pub struct FrameReader<R> {
    reader: BufReader<R>,
    /// After a frame whose length could not be read, where its body ends is
    /// unknown: the next frame starts at the next `Content-Length`.
    lost: bool,
}

/// What starts every frame's headers, lowercased.
const LENGTH_HEADER: &[u8] = b"content-length";

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(reader: R) -> Self {
        FrameReader {
            reader: BufReader::new(reader),
            lost: false,
        }
    }

    /// Skips past the next `Content-Length` (any case); false at the end
    /// of the input.
    async fn find_next_frame(&mut self) -> std::io::Result<bool> {
        let mut window = std::collections::VecDeque::with_capacity(LENGTH_HEADER.len());
        loop {
            let mut byte = [0u8; 1];
            if self.reader.read(&mut byte).await? == 0 {
                return Ok(false);
            }
            if window.len() == LENGTH_HEADER.len() {
                window.pop_front();
            }
            window.push_back(byte[0].to_ascii_lowercase());
            if window.iter().eq(LENGTH_HEADER.iter()) {
                return Ok(true);
            }
        }
    }

    /// The next frame, or none at the end of the input.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        // The name of the header found again, already read.
        let mut resumed = if std::mem::take(&mut self.lost) {
            if !self.find_next_frame().await? {
                return Ok(None);
            }
            Some("Content-Length")
        } else {
            None
        };
        let mut length: Option<Result<usize, String>> = None;
        let mut line = String::new();
        let mut saw_header = false;
        loop {
            line.clear();
            line.extend(resumed.take());
            let read = self.reader.read_line(&mut line).await? + line.len().min(1);
            if read == 0 {
                return Ok(if saw_header {
                    Some(Frame::Bad(
                        "the input ended inside a frame's headers".into(),
                    ))
                } else {
                    None
                });
            }
            let header = line.trim_end_matches(['\r', '\n']);
            if header.is_empty() {
                if saw_header {
                    break;
                }
                // Blank lines between frames are tolerated.
                continue;
            }
            saw_header = true;
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad Content-Length {:?}", value.trim())),
                );
            }
        }
        match length {
            None => {
                self.lost = true;
                Ok(Some(Frame::Bad("a frame without Content-Length".into())))
            }
            Some(Err(message)) => {
                self.lost = true;
                Ok(Some(Frame::Bad(message)))
            }
            Some(Ok(length)) if length > MAX_FRAME => {
                // Skip the body without keeping it.
                let skipped = tokio::io::copy(
                    &mut (&mut self.reader).take(length as u64),
                    &mut tokio::io::sink(),
                )
                .await?;
                let _ = skipped;
                Ok(Some(Frame::Bad(format!(
                    "a frame of {length} bytes is over the limit of {MAX_FRAME}"
                ))))
            }
            Some(Ok(length)) => {
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body).await?;
                Ok(Some(Frame::Body(body)))
            }
        }
    }
}

/// Writes `body` as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> std::io::Result<()> {
    // One write, so that the reader wakes once, for the whole frame.
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    let mut frame = Vec::with_capacity(header.len() + body.len());
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(body);
    writer.write_all(&frame).await?;
    writer.flush().await
}

/// Checks one body: a JSON-RPC request, notification or response passes;
/// anything else gets the error response to send back.
fn check(body: &[u8]) -> Result<(), Value> {
    // Most messages are good requests and notifications: one reading says
    // so (a `didOpen` can be megabytes). The rest are read again to say
    // what is wrong with them.
    if let Ok(text) = std::str::from_utf8(body)
        && let Ok(request) = Request::from_str(text)
        && request.method() != super::ext::CODE_LENS_BYTES
    {
        return Ok(());
    }
    let error = |code: i64, message: String, id: Value| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let text = std::str::from_utf8(body).map_err(|e| {
        error(
            -32700,
            format!("Parse error: the message is not UTF-8: {e}"),
            Value::Null,
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| error(-32700, format!("Parse error: {e}"), Value::Null))?;
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    if value["method"] == super::ext::CODE_LENS_BYTES {
        return Err(error(
            -32601,
            format!(
                "Method not found: {} is the server's own",
                super::ext::CODE_LENS_BYTES
            ),
            id,
        ));
    }
    if Request::from_str(text).is_ok() || Response::from_str(text).is_ok() {
        return Ok(());
    }
    Err(error(
        -32600,
        "Invalid Request: not a JSON-RPC 2.0 request, notification or response".into(),
        id,
    ))
}

/// Code lenses serialized by the server, by the id of the request they
/// answer, waiting for the writer.
///
/// tower-lsp-server turns every answer into a `serde_json::Value` before
/// writing it; for the 15,000 lenses of a 10,000-cell notebook (3.6 MB)
/// that was most of the request's time. So `textDocument/codeLens` goes to
/// the server renamed `databook/codeLensBytes` (in order with every other
/// message, so the lenses are those of the latest edit), its handler leaves
/// the lenses here as bytes and answers `null`, and the writer puts the
/// bytes in that answer.
#[derive(Clone, Default)]
pub struct LensStash(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl LensStash {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves the lenses that answer request `id` (as JSON).
    pub fn put(&self, id: String, lenses: Vec<u8>) {
        self.lock().insert(id, lenses);
    }

    /// A request as the server is to see it: `textDocument/codeLens`
    /// renamed, with its id in its params; `None` for any other.
    fn rename(body: &[u8]) -> Option<Vec<u8>> {
        const METHOD: &[u8] = b"\"textDocument/codeLens\"";
        // Most messages are not lens requests: one search says so.
        if body.len() > 64 << 10 || !body.windows(METHOD.len()).any(|w| w == METHOD) {
            return None;
        }
        let request: Value = serde_json::from_slice(body).ok()?;
        if request["method"] != "textDocument/codeLens" {
            return None;
        }
        let id = request.get("id")?;
        let renamed = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": super::ext::CODE_LENS_BYTES,
            "params": {
                "request": id.to_string(),
                "textDocument": request["params"]["textDocument"],
            },
        });
        serde_json::to_vec(&renamed).ok()
    }

    /// A frame as the client is to see it: the server's answer to a
    /// renamed lens request with the lenses in it.
    fn answer(&self, body: Vec<u8>) -> Vec<u8> {
        // That answer is `{"jsonrpc":"2.0","result":null,"id":…}`.
        if body.len() > 4096 || self.lock().is_empty() {
            return body;
        }
        let Ok(answer) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        if answer.get("method").is_some() {
            return body;
        }
        let Some(id) = answer.get("id").map(Value::to_string) else {
            return body;
        };
        let Some(lenses) = self.lock().remove(&id) else {
            return body;
        };
        if answer.get("result").is_none() {
            // An error (the request was cancelled): it goes as it is.
            return body;
        }
        let mut framed = Vec::with_capacity(lenses.len() + id.len() + 40);
        framed.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        framed.extend_from_slice(id.as_bytes());
        framed.extend_from_slice(b",\"result\":");
        framed.extend_from_slice(&lenses);
        framed.push(b'}');
        framed
    }
}

/// Serves `service` over `input` and `output` until the client exits or
/// closes the input.
pub async fn serve<I, O>(input: I, output: O, service: LspService<Backend>, socket: ClientSocket)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_server, server_input) = tokio::io::duplex(1 << 16);
    let (server_output, from_server) = tokio::io::duplex(1 << 16);
    let (errors_tx, mut errors_rx) = mpsc::unbounded_channel::<Value>();

    let lenses = service.inner().state.lens_stash.clone();
    let server = Server::new(server_input, server_output, socket)
        .concurrency_level(CONCURRENCY)
        .serve(service);

    // Reading, serving and writing are polled together in this one task,
    // not spawned: a message then crosses no thread on its way in or out,
    // and each crossing costs a wake-up of another thread (tens of
    // microseconds, most of a keystroke's round trip; BENCHMARKS.md).
    let (stop_reading, reading_stopped) = tokio::sync::oneshot::channel::<()>();
    let read = async move {
        let mut frames = FrameReader::new(input);
        let mut reading_stopped = std::pin::pin!(reading_stopped);
        loop {
            let frame = tokio::select! {
                frame = frames.next() => frame,
                // The server is done (exit): stop reading.
                _ = &mut reading_stopped => break,
            };
            match frame {
                Ok(Some(Frame::Body(body))) => match check(&body) {
                    Ok(()) => {
                        let body = LensStash::rename(&body).unwrap_or(body);
                        if write_frame(&mut to_server, &body).await.is_err() {
                            // The server has stopped (after `exit`).
                            break;
                        }
                    }
                    Err(response) => {
                        tracing::warn!(
                            "refused a malformed message: {}",
                            response["error"]["message"]
                        );
                        let _ = errors_tx.send(response);
                    }
                },
                Ok(Some(Frame::Bad(why))) => {
                    tracing::warn!("skipped a malformed frame: {why}");
                    let _ = errors_tx.send(json!({
                        "jsonrpc": "2.0", "id": null,
                        "error": {"code": -32700, "message": format!("Parse error: {why}")}
                    }));
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Closing the server's input ends the session.
        drop(to_server);
    };

    let write = async move {
        let mut output = output;
        let mut from_server = FrameReader::new(from_server);
        let mut server_open = true;
        loop {
            tokio::select! {
                frame = from_server.next(), if server_open => match frame {
                    Ok(Some(Frame::Body(body))) => {
                        let body = lenses.answer(body);
                        if write_frame(&mut output, &body).await.is_err() {
                            break;
                        }
                    }
                    Ok(Some(Frame::Bad(_))) => {}
                    Ok(None) | Err(_) => server_open = false,
                },
                Some(error) = errors_rx.recv() => {
                    let body = serde_json::to_vec(&error).expect("JSON values serialize");
                    if write_frame(&mut output, &body).await.is_err() {
                        break;
                    }
                }
                else => break,
            }
        }
    };

    let serve = async move {
        server.await;
        // The server is done (exit, or its input closed): stop reading; the
        // writer flushes what is left.
        let _ = stop_reading.send(());
    };
    tokio::join!(read, serve, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lens_requests_are_renamed_and_only_their_answers_filled() {
        let request = br#"{"jsonrpc":"2.0","id":7,"method":"textDocument/codeLens","params":{"textDocument":{"uri":"file:///a.dbk"}}}"#;
        let renamed: Value = serde_json::from_slice(&LensStash::rename(request).unwrap()).unwrap();
        assert_eq!(
            renamed,
            json!({"jsonrpc": "2.0", "id": 7, "method": "databook/codeLensBytes",
                   "params": {"request": "7", "textDocument": {"uri": "file:///a.dbk"}}})
        );
        // Other messages, and a lens "request" without an id, go as they are.
        for other in [
            &br#"{"jsonrpc":"2.0","id":8,"method":"textDocument/hover","params":{"note":"textDocument/codeLens"}}"#[..],
            br#"{"jsonrpc":"2.0","method":"textDocument/codeLens","params":{}}"#,
        ] {
            assert_eq!(LensStash::rename(other), None);
        }

        let stash = LensStash::default();
        let null = br#"{"jsonrpc":"2.0","result":null,"id":7}"#.to_vec();
        // Nothing left for it: the answer goes as it is.
        assert_eq!(stash.answer(null.clone()), null);
        stash.put("7".into(), b"[1,2]".to_vec());
        let other = br#"{"jsonrpc":"2.0","result":null,"id":6}"#.to_vec();
        assert_eq!(stash.answer(other.clone()), other);
        assert_eq!(
            stash.answer(null.clone()),
            br#"{"jsonrpc":"2.0","id":7,"result":[1,2]}"#.to_vec()
        );
        // Taken: a second answer with that id is not filled.
        assert_eq!(stash.answer(null.clone()), null);
        // A cancelled request's error goes as it is, and its lenses are dropped.
        stash.put("\"x\"".into(), b"[]".to_vec());
        let error =
            br#"{"jsonrpc":"2.0","error":{"code":-32800,"message":"canceled"},"id":"x"}"#.to_vec();
        assert_eq!(stash.answer(error.clone()), error);
        assert!(stash.lock().is_empty());
    }

    async fn frames(input: &[u8]) -> Vec<Frame> {
        let mut reader = FrameReader::new(input);
        let mut frames = Vec::new();
        while let Some(frame) = reader.next().await.unwrap() {
            frames.push(frame);
        }
        frames
    }

    #[tokio::test]
    async fn frames_are_read_whatever_the_header_case() {
        let input = b"Content-Length: 2\r\n\r\n{}content-length:3\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[1]";
        assert_eq!(
            frames(input).await,
            [Frame::Body(b"{}".to_vec()), Frame::Body(b"[1]".to_vec())]
        );
    }

    #[tokio::test]
    async fn a_frame_without_length_is_reported_and_skipped() {
        let input = b"X-Other: 1\r\n\r\nContent-Length: 2\r\n\r\n{}";
        let read = frames(input).await;
        assert_eq!(read[0], Frame::Bad("a frame without Content-Length".into()));
        assert_eq!(read[1], Frame::Body(b"{}".to_vec()));
    }

    #[tokio::test]
    async fn after_a_bad_length_the_next_frame_is_found_again() {
        let input = b"Content-Length: banana\r\n\r\n{\"id\":1}Content-Length: 2\r\n\r\n{}\
                      CONTENT-LENGTH: 3\r\n\r\n[1]";
        let read = frames(input).await;
        assert_eq!(
            read,
            [
                Frame::Bad("bad Content-Length \"banana\"".into()),
                Frame::Body(b"{}".to_vec()),
                Frame::Body(b"[1]".to_vec()),
            ]
        );
        // A body with line breaks of its own, after a frame with no length.
        let input = b"X-Other: 1\r\n\r\n{\n\"a\": 1\n}\r\nContent-Length: 2\r\n\r\n{}";
        let read = frames(input).await;
        assert_eq!(read[1..], [Frame::Body(b"{}".to_vec())]);
    }

    #[test]
    fn bodies_are_checked() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).is_ok());
        let not_json = check(b"{not json").unwrap_err();
        assert_eq!(not_json["error"]["code"], -32700);
        assert_eq!(not_json["id"], Value::Null);
        let not_rpc = check(br#"{"id":7,"hello":"there"}"#).unwrap_err();
        assert_eq!(not_rpc["error"]["code"], -32600);
        assert_eq!(not_rpc["id"], 7);
    }
}
