//! `vitals`: the binary users type. Parses the command line, dispatches, and maps
//! failures to a one-line error and an exit code: 2 for a refused command line or config
//! (clap's own errors exit 2 as well), 1 for a failure at run time. No protocol logic
//! lives here.

mod choice;
mod cli;
mod client;
mod demo;
mod joining;
mod lifecycle;
mod links;
mod matrix;
mod plot;
mod proxy;
mod route;
mod sim;
mod sweep;
mod tune;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser};
use cli::{AgentArgs, Cli, Command, LeaderArgs, LogFormat, MembersArgs};
use vitals_agent::{AgentError, RawConfig, SettingsError};

/// `vitals --version`: the release and the commit it was built from.
pub(crate) fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let build = (vitals_agent::build::VERSION, vitals_agent::build::COMMIT);
        format!("{} (commit {})", build.0, build.1)
    })
}

/// A refused command line or setting: exits 2, like clap's own usage errors.
#[derive(Debug)]
pub(crate) struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// An error that exits 2: the user must change the command line or a config file.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let refused_setting = error.downcast_ref::<SettingsError>().is_some()
        || matches!(error.downcast_ref::<AgentError>(), Some(AgentError::Keyring(_)));
    if error.is::<Usage>() || refused_setting { 2 } else { 1 }
}

/// The error and its causes on one line, each said once (an I/O error shown in its
/// wrapper's message is not repeated as the wrapper's source).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

fn init_logs(command: &Command, format: LogFormat) {
    let default_level = if matches!(command, Command::Agent(_) | Command::Proxy(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(ansi).init();
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.command, cli.log_format);
    let result = match cli.command {
        Command::Agent(args) => agent(&args),
        Command::Members(args) => members(&args),
        Command::Matrix(args) => matrix(&args),
        Command::Links(args) => links::run(&args),
        Command::Leader(args) => leader(&args),
        Command::Why(args) => why(&args),
        Command::Join(args) => lifecycle::join(&args),
        Command::Leave(args) => lifecycle::leave(&args),
        Command::ForceLeave(args) => lifecycle::force_leave(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Keygen => {
            println!("{}", vitals_agent::keygen());
            Ok(())
        }
        Command::Sim(args) => sim::run(&args),
        Command::Tune(args) => tune::run(&args),
        Command::Route(args) => route::run(&args),
        Command::Proxy(args) => proxy::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vitals", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(exit_code(&error))
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
    // One thread: the agent's work at rest is a few datagrams and a health sample a
    // second, and every extra worker costs its stack and a malloc arena (docs/DEPLOY.md,
    // "Footprint"). Blocking work (file writes, DNS) still goes to tokio's blocking pool,
    // whose threads exit when idle. Its I/O driver reads at most 64 readiness events per
    // turn (the default 1024 keeps a 12 KiB buffer for the agent's life): the agent has a
    // socket, a listener and a few connections, and whatever is left is read next turn.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_io_events_per_tick(64)
        .build()?;
    runtime.block_on(async { vitals_agent::run(settings, shutdown_signal()).await })?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called (inside
/// the runtime), before the agent binds anything: a SIGTERM that arrives as soon as it
/// serves must still make it leave, not kill it.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

fn members(args: &MembersArgs) -> anyhow::Result<()> {
    let api = args.api.api()?;
    let path = format!("/v1/members{}", lifecycle::members_query(&args.status, &args.tag));
    let problem = client::join_problem(&api);
    if args.json {
        println!("{}", client::get_ok(&api, &path)?);
        // The JSON stays the member list; the reason goes beside it.
        if let Some(problem) = problem {
            eprintln!("this agent has not joined: {problem}");
        }
    } else {
        print!("{}", client::table(&client::members(&api, &path)?));
        if let Some(problem) = problem {
            println!("this agent has not joined: {problem}");
        }
    }
    Ok(())
}

fn matrix(args: &cli::MatrixArgs) -> anyhow::Result<()> {
    let body = client::get_ok(&args.api.api()?, "/v1/reachability")?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", matrix::render(&serde_json::from_str(&body)?));
    }
    Ok(())
}

fn why(args: &cli::WhyArgs) -> anyhow::Result<()> {
    let body = client::get_ok(&args.api.api()?, &format!("/v1/members/{}/why", args.name))?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", client::explain(&body)?);
    }
    Ok(())
}

fn leader(args: &LeaderArgs) -> anyhow::Result<()> {
    let body = client::get_ok(&args.api.api()?, "/v1/leader")?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", client::leader_line(&body)?);
    }
    Ok(())
}
