//! `databook run NOTEBOOK.dbk`: runs cells without an editor, each after
//! the cells it takes (`input=`, `{{CELL.PATH}}`), reusing the results of
//! cells that say `cache=` where nothing changed, and writes their outputs
//! back into the file (or, with `--check`, compares them with the file's,
//! for notebooks as tests in CI).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use databook_notebook::{CheckMode, Parse, References, parse, references, set_output};
use databook_runtime::{Plugin, Registry, RunReport};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::Cli;
use databook::cells;
use databook::results;
use databook::setup::process_env;
use databook::terminal::escape_controls;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The notebook to run.
    pub notebook: PathBuf,
    /// Run only this cell (by its `name=`) and the cells it takes input
    /// or values from; repeatable.
    #[arg(long = "cell", value_name = "NAME")]
    pub cells: Vec<String>,
    /// With `--cell`: also run every cell that takes those cells, directly
    /// or through other cells, after them.
    #[arg(long, requires = "cells")]
    pub with_dependents: bool,
    /// Run without writing, and fail with a diff when an output differs
    /// from the one in the file (a cell's `check=` says how it is compared:
    /// `exact`, `status` or `skip`).
    #[arg(long)]
    pub check: bool,
    /// Write a JUnit XML report of the check, one test case per cell.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print each cell's full result as a line of JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print each cell's full result as text on stdout, as the editors'
    /// preview shows it: tables aligned, JSON pretty-printed, time series
    /// as a chart with axes and a legend (as wide as `COLUMNS`, else 80).
    #[arg(long, conflicts_with = "json")]
    pub show: bool,
    /// How many independent cells may run at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Override this option in every cell that has it (e.g. `range=1h`);
    /// repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::exec::parse_option)]
    pub set: Vec<(String, String)>,
    /// Run every cell, even those whose `cache=` would reuse their latest
    /// result.
    #[arg(long)]
    pub no_cache: bool,
}

/// How one cell came out of a check.
enum Verdict {
    Pass,
    Skipped,
    /// Why it failed, with a diff when outputs differ.
    Fail(String),
}

pub async fn run(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let path = &args.notebook;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = parse(&text);
    let (refs, order) = plan(path, &text, &parsed, &args.cells, args.with_dependents)?;

    let dir = folder_of(path);
    let setup = cli.setup_at(dir)?;
    let environment = setup.workspace.environment.as_deref();
    let store = results::headless_store_file(&setup.workspace.root, path);
    let kept = match store.as_deref().map(results::load).transpose() {
        Ok(kept) => kept.unwrap_or_default(),
        Err(error) => {
            eprintln!("warning: {error}; earlier results are not reused");
            Vec::new()
        }
    };
    let latest: Vec<Option<results::Kept>> = results::latest_by_cell(&kept, &parsed, &text)
        .into_iter()
        .map(|k| k.cloned())
        .collect();
    let mut plugins: HashMap<String, Result<Plugin, String>> = HashMap::new();
    for &index in &order {
        if let Some(name) = parsed.cells[index].plugin()
            && !plugins.contains_key(name)
        {
            let plugin = Registry::load_one(
                &setup.runtime,
                &setup.search,
                &setup.workspace,
                process_env,
                name,
            )
            .await
            .map_err(|e| e.to_string());
            plugins.insert(name.to_string(), plugin);
        }
    }

    let started = Instant::now();
    let ran = run_cells(
        &parsed,
        &refs,
        &text,
        &order,
        &plugins,
        &latest,
        environment,
        args,
    )
    .await;
    let elapsed = started.elapsed();

    let failed = order
        .iter()
        .filter(|i| ran[i].report.result.is_err())
        .count();
    if args.json {
        let mut stdout = std::io::stdout().lock();
        for &index in &order {
            let line = json_line(&parsed, index, &ran[&index], environment);
            writeln!(stdout, "{line}")?;
        }
    }
    if args.show {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80);
        let mut stdout = std::io::stdout().lock();
        for &index in &order {
            let ran = &ran[&index];
            let how = results::How {
                environment,
                cached: ran.cached_at_ms.is_some(),
            };
            let text = results::report_text(&label(&parsed, index), &ran.report, how, width);
            writeln!(stdout, "{}", escape_controls(&text))?;
        }
    }

    let mut exit = if failed > 0 { 1 } else { 0 };
    if args.check || args.junit.is_some() {
        let verdicts: Vec<(usize, Verdict)> = order
            .iter()
            .map(|&index| (index, verdict(&parsed, &text, index, &ran[&index])))
            .collect();
        let differing = verdicts
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Fail(_)))
            .count();
        for (index, verdict) in &verdicts {
            if let Verdict::Fail(why) = verdict {
                eprintln!("✗ {}: {why}", label(&parsed, *index));
            }
        }
        if let Some(junit) = &args.junit {
            write_junit(junit, path, &parsed, &verdicts, &ran)?;
        }
        if args.check {
            exit = if differing > 0 || failed > 0 { 1 } else { 0 };
            eprintln!(
                "checked {} cells: {} differ, {} failed, in {:.1} s",
                order.len(),
                differing,
                failed,
                elapsed.as_secs_f64()
            );
            return Ok(ExitCode::from(exit));
        }
    }

    let written = write_outputs(path, &text, &parsed, &order, &ran)?;
    if let Some(store) = &store {
        keep_results(store, kept, &text, &parsed, ran, environment);
    }
    eprintln!(
        "ran {} cells: {} ok, {} failed, in {:.1} s{}",
        order.len(),
        order.len() - failed,
        failed,
        elapsed.as_secs_f64(),
        if written {
            ""
        } else {
            " (the file is unchanged)"
        }
    );
    Ok(ExitCode::from(exit))
}

/// What `databook run` runs: each cell after the cells it takes, or why it
/// runs nothing. A notebook whose names do not say which cell an input is is
/// refused, with the same findings, at the same places, as the editor shows.
fn plan(
    path: &Path,
    text: &str,
    parsed: &Parse,
    names: &[String],
    with_dependents: bool,
) -> anyhow::Result<(References, Vec<usize>)> {
    let refs = references(parsed, text);
    if !refs.problems.is_empty() {
        for problem in &refs.problems {
            let (line, column) = line_column(text, problem.range.start);
            eprintln!("{}:{line}:{column}: {}", path.display(), problem.message);
        }
        bail!(
            "{} has {} problem{} with cell names and inputs; nothing was run",
            path.display(),
            refs.problems.len(),
            if refs.problems.len() == 1 { "" } else { "s" }
        );
    }
    let mut targets = targets(parsed, names)?;
    if with_dependents {
        targets = refs.with_dependents(&targets);
    }
    // Cycles are among the problems above, so this only guards.
    let order = refs
        .run_order(&targets)
        .map_err(|_| anyhow::anyhow!("the cells' inputs form a cycle"))?;
    Ok((refs, order))
}

/// The cells to run: every cell, or those named (an unknown name is an
/// error that lists the names there are).
fn targets(parsed: &Parse, names: &[String]) -> anyhow::Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..parsed.cells.len()).collect());
    }
    let mut targets = Vec::new();
    for name in names {
        match parsed.cells.iter().find(|c| c.name() == Some(name)) {
            Some(cell) => targets.push(cell.index),
            None => {
                let known: Vec<&str> = parsed.cells.iter().filter_map(|c| c.name()).collect();
                let suggestions = databook_stdx::suggestions(name, known.iter().copied());
                match suggestions.first() {
                    Some(best) => bail!("no cell is named {name:?} (did you mean {best:?}?)"),
                    None => bail!(
                        "no cell is named {name:?}; the named cells are: {}",
                        known.join(", ")
                    ),
                }
            }
        }
    }
    Ok(targets)
}

fn label(parsed: &Parse, index: usize) -> String {
    cells::label(&parsed.cells[index])
}

/// The folder a notebook is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Runs `order`, each cell once the cells it takes are done, at most
/// `--jobs` at a time; `latest` is each cell's latest kept result, which
/// `cache=` may reuse.
#[allow(clippy::too_many_arguments)]
async fn run_cells(
    parsed: &Parse,
    refs: &References,
    text: &str,
    order: &[usize],
    plugins: &HashMap<String, Result<Plugin, String>>,
    latest: &[Option<results::Kept>],
    environment: Option<&str>,
    args: &RunArgs,
) -> HashMap<usize, cells::Ran> {
    let progress = progress_bar(order.len());
    let permits = Arc::new(Semaphore::new(args.jobs as usize));
    let mut done: HashMap<usize, cells::Ran> = HashMap::new();
    let mut waiting: Vec<usize> = order.to_vec();
    let mut running = JoinSet::new();
    let mut tasks = HashMap::new();
    while !waiting.is_empty() || !running.is_empty() {
        // Start every waiting cell whose inputs are done.
        let mut still_waiting = Vec::new();
        for index in waiting {
            if refs.takes(index).iter().any(|dep| !done.contains_key(dep)) {
                still_waiting.push(index);
                continue;
            }
            let cell = &parsed.cells[index];
            let latest_of = |other: usize| done.get(&other).map(|ran| &ran.report);
            let input = cells::input(cell.input(), refs.input_of(index).and_then(latest_of));
            let value = |reference: &databook_notebook::ValueRef| {
                let latest = refs.cell_named(&reference.cell).and_then(latest_of);
                cells::cell_value(reference, latest.map(|r| &r.result))
            };
            let lookup = |name: &str| match plugins.get(name) {
                Some(Ok(plugin)) => Ok(plugin.clone()),
                Some(Err(error)) => Err(error.clone()),
                None => Err(format!("no plugin named `{name}` was loaded")),
            };
            let prepared = cells::prepare(cell, text, lookup, input, value, &args.set);
            let permits = permits.clone();
            let label = label(parsed, index);
            let latest = latest.get(index).cloned().flatten();
            let environment = environment.map(str::to_string);
            let use_cache = !args.no_cache;
            let task = running.spawn(async move {
                let _permit = permits.acquire_owned().await;
                prepared
                    .run_or_reuse(latest.as_ref(), environment.as_deref(), use_cache)
                    .await
            });
            tasks.insert(task.id(), (index, label));
        }
        waiting = still_waiting;
        let Some(finished) = running.join_next_with_id().await else {
            // Nothing runs and nothing can start: only possible if an input
            // is outside `order`, which `run_order` rules out.
            break;
        };
        let (id, ran) = match finished {
            Ok(finished) => finished,
            // A task ends early only by panicking, which the runtime rules
            // out; should it happen, the cell failed and the run goes on.
            Err(error) => (
                error.id(),
                cells::Ran {
                    report: RunReport {
                        result: Err(databook_runtime::Failure::Host(format!(
                            "the run ended abnormally: {error}"
                        ))),
                        logs: Vec::new(),
                        elapsed: Duration::ZERO,
                    },
                    key: None,
                    cached_at_ms: None,
                },
            ),
        };
        let Some((index, label)) = tasks.remove(&id) else {
            continue;
        };
        if let Some(progress) = &progress {
            let mark = if ran.report.result.is_ok() {
                "✓"
            } else {
                "✗"
            };
            let how = match ran.cached_at_ms {
                Some(_) => "cached".to_string(),
                None => format!("{} ms", ran.report.elapsed.as_millis()),
            };
            progress.println(format!("{mark} {label}  {how}"));
            progress.inc(1);
        }
        done.insert(index, ran);
    }
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }
    done
}

/// A progress bar on a terminal; nothing when stderr is piped.
fn progress_bar(cells: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(cells as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} cells {wide_bar} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

/// A cell's full result as a line of JSON; `environment` is the one that
/// ran it (the output block never says, so that switching does not churn
/// the file).
fn json_line(
    parsed: &Parse,
    index: usize,
    ran: &cells::Ran,
    environment: Option<&str>,
) -> serde_json::Value {
    let cell = &parsed.cells[index];
    let cached = ran.cached_at_ms.is_some();
    let ran = &ran.report;
    let (status, mime, data) = match &ran.result {
        Ok(output) => ("ok", output.mime.as_str(), output.data.clone()),
        Err(failure) => ("error", "text/plain", failure.to_string()),
    };
    json!({
        "cell": index,
        "name": cell.name(),
        "plugin": cell.plugin(),
        "status": status,
        "mime": mime,
        "data": data,
        "hint": ran.result.as_ref().err().and_then(|f| f.hint()),
        "elapsed_ms": ran.elapsed.as_secs_f64() * 1000.0,
        "environment": environment,
        "cached": cached,
        "logs": ran.logs.iter().map(|l| json!({"level": l.level.to_string(), "message": l.message})).collect::<Vec<_>>(),
    })
}

fn verdict(parsed: &Parse, text: &str, index: usize, ran: &cells::Ran) -> Verdict {
    let ran = &ran.report;
    let cell = &parsed.cells[index];
    match cell.options().check {
        CheckMode::Skip => Verdict::Skipped,
        CheckMode::Status => match &ran.result {
            Ok(_) => Verdict::Pass,
            Err(failure) => Verdict::Fail(format!("the run failed: {failure}")),
        },
        CheckMode::Exact => {
            let new = cells::block(&ran.result);
            // Blocks are compared line by line, whatever the file's line
            // endings.
            let old = cell
                .output
                .as_ref()
                .map(|o| text[o.range.clone()].replace("\r\n", "\n"))
                .unwrap_or_default();
            // The file's block may lack a final newline at the end of the file.
            if old.trim_end_matches('\n') == new.trim_end_matches('\n') {
                Verdict::Pass
            } else {
                let diff = similar::TextDiff::from_lines(&old, &new)
                    .unified_diff()
                    .header("in the file", "this run")
                    .to_string();
                Verdict::Fail(format!("the output differs\n{diff}"))
            }
        }
    }
}

fn write_junit(
    file: &Path,
    notebook: &Path,
    parsed: &Parse,
    verdicts: &[(usize, Verdict)],
    ran: &HashMap<usize, cells::Ran>,
) -> anyhow::Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(notebook.display().to_string());
    for (index, verdict) in verdicts {
        let status = match verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Skipped => TestCaseStatus::skipped(),
            Verdict::Fail(why) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_description(why.clone());
                status
            }
        };
        let mut case = TestCase::new(label(parsed, *index), status);
        case.set_time(ran[index].report.elapsed);
        suite.add_test_case(case);
    }
    let mut report = Report::new("databook");
    report.add_test_suite(suite);
    let xml = report
        .to_string()
        .context("cannot write the JUnit report")?;
    std::fs::write(file, xml).with_context(|| format!("cannot write {}", file.display()))
}

/// Keeps the full results of the cells that ran in the notebook's results
/// store `file` (which held `kept`), where the editors, `databook export`
/// and later runs find them. A store that cannot be written is reported
/// and otherwise ignored: the outputs in the file are what the run is for.
fn keep_results(
    file: &Path,
    kept: Vec<results::Kept>,
    text: &str,
    parsed: &Parse,
    ran: HashMap<usize, cells::Ran>,
    environment: Option<&str>,
) {
    let new = ran
        .into_iter()
        .filter_map(|(index, ran)| {
            let anchor = databook_notebook::CellAnchor::of(parsed, text, index)?;
            Some((index, ran.keep(anchor, environment.map(str::to_string))))
        })
        .collect();
    let merged = results::merge(kept, new, parsed, text);
    if let Err(error) = results::write(file, &results::encode(&merged)) {
        eprintln!("warning: results not kept: {error}");
    }
}

/// Writes every output block into the notebook, atomically (a temporary
/// file renamed over it), and only if something changed.
fn write_outputs(
    path: &Path,
    text: &str,
    parsed: &Parse,
    order: &[usize],
    ran: &HashMap<usize, cells::Ran>,
) -> anyhow::Result<bool> {
    // Edits are made from the last cell up, so that each is computed on a
    // text where the cells above are still where the parse says.
    let mut indexes: Vec<usize> = order.to_vec();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    let mut new_text = text.to_string();
    for index in indexes {
        let block = cells::block(&ran[&index].report.result);
        if let Some(edit) = set_output(text, parsed, index, &block) {
            new_text.replace_range(edit.range.clone(), &edit.new_text);
        }
    }
    if new_text == text {
        return Ok(false);
    }
    let dir = folder_of(path);
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write next to {}", path.display()))?;
    temp.write_all(new_text.as_bytes())?;
    temp.as_file().sync_all()?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), metadata.permissions());
    }
    temp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    /// A notebook of cells drawn from a few names, so that names repeat,
    /// inputs name cells or nothing, and cycles form.
    fn notebook() -> impl Strategy<Value = String> {
        // Most cells have a name of their own; some none, some another's.
        let name = prop_oneof![
            16 => Just(None),
            1 => Just(Some(None)),
            1 => (0..12usize).prop_map(|n| Some(Some(n))),
        ];
        let cell = (
            name,
            prop::option::weighted(0.5, 0..100usize),
            any::<bool>(),
        );
        prop::collection::vec(cell, 0..12).prop_map(|cells| {
            let mut text = String::new();
            for (i, (name, input, echo)) in cells.into_iter().enumerate() {
                text.push_str(if echo { "@plugin=echo" } else { "@plugin=jq" });
                match name {
                    None => text.push_str(&format!(" name=c{i}")),
                    Some(None) => {}
                    Some(Some(n)) => text.push_str(&format!(" name=c{n}")),
                }
                // Mostly a cell above; now and then any name, which may be
                // below (a possible cycle) or nobody's.
                match input {
                    Some(u) if u < 90 && i > 0 => text.push_str(&format!(" input=c{}", u % i)),
                    Some(u) if u >= 90 => text.push_str(&format!(" input=c{}", u - 90)),
                    Some(_) => {}
                    None => {}
                }
                text.push_str(&format!("\nbody {i}\n"));
            }
            text
        })
    }

    fn args(cells: Vec<String>) -> RunArgs {
        RunArgs {
            notebook: PathBuf::from("notes.dbk"),
            cells,
            with_dependents: false,
            check: false,
            junit: None,
            json: false,
            show: false,
            jobs: 3,
            set: Vec::new(),
            no_cache: false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever the names, the scheduler either refuses or runs exactly
        /// the cells `run_order` gives, each after its input: a cell whose
        /// input ran first is told that input failed (no plugin is loaded
        /// here, so every run fails), never that it has not run.
        #[test]
        fn the_scheduler_runs_exactly_the_planned_cells_or_refuses(
            text in notebook(),
            target in prop::option::weighted(0.3, 0..12usize),
            with_dependents in any::<bool>(),
        ) {
            let parsed = parse(&text);
            let names: Vec<String> = target.map(|t| format!("c{t}")).into_iter().collect();
            let with_dependents = with_dependents && !names.is_empty();
            let Ok((refs, order)) = plan(Path::new("notes.dbk"), &text, &parsed, &names, with_dependents) else {
                // Refused: the notebook has a reference problem or the
                // named cell does not exist.
                let problems = references(&parsed, &text).problems;
                let named = names.iter().all(|n| parsed.cells.iter().any(|c| c.name() == Some(n)));
                prop_assert!(!problems.is_empty() || !named);
                return Ok(());
            };
            let mut targets: Vec<usize> = if names.is_empty() {
                (0..parsed.cells.len()).collect()
            } else {
                parsed.cells.iter().filter(|c| c.name() == names.first().map(String::as_str)).map(|c| c.index).take(1).collect()
            };
            if with_dependents {
                // Every cell whose chain of inputs reaches the target.
                let target = targets[0];
                targets = (0..parsed.cells.len())
                    .filter(|&c| {
                        let mut at = Some(c);
                        (0..=parsed.cells.len()).any(|_| {
                            let hit = at == Some(target);
                            at = at.and_then(|a| refs.input_of(a));
                            hit
                        })
                    })
                    .collect();
            }
            prop_assert_eq!(Ok(order.clone()), refs.run_order(&targets));
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let done = runtime.block_on(run_cells(&parsed, &refs, &text, &order, &HashMap::new(), &[], None, &args(names)));
            let ran: HashSet<usize> = done.keys().copied().collect();
            prop_assert_eq!(ran, order.iter().copied().collect::<HashSet<_>>());
            for &index in &order {
                let message = done[&index].report.result.as_ref().unwrap_err().to_string();
                match parsed.cells[index].input() {
                    Some(input) => prop_assert_eq!(message, format!("its input cell `{input}` failed")),
                    None => prop_assert!(message.starts_with("no plugin named"), "{}", message),
                }
            }
        }
    }
}
