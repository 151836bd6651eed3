//! Databook's fresh, isolated instance per run against Extism, in one
//! process and one run, on the same 100-byte input, each system running a
//! guest that returns its input in upper case (`guests/`):
//!
//! - Databook: a run through the public runtime API (`Plugin::run`), timed
//!   to the moment the result is in hand, and the sustained cost per run on
//!   one thread, teardown included;
//! - Extism 1.30: a fresh plugin from a `CompiledPlugin` per call, and one
//!   plugin reused for every call.
//!
//! The systems take turns (`ROUNDS`), so that each sees the same machine.
//! Then the Databook guest on 1 and 2 worker threads with 1, 8 and 64 runs
//! in flight. Prints tables for BENCHMARKS.md, then, as its last line, the
//! figures a script checks. `bench/run` builds the guests and runs it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use databook_runtime::{
    Cell, KEEP_RESIDENT, Plugin, Registry, Runtime, RuntimeOptions, SearchPath, Workspace,
};

/// The input: 100 bytes of lower-case text.
fn input() -> String {
    let text = "the quick brown fox jumps over the lazy dog, ".repeat(3);
    text[..100].to_string()
}

/// What one series of calls measured.
struct Measured {
    /// Time to result, per call.
    p50: Duration,
    p99: Duration,
    /// Calls per second, one after another on one thread, everything
    /// (teardown included) counted.
    per_second: f64,
    /// The p50 of each of the `ROUNDS` turns, which ran back to back with
    /// the other systems' turns of the same round.
    rounds: Vec<Duration>,
}

/// How many turns the systems take in one run of the comparison: each
/// takes `runs / ROUNDS` calls in turn, so that all of them see the same
/// machine (a shared virtual machine's speed drifts within a minute).
const ROUNDS: usize = 10;

/// `runs` calls of each of `calls`, after `runs / 10` each to warm up,
/// taken in `ROUNDS` turns; each call returns its own time to result.
fn measure(runs: usize, calls: &mut [&mut dyn FnMut() -> Duration]) -> Vec<Measured> {
    for call in calls.iter_mut() {
        for _ in 0..runs / 10 {
            call();
        }
    }
    let mut times = vec![Vec::with_capacity(runs); calls.len()];
    let mut totals = vec![Duration::ZERO; calls.len()];
    let mut rounds = vec![Vec::with_capacity(ROUNDS); calls.len()];
    for _ in 0..ROUNDS {
        for (i, call) in calls.iter_mut().enumerate() {
            let started = Instant::now();
            let mut round: Vec<Duration> = (0..runs / ROUNDS).map(|_| call()).collect();
            totals[i] += started.elapsed();
            times[i].extend_from_slice(&round);
            round.sort();
            rounds[i].push(round[round.len() / 2]);
        }
    }
    times
        .into_iter()
        .zip(totals)
        .zip(rounds)
        .map(|((times, total), rounds)| Measured {
            rounds,
            ..Measured::of(times, total)
        })
        .collect()
}

impl Measured {
    /// The percentiles of `times`, calls that took `total` in all.
    fn of(mut times: Vec<Duration>, total: Duration) -> Measured {
        times.sort();
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        Measured {
            p50: at(0.5),
            p99: at(0.99),
            per_second: times.len() as f64 / total.as_secs_f64(),
            rounds: Vec::new(),
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Args {
    quick: bool,
    /// Only Databook's fresh runs, many of them, and no table: for a
    /// profiler (`perf record`).
    profile: bool,
    extism_wasm: PathBuf,
    databook_plugin: PathBuf,
}

fn args() -> Args {
    let mut quick = false;
    let mut profile = false;
    let mut extism_wasm = None;
    let mut databook_plugin = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--profile" => profile = true,
            "--extism-wasm" => extism_wasm = args.next().map(PathBuf::from),
            "--databook-plugin" => databook_plugin = args.next().map(PathBuf::from),
            // `cargo bench` style flags are not this program's.
            other => {
                eprintln!(
                    "unknown argument {other:?}; use --quick, --profile, --extism-wasm FILE, --databook-plugin DIR"
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(extism_wasm), Some(databook_plugin)) = (extism_wasm, databook_plugin) else {
        eprintln!("give --extism-wasm FILE and --databook-plugin DIR (bench/run does)");
        std::process::exit(2);
    };
    Args {
        quick,
        profile,
        extism_wasm,
        databook_plugin,
    }
}

/// The Databook guest, loaded into a runtime whose pooling allocator keeps
/// `keep_resident` bytes of a freed slot resident.
fn databook_plugin(
    tokio: &tokio::runtime::Runtime,
    args: &Args,
    keep_resident: usize,
) -> (Runtime, Plugin) {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: None,
        keep_resident,
        ..RuntimeOptions::default()
    })
    .expect("the runtime starts");
    let dir = args.databook_plugin.parent().expect("a plugin folder");
    let search = SearchPath {
        dirs: vec![dir.to_path_buf()],
        builtins: &[],
    };
    let name = args
        .databook_plugin
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a plugin folder's name");
    let plugin = tokio
        .block_on(Registry::load_one(
            &runtime,
            &search,
            &Workspace::default(),
            |_| None,
            name,
        ))
        .expect("the Databook guest loads");
    (runtime, plugin)
}

/// A fresh-instance run of the Databook guest, timed to its result: the
/// clock stops when `run_then` hands the report over, before the instance
/// is torn down (as Extism's fresh plugin is timed before it is dropped).
/// The teardown follows on this thread, before the next run starts.
fn databook_run(tokio: &tokio::runtime::Runtime, plugin: &Plugin, input: &str) -> Duration {
    let cell = Cell {
        body: input.to_string(),
        ..Cell::default()
    };
    let started = Instant::now();
    let (elapsed, report) =
        tokio.block_on(plugin.run_then(cell, None, |report| (started.elapsed(), report)));
    assert_eq!(
        report.result.expect("the run succeeds").data,
        input.to_uppercase()
    );
    elapsed
}

/// `runs` fresh-instance runs on a tokio runtime of `workers` threads,
/// `in_flight` of them under way at any moment (each of `in_flight` tasks
/// starts its next run when its last one is done). Latency is from a
/// run's start to its result.
fn databook_concurrent(
    args: &Args,
    runs: usize,
    input: &str,
    workers: usize,
    in_flight: usize,
) -> Measured {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let (_runtime, plugin) = databook_plugin(&tokio, args, KEEP_RESIDENT);
    let expected: std::sync::Arc<str> = input.to_uppercase().into();
    let round = |runs: usize| {
        let per_task = runs.div_ceil(in_flight);
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let plugin = plugin.clone();
                let expected = expected.clone();
                let cell = Cell {
                    body: input.to_string(),
                    ..Cell::default()
                };
                tokio.spawn(async move {
                    let mut times = Vec::with_capacity(per_task);
                    for _ in 0..per_task {
                        let started = Instant::now();
                        let report = plugin
                            .run_then(cell.clone(), None, |report| {
                                times.push(started.elapsed());
                                report
                            })
                            .await;
                        assert_eq!(report.result.expect("the run succeeds").data, *expected);
                    }
                    times
                })
            })
            .collect();
        let started = Instant::now();
        let mut times = Vec::with_capacity(per_task * in_flight);
        for task in tasks {
            times.extend(tokio.block_on(task).expect("the task finishes"));
        }
        (times, started.elapsed())
    };
    round(runs / 10);
    let (times, total) = round(runs);
    Measured::of(times, total)
}

fn main() {
    let args = args();
    let runs = if args.quick { 20_000 } else { 200_000 };
    let input = input();
    let expected = input.to_uppercase();

    // Databook: the runtime as `databook run` and the language server set
    // it up, and a plugin folder with the guest; then, for comparison in
    // the same run, with every page of a freed slot given back to the
    // kernel (as before `keep_resident`).
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_runtime, plugin) = databook_plugin(&tokio, &args, KEEP_RESIDENT);
    if args.profile {
        let [m] = measure(runs, &mut [&mut || databook_run(&tokio, &plugin, &input)])
            .try_into()
            .ok()
            .expect("one series");
        println!(
            "databook_fresh_p50_us={:.1} databook_runs_per_s={:.0}",
            micros(m.p50),
            m.per_second
        );
        return;
    }
    // For comparison in the same run: every page of a freed slot given
    // back to the kernel (as before `keep_resident`).
    let (_runtime_madvise, plugin_madvise) = databook_plugin(&tokio, &args, 0);
    // Extism: the guest compiled once; a fresh plugin per call, and one
    // plugin for every call.
    let wasm = std::fs::read(&args.extism_wasm).expect("the Extism guest is built");
    let manifest = extism::Manifest::new([extism::Wasm::data(wasm)]);
    let compiled =
        extism::CompiledPlugin::new(extism::PluginBuilder::new(manifest).with_wasi(false))
            .expect("the Extism guest compiles");
    let mut reused = extism::Plugin::new_from_compiled(&compiled).expect("a plugin");
    let [
        databook,
        databook_after_teardown,
        databook_madvise,
        extism_fresh,
        extism_reused,
    ] = measure(
        runs,
        &mut [
            &mut || databook_run(&tokio, &plugin, &input),
            &mut || {
                let cell = Cell {
                    body: input.clone(),
                    ..Cell::default()
                };
                let started = Instant::now();
                let report = tokio.block_on(plugin.run(cell, None));
                let elapsed = started.elapsed();
                assert_eq!(report.result.expect("the run succeeds").data, expected);
                elapsed
            },
            &mut || databook_run(&tokio, &plugin_madvise, &input),
            &mut || {
                let started = Instant::now();
                let mut fresh =
                    extism::Plugin::new_from_compiled(&compiled).expect("a fresh plugin");
                let out: String = fresh
                    .call("upper", input.as_str())
                    .expect("the call succeeds");
                let elapsed = started.elapsed();
                assert_eq!(out, expected);
                drop(fresh);
                elapsed
            },
            &mut || {
                let started = Instant::now();
                let out: String = reused
                    .call("upper", input.as_str())
                    .expect("the call succeeds");
                let elapsed = started.elapsed();
                assert_eq!(out, expected);
                elapsed
            },
        ],
    )
    .try_into()
    .ok()
    .expect("five series");

    println!("| system, 100-byte input, {runs} calls on one thread | p50 | p99 | calls/s |");
    println!("|---|---|---|---|");
    for (what, m) in [
        (
            "Databook: fresh instance per run (`Plugin::run_then`: result in hand, then teardown)",
            &databook,
        ),
        (
            "Databook, timed after the teardown (`Plugin::run`)",
            &databook_after_teardown,
        ),
        (
            "Databook, every page of a freed slot given back (`keep_resident: 0`, as before)",
            &databook_madvise,
        ),
        (
            "Extism 1.30: fresh plugin per call (`new_from_compiled`)",
            &extism_fresh,
        ),
        ("Extism 1.30: one plugin reused", &extism_reused),
    ] {
        println!(
            "| {what} | {:.1} µs | {:.1} µs | {:.0} |",
            micros(m.p50),
            micros(m.p99),
            m.per_second
        );
    }
    println!();
    println!("| Databook, {runs} runs, a fresh instance each | in flight | p50 | p99 | runs/s |");
    println!("|---|---|---|---|---|");
    for workers in [1, 2] {
        for in_flight in [1, 8, 64] {
            let m = databook_concurrent(&args, runs, &input, workers, in_flight);
            println!(
                "| {workers} worker thread{} | {in_flight} | {:.1} µs | {:.1} µs | {:.0} |",
                if workers == 1 { "" } else { "s" },
                micros(m.p50),
                micros(m.p99),
                m.per_second
            );
        }
    }
    println!();
    let below = (databook.rounds.iter())
        .zip(&extism_reused.rounds)
        .filter(|(databook, extism)| databook < extism)
        .count();
    println!(
        "Databook's p50 was below Extism's reused plugin's in {below} of {ROUNDS} rounds (per round, µs: {}).",
        (databook.rounds.iter())
            .zip(&extism_reused.rounds)
            .map(|(d, e)| format!("{:.1} vs {:.1}", micros(*d), micros(*e)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Databook's p50 is {:.2}× Extism's fresh plugin's and {:.2}× its reused one's.",
        micros(databook.p50) / micros(extism_fresh.p50),
        micros(databook.p50) / micros(extism_reused.p50),
    );
    println!(
        "databook_fresh_p50_us={:.1} databook_runs_per_s={:.0} extism_fresh_p50_us={:.1} extism_reused_p50_us={:.1}",
        micros(databook.p50),
        databook.per_second,
        micros(extism_fresh.p50),
        micros(extism_reused.p50),
    );
}
