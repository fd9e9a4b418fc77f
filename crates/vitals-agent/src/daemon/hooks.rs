//! Acting on events without a client: event handlers (Serf's model) and webhooks.
//!
//! - `--event-handler [KIND[:FILTER]=]PROGRAM [ARGS...]` (repeatable; `event_handlers`
//!   in the file): runs PROGRAM for each event of KIND (`member`, `leader`, `check`,
//!   `service`, or `*`, the default) whose new status is FILTER (`member:dead`,
//!   `check:critical`). No shell: the words after PROGRAM are its arguments. The event is
//!   in the environment (`VITALS_EVENT` = the kind, `VITALS_EVENT_ID`, `VITALS_EVENT_TIME`,
//!   `VITALS_MEMBER`, `VITALS_FROM`, `VITALS_TO`, `VITALS_INCARNATION`, `VITALS_ACCUSER`,
//!   `VITALS_REASON`, `VITALS_LEADER`, `VITALS_TERM`, `VITALS_CHECK`, `VITALS_SERVICE`,
//!   `VITALS_SELF`, and the whole event as `VITALS_EVENT_JSON`), the members on standard
//!   input, one per line: `NAME<TAB>ADDRESS<TAB>STATUS<TAB>KEY=VALUE,...`. A run lasts at
//!   most `event_handler_timeout` (default 10 s; then it is killed); at most
//!   [`HANDLER_CONCURRENCY`] run at once and [`QUEUE`] wait, beyond which events are
//!   dropped and counted. A failure (exit status, timeout, cannot start) is a WARN and
//!   counted (`vitals_event_handler_runs_total{outcome}`).
//! - `--webhook URL` (repeatable; `webhooks`): POSTs each event as JSON (`http://` only,
//!   no TLS: put a local relay in front of an `https://` receiver). Retried with
//!   exponential backoff (200 ms doubling, [`WEBHOOK_ATTEMPTS`] attempts) on connection
//!   errors, 5xx, 408 and 429; a queue of [`QUEUE`] per webhook, beyond which events are
//!   dropped and counted (`vitals_webhook_deliveries_total{outcome}`).
//!
//! Both follow the event hub like any subscriber (never slowing the driver); a runner
//! that falls behind counts what it missed as dropped. Given only by the operator (flags
//! and file), never by the API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, mpsc, watch};

use super::events::EventHub;
use super::metrics::{Metrics, OutcomeLabel};
use super::snapshot::Snapshot;
use crate::api::events::{Change, Event, KINDS};

/// Handler runs at once.
pub const HANDLER_CONCURRENCY: usize = 4;
/// Events waiting per handler set or webhook.
pub const QUEUE: usize = 256;
/// Delivery attempts per event and webhook.
pub const WEBHOOK_ATTEMPTS: u32 = 5;
/// How long a handler may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `--event-handler`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerSpec {
    /// The kind it runs for (`None`: every kind).
    pub kind: Option<&'static str>,
    /// The new status it runs for (`None`: any).
    pub filter: Option<String>,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// One `--webhook`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSpec {
    /// The URL as given.
    pub url: String,
    /// `host:port`, resolved at each delivery.
    pub authority: String,
    /// The path and query.
    pub path: String,
}

/// Handlers and webhooks, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// The event handlers.
    pub handlers: Vec<HandlerSpec>,
    /// The webhooks.
    pub webhooks: Vec<WebhookSpec>,
    /// How long a handler run may last.
    pub timeout: Duration,
}

const STATUSES: [(&str, &[&str]); 4] = [
    ("member", &["alive", "suspect", "dead", "left"]),
    ("check", &["passing", "warning", "critical"]),
    ("service", &["passing", "warning", "critical"]),
    ("leader", &[]),
];

impl HandlerSpec {
    /// Parses `[KIND[:FILTER]=]PROGRAM [ARGS...]` and checks that PROGRAM can be run.
    pub fn parse(text: &str) -> Result<HandlerSpec, String> {
        let example = "e.g. --event-handler member:dead=/usr/local/bin/page-oncall";
        let (selector, command) = match text.split_once('=') {
            Some((selector, command)) if !selector.contains(['/', ' ']) => (Some(selector), command),
            _ => (None, text),
        };
        let (kind, filter) = match selector {
            None | Some("*") => (None, None),
            Some(selector) => {
                let (kind, filter) = match selector.split_once(':') {
                    Some((kind, filter)) => (kind, Some(filter.to_string())),
                    None => (selector, None),
                };
                let kind = KINDS.into_iter().find(|k| *k == kind).ok_or_else(|| {
                    format!("unknown event kind `{kind}`: use member, leader, check, service or * ({example})")
                })?;
                (Some(kind), filter)
            }
        };
        if let (Some(kind), Some(filter)) = (kind, &filter) {
            let valid = STATUSES.iter().find(|(k, _)| *k == kind).map_or(&[][..], |(_, s)| s);
            if !valid.contains(&filter.as_str()) {
                let choices = if valid.is_empty() {
                    "none".to_string()
                } else {
                    valid.join(", ")
                };
                return Err(format!(
                    "`{kind}:{filter}`: a {kind} handler's filter is the new status, one of: {choices} ({example})"
                ));
            }
        }
        let mut words = command.split_whitespace();
        let program = words
            .next()
            .ok_or_else(|| format!("no program to run: give one after the `=` ({example})"))?;
        let program = runnable(program)?;
        Ok(HandlerSpec {
            kind,
            filter,
            program,
            args: words.map(String::from).collect(),
        })
    }

    fn wants(&self, event: &Event) -> bool {
        let to = match &event.change {
            Change::Member(m) => Some(m.to.as_str()),
            Change::Check(c) | Change::Service(c) => c.to.map(|s| s.as_str()),
            Change::Leader(_) => None,
        };
        self.kind.is_none_or(|k| k == event.change.kind()) && self.filter.as_deref().is_none_or(|f| Some(f) == to)
    }
}

/// The program's path, if it names an executable file (directly or on `PATH`).
fn runnable(program: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "`{program}` is not an executable file: check the path and `chmod +x` it"
            ))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| executable(path))
        .ok_or_else(|| format!("`{program}` is not on PATH: give its full path"))
}

impl WebhookSpec {
    /// Parses `http://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<WebhookSpec, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!("`{url}`: https is not supported; send to a local relay over http://")
            } else {
                format!("`{url}` is not an http:// URL: use http://HOST[:PORT]/PATH")
            }
        })?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}`: give a host, like http://127.0.0.1:9000/vitals"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(WebhookSpec {
            url: url.to_string(),
            authority,
            path: path.to_string(),
        })
    }
}

fn count(family: &Family<OutcomeLabel, Counter>, outcome: &'static str) {
    family.get_or_create(&OutcomeLabel { outcome }).inc();
}

/// Starts the handler runner and one delivery task per webhook.
pub fn start(
    hooks: &Hooks,
    hub: &Arc<EventHub>,
    snapshot: watch::Receiver<Snapshot>,
    metrics: Arc<Metrics>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if !hooks.handlers.is_empty() {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tasks.push(tokio::spawn(feed(Arc::clone(hub), queue, Arc::clone(&metrics), true)));
        let runner = run_handlers(hooks.clone(), waiting, snapshot, Arc::clone(&metrics));
        tasks.push(tokio::spawn(runner));
    }
    for webhook in &hooks.webhooks {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tasks.push(tokio::spawn(feed(Arc::clone(hub), queue, Arc::clone(&metrics), false)));
        tasks.push(tokio::spawn(deliver(webhook.clone(), waiting, Arc::clone(&metrics))));
    }
    tasks
}

/// Moves events from the hub into a bounded queue; what does not fit is dropped and counted.
async fn feed(hub: Arc<EventHub>, queue: mpsc::Sender<Arc<Event>>, metrics: Arc<Metrics>, handlers: bool) {
    let family = if handlers {
        &metrics.handler_runs
    } else {
        &metrics.webhook_deliveries
    };
    let mut live = hub.subscribe(None).live;
    loop {
        match live.recv().await {
            Ok(event) => {
                if queue.try_send(event).is_err() {
                    count(family, "dropped");
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                family
                    .get_or_create(&OutcomeLabel { outcome: "dropped" })
                    .inc_by(missed);
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn run_handlers(
    hooks: Hooks,
    mut waiting: mpsc::Receiver<Arc<Event>>,
    snapshot: watch::Receiver<Snapshot>,
    metrics: Arc<Metrics>,
) {
    let slots = Arc::new(Semaphore::new(HANDLER_CONCURRENCY));
    while let Some(event) = waiting.recv().await {
        for handler in hooks.handlers.iter().filter(|h| h.wants(&event)) {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (handler, event, metrics) = (handler.clone(), Arc::clone(&event), Arc::clone(&metrics));
            let (members, me) = {
                let snapshot = snapshot.borrow();
                (members_text(&snapshot), snapshot.me.name.clone())
            };
            let timeout = hooks.timeout;
            tokio::spawn(async move {
                let outcome = run_one(&handler, &event, &me, members, timeout).await;
                count(&metrics.handler_runs, outcome);
                drop(slot);
            });
        }
    }
}

/// The members as a handler reads them on standard input.
fn members_text(snapshot: &Snapshot) -> String {
    snapshot
        .members
        .iter()
        .map(|m| {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}\t{}\t{}\t{}\n", m.name, m.addr, m.status.as_str(), tags.join(","))
        })
        .collect()
}

/// The environment a handler gets for `event`.
pub fn environment(event: &Event, me: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("VITALS_EVENT", event.change.kind().to_string()),
        ("VITALS_EVENT_ID", event.id.to_string()),
        ("VITALS_EVENT_TIME", event.time.clone()),
        ("VITALS_SELF", me.to_string()),
        ("VITALS_EVENT_JSON", serde_json::to_string(event).unwrap_or_default()),
    ];
    let text = |s: Option<&str>| s.unwrap_or("").to_string();
    match &event.change {
        Change::Member(m) => env.extend([
            ("VITALS_MEMBER", m.member.clone()),
            ("VITALS_FROM", text(m.from.map(|s| s.as_str()))),
            ("VITALS_TO", m.to.as_str().to_string()),
            ("VITALS_INCARNATION", m.incarnation.to_string()),
            ("VITALS_ACCUSER", text(m.accuser.as_deref())),
            ("VITALS_REASON", m.reason.clone()),
        ]),
        Change::Leader(l) => env.extend([
            ("VITALS_LEADER", text(l.leader.as_deref())),
            ("VITALS_TERM", l.term.to_string()),
        ]),
        Change::Check(c) | Change::Service(c) => env.extend([
            ("VITALS_MEMBER", c.member.clone()),
            ("VITALS_CHECK", c.name.clone()),
            ("VITALS_SERVICE", text(c.service.as_deref())),
            ("VITALS_FROM", text(c.from.map(|s| s.as_str()))),
            ("VITALS_TO", text(c.to.map(|s| s.as_str()))),
        ]),
    }
    env
}

/// Runs one handler for one event; returns the outcome counted.
async fn run_one(handler: &HandlerSpec, event: &Event, me: &str, members: String, timeout: Duration) -> &'static str {
    let program = handler.program.display().to_string();
    let mut command = tokio::process::Command::new(&handler.program);
    command
        .args(&handler.args)
        .envs(environment(event, me))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!(%program, %error, "event handler could not start");
            return "unstartable";
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(members.as_bytes()).await;
        });
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => "ok",
        Ok(Ok(status)) => {
            tracing::warn!(%program, %status, event = event.id, "event handler failed");
            "failed"
        }
        Ok(Err(error)) => {
            tracing::warn!(%program, %error, event = event.id, "event handler failed");
            "failed"
        }
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(%program, ?timeout, event = event.id, "event handler killed: it ran past its timeout");
            "timeout"
        }
    }
}

/// Delivers each queued event to one webhook, in order, with retries.
async fn deliver(webhook: WebhookSpec, mut waiting: mpsc::Receiver<Arc<Event>>, metrics: Arc<Metrics>) {
    while let Some(event) = waiting.recv().await {
        let body = Bytes::from(serde_json::to_vec(&*event).unwrap_or_default());
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            match post(&webhook, body.clone()).await {
                Ok(status) if (200..300).contains(&status) => {
                    count(&metrics.webhook_deliveries, "ok");
                    break;
                }
                Ok(status) if status < 500 && status != 408 && status != 429 => {
                    tracing::warn!(url = %webhook.url, status, event = event.id, "webhook refused the event; not retried");
                    count(&metrics.webhook_deliveries, "failed");
                    break;
                }
                answer if attempt == WEBHOOK_ATTEMPTS => {
                    tracing::warn!(url = %webhook.url, ?answer, event = event.id, "webhook delivery failed after {WEBHOOK_ATTEMPTS} attempts");
                    count(&metrics.webhook_deliveries, "failed");
                }
                answer => {
                    tracing::debug!(url = %webhook.url, ?answer, attempt, "webhook delivery failed; retrying");
                    count(&metrics.webhook_deliveries, "retried");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// One POST of `body` to the webhook: its status code.
async fn post(webhook: &WebhookSpec, body: Bytes) -> Result<u16, String> {
    let addr: SocketAddr = tokio::net::lookup_host(&webhook.authority)
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", webhook.authority))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", webhook.authority))?;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::post(&webhook.path)
            .header(hyper::header::HOST, &webhook.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "vitals-webhook")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string());
        let status = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                Ok(status)
            }
            Err(e) => Err(e),
        };
        driver.abort();
        status
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_spec_is_kind_filter_and_program() {
        let spec = HandlerSpec::parse("member:dead=/bin/sh -c true").unwrap();
        assert_eq!(spec.kind, Some("member"));
        assert_eq!(spec.filter.as_deref(), Some("dead"));
        assert_eq!(spec.program, PathBuf::from("/bin/sh"));
        assert_eq!(spec.args, ["-c", "true"]);
        let any = HandlerSpec::parse("/bin/true").unwrap();
        assert_eq!((any.kind, any.filter), (None, None));
        assert_eq!(HandlerSpec::parse("sh").unwrap().kind, None);
    }

    #[test]
    fn a_bad_handler_spec_says_how_to_fix_it() {
        let bad = |text| HandlerSpec::parse(text).unwrap_err();
        assert!(bad("members=/bin/true").contains("use member, leader, check, service or *"));
        assert!(bad("member:gone=/bin/true").contains("alive, suspect, dead, left"));
        assert!(bad("leader:x=/bin/true").contains("one of: none"));
        assert!(bad("member=/no/such/program").contains("not an executable file"));
        assert!(bad("member=no-such-program-anywhere").contains("not on PATH"));
        assert!(bad("member=").contains("no program"));
    }

    #[test]
    fn a_webhook_is_an_http_url() {
        let hook = WebhookSpec::parse("http://127.0.0.1:9000/vitals?x=1").unwrap();
        assert_eq!(
            (hook.authority.as_str(), hook.path.as_str()),
            ("127.0.0.1:9000", "/vitals?x=1")
        );
        assert_eq!(
            WebhookSpec::parse("http://example.org").unwrap().authority,
            "example.org:80"
        );
        assert!(
            WebhookSpec::parse("https://x/")
                .unwrap_err()
                .contains("https is not supported")
        );
        assert!(WebhookSpec::parse("ftp://x/").unwrap_err().contains("use http://"));
    }
}
