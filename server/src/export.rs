//! `databook export NOTEBOOK.dbk`: writes the notebook as one self-contained
//! HTML page to share: the prose rendered from Markdown, each cell's source
//! lightly highlighted, and each cell's latest full result (from the
//! results store `databook run` and the editors keep) drawn as the VS Code
//! preview draws it. The page's script and style are the bundle that
//! editors/vscode builds from the preview's own code (`server/assets/`,
//! committed), inlined, so the page needs no network to be read.
//!
//! Notebooks and results are not trusted: a shared page must not run
//! anything its author or a plugin slipped into it. Prose is Markdown whose
//! raw HTML is shown as text and whose links may not run script; results go
//! in as JSON in a `<script type="application/json">` whose `<`, `>` and `&`
//! are escaped, and the page's script draws them as text only; a Content
//! Security Policy lets run only the page's own script and style (by hash)
//! and load nothing from anywhere.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Args, Parser};
use databook_notebook::{BodyRef, Cell, OutputBlock, Parse, TokenKind, parse, semantic_tokens_in};
use databook_runtime::Workspace;
use pulldown_cmark::{Alignment, CodeBlockKind, Event, Options, Tag, TagEnd};
use serde_json::json;
use sha2::Digest as _;

use crate::cli::Cli;
use crate::headless::{self, RunArgs};
use databook::cells;
use databook::results::{self, Kept};

/// The page's script: the preview's drawing code and uPlot, built by
/// `npm run build:export` in editors/vscode.
const SCRIPT: &str = include_str!("../assets/export.js");
/// The page's style sheet: uPlot's, the preview's and the page's own.
const STYLE: &str = include_str!("../assets/export.css");

#[derive(Debug, Args)]
#[command(
    after_help = "The page holds the notebook's prose (Markdown), each cell's header and \
body, and each cell's latest full result as VS Code's preview shows it: tables, JSON trees, \
time series charts, errors and logs. A cell with no kept result shows the output block in the \
file, or that it has not run. The page's script and style are inside it: it opens offline, \
loads nothing, and runs no script from the notebook or its results."
)]
pub struct ExportArgs {
    /// The notebook to export.
    pub notebook: PathBuf,
    /// Where to write the page (default: the notebook's path with `.html`).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Run the notebook first, as `databook run` does (writing its outputs
    /// back), then export; the exit status is then the run's.
    #[arg(long)]
    pub run: bool,
}

pub async fn export(cli: &Cli, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let path = &args.notebook;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| path.with_extension("html"));
    if same_file(path, &output) {
        bail!(
            "{} is the notebook itself; give the page another name with -o",
            output.display()
        );
    }

    let mut exit = ExitCode::SUCCESS;
    if args.run {
        exit = headless::run(cli, &run_args(path)?).await?;
    }

    let started = Instant::now();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = parse(&text);
    let dir = crate::headless::folder_of(path);
    // Only the workspace's root is needed (where the results are kept), so
    // no runtime is started.
    let dir = std::path::absolute(dir).context("cannot resolve the notebook's folder")?;
    let workspace = Workspace::discover(&dir)?;
    let kept = match results::headless_store_file(&workspace.root, path) {
        Some(file) => results::load(&file).unwrap_or_else(|error| {
            eprintln!("warning: {error}; the page shows the outputs in the file");
            Vec::new()
        }),
        None => Vec::new(),
    };
    let latest = results::latest_by_cell(&kept, &parsed, &text);
    let title = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let html = page(&title, &text, &parsed, &latest);
    write_atomically(&output, html.as_bytes())?;
    eprintln!(
        "exported {} cells ({} with a kept result) to {} ({} KB) in {} ms",
        parsed.cells.len(),
        latest.iter().filter(|k| k.is_some()).count(),
        output.display(),
        html.len().div_ceil(1024),
        started.elapsed().as_millis()
    );
    Ok(exit)
}

/// What `databook run NOTEBOOK` would be given: parsed by clap, so that
/// every option of `run` keeps its default, whichever options it gains.
fn run_args(path: &Path) -> anyhow::Result<RunArgs> {
    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        run: RunArgs,
    }
    let argv = [
        std::ffi::OsStr::new("databook"),
        std::ffi::OsStr::new("--"),
        path.as_os_str(),
    ];
    Ok(Run::try_parse_from(argv)
        .context("cannot prepare the run")?
        .run)
}

/// Whether `a` and `b` name one file (that exists).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so
/// that a reader never sees half a page. The page gets the permissions a
/// new file gets (the umask's), not a temporary file's owner-only ones: it
/// is meant to be shared.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = crate::headless::folder_of(path);
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The page for the notebook `text` (parsed as `parse`), titled `title`,
/// with `latest[i]` the kept result of cell `i`, if any. Nothing in it
/// depends on the clock, so the same notebook and results give the same page.
pub fn page(title: &str, text: &str, parse: &Parse, latest: &[Option<&Kept>]) -> String {
    let mut body = String::new();
    // Every byte of the file is prose, a cell or an output block under no
    // cell; the prose is what lies between the other two.
    let mut pieces: Vec<Piece> = parse
        .cells
        .iter()
        .map(Piece::Cell)
        .chain(parse.stray_outputs.iter().map(Piece::Stray))
        .collect();
    pieces.sort_by_key(|p| p.range().start);
    let mut at = 0;
    for piece in pieces {
        let range = piece.range();
        if range.start < at {
            continue;
        }
        prose(&mut body, &text[at..range.start]);
        match piece {
            Piece::Cell(cell) => {
                let kept = latest.get(cell.index).copied().flatten();
                cell_html(&mut body, text, parse, cell, kept);
            }
            Piece::Stray(block) => {
                body.push_str("<pre class=\"stray-output\">");
                body.push_str(&escape(&text[block.range.clone()]));
                body.push_str("</pre>\n");
            }
        }
        at = range.end;
    }
    prose(&mut body, &text[at..]);

    let results: Vec<serde_json::Value> = parse
        .cells
        .iter()
        .filter_map(|cell| {
            let kept = latest.get(cell.index).copied().flatten()?;
            Some(result_json(cell, kept))
        })
        .collect();
    let data = json!({ "notebook": title, "results": results });

    let csp = format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
        sha256_source(SCRIPT),
        sha256_source(STYLE)
    );
    let mut html = String::with_capacity(body.len() + SCRIPT.len() + STYLE.len() + 4096);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"databook {version}\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header class=\"page-head\">{title}, exported by databook {version}</header>\n\
         <main>\n{body}</main>\n\
         <script type=\"application/json\" id=\"databook-results\">{data}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        version = env!("CARGO_PKG_VERSION"),
        title = escape(title),
        data = script_json(&data),
    );
    html
}

enum Piece<'p> {
    Cell(&'p Cell),
    Stray(&'p OutputBlock),
}

impl Piece<'_> {
    fn range(&self) -> std::ops::Range<usize> {
        match self {
            Piece::Cell(cell) => cell.range.clone(),
            Piece::Stray(block) => block.range.clone(),
        }
    }
}

/// A cell's result as the page's script reads it: the fields of the
/// preview's `CellOutput` (editors/vscode/src/preview/data.ts), and when it
/// ran.
fn result_json(cell: &Cell, kept: &Kept) -> serde_json::Value {
    let report = &kept.report;
    let (status, mime, data, hint) = match &report.result {
        Ok(output) => ("ok", output.mime.as_str(), output.data.clone(), None),
        Err(failure) => (
            "error",
            "text/plain",
            failure.to_string(),
            failure.hint().map(str::to_string),
        ),
    };
    json!({
        "cell": cell.index,
        "name": cell.name(),
        "status": status,
        "mime": mime,
        "data": data,
        "hint": hint,
        "elapsedMs": report.elapsed.as_millis() as u64,
        "logs": report.logs.iter().map(|l| json!({"level": l.level.to_string(), "message": l.message})).collect::<Vec<_>>(),
        "environment": kept.environment,
        "cached": kept.cached,
        "atMs": kept.at_ms,
    })
}

/// One cell: its label, its source and where its result goes. The result's
/// placeholder holds the file's output block as text, which the script
/// replaces and a reader without scripts still sees.
fn cell_html(out: &mut String, text: &str, parse: &Parse, cell: &Cell, kept: Option<&Kept>) {
    let index = cell.index;
    let _ = write!(
        out,
        "<section class=\"cell\" id=\"cell-{index}\" data-cell=\"{index}\">\n\
         <h2 class=\"cell-head\"><a href=\"#cell-{index}\">{}</a>",
        escape(&cells::label(cell))
    );
    if let Some(plugin) = cell.plugin() {
        let _ = write!(
            out,
            "<span class=\"badge plugin\">@{}</span>",
            escape(plugin)
        );
    }
    if kept.is_none() {
        match &cell.output {
            Some(block) => {
                let status = block.status.map_or("output", |s| s.as_str());
                let _ = write!(
                    out,
                    "<span class=\"badge status status-{status}\">{status}</span>\
                     <span class=\"badge from-file\">as written in the file</span>"
                );
            }
            None => out.push_str("<span class=\"badge not-run\">not run</span>"),
        }
    }
    out.push_str("</h2>\n<pre class=\"source\"><code>");
    source_html(out, text, parse, cell);
    out.push_str("</code></pre>\n<div class=\"result\">");
    match &cell.output {
        Some(block) => {
            let class = match block.status {
                Some(databook_notebook::Status::Error) => "output error",
                _ => "output",
            };
            let _ = write!(
                out,
                "<pre class=\"{class}\">{}</pre>",
                escape(&block.content)
            );
        }
        None if kept.is_some() => {
            out.push_str("<p class=\"muted\">This result is drawn by the page's script.</p>")
        }
        None => out.push_str("<p class=\"muted\">Not run.</p>"),
    }
    out.push_str("</div>\n</section>\n");
}

/// The header line and the body, escaped, with the header's parts (plugin,
/// option keys and values) and the body's references (`{{NAME}}`,
/// `{{CELL.PATH}}`) marked.
fn source_html(out: &mut String, text: &str, parse: &Parse, cell: &Cell) {
    let header = cell.header.range.clone();
    let mut at = header.start;
    for token in semantic_tokens_in(parse, text, header.clone()) {
        if token.range.start < at || token.range.end > header.end {
            continue;
        }
        let class = match token.kind {
            TokenKind::Directive => "directive",
            TokenKind::PluginName => "plugin",
            TokenKind::OptionKey => "key",
            TokenKind::OptionValue => "value",
            TokenKind::OutputPrefix => continue,
        };
        out.push_str(&escape(&text[at..token.range.start]));
        let _ = write!(
            out,
            "<span class=\"{class}\">{}</span>",
            escape(&text[token.range.clone()])
        );
        at = token.range.end;
    }
    out.push_str(&escape(&text[at..header.end]));
    let body = cell.body_text(text);
    if body.is_empty() {
        return;
    }
    out.push('\n');
    let mut at = 0;
    for reference in databook_notebook::body_refs(body) {
        let range = reference.range().clone();
        let (class, title) = match &reference {
            BodyRef::Variable(variable) => {
                ("ref variable", format!("the variable {}", variable.name))
            }
            BodyRef::Value(value) => ("ref value", format!("a value from the cell {}", value.cell)),
        };
        out.push_str(&escape(&body[at..range.start]));
        let _ = write!(
            out,
            "<span class=\"{class}\" title=\"{}\">{}</span>",
            escape(&title),
            escape(&body[range.clone()])
        );
        at = range.end;
    }
    out.push_str(&escape(&body[at..]));
}

/// Escapes text for HTML, in element content and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON to put inside a `<script>` element: `<`, `>` and `&` (which only
/// strings can hold) as `\u` escapes, so that no `</script>` or `<!--` in a
/// result can end or change the element; U+2028 and U+2029 too, which some
/// readers take for line ends. The value read back is the same.
fn script_json(value: &serde_json::Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A CSP source that allows exactly this inline script or style.
fn sha256_source(content: &str) -> String {
    let digest = sha2::Sha256::digest(content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Appends prose, Markdown rendered as HTML. Raw HTML in it is shown as
/// text, links and images may only point at the web, mail or the file's
/// neighbours (never `javascript:`), and images are shown only when they
/// are in the page (`data:` URLs), so that opening the page loads nothing.
fn prose(out: &mut String, markdown: &str) {
    if markdown.trim().is_empty() {
        return;
    }
    out.push_str("<div class=\"prose\">\n");
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut links: Vec<bool> = Vec::new();
    let mut table: Vec<Alignment> = Vec::new();
    let mut in_head = false;
    let mut column = 0;
    // While inside an image drawn as `<img>`: its alt text so far.
    let mut alt: Option<(String, String, String)> = None;
    for event in pulldown_cmark::Parser::new_ext(markdown, options) {
        if let Some((_, _, text)) = &mut alt {
            match event {
                Event::End(TagEnd::Image) => {
                    let (src, title, text) = alt.take().unwrap_or_default();
                    let _ = write!(
                        out,
                        "<img src=\"{}\" alt=\"{}\"{}>",
                        escape(&src),
                        escape(&text),
                        title_attr(&title)
                    );
                }
                Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                    text.push_str(&t)
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => out.push_str("<p>"),
                Tag::Heading { level, .. } => {
                    let _ = write!(out, "<{level}>");
                }
                Tag::BlockQuote(_) => out.push_str("<blockquote>\n"),
                Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                    let language = info.split_whitespace().next().unwrap_or("");
                    if language.is_empty() {
                        out.push_str("<pre><code>");
                    } else {
                        let _ = write!(out, "<pre><code class=\"language-{}\">", escape(language));
                    }
                }
                Tag::CodeBlock(CodeBlockKind::Indented) => out.push_str("<pre><code>"),
                Tag::HtmlBlock => out.push_str("<pre class=\"raw-html\">"),
                Tag::List(Some(1)) => out.push_str("<ol>\n"),
                Tag::List(Some(start)) => {
                    let _ = writeln!(out, "<ol start=\"{start}\">");
                }
                Tag::List(None) => out.push_str("<ul>\n"),
                Tag::Item => out.push_str("<li>"),
                Tag::FootnoteDefinition(name) => {
                    let _ = write!(out, "<div class=\"footnote\"><sup>{}</sup>", escape(&name));
                }
                Tag::DefinitionList => out.push_str("<dl>\n"),
                Tag::DefinitionListTitle => out.push_str("<dt>"),
                Tag::DefinitionListDefinition => out.push_str("<dd>"),
                Tag::Table(alignments) => {
                    table = alignments;
                    out.push_str("<table>\n");
                }
                Tag::TableHead => {
                    in_head = true;
                    column = 0;
                    out.push_str("<thead><tr>");
                }
                Tag::TableRow => {
                    column = 0;
                    out.push_str("<tr>");
                }
                Tag::TableCell => {
                    let element = if in_head { "th" } else { "td" };
                    match table.get(column) {
                        Some(Alignment::Left) => {
                            let _ = write!(out, "<{element} class=\"left\">");
                        }
                        Some(Alignment::Center) => {
                            let _ = write!(out, "<{element} class=\"center\">");
                        }
                        Some(Alignment::Right) => {
                            let _ = write!(out, "<{element} class=\"num\">");
                        }
                        _ => {
                            let _ = write!(out, "<{element}>");
                        }
                    }
                }
                Tag::Emphasis => out.push_str("<em>"),
                Tag::Strong => out.push_str("<strong>"),
                Tag::Strikethrough => out.push_str("<del>"),
                Tag::Superscript => out.push_str("<sup>"),
                Tag::Subscript => out.push_str("<sub>"),
                Tag::Link {
                    dest_url, title, ..
                } => match safe_url(&dest_url) {
                    Some(url) => {
                        links.push(true);
                        let _ = write!(out, "<a href=\"{}\"{}>", escape(url), title_attr(&title));
                    }
                    None => links.push(false),
                },
                Tag::Image {
                    dest_url, title, ..
                } => {
                    if is_data_image(&dest_url) {
                        alt = Some((dest_url.to_string(), title.to_string(), String::new()));
                    } else {
                        // An image elsewhere would be a request when the
                        // page is opened: it becomes a link to it.
                        match safe_url(&dest_url) {
                            Some(url) => {
                                links.push(true);
                                let _ = write!(
                                    out,
                                    "<a class=\"image\" href=\"{}\"{}>",
                                    escape(url),
                                    title_attr(&title)
                                );
                            }
                            None => links.push(false),
                        }
                    }
                }
                Tag::MetadataBlock(_) => out.push_str("<pre class=\"metadata\">"),
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str("</p>\n"),
                TagEnd::Heading(level) => {
                    let _ = writeln!(out, "</{level}>");
                }
                TagEnd::BlockQuote(_) => out.push_str("</blockquote>\n"),
                TagEnd::CodeBlock => out.push_str("</code></pre>\n"),
                TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => out.push_str("</pre>\n"),
                TagEnd::List(true) => out.push_str("</ol>\n"),
                TagEnd::List(false) => out.push_str("</ul>\n"),
                TagEnd::Item => out.push_str("</li>\n"),
                TagEnd::FootnoteDefinition => out.push_str("</div>\n"),
                TagEnd::DefinitionList => out.push_str("</dl>\n"),
                TagEnd::DefinitionListTitle => out.push_str("</dt>\n"),
                TagEnd::DefinitionListDefinition => out.push_str("</dd>\n"),
                TagEnd::Table => out.push_str("</tbody></table>\n"),
                TagEnd::TableHead => {
                    in_head = false;
                    out.push_str("</tr></thead><tbody>\n");
                }
                TagEnd::TableRow => out.push_str("</tr>\n"),
                TagEnd::TableCell => {
                    out.push_str(if in_head { "</th>" } else { "</td>" });
                    column += 1;
                }
                TagEnd::Emphasis => out.push_str("</em>"),
                TagEnd::Strong => out.push_str("</strong>"),
                TagEnd::Strikethrough => out.push_str("</del>"),
                TagEnd::Superscript => out.push_str("</sup>"),
                TagEnd::Subscript => out.push_str("</sub>"),
                TagEnd::Link | TagEnd::Image => {
                    if links.pop() == Some(true) {
                        out.push_str("</a>");
                    }
                }
            },
            // Raw HTML is the notebook author's, and a page others open
            // must not run it: it is shown as the text it is.
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => out.push_str(&escape(&t)),
            Event::Code(t) => {
                let _ = write!(out, "<code>{}</code>", escape(&t));
            }
            Event::InlineMath(t) => {
                let _ = write!(out, "<code class=\"math\">{}</code>", escape(&t));
            }
            Event::DisplayMath(t) => {
                let _ = write!(out, "<pre class=\"math\">{}</pre>", escape(&t));
            }
            Event::FootnoteReference(name) => {
                let _ = write!(out, "<sup>{}</sup>", escape(&name));
            }
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<br>\n"),
            Event::Rule => out.push_str("<hr>\n"),
            Event::TaskListMarker(done) => out.push_str(if done {
                "<input type=\"checkbox\" disabled checked> "
            } else {
                "<input type=\"checkbox\" disabled> "
            }),
        }
    }
    out.push_str("</div>\n");
}

fn title_attr(title: &str) -> String {
    if title.is_empty() {
        String::new()
    } else {
        format!(" title=\"{}\"", escape(title))
    }
}

/// `url` when a link to it is harmless: a web or mail address, or one with
/// no scheme (a path beside the page, a `#fragment`). Browsers ignore tabs
/// and line breaks in a URL (`java\tscript:`), so the scheme is read
/// without them.
fn safe_url(url: &str) -> Option<&str> {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_control() && !c.is_ascii_whitespace())
        .collect();
    let scheme_end = cleaned.find(':');
    let Some(end) = scheme_end else {
        return Some(url);
    };
    let scheme = &cleaned[..end];
    // A `:` after a `/`, `?` or `#` is in a path, a query or a fragment.
    if scheme.contains(['/', '?', '#']) {
        return Some(url);
    }
    let scheme = scheme.to_ascii_lowercase();
    matches!(scheme.as_str(), "http" | "https" | "mailto").then_some(url)
}

/// An image that is in the page itself (a `data:` URL of a bitmap), which
/// opening the page does not fetch.
fn is_data_image(url: &str) -> bool {
    let url = url.trim_start().to_ascii_lowercase();
    ["png", "jpeg", "gif", "webp"].iter().any(|kind| {
        url.starts_with(&format!("data:image/{kind};"))
            || url.starts_with(&format!("data:image/{kind},"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use databook_notebook::CellAnchor;
    use databook_runtime::{Failure, Level, LogLine, Output, RunReport, Stream};
    use expect_test::expect;
    use std::time::Duration;

    fn kept(text: &str, parse: &Parse, index: usize, result: Result<Output, Failure>) -> Kept {
        Kept {
            anchor: CellAnchor::of(parse, text, index).unwrap(),
            report: RunReport {
                result,
                logs: Vec::new(),
                elapsed: Duration::from_millis(12),
            },
            environment: None,
            at_ms: 1_700_000_000_000,
            key: None,
            cached: false,
        }
    }

    /// The page's `<main>`, where the notebook is.
    fn main_of(page: &str) -> &str {
        let start = page.find("<main>").unwrap();
        let end = page.find("</main>").unwrap();
        &page[start..end + "</main>".len()]
    }

    /// The elements `<script type="application/json"` of the page, as the
    /// HTML parser reads them: up to the first `</script`.
    fn json_scripts(page: &str) -> Vec<&str> {
        let open = "<script type=\"application/json\"";
        let mut found = Vec::new();
        let mut rest = page;
        while let Some(at) = rest.find(open) {
            let after = &rest[at..];
            let start = after.find('>').unwrap() + 1;
            let end = after.to_ascii_lowercase().find("</script").unwrap();
            found.push(&after[start..end]);
            rest = &after[end..];
        }
        found
    }

    fn export(text: &str, results: impl Fn(&Parse, usize) -> Option<Kept>) -> String {
        let parse = parse(text);
        let kept: Vec<Option<Kept>> = (0..parse.cells.len()).map(|i| results(&parse, i)).collect();
        let latest: Vec<Option<&Kept>> = kept.iter().map(Option::as_ref).collect();
        page("notes.dbk", text, &parse, &latest)
    }

    #[test]
    fn prose_is_markdown_and_cells_come_in_order_with_their_source_marked() {
        let text = "# Title\n\nSome *prose* with `code` and a [link](https://example.com).\n\n\
                    @plugin=echo name=first mime=text/plain\nHello {{USER}}\n@end\n\n\
                    - one\n- two\n\n\
                    @plugin=jq input=first\n.a\n@output status=ok mime=application/json\n> 1\n@end\n\n\
                    | a | b |\n|---|--:|\n| x | 2 |\n";
        let page = export(text, |parse, i| {
            (i == 0).then(|| {
                kept(
                    text,
                    parse,
                    0,
                    Ok(Output {
                        mime: "text/plain".into(),
                        data: "Hello you".into(),
                    }),
                )
            })
        });
        expect![[r##"
            <main>
            <div class="prose">
            <h1>Title</h1>
            <p>Some <em>prose</em> with <code>code</code> and a <a href="https://example.com">link</a>.</p>
            </div>
            <section class="cell" id="cell-0" data-cell="0">
            <h2 class="cell-head"><a href="#cell-0">first</a><span class="badge plugin">@echo</span></h2>
            <pre class="source"><code><span class="directive">@plugin=</span><span class="plugin">echo</span> <span class="key">name</span>=<span class="value">first</span> <span class="key">mime</span>=<span class="value">text/plain</span>
            Hello <span class="ref variable" title="the variable USER">{{USER}}</span></code></pre>
            <div class="result"><p class="muted">This result is drawn by the page's script.</p></div>
            </section>
            <div class="prose">
            <ul>
            <li>one</li>
            <li>two</li>
            </ul>
            </div>
            <section class="cell" id="cell-1" data-cell="1">
            <h2 class="cell-head"><a href="#cell-1">cell 2 (jq)</a><span class="badge plugin">@jq</span><span class="badge status status-ok">ok</span><span class="badge from-file">as written in the file</span></h2>
            <pre class="source"><code><span class="directive">@plugin=</span><span class="plugin">jq</span> <span class="key">input</span>=<span class="value">first</span>
            .a</code></pre>
            <div class="result"><pre class="output">1</pre></div>
            </section>
            <div class="prose">
            <table>
            <thead><tr><th>a</th><th class="num">b</th></tr></thead><tbody>
            <tr><td>x</td><td class="num">2</td></tr>
            </tbody></table>
            </div>
            </main>"##]]
        .assert_eq(main_of(&page));
        let json = json_scripts(&page);
        assert_eq!(json.len(), 1);
        let value: serde_json::Value = serde_json::from_str(json[0]).unwrap();
        assert_eq!(value["results"].as_array().unwrap().len(), 1);
        assert_eq!(value["results"][0]["cell"], 0);
        assert_eq!(value["results"][0]["data"], "Hello you");
        assert_eq!(value["results"][0]["atMs"], 1_700_000_000_000u64);
    }

    #[test]
    fn a_cell_without_result_or_output_says_it_has_not_run() {
        let page = export("@plugin=echo\nhi\n", |_, _| None);
        expect![[r##"
            <main>
            <section class="cell" id="cell-0" data-cell="0">
            <h2 class="cell-head"><a href="#cell-0">cell 1 (echo)</a><span class="badge plugin">@echo</span><span class="badge not-run">not run</span></h2>
            <pre class="source"><code><span class="directive">@plugin=</span><span class="plugin">echo</span>
            hi</code></pre>
            <div class="result"><p class="muted">Not run.</p></div>
            </section>
            </main>"##]]
        .assert_eq(main_of(&page));
        let value: serde_json::Value = serde_json::from_str(json_scripts(&page)[0]).unwrap();
        assert_eq!(value["results"], json!([]));
    }

    #[test]
    fn raw_html_and_script_links_in_prose_are_text() {
        let text = "<script>alert(1)</script>\n\nInline <img src=x onerror=alert(2)> html, \
                    [a link](javascript:alert(3)), [another](JaVa\tScRiPt:alert(4)), \
                    ![remote](https://example.com/pixel.png) and [ok](#cell-0).\n\n\
                    <div onclick=\"alert(5)\">\nblock\n</div>\n";
        let page = export(text, |_, _| None);
        expect![[r##"
            <main>
            <div class="prose">
            <pre class="raw-html">&lt;script&gt;alert(1)&lt;/script&gt;
            </pre>
            <p>Inline &lt;img src=x onerror=alert(2)&gt; html, a link, [another](JaVa	ScRiPt:alert(4)), <a class="image" href="https://example.com/pixel.png">remote</a> and <a href="#cell-0">ok</a>.</p>
            <pre class="raw-html">&lt;div onclick=&quot;alert(5)&quot;&gt;
            block
            &lt;/div&gt;
            </pre>
            </div>
            </main>"##]]
        .assert_eq(main_of(&page));
        let body = main_of(&page);
        assert!(!body.contains("<script"));
        assert!(!body.contains("<img"));
        assert!(!body.to_ascii_lowercase().contains("href=\"javascript"));
    }

    #[test]
    fn a_hostile_result_stays_inside_its_json() {
        let hostile = "</script><script>alert(1)</script><!-- \u{2028}\u{2029} & </SCRIPT >";
        let text = "@plugin=echo name=evil\nx\n";
        let hostile_kept = |parse: &Parse, index: usize| {
            let mut kept = kept(
                text,
                parse,
                index,
                Ok(Output {
                    mime: hostile.into(),
                    data: hostile.into(),
                }),
            );
            kept.report.logs.push(LogLine {
                level: Level::Warn,
                stream: Stream::Log,
                message: hostile.into(),
            });
            kept.environment = Some(hostile.into());
            kept
        };
        let page = export(text, |parse, i| Some(hostile_kept(parse, i)));
        // Exactly one data element, and the page's own script after it: the
        // hostile text ended neither.
        let json = json_scripts(&page);
        assert_eq!(json.len(), 1, "{page}");
        assert_eq!(page.matches("<script").count(), 2);
        assert!(!json[0].contains('<') && !json[0].contains('>') && !json[0].contains('&'));
        // What went in comes out, whole.
        let value: serde_json::Value = serde_json::from_str(json[0]).unwrap();
        let parse = parse(text);
        let expected = result_json(&parse.cells[0], &hostile_kept(&parse, 0));
        assert_eq!(
            value,
            json!({"notebook": "notes.dbk", "results": [expected]})
        );
        let result = &value["results"][0];
        assert_eq!(result["data"], hostile);
        assert_eq!(result["mime"], hostile);
        assert_eq!(result["logs"][0]["message"], hostile);
        assert_eq!(result["environment"], hostile);
        assert_eq!(result["status"], "ok");
    }

    #[test]
    fn a_hostile_failure_and_header_are_escaped() {
        let text = "@plugin=echo name=x note=\"</pre><script>alert(1)</script>\"\n<b>{{A}}</b>\n\
                    @output status=error\n> </pre><script>alert(2)</script>\n@end\n";
        let page = export(text, |parse, i| {
            Some(kept(
                text,
                parse,
                i,
                Err(Failure::Plugin {
                    message: "</script><script>alert(3)</script>".into(),
                    hint: Some("<b>hint</b>".into()),
                }),
            ))
        });
        let body = main_of(&page);
        assert!(!body.contains("<script") && !body.contains("<b>"), "{body}");
        assert!(body.contains("&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
        let value: serde_json::Value = serde_json::from_str(json_scripts(&page)[0]).unwrap();
        assert_eq!(value["results"][0]["status"], "error");
        assert_eq!(value["results"][0]["hint"], "<b>hint</b>");
    }

    #[test]
    fn the_page_allows_only_its_own_script_and_style() {
        let page = export("# Notes\n", |_, _| None);
        let csp_start = page.find("Content-Security-Policy\" content=\"").unwrap();
        let csp = &page[csp_start..];
        let csp = &csp[csp.find("content=\"").unwrap() + 9..];
        let csp = &csp[..csp.find('"').unwrap()];
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"));
        assert!(csp.contains(&sha256_source(SCRIPT)));
        assert!(csp.contains(&sha256_source(STYLE)));
        // The inline script and style are exactly what was hashed.
        assert!(page.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
    }

    #[test]
    fn the_bundle_cannot_end_its_own_element() {
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
        assert!(!SCRIPT.contains("<!--"));
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
        // What the page's script reads, by the names this file writes.
        assert!(SCRIPT.contains("databook-results"));
    }

    #[test]
    fn the_run_is_databook_runs_with_its_defaults() {
        let args = run_args(Path::new("-odd name.dbk")).unwrap();
        assert_eq!(args.notebook, Path::new("-odd name.dbk"));
        assert!(args.cells.is_empty() && !args.check && !args.json && !args.show);
        assert_eq!(args.jobs, 1);
    }

    #[test]
    fn urls_that_may_run_script_are_refused() {
        for bad in [
            "javascript:alert(1)",
            " JAVASCRIPT:alert(1)",
            "java\nscript:x",
            "vbscript:x",
            "data:text/html,<script>",
            "file:///etc/passwd",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
        for good in [
            "https://example.com/a:b",
            "http://x",
            "mailto:a@b.c",
            "docs/a.md",
            "#cell-1",
            "./a:b",
            "?q=a:b",
        ] {
            assert_eq!(safe_url(good), Some(good), "{good:?}");
        }
        assert!(is_data_image("data:image/png;base64,iVBOR"));
        assert!(!is_data_image("data:image/svg+xml,<svg onload=alert(1)>"));
        assert!(!is_data_image("https://example.com/a.png"));
    }

    #[test]
    fn an_output_block_under_no_cell_is_kept_as_text() {
        let text = "Intro\n\n@output status=ok\n> stray <b>\n\nOutro\n";
        let page = export(text, |_, _| None);
        let body = main_of(&page);
        assert!(
            body.contains(
                "<pre class=\"stray-output\">@output status=ok\n&gt; stray &lt;b&gt;\n</pre>"
            ),
            "{body}"
        );
        assert!(body.contains("<p>Intro</p>") && body.contains("<p>Outro</p>"));
    }
}
