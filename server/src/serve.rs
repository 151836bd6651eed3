//! `databook serve`: the plugin service over gRPC (`proto/databook.proto`),
//! with the standard health service, server reflection and, on request,
//! Prometheus metrics. docs/grpc.md is its user's guide.
//!
//! Plugins are loaded (and compiled) once at start; each call then runs in a
//! fresh instance and the service keeps no state between calls, so replicas
//! are interchangeable behind a load balancer.

mod metrics;
pub mod proto;
mod service;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use databook_runtime::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use self::metrics::Metrics;
pub use self::metrics::code_name;
use self::proto::databook_server::{DatabookServer, SERVICE_NAME};
use self::service::DatabookService;
pub use self::service::HINT_KEY;
use crate::cli::Cli;
use databook::setup::process_env;

/// Where `serve` listens, and `call` connects, unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen for gRPC, as HOST:PORT (port 0 picks a free one; the
    /// address is printed). Loopback unless given here: the service has no
    /// authentication, so exposing it is logged as a warning.
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
    pub listen: String,
    /// Also serve Prometheus metrics at http://HOST:PORT/metrics.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
}

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    // Installed first, so that a signal that arrives while the plugins load
    // stops the server rather than killing it mid-start.
    let mut signals = Signals::install().context("cannot install the signal handlers")?;
    let setup = cli.setup()?;
    // Loaded in a task of its own, so that a signal is heard even while a
    // plugin compiles (which holds its thread).
    let load = tokio::spawn(async move {
        Registry::load(&setup.runtime, &setup.search, &setup.workspace, process_env).await
    });
    let registry = tokio::select! {
        loaded = load => loaded.context("loading the plugins failed")?,
        signal = signals.next() => {
            eprintln!("databook: {signal} while the plugins loaded: stopping");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let failed = registry
        .entries()
        .iter()
        .filter_map(|entry| entry.plugin.as_ref().err().map(|e| (&entry.name, e)))
        .inspect(|(name, error)| tracing::warn!("plugin {name} failed to load: {error}"))
        .count();
    let metrics = Arc::new(Metrics::new());
    metrics.set_plugins(registry.entries().len() - failed, failed);
    // Every `Get` ends within its plugin's time limit; what may still be open
    // after the longest of them, and a little more, is a stream that never
    // ends by itself (a health `Watch`), which must not keep the process up.
    let drain = registry
        .entries()
        .iter()
        .filter_map(|entry| entry.plugin.as_ref().ok())
        .map(|plugin| plugin.manifest().limits.timeout.0)
        .max()
        .unwrap_or_default()
        + Duration::from_secs(5);
    let registry = Arc::new(registry);

    let grpc_listener = listen(&args.listen, "gRPC").await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let metrics_listener = match &args.metrics {
        Some(addr) => Some(listen(addr, "metrics").await?),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DatabookServer<DatabookService>>()
        .await;
    // Both reflection versions: grpcurl before 1.8.8, among others, only
    // speaks v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .context("cannot set up server reflection")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("cannot set up server reflection")?;
    let databook = DatabookServer::new(DatabookService::new(registry, metrics.clone()));

    let (stop, stopped) = watch::channel(false);
    let wait_for_stop = |mut stopped: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which is a stop as well.
        let _ = stopped.wait_for(|stop| *stop).await;
    };

    let grpc = Server::builder()
        // Finds clients that vanished without closing their connection.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(databook)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
            wait_for_stop(stopped.clone()),
        );
    let metrics_server = async {
        match metrics_listener {
            Some(listener) => {
                axum::serve(listener, metrics::router(metrics))
                    .with_graceful_shutdown(wait_for_stop(stopped.clone()))
                    .await
            }
            None => Ok(()),
        }
    };

    // The addresses on stdout, one line each, for people and for scripts
    // that started the server on port 0.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "serving gRPC on {grpc_addr}")?;
    if let Some(addr) = metrics_addr {
        writeln!(stdout, "serving metrics on http://{addr}/metrics")?;
    }
    stdout.flush()?;
    drop(stdout);

    tokio::spawn(async move {
        let signal = signals.next().await;
        eprintln!("databook: {signal}: finishing the calls in flight, then stopping");
        // Load balancers that watch health stop sending calls here first.
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        health
            .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
            .await;
        let _ = stop.send(true);
        let signal = signals.next().await;
        eprintln!("databook: {signal} again: stopping now");
        std::process::exit(130);
    });

    let servers = async {
        let (grpc, metrics_server) = tokio::join!(grpc, metrics_server);
        grpc.context("the gRPC server failed")?;
        metrics_server.context("the metrics server failed")
    };
    let drained = async {
        wait_for_stop(stopped.clone()).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = servers => result?,
        () = drained => {
            eprintln!(
                "databook: connections still open {} after the signal: stopping",
                databook_runtime::Timeout(drain)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves `addr` and listens there, warning when it is not loopback.
async fn listen(addr: &str, what: &str) -> anyhow::Result<TcpListener> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot use {addr:?} as the {what} address (write it HOST:PORT)"))?
        .collect();
    let Some(&first) = resolved.first() else {
        anyhow::bail!("{addr:?} resolves to no address");
    };
    if !first.ip().is_loopback() {
        tracing::warn!(
            "the {what} service listens on {first}, which other machines may reach; \
             it has no authentication, so anyone who can connect can run every plugin \
             with the permissions and secrets it was given"
        );
    }
    TcpListener::bind(first)
        .await
        .with_context(|| format!("cannot listen on {first} for {what}"))
}

/// SIGINT and SIGTERM, as one stream of signal names.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
