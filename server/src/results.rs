//! Each cell's latest full result, kept outside the notebook so that it
//! outlives the session (a window reload, a server restart), and shown as
//! text, the same for every editor and for `databook run --show`.
//!
//! A notebook's results are one JSON file under `.databook/results/` of the
//! folder that holds the store (see [`store_file`]); the `.databook` folder
//! gets a `.gitignore` of `*` when it is created, as `.pytest_cache` does,
//! so that results never reach git. What is kept is what the runtime handed
//! back, already masked.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use databook_notebook::{CellAnchor, Parse, render_error, view};
use databook_runtime::{Failure, Level, LogLine, Output, RunReport, Stream};
use serde::{Deserialize, Serialize};

/// The version of the file's shape; a file of another version is ignored
/// (its results are lost, never misread).
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a results file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A cell's latest run, under the anchor that finds its cell again.
#[derive(Debug, Clone)]
pub struct Kept {
    pub anchor: CellAnchor,
    pub report: RunReport,
    /// The environment the run had (`[environments.NAME]`), if any.
    pub environment: Option<String>,
    /// When the run ended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What the run was of (see `cells::Prepared::cache_key`): a cell with
    /// `cache=` reuses the result while the key is the same.
    pub key: Option<String>,
    /// Whether the latest result was reused from the cache rather than run.
    pub cached: bool,
}

impl Kept {
    /// A run that just ended.
    pub fn now(
        anchor: CellAnchor,
        report: RunReport,
        environment: Option<String>,
        key: Option<String>,
    ) -> Kept {
        Kept {
            anchor,
            report,
            environment,
            at_ms: now_ms(),
            key,
            cached: false,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The file that keeps a notebook's results outside an editor (`databook
/// run`, `databook export`): under the folder of the workspace's
/// `databook.toml`, or, with none, beside the notebook; the same file an
/// editor opened on that folder uses.
pub fn headless_store_file(workspace_root: &Path, notebook: &Path) -> Option<PathBuf> {
    let notebook = std::path::absolute(notebook).ok()?;
    store_file(Some(workspace_root), &notebook).or_else(|| store_file(None, &notebook))
}

/// `kept` with `new` results in place of those of the same cells, as of
/// the notebook `parse` of `text`; results of cells no longer in it are
/// dropped.
pub fn merge(kept: Vec<Kept>, new: Vec<(usize, Kept)>, parse: &Parse, text: &str) -> Vec<Kept> {
    let mut merged: Vec<Kept> = kept
        .into_iter()
        .filter(|old| {
            old.anchor
                .locate(parse, text)
                .is_some_and(|at| !new.iter().any(|(cell, _)| *cell == at))
        })
        .collect();
    merged.extend(new.into_iter().map(|(_, kept)| kept));
    merged
}

/// The latest kept result of each cell of `parse`, by cell index.
pub fn latest_by_cell<'k>(kept: &'k [Kept], parse: &Parse, text: &str) -> Vec<Option<&'k Kept>> {
    let mut by_cell = vec![None; parse.cells.len()];
    for k in kept {
        if let Some(cell) = k.anchor.locate(parse, text)
            && by_cell[cell].is_none()
        {
            by_cell[cell] = Some(k);
        }
    }
    by_cell
}

/// The file that keeps the results of `notebook`: under `root` (the
/// workspace the editor opened) when the notebook is inside it, else, when
/// there is no root, under the notebook's own folder. `None` for a notebook
/// outside the root: its results are kept for the session only, so that
/// opening a stray file never writes a folder beside it.
pub fn store_file(root: Option<&Path>, notebook: &Path) -> Option<PathBuf> {
    let (base, relative) = match root {
        Some(root) => (root, notebook.strip_prefix(root).ok()?),
        None => (notebook.parent()?, Path::new(notebook.file_name()?)),
    };
    let stem = notebook.file_stem()?.to_string_lossy();
    // The stem keeps the file recognisable; the hash of the path within
    // the workspace keeps two notebooks of the same name apart.
    let name = format!(
        "{stem}-{:016x}.json",
        fnv1a(relative.to_string_lossy().as_bytes())
    );
    Some(base.join(".databook").join("results").join(name))
}

/// A stable hash (FNV-1a, 64 bits): the same path gives the same file name
/// in every version of databook, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    results: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    cell: usize,
    header: String,
    status: Status,
    mime: String,
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    elapsed_ms: u64,
    #[serde(default)]
    logs: Vec<Log>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    #[serde(default)]
    at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cached: bool,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Error,
}

#[derive(Serialize, Deserialize)]
struct Log {
    level: String,
    message: String,
}

impl Entry {
    fn of(kept: &Kept) -> Entry {
        let report = &kept.report;
        let (status, mime, data, hint) = match &report.result {
            Ok(output) => (Status::Ok, output.mime.clone(), output.data.clone(), None),
            Err(failure) => (
                Status::Error,
                "text/plain".to_string(),
                failure.to_string(),
                failure.hint().map(str::to_string),
            ),
        };
        Entry {
            cell: kept.anchor.index,
            header: kept.anchor.header.clone(),
            status,
            mime,
            data,
            hint,
            elapsed_ms: report.elapsed.as_millis() as u64,
            logs: report
                .logs
                .iter()
                .map(|l| Log {
                    level: l.level.to_string(),
                    message: l.message.clone(),
                })
                .collect(),
            environment: kept.environment.clone(),
            at_ms: kept.at_ms,
            key: kept.key.clone(),
            cached: kept.cached,
        }
    }

    /// The run as it was kept. A failure comes back as the plugin's error
    /// with the same message and hint: what it was (a time-out, a trap) is
    /// in the message, and nothing else reads it.
    fn into_kept(self) -> Kept {
        let result = match self.status {
            Status::Ok => Ok(Output {
                mime: self.mime,
                data: self.data,
            }),
            Status::Error => Err(Failure::Plugin {
                message: self.data,
                hint: self.hint,
            }),
        };
        Kept {
            anchor: CellAnchor {
                index: self.cell,
                header: self.header,
            },
            report: RunReport {
                result,
                logs: self
                    .logs
                    .into_iter()
                    .map(|l| LogLine {
                        level: parse_level(&l.level),
                        stream: Stream::Log,
                        message: l.message,
                    })
                    .collect(),
                elapsed: Duration::from_millis(self.elapsed_ms),
            },
            environment: self.environment,
            at_ms: self.at_ms,
            key: self.key,
            cached: self.cached,
        }
    }
}

fn parse_level(level: &str) -> Level {
    match level {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    }
}

/// The results kept in `file`; none when it does not exist yet.
pub fn load(file: &Path) -> Result<Vec<Kept>, StoreError> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Read {
                path: file.to_owned(),
                source,
            });
        }
    };
    let parsed: File = serde_json::from_slice(&bytes).map_err(|source| StoreError::Format {
        path: file.to_owned(),
        source,
    })?;
    if parsed.format != FORMAT {
        return Ok(Vec::new());
    }
    Ok(parsed.results.into_iter().map(Entry::into_kept).collect())
}

/// The bytes of a results file holding `kept`: made under the caller's
/// lock, written by [`write`] outside it.
pub fn encode(kept: &[Kept]) -> Vec<u8> {
    let file = File {
        format: FORMAT,
        results: kept.iter().map(Entry::of).collect(),
    };
    serde_json::to_vec(&file).expect("results serialise")
}

/// Writes a results file atomically (a reader sees the old file or the new
/// one, never half of one), creating `.databook/` with its `.gitignore`.
pub fn write(file: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let failed = |source| StoreError::Write {
        path: file.to_owned(),
        source,
    };
    let results = file.parent().expect("a results file is in a folder");
    let databook = results.parent().expect("results are in .databook");
    if !databook.exists() {
        std::fs::create_dir_all(databook).map_err(failed)?;
        std::fs::write(
            databook.join(".gitignore"),
            "# Created by databook: results and caches, never committed.\n*\n",
        )
        .map_err(failed)?;
    }
    std::fs::create_dir_all(results).map_err(failed)?;
    // A `.databook/` the user made (for `.databook/plugins/`, which belong
    // in git) keeps its own rules; the results inside it never reach git
    // all the same.
    let ignore = results.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "# Created by databook: results, never committed.\n*\n",
        )
        .map_err(failed)?;
    }
    let mut temp = tempfile::NamedTempFile::new_in(results).map_err(failed)?;
    temp.write_all(bytes).map_err(failed)?;
    temp.persist(file).map_err(|e| failed(e.error))?;
    Ok(())
}

/// How a kept result came about, for the line that introduces it.
#[derive(Debug, Clone, Copy, Default)]
pub struct How<'a> {
    /// The environment it ran in.
    pub environment: Option<&'a str>,
    /// Whether it was reused (`cache=`) rather than run.
    pub cached: bool,
}

impl<'a> How<'a> {
    pub fn of(kept: &'a Kept) -> How<'a> {
        How {
            environment: kept.environment.as_deref(),
            cached: kept.cached,
        }
    }

    /// ` · environment staging · cached`, or what of it applies.
    pub fn suffix(&self) -> String {
        let mut out = String::new();
        if let Some(environment) = self.environment {
            let _ = write!(out, " · environment {environment}");
        }
        if self.cached {
            out.push_str(" · cached");
        }
        out
    }
}

/// A run's full result as plain text, `width` columns wide where the
/// result is drawn (a chart): a line saying how it went (in which
/// environment, whether it was reused from the cache), the result (a table aligned, JSON pretty-printed, a time
/// series as a chart with axes and a legend), the error and hint of a
/// failed run, and the log.
pub fn report_text(label: &str, report: &RunReport, how: How<'_>, width: usize) -> String {
    let ms = report.elapsed.as_millis();
    let mut out = String::new();
    let environment = how.suffix();
    let lines = match &report.result {
        Ok(output) => {
            let _ = writeln!(
                out,
                "{label} · ok in {ms} ms · {}{environment}\n",
                output.mime
            );
            view(&output.mime, &output.data, width)
        }
        Err(failure) => {
            let _ = writeln!(out, "{label} · error after {ms} ms{environment}\n");
            render_error(&failure.to_string(), failure.hint())
        }
    };
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    if !report.logs.is_empty() {
        out.push_str("\nlog:\n");
        for line in &report.logs {
            let _ = writeln!(out, "  {}: {}", line.level, line.message);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(index: usize, result: Result<Output, Failure>) -> Kept {
        Kept {
            anchor: CellAnchor {
                index,
                header: format!("@plugin=echo name=c{index}"),
            },
            report: RunReport {
                result,
                logs: vec![LogLine {
                    level: Level::Warn,
                    stream: Stream::Log,
                    message: "careful".into(),
                }],
                elapsed: Duration::from_millis(42),
            },
            environment: None,
            at_ms: 1_700_000_000_000,
            key: Some("k".into()),
            cached: false,
        }
    }

    #[test]
    fn results_read_back_as_they_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = store_file(Some(dir.path()), &dir.path().join("notes/a.dbk")).unwrap();
        let ok = kept(
            0,
            Ok(Output {
                mime: "application/json".into(),
                data: "{\"a\": 1}".into(),
            }),
        );
        let failed = kept(
            3,
            Err(Failure::Plugin {
                message: "no such metric".into(),
                hint: Some("try up".into()),
            }),
        );
        write(&file, &encode(&[ok.clone(), failed.clone()])).unwrap();
        let back = load(&file).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].anchor, ok.anchor);
        assert_eq!(back[0].report.result, ok.report.result);
        assert_eq!(back[0].report.logs, ok.report.logs);
        assert_eq!(back[0].report.elapsed, ok.report.elapsed);
        assert_eq!((back[0].at_ms, &back[0].key), (ok.at_ms, &ok.key));
        assert_eq!(back[1].anchor, failed.anchor);
        assert_eq!(back[1].report.result, failed.report.result);
        // The store keeps itself out of git.
        let ignore = std::fs::read_to_string(dir.path().join(".databook/.gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    }

    #[test]
    fn results_in_a_databook_folder_the_user_made_stay_out_of_git_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".databook/plugins")).unwrap();
        let file = store_file(Some(dir.path()), &dir.path().join("a.dbk")).unwrap();
        write(&file, &encode(&[])).unwrap();
        assert!(
            !dir.path().join(".databook/.gitignore").exists(),
            "the user's folder (and its plugins) is left to the user"
        );
        let ignore =
            std::fs::read_to_string(dir.path().join(".databook/results/.gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    }

    #[test]
    fn a_missing_store_is_empty_and_a_broken_one_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".databook/results/x.json");
        assert!(load(&file).unwrap().is_empty());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "{not json").unwrap();
        let error = load(&file).unwrap_err().to_string();
        assert!(
            error.contains("x.json") && error.contains("not a results file"),
            "{error}"
        );
    }

    #[test]
    fn where_results_are_kept() {
        let root = Path::new("/work/project");
        let a = store_file(Some(root), Path::new("/work/project/a.dbk")).unwrap();
        let b = store_file(Some(root), Path::new("/work/project/sub/a.dbk")).unwrap();
        assert!(a.starts_with("/work/project/.databook/results/"));
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("a-"));
        assert_ne!(a, b, "two notebooks of one name keep their own results");
        assert_eq!(store_file(Some(root), Path::new("/elsewhere/a.dbk")), None);
        let alone = store_file(None, Path::new("/notes/a.dbk")).unwrap();
        assert!(alone.starts_with("/notes/.databook/results/"));
    }

    #[test]
    fn a_report_as_text_says_how_it_went_then_the_result_and_log() {
        let text = report_text(
            "services",
            &kept(
                0,
                Ok(Output {
                    mime: "application/json".into(),
                    data: "[1,2]".into(),
                }),
            )
            .report,
            How::default(),
            80,
        );
        assert_eq!(
            text,
            "services · ok in 42 ms · application/json\n\n[\n  1,\n  2\n]\n\nlog:\n  warn: careful\n"
        );
        let failed = kept(
            0,
            Err(Failure::Plugin {
                message: "boom".into(),
                hint: Some("look".into()),
            }),
        );
        let how = How {
            environment: Some("staging"),
            cached: true,
        };
        let text = report_text("c", &failed.report, how, 80);
        assert!(
            text.starts_with(
                "c · error after 42 ms · environment staging · cached\n\nboom\nhint: look\n"
            ),
            "{text}"
        );
    }
}
