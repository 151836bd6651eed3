//! The runtime's costs, measured: one fresh-instance run of `echo` with a
//! 100-byte body (pooling allocator against on-demand allocation, in one
//! run), and loading a plugin from scratch against loading it from the
//! cache of precompiled artifacts.
//!
//! Run with `cargo bench -p databook-runtime --bench runtime`; it prints a
//! Markdown table for BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use databook_runtime::{Cell, Plugin, Registry, Runtime, RuntimeOptions, SearchPath, Workspace};

const RUNS: usize = 20_000;
const LOADS: usize = 30;

fn echo_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/echo"))
}

async fn load(runtime: &Runtime) -> Plugin {
    let search = SearchPath {
        dirs: vec![echo_dir().to_path_buf()],
        builtins: &[],
    };
    Registry::load_one(runtime, &search, &Workspace::default(), |_| None, "echo")
        .await
        .expect("echo loads")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Runs `echo` RUNS times, one after another, and reports p50, p99 and
/// runs per second.
async fn fresh_instance_runs(pooling: bool) -> (Duration, Duration, f64) {
    let runtime = Runtime::new(RuntimeOptions {
        pooling,
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let plugin = load(&runtime).await;
    let cell = Cell {
        body: "x".repeat(100),
        ..Cell::default()
    };
    for _ in 0..1000 {
        plugin.run(cell.clone(), None).await.result.unwrap();
    }
    let mut times = Vec::with_capacity(RUNS);
    let started = Instant::now();
    for _ in 0..RUNS {
        let t = Instant::now();
        let report = plugin.run(cell.clone(), None).await;
        times.push(t.elapsed());
        assert_eq!(report.result.unwrap().data.len(), 100);
    }
    let total = started.elapsed();
    times.sort();
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        RUNS as f64 / total.as_secs_f64(),
    )
}

/// Loads `echo` LOADS times with a cache folder that is emptied before each
/// load (`cold`) or kept (`warm`), and reports the median.
async fn loads(warm: bool) -> Duration {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    })
    .unwrap();
    load(&runtime).await;
    let mut times = Vec::with_capacity(LOADS);
    for _ in 0..LOADS {
        if !warm {
            for entry in std::fs::read_dir(cache.path()).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
        }
        let t = Instant::now();
        load(&runtime).await;
        times.push(t.elapsed());
    }
    times.sort();
    percentile(&times, 0.5)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do
    // not support, so say so rather than silently ignoring it.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!("this benchmark takes no arguments");
    }
    let size = std::fs::metadata(echo_dir().join("plugin.wasm"))
        .unwrap()
        .len();
    println!("| measurement | result |");
    println!("|---|---|");
    for (pooling, name) in [(true, "pooling allocator"), (false, "on-demand allocator")] {
        let (p50, p99, rate) = fresh_instance_runs(pooling).await;
        println!(
            "| fresh-instance run of `echo`, 100-byte body, {name} | p50 {}, p99 {}, {:.0} runs/s |",
            micros(p50),
            micros(p99),
            rate
        );
    }
    let cold = loads(false).await;
    let warm = loads(true).await;
    println!(
        "| load `echo` ({} KB) from scratch: compile, link, describe | p50 {} |",
        size / 1000,
        millis(cold)
    );
    println!(
        "| load `echo` from the cache: deserialize, link, describe | p50 {} |",
        millis(warm)
    );
}
