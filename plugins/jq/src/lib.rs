//! `jq`: runs the jq filter a cell holds, with jaq (a jq clone in pure
//! Rust), over the output of the cell its `input=` names, or over `null`.
//!
//! The input is read by its MIME type: JSON types (`application/json`,
//! `…+json`) are parsed, anything else is given to the filter as one JSON
//! string. The result is the filter's one output, or the array of its
//! outputs when there are none or several.

wit_bindgen::generate!({
    world: "plugin-checking",
    path: "../../wit/0.1",
});

use std::ops::Range;

use databook::plugin::types::Output;
use exports::databook::plugin::checking::{self, Problem, Severity};
use exports::databook::plugin::plugin::{Cell, Description, Guest, OptionDoc, RunError};
use jaq_core::load::{Arena, File, Loader, lex, parse, span};
use jaq_core::{Compiler, Ctx, Filter, Vars, compile, data, load};
use jaq_json::Val;

/// A compiled filter.
type Compiled = Filter<data::JustLut<Val>>;

/// A problem in a filter, at byte offsets into it.
struct FilterError {
    range: Range<usize>,
    message: String,
}

/// What a lexer or parser error says was expected, and what was found.
fn expected(expect: &str, found: &str) -> String {
    if found.is_empty() {
        format!("expected {expect}, but the filter ends here")
    } else {
        let token: String = found.chars().take(20).collect();
        format!("expected {expect}, found `{token}`")
    }
}

/// Parses and compiles `code`, or says where and why it cannot be.
fn compile(code: &str) -> Result<Compiled, Vec<FilterError>> {
    let at = |part: &str, message: String| {
        let range = span(code, part);
        // An error at the end of the input is shown right after the last
        // token, not past the blank lines that may follow it.
        let range = if part.is_empty() && range.start >= code.trim_end().len() {
            let end = code.trim_end().len();
            end..end
        } else {
            range
        };
        FilterError { range, message }
    };
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errors| {
            errors
                .into_iter()
                .flat_map(|(_, error)| match error {
                    load::Error::Io(io) => io
                        .into_iter()
                        .map(|(path, why)| at(path, format!("cannot import {path}: {why}")))
                        .collect(),
                    load::Error::Lex(lexed) => lexed
                        .into_iter()
                        .map(|(expect, found): lex::Error<&str>| {
                            at(found, expected(expect.as_str(), found))
                        })
                        .collect(),
                    load::Error::Parse(parsed) => parsed
                        .into_iter()
                        .map(|(expect, found): parse::Error<&str>| {
                            at(found, expected(expect.as_str(), found))
                        })
                        .collect::<Vec<_>>(),
                })
                .collect::<Vec<_>>()
        })?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            errors
                .into_iter()
                .flat_map(|(_, undefined)| undefined)
                .map(|(name, kind): compile::Error<&str>| {
                    let what = match kind {
                        compile::Undefined::Filter(arity) => format!("filter `{name}/{arity}`"),
                        other => format!("{} `{name}`", other.as_str()),
                    };
                    at(name, format!("undefined {what}"))
                })
                .collect()
        })
}

/// Line and column (both from 1, the column in characters) of `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The value a filter starts from: the input cell's output, or `null`.
fn input_value(input: Option<&Output>) -> Result<Val, RunError> {
    let Some(input) = input else {
        return Ok(Val::Null);
    };
    let media = input.mime.split(';').next().unwrap_or_default().trim();
    if media == "application/json" || media.ends_with("+json") {
        jaq_json::read::parse_single(input.data.as_bytes()).map_err(|error| RunError {
            message: format!("the input ({media}) is not valid JSON: {error}"),
            hint: Some("the cell that input= names must produce JSON, or text".into()),
        })
    } else {
        Ok(Val::from(input.data.clone()))
    }
}

/// How the results are written (`raw=`).
fn raw_option(options: &[(String, String)]) -> Result<bool, RunError> {
    let mut raw = false;
    for (key, value) in options {
        match (key.as_str(), value.as_str()) {
            ("raw", "true") => raw = true,
            ("raw", "false") => raw = false,
            ("raw", _) => {
                return Err(RunError {
                    message: format!("raw={value}: write raw=true or raw=false"),
                    hint: None,
                });
            }
            _ => {
                return Err(RunError {
                    message: format!("the jq plugin has no option {key:?}"),
                    hint: Some("its only option is raw=true; input= names the cell to read".into()),
                });
            }
        }
    }
    Ok(raw)
}

/// The results as one output: JSON (the one value, or an array of them),
/// or with `raw`, text: strings as they are, one result a line.
fn render(results: &[Val], raw: bool) -> Output {
    if raw {
        let lines: Vec<String> = results
            .iter()
            .map(|value| match value {
                Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => other.to_string(),
            })
            .collect();
        return Output {
            mime: "text/plain".into(),
            data: lines.join("\n"),
        };
    }
    let data = match results {
        [one] => one.to_string(),
        many => {
            let items: Vec<String> = many.iter().map(Val::to_string).collect();
            format!("[{}]", items.join(","))
        }
    };
    Output {
        mime: "application/json".into(),
        data,
    }
}

struct Jq;

impl Guest for Jq {
    fn run(cell: Cell) -> Result<Output, RunError> {
        let raw = raw_option(&cell.options)?;
        let filter = compile(&cell.body).map_err(|errors| {
            let first = &errors[0];
            let (line, column) = line_column(&cell.body, first.range.start);
            let more = match errors.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            RunError {
                message: format!(
                    "the filter has an error at line {line}, column {column}: {}{more}",
                    first.message
                ),
                hint: None,
            }
        })?;
        let input = input_value(cell.input.as_ref())?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
        let mut results = Vec::new();
        for result in filter.id.run((ctx, input)) {
            match result {
                Ok(value) => results.push(value),
                Err(exn) => {
                    let message = match exn.get_err() {
                        Ok(error) => format!("the filter failed: {error}"),
                        Err(exn) => match exn.get_halt() {
                            Ok(code) => format!("the filter halted with exit code {code}"),
                            Err(_) => "the filter failed".to_string(),
                        },
                    };
                    return Err(RunError {
                        message,
                        hint: None,
                    });
                }
            }
        }
        Ok(render(&results, raw))
    }

    fn describe() -> Description {
        Description {
            language: Some("jq".into()),
            options: vec![OptionDoc {
                name: "raw".into(),
                documentation: "`raw=true` writes the results as text, one a line, strings \
                                without quotes (as `jq -r`). By default the result is JSON: \
                                the filter's one output, or an array of its outputs when \
                                there are none or several. The filter reads the output of \
                                the cell that `input=` names (JSON parsed, any other type \
                                as a string), or `null` without `input=`."
                    .into(),
            }],
        }
    }
}

impl checking::Guest for Jq {
    fn check(body: String, _options: Vec<(String, String)>) -> Vec<Problem> {
        match compile(&body) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|error| Problem {
                    start: error.range.start as u32,
                    end: error.range.end as u32,
                    severity: Severity::Error,
                    message: error.message,
                })
                .collect(),
        }
    }
}

export!(Jq);
