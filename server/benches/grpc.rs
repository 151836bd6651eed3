//! `echo` over gRPC on loopback: calls per second and latency percentiles
//! against a real `databook serve`, with one client and with 64 concurrent
//! clients. Run with `cargo bench -p databook --bench grpc` (a release
//! build); BENCHMARKS.md has the numbers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};

use tonic::transport::Channel;

mod pb {
    tonic::include_proto!("databook.v1");
}

use pb::databook_client::DatabookClient;

/// A 100-byte body, as in the runtime's benchmark.
const BODY: &str = "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";

/// Kills the server when the benchmark ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(program: &std::path::Path, home: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(program)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("DATABOOK_PLUGINS")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("databook serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving gRPC on ")
        .unwrap_or_else(|| panic!("databook serve said {line:?}"))
        .to_string();
    (Server(child), addr)
}

/// Makes `calls` calls shared among `clients`, each client waiting for its
/// answer before the next call; returns every call's latency and the wall
/// time.
async fn run(clients: &[DatabookClient<Channel>], calls: usize) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, client) in clients.iter().enumerate() {
        let mut client = client.clone();
        let share = calls / clients.len() + usize::from(i < calls % clients.len());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for _ in 0..share {
                let request = pb::GetRequest {
                    plugin: "echo".into(),
                    input: BODY.into(),
                    options: vec![],
                };
                let call = Instant::now();
                let response = client.get(request).await.expect("echo answers");
                latencies.push(call.elapsed());
                assert_eq!(response.get_ref().data.len(), BODY.len());
            }
            latencies
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result.unwrap());
    }
    (latencies, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

async fn bench(label: &str, addr: &str, clients: usize, warm_up: usize, calls: usize) {
    let mut connected = Vec::new();
    for _ in 0..clients {
        // One channel, so one HTTP/2 connection, per client.
        connected.push(
            DatabookClient::connect(format!("http://{addr}"))
                .await
                .expect("connects"),
        );
    }
    run(&connected, warm_up).await;
    let (mut latencies, wall) = run(&connected, calls).await;
    latencies.sort();
    println!(
        "{label}: echo over gRPC, {clients} client(s), {calls} calls: p50 {}, p99 {}, {:.0} calls/s",
        micros(percentile(&latencies, 0.50)),
        micros(percentile(&latencies, 0.99)),
        calls as f64 / wall.as_secs_f64()
    );
}

/// Measures this build's `databook serve`; with `DATABOOK_BASELINE` set to
/// another `databook` binary, measures both, each twice and in turn.
fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // of the sort and only wants to know that this builds and runs.
    let quick = !std::env::args().any(|a| a == "--bench");
    let current = std::path::PathBuf::from(env!("CARGO_BIN_EXE_databook"));
    let baseline = std::env::var_os("DATABOOK_BASELINE").map(std::path::PathBuf::from);
    let mut programs = vec![("this build", current)];
    if let Some(baseline) = baseline {
        programs.insert(0, ("baseline", baseline));
    }
    let rounds = if programs.len() > 1 { 2 } else { 1 };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..rounds {
        for (label, program) in &programs {
            let home = tempfile::tempdir().unwrap();
            let (_server, addr) = start_server(program, home.path());
            runtime.block_on(async {
                if quick {
                    bench(label, &addr, 4, 10, 100).await;
                    return;
                }
                bench(label, &addr, 1, 1_000, 10_000).await;
                bench(label, &addr, 64, 5_000, 50_000).await;
            });
        }
    }
}
