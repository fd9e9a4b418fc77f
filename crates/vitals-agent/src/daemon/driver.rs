//! The one task that owns the [`Node`]: datagrams, timer expiries and commands go in,
//! outputs are drained after every input (datagrams sent, events logged and counted),
//! and a fresh [`Snapshot`] is published for the HTTP API. Nothing else touches the node.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use vitals_core::reach::matrix::Matrix;
use vitals_core::seal::Keyring;
use vitals_core::timing::{Mismatch, Pace, Timing};
use vitals_core::why::Why;
use vitals_core::wire::{Codec, MAX_DATAGRAM};
use vitals_core::{Command, Envelope, Event, Instant, Node, Output, Status};

use super::blocking::{IndexKeeper, Indexes};
use super::events::{EventHub, member_change, snapshot_changes};
use super::fault::Faults;
use super::join::{Attempt, JoinWatch, RefusalLog};
use super::metrics::{CauseLabel, KindLabel, Metrics, ReasonLabel, StatusLabel};
use super::ratelimit::RateLimiter;
use super::reply::ReplyBudget;
use super::snapshot::{Context, Snapshot};
use crate::api::events::{Change, LeaderChange};

/// What the rest of the agent may ask of the driver.
#[derive(Debug)]
pub(crate) enum Control {
    /// Pass a command to the node.
    Node(Command),
    /// Replace the keyring (rotation; `None` would mean plaintext and is refused earlier).
    Rekey(Keyring),
    /// A join attempt through these freshly resolved seed addresses.
    Join(Attempt),
    /// A question the HTTP API asks the node itself (what no snapshot carries).
    Ask(Question),
}

/// What the HTTP API asks the node itself, answered at once: what would cost too much to
/// rebuild in every snapshot, since few read it (a snapshot is O(members) and is rebuilt
/// after every change; these are O(members × members)).
#[derive(Debug)]
pub(crate) enum Question {
    /// `GET /v1/reachability`: who hears whom, built now.
    Reachability(oneshot::Sender<Matrix>),
    /// `GET /v1/members/NAME/why`: the evidence about one member, with the node's clock
    /// when it was read (`None`: no member of that name).
    Why(String, oneshot::Sender<(Option<Why>, Instant)>),
}

/// Most time between two snapshots when only timestamps change, up to
/// [`REFRESH_MEMBERS`] members; beyond, a millisecond per member (a snapshot costs
/// O(members): 500 agents of 500 members each refreshing every 100 ms took more than the
/// two cores of the machine they shared, docs/SCALE.md).
const REFRESH: Duration = Duration::from_millis(100);
/// Members up to which snapshots refresh every [`REFRESH`], and every change is published
/// at once.
const REFRESH_MEMBERS: usize = 100;
/// Most time a snapshot stands at any size, and between two readings of the links it
/// carries (a reading costs O(peers heard); between readings a snapshot shares the last).
const MAX_REFRESH: Duration = Duration::from_secs(1);

/// How long a snapshot may stand when only timestamps change, with `members` held (the
/// dead included: a snapshot shows them too).
fn refresh_every(members: usize) -> Duration {
    if members <= REFRESH_MEMBERS {
        REFRESH
    } else {
        Duration::from_millis(members as u64).min(MAX_REFRESH)
    }
}

/// Least time between two snapshots, with `members` held: none up to
/// [`REFRESH_MEMBERS`] (every change is shown, and its events published, at once);
/// beyond, changes wait for the next refresh, so that a node pays for one snapshot per
/// [`refresh_every`] however many members change (while 500 agents form a cluster,
/// every datagram changes something, and one snapshot per datagram took the machine).
fn hold(members: usize) -> Duration {
    if members <= REFRESH_MEMBERS {
        Duration::ZERO
    } else {
        refresh_every(members)
    }
}

/// Most datagrams already waiting that are read before a tick (`Driver::read_pending`).
const PENDING_BEFORE_TICK: usize = 64;

/// When the last snapshot was published, when the links it carries were read, and
/// whether a change waits for the next one (see [`hold`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Published {
    pub(crate) at: Instant,
    pub(crate) links_at: Instant,
    pub(crate) pending: bool,
}

/// One input to the node.
enum Input {
    Datagram(usize, SocketAddr),
    ReceiveFailed(std::io::Error),
    Tick,
    Control(Control),
    /// A change held back (see [`hold`]) may be published now.
    Publish,
    Shutdown,
}

pub(crate) struct Driver {
    pub(crate) node: Node,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) epoch: tokio::time::Instant,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) snapshot: watch::Sender<Snapshot>,
    pub(crate) context: Context,
    /// When the last snapshot was published, and whether a change waits for the next.
    pub(crate) published: Published,
    pub(crate) codec: Codec,
    pub(crate) limiter: RateLimiter,
    /// Replies may not be larger than the datagram they answer (see `reply`).
    pub(crate) reply_budget: ReplyBudget,
    /// Faults injected for tests (none in release builds).
    pub(crate) faults: Faults,
    /// The join under way, and what was refused from its seeds.
    pub(crate) join: JoinWatch,
    /// When refused datagrams were last reported, per source.
    pub(crate) refusals: RefusalLog,
    /// Where verdict changes are published (`GET /v1/events`, handlers, webhooks).
    pub(crate) events: Arc<EventHub>,
    /// Member and leader changes the node reported during this input, published after
    /// the snapshot that shows them (a subscriber that reads the API on an event sees it).
    pub(crate) unpublished: Vec<Change>,
    /// The blocking queries' indexes, kept from each snapshot and published on change.
    pub(crate) indexes: (IndexKeeper, watch::Sender<Indexes>),
}

impl Driver {
    pub(crate) fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// Runs until `shutdown` completes, then leaves the cluster on purpose.
    pub(crate) async fn run(mut self, mut controls: mpsc::Receiver<Control>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let socket = Arc::clone(&self.socket);
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        self.flush().await;
        self.publish_now();
        loop {
            let far = self.epoch + Duration::from_secs(86_400 * 365);
            let deadline = self.node.poll_timeout().map_or(far, |t| self.epoch + t.since_epoch());
            let publish_at = self.epoch + self.publish_at().since_epoch();
            let input = tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok((len, src)) => Input::Datagram(len, src),
                    Err(e) => Input::ReceiveFailed(e),
                },
                _ = tokio::time::sleep_until(deadline) => Input::Tick,
                _ = tokio::time::sleep_until(publish_at), if self.published.pending => Input::Publish,
                Some(control) = controls.recv() => Input::Control(control),
                _ = &mut shutdown => Input::Shutdown,
            };
            let now = self.now();
            // A command (a new health or check result) changes what the API shows: publish it at once.
            let commanded = matches!(input, Input::Control(ref c) if !matches!(c, Control::Ask(_)));
            let received = matches!(input, Input::Datagram(..));
            let mut changed = false;
            match input {
                Input::Datagram(len, src) => self.on_datagram(now, &buf[..len], src),
                Input::ReceiveFailed(e) => tracing::debug!(error = %e, "receive failed"),
                Input::Tick => {
                    changed = self.read_pending(&socket, &mut buf).await;
                    self.node.handle_tick(self.now());
                }
                Input::Control(Control::Node(command)) => self.node.handle_command(now, command),
                Input::Control(Control::Rekey(keyring)) => self.rekey(keyring),
                Input::Control(Control::Join(attempt)) => self.join(now, attempt),
                Input::Control(Control::Ask(question)) => self.answer(now, question),
                Input::Publish => {}
                Input::Shutdown => break,
            }
            changed |= self.flush().await;
            self.reply_budget.handled();
            if received {
                // The datagrams that queued up meanwhile first: one snapshot for the batch,
                // not one per datagram (a snapshot costs O(members); see `publish`).
                changed |= self.read_pending(&socket, &mut buf).await;
            }
            self.publish(changed || commanded);
        }
        tracing::info!(name = %self.node.me().name, "leaving the cluster");
        let now = self.now();
        self.node.handle_command(now, Command::Leave);
        self.flush().await;
        self.publish_now();
    }

    /// Before a tick, reads the datagrams already waiting in the socket (at most
    /// [`PENDING_BEFORE_TICK`]): after a stall (a busy machine, a slow disk) the timer and
    /// the heartbeats that arrived meanwhile are ready together, and judging first would
    /// accuse a member whose heartbeat is only waiting to be read; a member judged at a
    /// faster pace than this node's own rounds (mixed timing) would flap on every stall.
    /// Also after a datagram, before the snapshot is published. Returns whether the node
    /// reported an event meanwhile.
    async fn read_pending(&mut self, socket: &UdpSocket, buf: &mut [u8]) -> bool {
        let mut changed = false;
        for _ in 0..PENDING_BEFORE_TICK {
            let Ok((len, src)) = socket.try_recv_from(buf) else {
                break;
            };
            let now = self.now();
            self.on_datagram(now, &buf[..len], src);
            changed |= self.flush().await;
            self.reply_budget.handled();
        }
        changed
    }

    /// Answers a question from the HTTP API (a handler gone meanwhile is no error).
    fn answer(&self, now: Instant, question: Question) {
        match question {
            Question::Reachability(reply) => {
                let _ = reply.send(self.node.reachability(now));
            }
            Question::Why(name, reply) => {
                let _ = reply.send((self.node.why(&name, now), now));
            }
        }
    }

    fn rekey(&mut self, keyring: Keyring) {
        tracing::info!(key_ids = ?keyring.ids(), primary = keyring.primary_id(), "keyring reloaded");
        self.codec.set_keyring(Some(keyring));
    }

    /// A new join attempt; an attempt without any address resolved sends nothing (an
    /// empty seed list would make the node start a cluster of its own).
    fn join(&mut self, now: Instant, attempt: Attempt) {
        if !attempt.addrs.is_empty() && !self.node.is_joined() {
            self.node.handle_command(now, Command::Join(attempt.addrs.clone()));
        }
        self.join.start(attempt);
    }

    fn on_datagram(&mut self, now: Instant, bytes: &[u8], src: SocketAddr) {
        self.metrics.received_bytes.inc_by(bytes.len() as u64);
        if self.faults.drops_inbound(src.ip()) {
            self.metrics
                .decode_errors
                .get_or_create(&ReasonLabel {
                    reason: "fault_injected",
                })
                .inc();
            return;
        }
        if !self.limiter.allow(src.ip(), now) {
            self.metrics
                .decode_errors
                .get_or_create(&ReasonLabel { reason: "rate_limited" })
                .inc();
            return;
        }
        if vitals_core::wire::notice::is_notice(bytes) {
            return self.on_notice(src, bytes);
        }
        match self.codec.decode(bytes) {
            Ok(envelope) => {
                let kind = envelope.message.kind();
                self.metrics.messages_received.get_or_create(&KindLabel { kind }).inc();
                if envelope.message.is_heartbeat() {
                    self.metrics.heartbeats_received.inc();
                }
                self.reply_budget.receiving(src, bytes.len());
                self.node.handle_message(now, src, envelope);
            }
            Err(error) => {
                self.metrics
                    .decode_errors
                    .get_or_create(&ReasonLabel { reason: error.reason() })
                    .inc();
                self.join.refused(src, error.reason());
                self.refusals.note(now, src, error.reason());
                tracing::debug!(%src, %error, "dropped a datagram");
                self.send_notice(now, src, &error, bytes.len());
            }
        }
    }

    /// Answers a refused datagram with a refusal notice, when its reason is one the
    /// sender can fix and the budget allows (`wire::notice`: never larger than what it
    /// answers, never answered).
    fn send_notice(&mut self, now: Instant, src: SocketAddr, error: &vitals_core::wire::DecodeError, len: usize) {
        let Some(notice) = vitals_core::wire::notice::for_refusal(error, len) else {
            return;
        };
        if self.refusals.notices.allow(now, src) && self.socket.try_send_to(&notice, src).is_ok() {
            self.metrics.sent_bytes.inc_by(notice.len() as u64);
        }
    }

    /// A seed's refusal notice: only ever a log line and the reason `/readyz` gives, while
    /// this node has not joined and only from an address its join went to (it is
    /// unauthenticated: see `wire::notice`).
    fn on_notice(&mut self, src: SocketAddr, bytes: &[u8]) {
        let Some((reason, version)) = vitals_core::wire::notice::read(bytes) else {
            tracing::debug!(%src, "dropped an unreadable refusal notice");
            return;
        };
        if self.node.is_joined() || !self.join.is_seed(src) {
            tracing::debug!(%src, reason, "ignored a refusal notice");
            return;
        }
        let why = super::join::explain_notice(reason, version);
        if self.join.told(src, why.clone()) {
            tracing::warn!(seed = %src, reason, "seed {src} refused the join: {why}");
        }
    }

    /// Drains the node's outputs; returns whether any event happened.
    async fn flush(&mut self) -> bool {
        let mut changed = false;
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Send { to, envelope } => self.send(to, &envelope).await,
                Output::Broadcast { to, envelope } => {
                    for to in to {
                        self.send(to, &envelope).await;
                    }
                }
                Output::Event(event) => {
                    changed = true;
                    self.on_event(event);
                }
            }
        }
        changed
    }

    async fn send(&mut self, to: SocketAddr, envelope: &Envelope) {
        let mut bytes = Vec::with_capacity(128);
        if let Err(error) = self.codec.encode(envelope, to, &mut bytes) {
            tracing::error!(%error, kind = envelope.message.kind(), "cannot encode a message");
            self.metrics.send_errors.inc();
            return;
        }
        if !self.reply_budget.allows(self.now(), to, &envelope.message, bytes.len()) {
            self.metrics.replies_suppressed.inc();
            tracing::debug!(%to, kind = envelope.message.kind(), len = bytes.len(), "suppressed a reply larger than its request");
            return;
        }
        match self.socket.send_to(&bytes, to).await {
            Ok(sent) => {
                self.metrics.sent_bytes.inc_by(sent as u64);
                self.metrics
                    .messages_sent
                    .get_or_create(&KindLabel {
                        kind: envelope.message.kind(),
                    })
                    .inc();
                if envelope.message.is_heartbeat() {
                    self.metrics.heartbeats_sent.inc();
                }
            }
            Err(error) => {
                self.metrics.send_errors.inc();
                tracing::debug!(%to, %error, "send failed");
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        self.publish_event(&event);
        match &event {
            Event::Transition(t) => {
                self.metrics
                    .transitions
                    .get_or_create(&StatusLabel { status: t.to.as_str() })
                    .inc();
                if let (Status::Dead, Some(silence)) = (t.to, t.silence) {
                    self.metrics.detection_latency.observe(silence.as_secs_f64());
                }
                let from = t.from.map_or("unknown", |s| s.as_str());
                let silence = t.silence.map(|d| {
                    tracing::field::display(vitals_core::config::serde_duration::format_duration(round_to_ms(d)))
                });
                tracing::info!(member = %t.name, addr = %t.addr, incarnation = t.incarnation, from, to = t.to.as_str(), silence, "member status changed");
            }
            Event::Refuted { incarnation } => {
                self.metrics.refutations.inc();
                tracing::warn!(incarnation, "refuted news of this node's death");
            }
            Event::Joined => tracing::info!("joined the cluster"),
            Event::Isolated => {
                self.metrics.isolated.set(1);
                tracing::warn!("no peer acknowledges this node's heartbeats: it is cut off");
            }
            Event::Reconnected => {
                self.metrics.isolated.set(0);
                tracing::info!("acknowledgements arrive again");
            }
            Event::NameConflict { name, from, holder } => {
                if self.refusals.due(self.now(), *from) {
                    tracing::warn!(%name, %from, %holder, "refused a join from {from}: the name `{name}` is taken by a live member at {holder}");
                }
            }
            Event::JoinRefused { by, reason } => {
                if self.join.told(*by, reason.to_string()) {
                    tracing::warn!(seed = %by, "seed {by} refused the join: {reason}");
                }
            }
            Event::Reaped { name, by } => match by {
                Some(by) => tracing::info!(member = %name, %by, "member forgotten: force-left at {by}"),
                None => tracing::warn!(member = %name, "member forgotten: force-left here"),
            },
            Event::ForceLeaveRefused(error) => tracing::warn!(%error, "force-leave refused"),
            Event::Leader { leader, term } => {
                let me = &self.node.me().name;
                self.metrics.leader_changes.inc();
                self.metrics.term.set(i64::try_from(*term).unwrap_or(i64::MAX));
                self.metrics.is_leader.set(i64::from(leader.as_ref() == Some(me)));
                match leader {
                    Some(leader) if leader == me => tracing::info!(term, "this node is the leader"),
                    Some(leader) => tracing::info!(%leader, term, "following a leader"),
                    None => tracing::info!(term, "no leader known: election under way"),
                }
            }
            Event::TimingMismatch {
                name,
                addr,
                cause,
                ours,
                theirs,
            } => self.on_timing_mismatch(name, *addr, cause, ours, theirs),
            Event::Retimed { from, to, reason, loss } => self.on_retimed(from, to, *reason, *loss),
            Event::ElectionHeld { reason } => match reason {
                Some(reason) => tracing::warn!("not standing for election: {reason}"),
                None => tracing::info!("may stand for election"),
            },
        }
    }

    /// Auto-tune changed this node's timing: an INFO line with old -> new and why, and
    /// `vitals_timing_changes_total{reason}`.
    fn on_retimed(&mut self, from: &Pace, to: &Pace, reason: vitals_core::adapt::Reason, loss: f64) {
        let label = ReasonLabel {
            reason: reason.as_str(),
        };
        self.metrics.timing_changes.get_or_create(&label).inc();
        let show = |p: &Pace| {
            let f = vitals_core::config::serde_duration::format_duration;
            format!(
                "interval {} threshold {} (dead after {})",
                f(p.interval),
                p.threshold,
                f(p.dead_after())
            )
        };
        tracing::info!(
            reason = reason.as_str(),
            "auto-tune changed this node's timing: {} -> {} ({}, measured loss {:.2} %)",
            show(from),
            show(to),
            reason.as_str(),
            loss * 100.0
        );
    }

    /// Keeps a member or leader change for the event hub (published with the next snapshot).
    fn publish_event(&mut self, event: &Event) {
        let change = match event {
            Event::Transition(t) => {
                let why = self.node.why(&t.name, self.now());
                let tags = self
                    .node
                    .members()
                    .get(&t.name)
                    .and_then(|m| m.health.as_ref())
                    .map(|h| h.tags.clone())
                    .unwrap_or_default();
                Change::Member(member_change(t, why.as_ref(), &self.node.me().name, tags))
            }
            Event::Leader { leader, term } => Change::Leader(LeaderChange {
                leader: leader.clone(),
                term: *term,
            }),
            _ => return,
        };
        self.unpublished.push(change);
    }

    /// A member's announced timing cannot work here: the core reports it once per
    /// member and cause; a WARN naming both sides and the fix, and the metric.
    fn on_timing_mismatch(&self, name: &str, addr: SocketAddr, cause: &Mismatch, ours: &Timing, theirs: &Timing) {
        let label = CauseLabel { cause: cause.as_str() };
        self.metrics.timing_mismatches.get_or_create(&label).inc();
        tracing::warn!(
            member = %name, %addr, cause = cause.as_str(),
            "member {name} at {addr} cannot work with this node: it runs {theirs}, this node {ours}; {}",
            cause.fix()
        );
    }

    /// When a change held back may be published (see [`hold`]).
    fn publish_at(&self) -> Instant {
        self.published.at + hold(self.node.members().held())
    }

    /// Publishes a fresh snapshot if something changed (`changed`, or events waiting) or
    /// timestamps are due a refresh, and no snapshot is held back (see [`hold`]).
    fn publish(&mut self, changed: bool) {
        let now = self.now();
        let members = self.node.members().held();
        let since = now - self.published.at;
        self.published.pending |= changed || !self.unpublished.is_empty();
        if since < hold(members) || (!self.published.pending && since < refresh_every(members)) {
            return;
        }
        self.publish_now();
    }

    /// Builds and publishes the snapshot of the node now, then the events it shows.
    fn publish_now(&mut self) {
        let now = self.now();
        self.published.at = now;
        self.published.pending = false;
        let links = if now - self.published.links_at < MAX_REFRESH {
            Some(Arc::clone(&self.snapshot.borrow().links))
        } else {
            self.published.links_at = now;
            None
        };
        let mut snapshot = Snapshot::of(&self.node, self.context, now, links);
        if !snapshot.me.joined {
            snapshot.me.join_problem = self.join.reason();
        }
        for status in [Status::Alive, Status::Suspect, Status::Dead, Status::Left] {
            let count = self.node.members().iter().filter(|m| m.shown() == status).count() as i64;
            self.metrics
                .members
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .set(count);
        }
        let changes = snapshot_changes(&self.snapshot.borrow(), &snapshot);
        snapshot.indexes = self.indexes.0.update(&snapshot).clone();
        let indexes = snapshot.indexes.clone();
        // The snapshot first: a watcher woken by the indexes, or a subscriber by an event,
        // reads one at least as new.
        self.snapshot.send_replace(snapshot);
        for change in self.unpublished.drain(..).chain(changes) {
            self.events.publish(change, std::time::SystemTime::now());
        }
        self.indexes.1.send_if_modified(|current| {
            let changed = *current != indexes;
            *current = indexes;
            changed
        });
    }
}

/// A duration rounded to the millisecond, for log lines (`600ms`, not `600.852317ms`).
fn round_to_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_refresh_every_100ms_up_to_100_members_then_a_millisecond_per_member_up_to_a_second() {
        assert_eq!(refresh_every(10), Duration::from_millis(100));
        assert_eq!(refresh_every(100), Duration::from_millis(100));
        assert_eq!(refresh_every(500), Duration::from_millis(500));
        assert_eq!(refresh_every(100_000), MAX_REFRESH);
    }

    #[test]
    fn changes_are_published_at_once_up_to_100_members_then_wait_for_the_next_refresh() {
        assert_eq!(hold(1), Duration::ZERO);
        assert_eq!(hold(100), Duration::ZERO);
        assert_eq!(hold(101), Duration::from_millis(101));
        assert_eq!(hold(500), refresh_every(500));
        assert_eq!(hold(5_000), MAX_REFRESH);
    }
}
