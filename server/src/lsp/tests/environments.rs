//! Environments in the editor: `databook/environments` lists them, and
//! `databook.setEnvironment` makes one current for every later run, whose
//! result says which ran.

use serde_json::json;

use super::editor::Editor;

#[tokio::test]
async fn setting_an_environment_changes_what_later_runs_read() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("databook.toml"),
        "[env]\nTARGET = \"base\"\n\n[environments.staging]\nTARGET = \"staging value\"\n\n[environments.prod]\nTARGET = \"prod value\"\n",
    )
    .unwrap();
    let plugins = root.path().join("plugins");
    let dir = plugins.join("envy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        super::testing_plugins().join("misbehave/plugin.wasm"),
        dir.join("plugin.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "name = \"envy\"\nversion = \"0.1.0\"\ndescription = \"Reads TARGET\"\napi = \"0.1\"\n[permissions]\nenv = [\"TARGET\"]\n",
    )
    .unwrap();
    let (service, socket) = crate::lsp::service(vec![plugins]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    let uri = format!("file://{}/notes.dbk", root.path().display());
    editor
        .open(&uri, "@plugin=envy name=target\nenv TARGET\n")
        .await;

    assert_eq!(
        editor.request("databook/environments", json!(null)).await,
        json!({"current": null, "environments": ["prod", "staging"]})
    );
    let run = json!({"command": "databook.run", "arguments": [uri, 0, "@plugin=envy name=target"]});
    editor
        .request("workspace/executeCommand", run.clone())
        .await;
    assert!(
        editor.text(&uri).contains("> Some(\"base\")\n"),
        "{}",
        editor.text(&uri)
    );

    let set = editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.setEnvironment", "arguments": ["staging"]}),
        )
        .await;
    assert_eq!(
        set,
        json!({"current": "staging", "environments": ["prod", "staging"]})
    );
    editor
        .request("workspace/executeCommand", run.clone())
        .await;
    assert!(
        editor.text(&uri).contains("> Some(\"staging value\")\n"),
        "{}",
        editor.text(&uri)
    );
    // The block does not say which ran (no churn when switching); the
    // full result does.
    assert!(
        !editor.text(&uri).contains("staging\n"),
        "{}",
        editor.text(&uri)
    );
    let output = editor
        .wait_for("databook/output", |p| {
            p["data"] == "Some(\"staging value\")"
        })
        .await;
    assert_eq!(output["environment"], "staging");
    let rendered = editor
        .request("databook/render", json!({"uri": uri, "cell": 0}))
        .await;
    assert!(
        rendered["text"]
            .as_str()
            .unwrap()
            .starts_with("target · ok in "),
        "{rendered}"
    );
    assert!(
        rendered["text"]
            .as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .ends_with(" · environment staging"),
        "{rendered}"
    );

    // A typo changes nothing, and says what there is.
    let refused = editor
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "databook.setEnvironment", "arguments": ["prd"]}),
        )
        .await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("there is no environment \"prd\" (did you mean \"prod\"?)"),
        "{message}"
    );
    assert_eq!(
        editor.request("databook/environments", json!({})).await["current"],
        "staging"
    );

    // Hover on a variable in a body: its value, and where it comes from.
    editor
        .edit(&uri, (1, 0), (1, 10), "env TARGET {{TARGET}}")
        .await;
    let hover = editor
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 14}}),
        )
        .await;
    assert_eq!(
        hover["contents"]["value"],
        "`TARGET` = `staging value`\n\nfrom the environment `staging` in databook.toml"
    );
    editor.edit(&uri, (1, 10), (1, 21), "").await;

    // None: `[env]` alone again.
    editor
        .request(
            "workspace/executeCommand",
            json!({"command": "databook.setEnvironment", "arguments": [null]}),
        )
        .await;
    editor.request("workspace/executeCommand", run).await;
    assert!(
        editor.text(&uri).contains("> Some(\"base\")\n"),
        "{}",
        editor.text(&uri)
    );
}

/// `{{NAME}}` in a body: an error where the cell's plugin may not read the
/// variable, a warning where it has no value, nothing where it is fine.
#[tokio::test]
async fn variables_in_bodies_are_checked_against_the_plugins_grant() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("databook.toml"),
        "[env]\nGREETING = \"hello\"\n\n[plugin.echo.permissions]\nenv = [\"GREETING\", \"UNSET\"]\n",
    )
    .unwrap();
    let (service, socket) = crate::lsp::service(vec![]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    let uri = format!("file://{}/notes.dbk", root.path().display());
    editor
        .open(
            &uri,
            "@plugin=echo\nsay {{GREETING}} to {{ UNSET }}\n\n@plugin=jq\n{{GREETING}} \\{{GREETING}}\n",
        )
        .await;
    let published = editor
        .wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri.as_str() && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    let found: Vec<(String, u64, u64, u64)> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["severity"].as_u64().unwrap_or_default(),
                d["range"]["start"]["line"].as_u64().unwrap_or_default(),
                d["range"]["start"]["character"]
                    .as_u64()
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("unset-variable".to_string(), 2, 1, 20),
            ("ungranted-variable".to_string(), 1, 4, 0),
        ],
        "{published}"
    );
    let message = published["diagnostics"][1]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the plugin `jq` may not read GREETING"),
        "{message}"
    );

    // After `{{`, the variables the cell's plugin may read, with their
    // values.
    editor.edit(&uri, (1, 0), (1, 0), "x {{GR\n").await;
    let items = editor
        .request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 6}}),
        )
        .await;
    let found: Vec<(String, String, String)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["label"].as_str().unwrap_or_default().to_string(),
                i["detail"].as_str().unwrap_or_default().to_string(),
                i["textEdit"]["newText"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("GREETING".into(), "hello".into(), "GREETING}}".into()),
            ("UNSET".into(), "no value here".into(), "UNSET}}".into()),
        ],
        "{items}"
    );
}

/// Editing `databook.toml` while the server runs: the environments it
/// lists follow, with no restart.
#[tokio::test]
async fn environments_follow_an_edited_databook_toml() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("databook.toml");
    std::fs::write(&config, "[environments.staging]\nTARGET = \"s\"\n").unwrap();
    let (service, socket) = crate::lsp::service(vec![]);
    let mut editor = Editor::start(service, socket).await;
    editor.initialize(root.path()).await;
    assert_eq!(
        editor.request("databook/environments", json!(null)).await["environments"],
        json!(["staging"])
    );
    std::fs::write(
        &config,
        "[environments.staging]\nTARGET = \"s\"\n\n[environments.qa]\nTARGET = \"q\"\n",
    )
    .unwrap();
    let mut listed = json!(null);
    for _ in 0..100 {
        listed = editor.request("databook/environments", json!(null)).await["environments"].clone();
        if listed == json!(["qa", "staging"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listed, json!(["qa", "staging"]), "after 5 s");
}
