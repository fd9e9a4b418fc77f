//! `vitals`: the binary users type. Parses the command line, dispatches, and maps
//! failures to a one-line error and an exit code. No protocol logic lives here.

mod cli;
mod client;
mod demo;
mod plot;
mod proxy;
mod route;
mod sim;
mod tune;

use std::process::ExitCode;

use clap::Parser;
use cli::{AgentArgs, Cli, Command, LeaderArgs, MembersArgs};
use vitals_agent::RawConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Agent(_) | Command::Proxy(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Agent(args) => agent(&args),
        Command::Members(args) => members(&args),
        Command::Leader(args) => leader(&args),
        Command::Why(args) => why(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Keygen => {
            println!("{}", vitals_agent::keygen());
            Ok(())
        }
        Command::Sim(args) => sim::run(&args),
        Command::Tune(args) => tune::run(&args),
        Command::Route(args) => route::run(&args),
        Command::Proxy(args) => proxy::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn agent(args: &AgentArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => RawConfig::from_file(path)?,
        None => RawConfig::default(),
    };
    let mut settings = file.overridden_by(args.to_raw()).into_settings()?;
    settings.faults = args.faults.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(vitals_agent::run(settings, shutdown_signal()))?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn members(args: &MembersArgs) -> anyhow::Result<()> {
    if args.json {
        let (status, body) = client::get(&args.http, "/v1/members")?;
        anyhow::ensure!(status == 200, "the agent at {} answered {status}: {body}", args.http);
        println!("{body}");
    } else {
        print!("{}", client::table(&client::members(&args.http)?));
    }
    Ok(())
}

fn why(args: &cli::WhyArgs) -> anyhow::Result<()> {
    let (status, body) = client::get(&args.http, &format!("/v1/members/{}/why", args.name))?;
    anyhow::ensure!(status == 200, "the agent at {} answered {status}: {body}", args.http);
    if args.json {
        println!("{body}");
    } else {
        print!("{}", client::explain(&body)?);
    }
    Ok(())
}

fn leader(args: &LeaderArgs) -> anyhow::Result<()> {
    let (status, body) = client::get(&args.http, "/v1/leader")?;
    anyhow::ensure!(status == 200, "the agent at {} answered {status}: {body}", args.http);
    if args.json {
        println!("{body}");
    } else {
        print!("{}", client::leader_line(&body)?);
    }
    Ok(())
}
