//! `databook plugin new NAME` and `databook plugin build [DIR]`: a new
//! plugin crate, ready to build, and its build into `DIR/plugin.wasm`, so
//! that `databook exec --plugins . NAME` runs it straight away. See
//! docs/writing-plugins.md.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use databook_runtime::{API_VERSION, Registry, SearchPath, Workspace};

use crate::cli::Cli;
use databook::setup::process_env;

/// The WebAssembly target plugins are built for.
const TARGET: &str = "wasm32-wasip2";

/// The interfaces a new plugin is built against: this binary's own, so a
/// plugin it scaffolds is one it can load.
const PLUGIN_WIT: &str = include_str!("../../wit/0.1/plugin.wit");
const RUNTIME_WIT: &str = include_str!("../../wit/0.1/runtime.wit");

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a new Rust plugin crate into the folder NAME, ready to build.
    New {
        /// The plugin's name: lower-case letters, digits, `-` and `_`.
        name: String,
    },
    /// Build a plugin crate for wasm32-wasip2 and copy the component to
    /// DIR/plugin.wasm, next to its config.toml.
    Build {
        /// The plugin's folder (holding Cargo.toml and config.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

pub async fn plugin(cli: &Cli, args: &PluginArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        PluginCommand::New { name } => new(name),
        PluginCommand::Build { dir } => build(cli, dir).await,
    }
}

/// Whether `name` is a plugin name a cell header can hold (as
/// notebook-format.md says: `[a-z0-9][a-z0-9_-]*`).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn new(name: &str) -> anyhow::Result<ExitCode> {
    if !valid_name(name) {
        bail!(
            "{name:?} cannot name a plugin: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
        );
    }
    let dir = PathBuf::from(name);
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or folder",
            dir.display()
        );
    }
    let files: [(&str, String); 7] = [
        ("config.toml", config_toml(name)),
        ("Cargo.toml", cargo_toml(name)),
        ("src/lib.rs", LIB_RS.to_string()),
        ("wit/plugin.wit", PLUGIN_WIT.to_string()),
        ("wit/runtime.wit", RUNTIME_WIT.to_string()),
        (".gitignore", "/target\n".to_string()),
        ("README.md", readme(name)),
    ];
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("created the plugin {name} in {}/", dir.display());
    println!("next:");
    println!("  databook plugin build {name}");
    println!("  databook exec --plugins . {name} 'world'");
    Ok(ExitCode::SUCCESS)
}

fn config_toml(name: &str) -> String {
    format!(
        r#"name = "{name}"
version = "0.1.0"
description = "Greets whoever its cell names"
api = "{API_VERSION}"

# What the plugin may touch: nothing until granted here.
#   env = ["MY_URL"]             variables it may read with get-env
#   secrets = ["MY_TOKEN"]       readable too, masked in outputs and logs
#   http = ["$MY_URL", "https://api.example.com"]   origins it may call
[permissions]
env = []
secrets = []
http = []

# Optional; these are the defaults.
# [limits]
# timeout = "10s"
# memory = "64MiB"
# output = "1MiB"
"#
    )
}

fn cargo_toml(name: &str) -> String {
    // Cargo refuses a package name that starts with a digit, which a plugin
    // name may; the crate's name matters to no one else.
    let package = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("plugin-{name}")
    } else {
        name.to_string()
    };
    format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = "0.61"

# Small components load and compile faster.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true

# A crate of its own, even inside another project's workspace.
[workspace]
"#
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nA Databook plugin.\n\n```sh\ndatabook plugin build .\ndatabook exec --plugins . {name} 'world'\n```\n\n\
         `wit/` holds the interfaces it is built against; see Databook's\n\
         docs/writing-plugins.md.\n"
    )
}

const LIB_RS: &str = r#"//! A Databook plugin: greets whoever its cell's body names.
//!
//! `run` gets the cell (its body, its header's options and, with `input=`,
//! another cell's output) and returns an output or an error with a hint.
//! `describe` tells editors what the body is written in and which options
//! the plugin reads. To add completion or checks, build against the
//! `plugin-full` world and implement `completion::Guest` and
//! `checking::Guest` too.

wit_bindgen::generate!({
    world: "plugin-basic",
    path: "wit",
});

use databook::plugin::types::Output;
use exports::databook::plugin::plugin::{Cell, Description, Guest, OptionDoc, RunError};

struct Plugin;

impl Guest for Plugin {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let name = cell.body.trim();
        if name.is_empty() {
            return Err(RunError {
                message: "the cell is empty: there is no one to greet".to_string(),
                hint: Some("write a name in the cell's body".to_string()),
            });
        }
        let greeting = cell
            .options
            .iter()
            .find(|(key, _)| key == "greeting")
            .map_or("Hello", |(_, value)| value.as_str());
        Ok(Output {
            mime: "text/plain".to_string(),
            data: format!("{greeting}, {name}!"),
        })
    }

    fn describe() -> Description {
        Description {
            language: None,
            options: vec![OptionDoc {
                name: "greeting".to_string(),
                documentation: "The word to greet with (default `Hello`).".to_string(),
            }],
        }
    }
}

export!(Plugin);
"#;

/// Whether rustup says the target is installed; None without rustup.
fn target_installed() -> Option<bool> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l.trim() == TARGET)
    })
}

fn missing_target() -> anyhow::Error {
    anyhow::anyhow!(
        "the {TARGET} target is not installed; run `rustup target add {TARGET}` and build again"
    )
}

async fn build(cli: &Cli, dir: &Path) -> anyhow::Result<ExitCode> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} is not a plugin crate: it has no Cargo.toml (create one with `databook plugin new NAME`)",
            dir.display()
        );
    }
    if !dir.join("config.toml").is_file() {
        bail!(
            "{} has no config.toml: a plugin needs one next to its plugin.wasm",
            dir.display()
        );
    }
    if target_installed() == Some(false) {
        return Err(missing_target());
    }
    // Cargo's JSON messages name the built files wherever the target folder
    // is (CARGO_TARGET_DIR, a workspace's, the crate's own); its progress
    // and diagnostics still go to the terminal, rendered.
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--target", TARGET, "--release"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .context("cannot run cargo; is Rust installed (https://rustup.rs)?")?;
    if !output.status.success() {
        bail!(
            "cargo could not build {} (if it cannot find `core` or `std`, the {TARGET} target is missing: run `rustup target add {TARGET}`)",
            dir.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wasm = built_component(&stdout).with_context(|| {
        format!(
            "cargo built {} but no .wasm came of it; is its crate-type [\"cdylib\"]?",
            dir.display()
        )
    })?;
    let target = dir.join("plugin.wasm");
    std::fs::copy(&wasm, &target)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), target.display()))?;
    let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    println!("built {} ({size} bytes)", target.display());

    // Load it as `exec` would, so a broken config.toml or a component that
    // does not fit the interfaces is reported now rather than at first use.
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let setup = cli.setup()?;
    let search = SearchPath {
        dirs: vec![dir.to_path_buf()],
        builtins: &[],
    };
    let plugin = Registry::load_one(
        &setup.runtime,
        &search,
        &Workspace::default(),
        process_env,
        &name,
    )
    .await?;
    let summary = plugin.summary();
    println!(
        "loaded {name} {} ({}); run it with: databook exec --plugins {} {name}",
        summary.version,
        summary.exports.join(", "),
        dir.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// The `.wasm` file among the artifacts in cargo's JSON messages.
fn built_component(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .rfind(|file| file.extension().is_some_and(|e| e == "wasm"))
}
