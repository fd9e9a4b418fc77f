//! Real agents as child processes on loopback addresses, and ways to wait on what their
//! HTTP APIs report. Every test uses its own 127.x.y.0/24 subnet so tests run in parallel.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

pub const VITALS: &str = env!("CARGO_BIN_EXE_vitals");

/// The lan-fast preset's bound on crash detection: its dead_after (a 220 ms timeout, the
/// interval plus a tenth, then two more intervals: 620 ms) plus one interval.
pub const DETECTION_BOUND: Duration = Duration::from_millis(820);
/// What real processes add on top: the test's HTTP polling and the OS scheduler.
pub const SLACK: Duration = Duration::from_millis(700);

pub struct Cluster {
    subnet: String,
    extra: Vec<Vec<String>>,
    children: Vec<Option<Child>>,
    log_dir: tempdir::Dir,
}

pub mod tempdir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("vitals-it-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}

impl Cluster {
    /// `n` agents named node-1..node-n on `{subnet}.2..`, all joining through node-1.
    pub fn start(subnet: &str, n: usize, extra: &[&str]) -> Cluster {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Cluster::start_each(subnet, n, |_| extra.clone())
    }

    /// Like [`Cluster::start`], with flags of each agent's own (`extra(i)` for node-i).
    pub fn start_each(subnet: &str, n: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let mut cluster = Cluster::stopped(subnet, n, extra);
        for i in 1..=n {
            cluster.spawn(i);
        }
        cluster
    }

    /// Like [`Cluster::start_each`], but no agent runs yet: start each with [`Cluster::spawn`].
    pub fn stopped(subnet: &str, n: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        Cluster {
            subnet: subnet.to_string(),
            extra: (1..=n).map(&extra).collect(),
            children: (0..n).map(|_| None).collect(),
            log_dir: tempdir::Dir::new(&subnet.replace('.', "-")),
        }
    }

    pub fn name(i: usize) -> String {
        format!("node-{i}")
    }

    pub fn bind(&self, i: usize) -> String {
        format!("{}.{}:7946", self.subnet, i + 1)
    }

    pub fn http(&self, i: usize) -> String {
        format!("{}.{}:7947", self.subnet, i + 1)
    }

    pub fn spawn(&mut self, i: usize) {
        let log = std::fs::File::create(self.log_dir.0.join(format!("node-{i}.log"))).unwrap();
        let mut command = Command::new(VITALS);
        command.args([
            "agent",
            "--name",
            &Cluster::name(i),
            "--bind",
            &self.bind(i),
            "--http",
            &self.http(i),
        ]);
        command.args(["--join", &self.bind(1)]).args(&self.extra[i - 1]);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        self.children[i - 1] = Some(command.spawn().expect("start vitals agent"));
    }

    pub fn signal(&mut self, i: usize, signal: Signal) {
        let child = self.children[i - 1].as_ref().expect("running");
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    }

    /// SIGKILLs agent `i` and reaps it; returns the instant of the kill.
    pub fn kill(&mut self, i: usize) -> Instant {
        self.signal(i, Signal::SIGKILL);
        let at = Instant::now();
        self.children[i - 1].take().unwrap().wait().unwrap();
        at
    }

    /// Waits for agent `i` to exit (after a signal) and returns its status.
    pub fn wait_exit(&mut self, i: usize, limit: Duration) -> ExitStatus {
        let mut child = self.children[i - 1].take().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "agent {i} did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_dir.0.join(format!("node-{i}.log"))).unwrap_or_default()
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir.0
    }

    /// How agent `observer` sees `member`, if it answers and knows it.
    pub fn status(&self, observer: usize, member: usize) -> Option<String> {
        let members = get_json(&self.http(observer), "/v1/members")?;
        let row = members
            .as_array()?
            .iter()
            .find(|m| m["name"] == Cluster::name(member))?
            .clone();
        row["status"].as_str().map(str::to_string)
    }

    pub fn all_see(&self, observers: &[usize], member: usize, status: &str) -> bool {
        observers
            .iter()
            .all(|&o| self.status(o, member).as_deref() == Some(status))
    }

    pub fn everyone_alive(&self, n: usize) -> bool {
        (1..=n).all(|o| (1..=n).all(|m| self.status(o, m).as_deref() == Some("alive")))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("agent logs kept in {}", self.log_dir.0.display());
        }
    }
}

/// `GET http://{http}{path}`: (status, body), or `None` when nothing answers.
pub fn get(http: &str, path: &str) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(&format!("http://{http}{path}")).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

pub fn get_json(http: &str, path: &str) -> Option<Value> {
    let (status, body) = get(http, path)?;
    (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

/// Polls `condition` until it holds, returning how long that took, or `None` after `limit`.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The value of one metric line (exact name and labels) on agent `http`; 0 if absent.
pub fn metric(http: &str, series: &str) -> f64 {
    let (_, text) = get(http, "/metrics").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
