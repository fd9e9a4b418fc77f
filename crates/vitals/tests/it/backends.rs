//! Tiny real HTTP backends for the health and failover tests: an in-process server whose
//! answer can be switched, and HTTP servers in their own processes that can be SIGKILLed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use crate::support::{VITALS, wait_until};

/// An HTTP server on a thread that answers every request with the current status code.
pub struct Switchable {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

impl Switchable {
    pub fn start(ip: &str) -> Switchable {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let (answer, halt) = (Arc::clone(&status), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    respond(stream, answer.load(Ordering::SeqCst));
                }
            }
        });
        Switchable { addr, status, stop }
    }

    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

fn respond(mut stream: TcpStream, status: u16) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 2048];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let body = if status == 200 { "ok" } else { "no" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Drop for Switchable {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A real HTTP server in its own process that can be SIGKILLed: a lone `vitals agent`
/// (no seed) whose HTTP API on `ip:port` answers `GET /healthz` with 200 while it runs.
pub struct ServerProcess {
    child: Option<Child>,
}

impl ServerProcess {
    pub fn start(ip: &str, port: u16) -> ServerProcess {
        let child = Command::new(VITALS)
            .args(["agent", "--name", &format!("backend-{ip}"), "--preset", "lan-fast"])
            .args(["--bind", &format!("{ip}:7946"), "--http", &format!("{ip}:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the vitals binary runs");
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let up = wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok());
        assert!(up.is_some(), "the backend never listened on {addr}");
        ServerProcess { child: Some(child) }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
