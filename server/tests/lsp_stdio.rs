//! `databook lsp` as an editor starts it: the real process on stdio.

mod common;

use std::time::{Duration, Instant};

use common::LspProcess;
use serde_json::json;

#[test]
fn the_server_survives_bad_json_and_exits_on_exit_with_stdin_open() {
    let home = tempfile::tempdir().unwrap();
    let mut server = LspProcess::start(home.path(), &[]);

    server.send_raw("{\"jsonrpc\": \"2.0\", oops");
    let error = server.receive();
    assert_eq!(error["error"]["code"], -32700, "{error}");

    let reply = server.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(reply["result"]["serverInfo"]["name"], "databook");
    assert_eq!(
        server.request("shutdown", json!(null))["result"],
        json!(null)
    );
    server.notify("exit", json!(null));

    // stdin stays open, as editors keep it: the server must exit by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after `exit`"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
}

#[test]
fn a_plugin_added_to_a_relative_plugin_folder_is_picked_up() {
    // DATABOOK_PLUGINS names a folder relative to where the server runs,
    // and the folder does not exist yet.
    let home = tempfile::tempdir().unwrap();
    let mut server = LspProcess::start(home.path(), &[("DATABOOK_PLUGINS", "plugins")]);
    let _watchdog = server.watchdog(Duration::from_secs(60));
    server.initialize(home.path());
    let uri = format!("file://{}/notes.dbk", home.path().display());
    server.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "databook", "version": 1, "text": "@plugin=fresh\ncounter\n"}}),
    );
    let codes = |m: &serde_json::Value| -> Vec<String> {
        m["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let published = server.until(|m| m["method"] == "textDocument/publishDiagnostics");
    assert_eq!(codes(&published), ["unknown-plugin"]);

    common::write_plugin(&home.path().join("plugins"), "fresh", "0.1.0", "");
    let published = server.until(|m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["diagnostics"] == json!([])
    });
    assert_eq!(published["params"]["version"], 1);
}

#[test]
fn after_a_frame_with_a_bad_length_the_server_answers_the_next_message() {
    let home = tempfile::tempdir().unwrap();
    let mut server = LspProcess::start(home.path(), &[]);
    let _watchdog = server.watchdog(std::time::Duration::from_secs(30));
    server.send_bytes(
        "Content-Length: banana\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"shutdown\"}",
    );
    let reply = server.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(reply["result"]["serverInfo"]["name"], "databook", "{reply}");
}
