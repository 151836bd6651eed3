//! `misbehave`: does whatever bad thing its body names, so that the runtime's
//! tests can check that each is contained. Never shipped.
//!
//! The body's first word picks the behaviour; the rest is its argument:
//! `loop`, `alloc MIB`, `panic`, `overflow`, `env NAME`, `wasi-env NAME`,
//! `read PATH`, `http URL`, `big BYTES`, `counter`, `log TEXT`,
//! `print TEXT`, `sleep MS`, `leak NAME`, `input`, `options`.

wit_bindgen::generate!({
    world: "plugin-full",
    path: "../../../wit/0.1",
});

use std::sync::atomic::{AtomicU64, Ordering};

use databook::plugin::runtime::{self, HttpError, Level, Request};
use databook::plugin::types::Output;
use exports::databook::plugin::checking::{self, Problem, Severity};
use exports::databook::plugin::completion::{self, Item, ItemKind};
use exports::databook::plugin::plugin::{Cell, Description, Guest, RunError};

/// Kept in a global so that a test can see whether any state survives
/// from one run to the next (it must not).
static COUNTER: AtomicU64 = AtomicU64::new(0);

struct Misbehave;

fn text(data: impl Into<String>) -> Result<Output, RunError> {
    Ok(Output {
        mime: "text/plain".into(),
        data: data.into(),
    })
}

fn fail(message: impl Into<String>) -> Result<Output, RunError> {
    Err(RunError {
        message: message.into(),
        hint: None,
    })
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[0] = depth as u8;
    recurse(depth + 1, std::hint::black_box(pad)) + u64::from(pad[1])
}

impl Guest for Misbehave {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let body = cell.body.trim();
        let (verb, arg) = body.split_once(' ').unwrap_or((body, ""));
        match verb {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mib: usize = arg.parse().unwrap_or(1024);
                let mut block = vec![0u8; mib << 20];
                // Touch every page, so no allocator can cheat.
                for i in (0..block.len()).step_by(4096) {
                    block[i] = 1;
                }
                text(format!(
                    "allocated {} MiB",
                    std::hint::black_box(block).len() >> 20
                ))
            }
            "panic" => panic!("misbehave was asked to panic"),
            "overflow" => text(recurse(0, &mut [0; 256]).to_string()),
            "env" => text(format!("{:?}", runtime::get_env(arg))),
            "leak" => {
                // Tries every way out for a secret: the log, stdout, stderr,
                // the output and the error.
                let value = runtime::get_env(arg).unwrap_or_default();
                runtime::log(Level::Warn, &format!("the secret is {value}"));
                println!("stdout: {value}");
                eprintln!("stderr: {value}");
                Err(RunError {
                    message: format!("error: {value}"),
                    hint: Some(format!("hint: {value}")),
                })
            }
            "wasi-env" => text(format!(
                "{:?} {}",
                std::env::var(arg).ok(),
                std::env::vars().count()
            )),
            "read" => match std::fs::read_to_string(arg) {
                Ok(contents) => text(contents),
                Err(e) => fail(format!("cannot read {arg}: {e}")),
            },
            // `http URL [NAME:VALUE]`: a GET, with one header of its own.
            "http" => {
                let (url, header) = arg.split_once(' ').unwrap_or((arg, ""));
                let headers = header
                    .split_once(':')
                    .map(|(n, v)| vec![(n.to_string(), v.to_string())])
                    .unwrap_or_default();
                let request = Request {
                    method: "GET".into(),
                    url: url.into(),
                    headers,
                    body: vec![],
                };
                match runtime::http_request(&request) {
                    Ok(response) => text(format!(
                        "{} {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    )),
                    Err(HttpError::Denied(origin)) => fail(format!("denied: {origin}")),
                    Err(e) => fail(format!("{e:?}")),
                }
            }
            "big" => text("x".repeat(arg.parse().unwrap_or(2 << 20))),
            "counter" => text((COUNTER.fetch_add(1, Ordering::SeqCst) + 1).to_string()),
            "log" => {
                runtime::log(Level::Info, arg);
                text("logged")
            }
            // `flood N`: N empty log lines; `flood` alone: until stopped.
            "flood" => {
                let n: u64 = arg.parse().unwrap_or(u64::MAX);
                for _ in 0..n {
                    runtime::log(Level::Error, "");
                }
                text("flooded")
            }
            "exit" => std::process::exit(arg.parse().unwrap_or(3)),
            "print" => {
                println!("{arg}");
                eprintln!("{arg} (stderr)");
                text("printed")
            }
            "sleep" => {
                let ms: u64 = arg.parse().unwrap_or(100);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                text(format!("slept {ms} ms"))
            }
            "input" => match cell.input {
                Some(input) => text(format!("{}: {}", input.mime, input.data)),
                None => fail("no input"),
            },
            "options" => text(format!("{:?}", cell.options)),
            _ => fail(format!("unknown behaviour {verb:?}")),
        }
    }

    fn describe() -> Description {
        // A plugin granted MISBEHAVE_DESCRIBE=loop never finishes loading.
        if runtime::get_env("MISBEHAVE_DESCRIBE").as_deref() == Some("loop") {
            #[allow(clippy::empty_loop)]
            loop {}
        }
        Description {
            language: Some("misbehave".into()),
            options: vec![],
        }
    }
}

impl completion::Guest for Misbehave {
    fn complete(body: String, offset: u32, _options: Vec<(String, String)>) -> Vec<Item> {
        // `leak NAME`: offers the variable's value, documented with it too,
        // as a careless plugin might.
        if let Some(name) = body.strip_prefix("leak ") {
            let value = runtime::get_env(name.trim()).unwrap_or_default();
            return vec![Item {
                label: value.clone(),
                insert: Some(value.clone()),
                detail: Some(format!("detail {value}")),
                documentation: Some(format!("documentation {value}")),
                kind: ItemKind::Value,
            }];
        }
        let typed = &body[..(offset as usize).min(body.len())];
        ["loop", "alloc", "panic", "counter"]
            .into_iter()
            .filter(|verb| verb.starts_with(typed.trim()))
            .map(|verb| Item {
                label: verb.into(),
                insert: None,
                detail: None,
                documentation: None,
                kind: ItemKind::Keyword,
            })
            .collect()
    }
}

impl checking::Guest for Misbehave {
    fn check(body: String, _options: Vec<(String, String)>) -> Vec<Problem> {
        // `check-http URL`: calls URL (a counter, for tests), then never
        // finishes.
        if let Some(url) = body.strip_prefix("check-http ") {
            let request = Request {
                method: "GET".into(),
                url: url.trim().into(),
                headers: vec![],
                body: vec![],
            };
            let _ = runtime::http_request(&request);
            #[allow(clippy::empty_loop)]
            loop {}
        }
        // `leak NAME`: reports the variable's value as a problem.
        if let Some(name) = body.strip_prefix("leak ") {
            let value = runtime::get_env(name.trim()).unwrap_or_default();
            return vec![Problem {
                start: 0,
                end: 4,
                severity: Severity::Warning,
                message: format!("the secret is {value}"),
            }];
        }
        match body.find("bad") {
            Some(start) => vec![Problem {
                start: start as u32,
                end: (start + 3) as u32,
                severity: Severity::Error,
                message: "`bad` is not allowed here".into(),
            }],
            None => vec![],
        }
    }
}

export!(Misbehave);
