//! `{{CELL.PATH}}` in the editor: a chained pair of `http` cells against a
//! real local API, run from the editor; the diagnostics, completion and
//! hover of values taken from cells; and `cache=`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::editor::Editor;

const TOKEN: &str = "tok-9c1e";

/// A real HTTP API on a free loopback port: `POST /login` hands out a
/// token, `GET /me` answers only with it, `GET /count` counts its calls.
async fn api() -> (u16, Arc<AtomicUsize>) {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::{get, post};
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let json_body = |body: Value| {
        (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
    };
    let app = axum::Router::new()
        .route(
            "/login",
            post(move || async move { json_body(json!({"token": TOKEN, "user": {"id": 7}})) }),
        )
        .route(
            "/me",
            get(move |headers: HeaderMap| async move {
                let bearer = format!("Bearer {TOKEN}");
                match headers.get(header::AUTHORIZATION) {
                    Some(v) if v.to_str().ok() == Some(bearer.as_str()) => {
                        (StatusCode::OK, json_body(json!({"name": "ada"})))
                    }
                    _ => (
                        StatusCode::UNAUTHORIZED,
                        json_body(json!({"error": "no token"})),
                    ),
                }
            }),
        )
        .route(
            "/count",
            get(move || async move {
                let runs = counted.fetch_add(1, Ordering::SeqCst) + 1;
                json_body(json!({ "runs": runs }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, count)
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_chained_pair_runs_from_the_editor_with_diagnostics_completion_and_hover() {
    let (port, _) = api().await;
    let root = tempfile::tempdir().unwrap();
    let (service, socket) = crate::lsp::service(vec![]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    let uri = format!("file://{}/notes.dbk", root.path().display());
    let text = format!(
        "@plugin=http name=login\nPOST http://127.0.0.1:{port}/login\n\n\
         @plugin=http name=me\nGET http://127.0.0.1:{port}/me\nAuthorization: Bearer {{{{login.token}}}}\n\n\
         @plugin=echo name=stray\n{{{{logn.token}}}}\n"
    );
    editor.open(&uri, &text).await;

    // A value from a cell that does not exist: an error on its name, with
    // the fix.
    let published = editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri.as_str() && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    let diagnostics = published["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{published}");
    assert_eq!(diagnostics[0]["code"], "unknown-cell");
    assert_eq!(diagnostics[0]["message"], "no cell is named `logn`");
    assert_eq!(
        diagnostics[0]["range"],
        json!({"start": {"line": 8, "character": 2}, "end": {"line": 8, "character": 6}})
    );

    // Running `me` runs `login` first: it has no result yet.
    let run = json!({"command": "databook.run", "arguments": [uri, 1, "@plugin=http name=me"]});
    let ran = editor.request("workspace/executeCommand", run).await;
    assert_eq!(
        ran["runs"],
        json!([{"cell": 0, "status": "ok"}, {"cell": 1, "status": "ok"}]),
        "{ran}"
    );
    let now = editor.text(&uri);
    assert!(now.contains(">   \"name\": \"ada\"\n"), "{now}");
    assert!(now.contains("Bearer {{login.token}}\n"), "{now}");

    // Hover on the reference: its value and where it comes from.
    let line = now
        .lines()
        .position(|l| l.starts_with("Authorization: Bearer"))
        .unwrap();
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": 26}}),
        )
        .await;
    assert_eq!(
        hover["contents"]["value"],
        format!("`login.token` = `{TOKEN}`\n\nfrom the latest result of the cell `login`")
    );

    // After `{{`, the named cells (and variables); after `{{login.`, the
    // keys of its latest result.
    let stray_line = editor
        .text(&uri)
        .lines()
        .position(|l| l == "{{logn.token}}")
        .unwrap() as u32;
    editor
        .edit(&uri, (stray_line, 0), (stray_line, 14), "{{lo")
        .await;
    let items = editor
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": stray_line, "character": 4}}),
        )
        .await;
    assert_eq!(labels(&items), ["login.", "me."], "{items}");
    editor
        .edit(&uri, (stray_line, 0), (stray_line, 4), "{{login.")
        .await;
    let items = editor
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": stray_line, "character": 8}}),
        )
        .await;
    assert_eq!(labels(&items), ["token", "user"], "{items}");
    assert_eq!(items[0]["detail"], format!("\"{TOKEN}\""));
    assert_eq!(items[0]["textEdit"]["newText"], "token}}");
    assert_eq!(items[1]["detail"], "object of 1 keys");
}

/// `cache=` in the editor: the second run reuses the result (the server's
/// counter says it was not called), and the full result says so.
#[tokio::test]
async fn a_cached_cell_is_reused_in_the_editor() {
    let (port, count) = api().await;
    let root = tempfile::tempdir().unwrap();
    let (service, socket) = crate::lsp::service(vec![]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    let uri = format!("file://{}/notes.dbk", root.path().display());
    editor
        .open(
            &uri,
            &format!("@plugin=http name=count cache=true\nGET http://127.0.0.1:{port}/count\n"),
        )
        .await;
    let run = json!({"command": "databook.run", "arguments": [uri, 0, "@plugin=http name=count cache=true"]});
    editor
        .request("workspace/executeCommand", run.clone())
        .await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let first = editor.wait_for("databook/output", |p| p["cell"] == 0).await;
    assert!(first.get("cached").is_none(), "{first}");
    editor
        .request("workspace/executeCommand", run.clone())
        .await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "not run again");
    let second = editor
        .wait_for_next("databook/output", |p| p["cell"] == 0)
        .await;
    assert_eq!(second["cached"], true, "{second}");
    assert_eq!(second["data"], "{\"runs\":1}");
    let rendered = editor
        .request("databook/render", json!({"uri": uri, "cell": 0}))
        .await;
    // The line that introduces the full result says it was reused.
    let heading = rendered["text"].as_str().unwrap().lines().next().unwrap();
    assert!(
        heading.starts_with("count · ok in ") && heading.ends_with(" · cached"),
        "{rendered}"
    );

    // A change of the body runs it again.
    editor.edit(&uri, (1, 0), (1, 0), "# again\n").await;
    editor.request("workspace/executeCommand", run).await;
    assert_eq!(count.load(Ordering::SeqCst), 2, "the body changed");
}
