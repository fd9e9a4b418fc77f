//! systemd's readiness protocol on a real agent process: with `NOTIFY_SOCKET` set, as
//! systemd sets it for a `Type=notify` unit, the agent sends READY=1 once it serves, and
//! STOPPING=1 when SIGTERM makes it leave.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{VITALS, get, tempdir};

/// The next notification, waiting at most 20 s for it.
fn next(socket: &UnixDatagram, what: &str) -> String {
    let mut buf = [0u8; 1024];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no {what} within 20 s: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn an_agent_under_systemd_notifies_ready_once_it_serves_and_stopping_on_sigterm() {
    let dir = tempdir::Dir::new("notify");
    let path = dir.0.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let http = "127.10.25.2:7947";
    let mut agent = Killed(
        Command::new(VITALS)
            .args(["agent", "--name", "unit", "--bind", "127.10.25.2:7946", "--http", http])
            .args(["--preset", "lan-fast"])
            .env("NOTIFY_SOCKET", &path)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = next(&socket, "READY=1");
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert_eq!(
        get(http, "/healthz").map(|(status, _)| status),
        Some(200),
        "ready, yet not serving"
    );
    // At once: the agent must already handle SIGTERM when it says it is ready.
    kill(Pid::from_raw(agent.0.id() as i32), Signal::SIGTERM).unwrap();
    let exited = agent.0.wait().unwrap();
    let stopping = next(&socket, &format!("STOPPING=1 (the agent exited: {exited})"));
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(exited.success(), "{exited}");
    serves_once_ready();
}

/// A second agent: ready means its API answers.
fn serves_once_ready() {
    let dir = tempdir::Dir::new("notify-2");
    let path = dir.0.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let http = "127.10.25.3:7947";
    let _agent = Killed(
        Command::new(VITALS)
            .args([
                "agent",
                "--name",
                "unit-2",
                "--bind",
                "127.10.25.3:7946",
                "--http",
                http,
            ])
            .env("NOTIFY_SOCKET", &path)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    next(&socket, "READY=1");
    assert_eq!(
        get(http, "/healthz").map(|(status, _)| status),
        Some(200),
        "ready, yet not serving"
    );
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
