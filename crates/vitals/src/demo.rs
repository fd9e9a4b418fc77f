//! `vitals demo`: starts N real agents on loopback addresses as child processes, shows how
//! each one sees the others, SIGKILLs one, reports how long the survivors took to declare
//! it dead, restarts it, and stops everything cleanly on Ctrl-C.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vitals_core::{Preset, Status, StrategyKind};

use crate::cli::DemoArgs;
use crate::client::{self, MemberRow};

/// How each running agent sees the cluster: (observer, its member list).
type Views = Vec<(String, Vec<MemberRow>)>;

struct Agent {
    name: String,
    bind: String,
    http: String,
    child: Option<Child>,
}

struct Demo {
    exe: PathBuf,
    /// How the strategy turns silence into a verdict, for the newcomer reading along.
    how: &'static str,
    /// A fresh cluster key: the demo's agents seal every datagram.
    keyring: String,
    log_dir: PathBuf,
    agents: Vec<Agent>,
    extra_args: Vec<String>,
    live: bool,
    log: Vec<String>,
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let stop = ctrl_c_flag();
    let mut demo = Demo::new(args)?;
    demo.scenario(args, &stop) // dropping the demo stops every agent
}

/// A flag raised by Ctrl-C (the agents get the same SIGINT and leave by themselves).
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    stop
}

impl Demo {
    fn new(args: &DemoArgs) -> anyhow::Result<Demo> {
        let exe = std::env::current_exe().context("cannot find the vitals executable")?;
        let log_dir = std::env::temp_dir().join(format!("vitals-demo-{}", std::process::id()));
        std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
        let agents = (1..=args.nodes)
            .map(|i| {
                let ip = format!("{}.{}", args.subnet, u16::from(i) + 1);
                Agent {
                    name: format!("node-{i}"),
                    bind: format!("{ip}:7946"),
                    http: format!("{ip}:7947"),
                    child: None,
                }
            })
            .collect();
        let mut extra_args = vec![
            "--preset".into(),
            "lan-fast".into(),
            "--detector".into(),
            args.detector.name().into(),
        ];
        extra_args.extend(["--strategy".into(), args.strategy.name().into()]);
        if args.strategy == StrategyKind::Pull {
            extra_args.extend(["--monitor".into(), "node-1".into()]);
        }
        if args.ack {
            extra_args.push("--ack".into());
        }
        let live = !args.once && std::io::stdout().is_terminal();
        let keyring = vitals_agent::keygen();
        let how = match args.strategy {
            StrategyKind::Push => "every survivor missed 3 heartbeats in a row: 620 ms of silence",
            StrategyKind::Pull => "the monitor missed 3 poll replies, and the others read its verdict in its next poll",
            StrategyKind::Ping => {
                "a probe and 3 indirect probes failed, then a suspicion the victim could not refute timed out"
            }
            StrategyKind::Leader => {
                "the leader missed 3 of its reports and published the verdict with its next heartbeat"
            }
            StrategyKind::Gossip => {
                "its heartbeat counter stopped rising in the digests every survivor hears: 1 s without a rise"
            }
        };
        Ok(Demo {
            exe,
            how,
            keyring,
            log_dir,
            agents,
            extra_args,
            live,
            log: Vec::new(),
        })
    }

    fn scenario(&mut self, args: &DemoArgs, stop: &AtomicBool) -> anyhow::Result<()> {
        let n = self.agents.len();
        let interval = Preset::LanFast.interval();
        self.say(format!(
            "Starting {n} agents on {}.2-{} ({} strategy, heartbeat every {interval:?}, datagrams sealed with a fresh key); logs in {}",
            args.subnet,
            n + 1,
            args.strategy.name(),
            self.log_dir.display()
        ));
        for i in 0..n {
            self.spawn(i)?;
        }
        let started = Instant::now();
        let everyone: Vec<String> = self.agents.iter().map(|a| a.name.clone()).collect();
        self.watch_until(Duration::from_secs(20), stop, |views| {
            views.len() == n && all_see(views, &everyone, Status::Alive)
        })?
        .context("the agents did not all see each other alive within 20 s; see the logs")?;
        self.say(format!(
            "All {n} agents see each other alive ({} ms after start). Watch it live at http://{}/ui (node-1's dashboard: the crash, its detection and the restart appear there).",
            started.elapsed().as_millis(),
            self.agents[0].http
        ));
        if self.watch_for(Duration::from_secs(3), stop) {
            return Ok(());
        }
        let Some(detected) = self.crash_and_detect(stop)? else {
            return Ok(());
        };
        self.say(detected);
        if self.watch_for(Duration::from_secs(2), stop) {
            return Ok(());
        }
        let Some(back) = self.restart_and_rejoin(stop)? else {
            return Ok(());
        };
        self.say(back);
        if args.once {
            return Ok(());
        }
        self.say("Steady again. Press Ctrl-C to stop every agent (they leave gracefully).".to_string());
        while !self.watch_for(Duration::from_secs(3600), stop) {}
        Ok(())
    }

    /// SIGKILLs the last agent and waits until every survivor holds it dead.
    fn crash_and_detect(&mut self, stop: &AtomicBool) -> anyhow::Result<Option<String>> {
        let victim = self.agents.len() - 1;
        let name = self.agents[victim].name.clone();
        let survivors: Vec<String> = self
            .agents
            .iter()
            .filter(|a| a.name != name)
            .map(|a| a.name.clone())
            .collect();
        self.say(format!(
            "SIGKILL {name}: it stops without a word. The others must notice the silence."
        ));
        self.agents[victim].child.take().map(|mut c| (c.kill(), c.wait()));
        let killed = Instant::now();
        let mut first: Option<Duration> = None;
        let watched = self.watch_until(Duration::from_secs(30), stop, |views| {
            if first.is_none()
                && views
                    .iter()
                    .any(|(_, rows)| status_of(rows, &name) == Some(Status::Dead))
            {
                first = Some(killed.elapsed());
            }
            views.len() == survivors.len()
                && views
                    .iter()
                    .all(|(_, rows)| status_of(rows, &name) == Some(Status::Dead))
        })?;
        let Some(()) = watched else { return Ok(None) };
        let all = killed.elapsed();
        let first = first.unwrap_or(all);
        Ok(Some(format!(
            "{name} declared dead by all {} survivors {} ms after the kill (first survivor: {} ms; {}).",
            survivors.len(),
            all.as_millis(),
            first.as_millis(),
            self.how
        )))
    }

    /// Restarts the last agent and waits until everyone holds it alive again.
    fn restart_and_rejoin(&mut self, stop: &AtomicBool) -> anyhow::Result<Option<String>> {
        let victim = self.agents.len() - 1;
        let name = self.agents[victim].name.clone();
        self.say(format!(
            "Restarting {name}. It starts at incarnation 0 and learns it was declared dead..."
        ));
        self.spawn(victim)?;
        let restarted = Instant::now();
        let everyone: Vec<String> = self.agents.iter().map(|a| a.name.clone()).collect();
        let watched = self.watch_until(Duration::from_secs(30), stop, |views| {
            views.len() == everyone.len() && all_see(views, std::slice::from_ref(&name), Status::Alive)
        })?;
        let Some(()) = watched else { return Ok(None) };
        let incarnation = self
            .views()
            .first()
            .and_then(|(_, rows)| rows.iter().find(|r| r.name == name).map(|r| r.incarnation));
        Ok(Some(format!(
            "{name} is alive again everywhere {} ms after restarting: it refuted its death by raising its incarnation to {}.",
            restarted.elapsed().as_millis(),
            incarnation.unwrap_or_default()
        )))
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let seed = self.agents[0].bind.clone();
        let agent = &mut self.agents[i];
        let log = File::create(self.log_dir.join(format!("{}.log", agent.name)))?;
        let mut command = std::process::Command::new(&self.exe);
        command.args([
            "agent",
            "--name",
            &agent.name,
            "--bind",
            &agent.bind,
            "--http",
            &agent.http,
        ]);
        if i > 0 {
            command.args(["--join", &seed]);
        }
        command
            .args(&self.extra_args)
            .env(vitals_agent::daemon::config::KEYRING_ENV, &self.keyring)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        agent.child = Some(
            command
                .spawn()
                .with_context(|| format!("cannot start {}", agent.name))?,
        );
        Ok(())
    }

    /// The member lists of every running agent that answers.
    fn views(&self) -> Views {
        let running = self.agents.iter().filter(|a| a.child.is_some());
        running
            .filter_map(|a| {
                let api = client::Api {
                    addr: a.http.parse().ok()?,
                    token: None,
                };
                client::members(&api, "/v1/members")
                    .ok()
                    .map(|rows| (a.name.clone(), rows))
            })
            .collect()
    }

    /// Polls the agents until `done` holds (`Some`), Ctrl-C (`None`), or `limit` (error).
    fn watch_until(
        &mut self,
        limit: Duration,
        stop: &AtomicBool,
        mut done: impl FnMut(&Views) -> bool,
    ) -> anyhow::Result<Option<()>> {
        let start = Instant::now();
        let mut drawn = Instant::now() - Duration::from_secs(1);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let views = self.views();
            if drawn.elapsed() >= Duration::from_millis(250) {
                self.draw(&views);
                drawn = Instant::now();
            }
            if done(&views) {
                self.draw(&views);
                return Ok(Some(()));
            }
            anyhow::ensure!(start.elapsed() < limit, "gave up after {limit:?}; see the logs");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Shows the live table for `duration`; returns true on Ctrl-C.
    fn watch_for(&mut self, duration: Duration, stop: &AtomicBool) -> bool {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return true;
            }
            let views = self.views();
            self.draw(&views);
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }

    fn say(&mut self, line: String) {
        if !self.live {
            // A closed pipe (`vitals demo | head`) must not abort the demo mid-way.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        self.log.push(line);
    }

    fn draw(&self, views: &Views) {
        if !self.live {
            return;
        }
        let mut out = String::from("\x1b[2J\x1b[H");
        out.push_str("vitals demo: each row is one agent's view of every member (Ctrl-C stops)\n\n");
        out.push_str(&matrix(&self.agents, views));
        out.push('\n');
        for line in self.log.iter().rev().take(8).rev() {
            out.push_str(&format!("  {line}\n"));
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
    }

    fn stop_all(&mut self) {
        for agent in &mut self.agents {
            if let Some(child) = &agent.child {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            }
        }
        for agent in &mut self.agents {
            if let Some(mut child) = agent.child.take() {
                let deadline = Instant::now() + Duration::from_secs(3);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Demo {
    /// Whatever happened (error, panic), no agent outlives the demo.
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn status_of(rows: &[MemberRow], name: &str) -> Option<Status> {
    rows.iter().find(|r| r.name == name).map(|r| r.status)
}

fn all_see(views: &Views, members: &[String], status: Status) -> bool {
    views
        .iter()
        .all(|(_, rows)| members.iter().all(|m| status_of(rows, m) == Some(status)))
}

fn cell(status: Option<Status>, wide: bool) -> String {
    let (color, text) = match status {
        Some(Status::Alive) => ("32", "alive"),
        Some(Status::Suspect) => ("33", "suspect"),
        Some(Status::Dead) => ("31", "DEAD"),
        Some(Status::Left) => ("90", "left"),
        None => ("90", "?"),
    };
    let text = if wide {
        format!("{text:<8}")
    } else {
        format!("{:<2}", &text[..1])
    };
    paint(color, &text)
}

/// `text` in an ANSI colour, unless NO_COLOR is set (https://no-color.org). The live table,
/// the only place colours appear, is drawn only when stdout is a terminal.
fn paint(color: &str, text: &str) -> String {
    if std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
        format!("\x1b[{color}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn matrix(agents: &[Agent], views: &Views) -> String {
    let wide = agents.len() <= 8;
    let mut out = format!("{:<14}", "seen by \\ of");
    for agent in agents {
        out.push_str(&if wide {
            format!("{:<8}", agent.name)
        } else {
            format!("{:<2}", &agent.name[5..].chars().last().unwrap_or(' '))
        });
    }
    out.push('\n');
    for agent in agents {
        out.push_str(&format!("{:<14}", agent.name));
        match views.iter().find(|(observer, _)| *observer == agent.name) {
            Some((_, rows)) => agents
                .iter()
                .for_each(|m| out.push_str(&cell(status_of(rows, &m.name), wide))),
            None => out.push_str(&paint("31", "(not running)")),
        }
        out.push('\n');
    }
    out
}
