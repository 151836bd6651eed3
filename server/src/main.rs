//! `databook`: runnable notes next to your code. The command line is the
//! edge of the program: this is where errors get their context and become
//! messages and exit codes.

mod call;
mod cli;
mod exec;
mod export;
mod headless;
mod plugin_cmd;
mod plugins;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DATABOOK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Exec(args) => exec::exec(&cli, args).await,
            Command::Plugins(args) => plugins::list(&cli, args).await,
            Command::Serve(args) => serve::serve(&cli, args).await,
            Command::Call(args) => call::call(args).await,
            Command::Lsp(_) => {
                databook::lsp::serve_stdio(cli.plugin_dirs.clone()).await;
                Ok(ExitCode::SUCCESS)
            }
            Command::Run(args) => headless::run(&cli, args).await,
            Command::Export(args) => export::export(&cli, args).await,
            Command::Plugin(args) => plugin_cmd::plugin(&cli, args).await,
        }
    });
    // A read of stdin in progress (the language server's, after `exit`)
    // would otherwise keep the process alive until the client closes it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
