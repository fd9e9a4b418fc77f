//! The discrete-event engine: N real `vitals_core::Node`s on virtual time. One queue
//! ordered by (time, sequence number) holds deliveries, node timers, fault steps and
//! checks; every datagram goes through the real codec (`wire::Codec`): a broadcast is
//! encoded once, and each distinct datagram decoded once (the copies of one broadcast
//! carry the same bytes, and the simulator's plaintext codec keeps no per-sender state)
//! and handed to each recipient by reference (`Node::handle_shared_message`);
//! a reachability row equal to the one its sender sent last is handed on as that one, so
//! the N nodes holding a sender's row share one copy instead of N (docs/SCALE.md).
//! Owns the simulator's RNG streams (network, node seeds), all derived from the master
//! seed.
//!
//! It must never read a clock, never iterate a randomly ordered map, and never decide a
//! status: nodes decide, the ledger records, the checkers judge.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use vitals_core::message::Message;
use vitals_core::reach::Row;
use vitals_core::wire::Codec;
use vitals_core::{Command, Envelope, Instant, Node, Output, Peer, Rng};

use crate::ledger::Ledger;
use crate::queue::Queue;
use crate::scenario::{FaultKind, Scenario, node_name};

/// What happens at a scheduled instant.
#[derive(Debug)]
enum Action {
    Deliver {
        to: u32,
        from: u32,
        bytes: Rc<[u8]>,
        deferred: bool,
    },
    Tick {
        node: u32,
        deferred: bool,
    },
    Step(u32),
}

/// A step of the fault plan or a check, in time order.
#[derive(Clone, Copy, Debug)]
enum Step {
    Crash(usize),
    Start(usize),
    Pause(usize, Instant),
    Slow(usize, Instant, Duration, bool),
    Cut(usize, bool),
    /// The loss probability of every link changes (`NetModel::loss_steps`).
    Loss(f64),
    Converged,
}

#[derive(Debug)]
struct Slot {
    node: Option<Node>,
    scheduled: Option<Instant>,
    paused_until: Instant,
    /// Until when, by how much, and whether only datagrams (not timers) are late.
    slow: Option<(Instant, Duration, bool)>,
}

/// A convergence check that found a pair of live nodes disagreeing.
#[derive(Clone, Debug)]
pub(crate) struct Disagreement {
    pub(crate) at: Instant,
    pub(crate) observer: usize,
    pub(crate) member: usize,
}

/// The simulator: create with [`Sim::new`], then [`Sim::run`].
#[derive(Debug)]
pub struct Sim {
    pub(crate) scenario: Scenario,
    now: Instant,
    queue: Queue<Action>,
    slots: Vec<Slot>,
    steps: Vec<Step>,
    /// Per partition: which side each node is on, one-way, active.
    cuts: Vec<(Vec<bool>, bool, bool)>,
    net_rng: Rng,
    seed_rng: Rng,
    pub(crate) ledger: Ledger,
    pub(crate) events: u64,
    pub(crate) disagreements: Vec<Disagreement>,
    pub(crate) convergence_checks: u64,
    pub(crate) disagreement_count: u64,
    delays: Vec<Duration>,
    /// The one plaintext codec every datagram goes through (one cluster, no keys).
    codec: Codec,
    /// The datagram decoded last and its envelope. With one plaintext codec and no replay
    /// windows, decoding is a function of the bytes alone, and the copies of a broadcast
    /// arrive one after another: each datagram is decoded once, not once per recipient.
    decoded: Option<(Rc<[u8]>, Envelope)>,
    /// Per sender: the reachability row it sent last. A node sends its row unchanged
    /// again and again (refreshes, each its own datagram); a row equal to the one held
    /// is handed on as that one, so every node holding a sender's row shares one copy.
    rows: Vec<Option<Arc<Row>>>,
    buf: Vec<u8>,
}

/// The destination written into every frame: one encoding serves every recipient of a
/// broadcast, and the simulator's codec accepts any destination.
const ANYWHERE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// The address of node `index` (10.x.y.z:7946).
pub fn addr_of(index: usize) -> SocketAddr {
    let i = index + 1;
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7946))
}

fn index_of(addr: SocketAddr) -> Option<usize> {
    let SocketAddr::V4(v4) = addr else { return None };
    let [_, a, b, c] = v4.ip().octets();
    (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)).checked_sub(1)
}

fn at(d: Duration) -> Instant {
    Instant::from_duration(d)
}

impl Sim {
    /// A simulator for `scenario`, with every node started and joining through `n0`.
    pub fn new(scenario: Scenario) -> Sim {
        let mut master = Rng::seeded(scenario.seed);
        let net_rng = Rng::seeded(master.next_u64());
        let seed_rng = Rng::seeded(master.next_u64());
        let slots = (0..scenario.nodes)
            .map(|_| Slot {
                node: None,
                scheduled: None,
                paused_until: Instant::ZERO,
                slow: None,
            })
            .collect();
        let ledger = Ledger::new(&scenario);
        let mut sim = Sim {
            now: Instant::ZERO,
            queue: Queue::new(),
            slots,
            steps: Vec::new(),
            cuts: Vec::new(),
            net_rng,
            seed_rng,
            ledger,
            events: 0,
            disagreements: Vec::new(),
            convergence_checks: 0,
            disagreement_count: 0,
            delays: Vec::with_capacity(2),
            codec: Codec::plaintext(),
            decoded: None,
            rows: vec![None; scenario.nodes],
            buf: Vec::new(),
            scenario,
        };
        sim.plan();
        for i in 0..sim.scenario.nodes {
            sim.start(i, &[0]);
        }
        sim
    }

    /// Node `index`, unless it is crashed.
    pub fn node(&self, index: usize) -> Option<&Node> {
        self.slots.get(index)?.node.as_ref()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// When each false positive of the measured window happened, in order.
    pub fn false_positive_times(&self) -> &[Instant] {
        &self.ledger.mistake_times
    }

    /// Each crash: when it happened and the mean time its observers took to declare it
    /// dead (`None` if none did).
    pub fn crash_detections(&self) -> Vec<(Instant, Option<f64>)> {
        let mean = |took: Vec<f64>| (!took.is_empty()).then(|| took.iter().sum::<f64>() / took.len() as f64);
        self.ledger
            .crashes
            .iter()
            .map(|c| {
                let took = c.detected.iter().flatten().map(|t| (*t - c.at).as_secs_f64()).collect();
                (c.at, mean(took))
            })
            .collect()
    }

    /// Turns the fault plan into scheduled steps.
    fn plan(&mut self) {
        let s = &self.scenario;
        let converge = s.convergence_bound();
        let mut steps: Vec<(Duration, Step)> = Vec::new();
        for f in &s.faults {
            let (start, end) = f.window();
            match f.kind {
                FaultKind::Crash => steps.push((start, Step::Crash(f.node))),
                FaultKind::Restart { .. } => {
                    steps.push((start, Step::Crash(f.node)));
                    steps.push((end, Step::Start(f.node)));
                }
                FaultKind::Pause { .. } => steps.push((start, Step::Pause(f.node, at(end)))),
                FaultKind::Slow { by, messages_only, .. } => {
                    steps.push((start, Step::Slow(f.node, at(end), by, messages_only)));
                }
            }
            if f.kind != FaultKind::Crash {
                steps.push((end + converge, Step::Converged));
            }
        }
        for (p, partition) in s.partitions.iter().enumerate() {
            let mut side_of = vec![false; s.nodes];
            partition.side.iter().for_each(|&i| side_of[i] = true);
            self.cuts.push((side_of, partition.one_way, false));
            steps.push((partition.start, Step::Cut(p, true)));
            steps.push((partition.start + partition.duration, Step::Cut(p, false)));
            steps.push((partition.start + partition.duration + converge, Step::Converged));
        }
        for &(t, p) in &s.net.loss_steps {
            steps.push((t, Step::Loss(p)));
        }
        steps.push((s.end(), Step::Converged));
        steps.retain(|(t, _)| *t <= s.end());
        for (t, step) in steps {
            let index = self.steps.len() as u32;
            self.steps.push(step);
            self.push(at(t), Action::Step(index));
        }
    }

    fn push(&mut self, at: Instant, action: Action) {
        self.queue.push(at, action);
    }

    /// Runs to the end of the scenario, calling `progress` with the fraction done every
    /// so often.
    pub fn run(&mut self, progress: &mut dyn FnMut(f64)) {
        let end = at(self.scenario.end());
        self.run_until(end, progress);
        self.now = end;
        self.ledger.finish();
        progress(1.0);
    }

    /// Runs every event up to `until` (no further than the end), so a test can look at
    /// the nodes mid-run; [`Sim::run`] then goes on to the end.
    pub fn run_until(&mut self, until: Instant, progress: &mut dyn FnMut(f64)) {
        let end = at(self.scenario.end());
        let until = until.min(end);
        while let Some((at, action)) = self.queue.pop_until(until) {
            self.now = self.now.max(at);
            self.events += 1;
            if self.events.is_multiple_of(1 << 16) {
                progress(self.now.as_micros() as f64 / end.as_micros().max(1) as f64);
            }
            match action {
                Action::Deliver {
                    to,
                    from,
                    bytes,
                    deferred,
                } => self.deliver(to as usize, from as usize, bytes, deferred),
                Action::Tick { node, deferred } => self.tick(node as usize, at, deferred),
                Action::Step(index) => self.step(self.steps[index as usize]),
            }
        }
    }

    /// Whether a slow or paused node must handle this input (a datagram unless `timer`)
    /// later; if so it is requeued.
    fn postpone(&mut self, i: usize, deferred: bool, timer: bool) -> Option<Instant> {
        let slot = &self.slots[i];
        if self.now < slot.paused_until {
            return Some(slot.paused_until);
        }
        match slot.slow {
            Some((until, by, messages_only)) if self.now < until && !deferred && !(timer && messages_only) => {
                Some(self.now + by)
            }
            _ => None,
        }
    }

    fn deliver(&mut self, to: usize, from: usize, bytes: Rc<[u8]>, deferred: bool) {
        if self.slots[to].node.is_none() {
            return;
        }
        if let Some(later) = self.postpone(to, deferred, false) {
            let action = Action::Deliver {
                to: to as u32,
                from: from as u32,
                bytes,
                deferred: true,
            };
            self.push(later, action);
            return;
        }
        if !self.decode(from, bytes) {
            self.ledger.decode_errors += 1;
            return;
        }
        let now = self.now;
        // Handed by reference: the node clones only the message (handed through locals, an
        // envelope of over 200 bytes was copied three times more per delivery, and its
        // sender's name allocated once per delivery).
        if let (Some(node), Some((_, envelope))) = (self.slots[to].node.as_mut(), &self.decoded) {
            node.handle_shared_message(now, addr_of(from), envelope);
        }
        self.drain(to);
    }

    /// Decodes `bytes` into [`Sim::decoded`], unless they are the datagram held there;
    /// false if they do not decode (what is held then stays).
    fn decode(&mut self, from: usize, bytes: Rc<[u8]>) -> bool {
        if self.decoded.as_ref().is_some_and(|(held, _)| Rc::ptr_eq(held, &bytes)) {
            return true;
        }
        let Ok(mut envelope) = self.codec.decode(&bytes) else {
            return false;
        };
        self.share_row(from, &mut envelope);
        self.decoded = Some((bytes, envelope));
        true
    }

    /// Hands on a reachability row equal to the one `from` sent last as that one.
    fn share_row(&mut self, from: usize, envelope: &mut Envelope) {
        let Message::Reach { row } = &mut envelope.message else {
            return;
        };
        match &self.rows[from] {
            Some(held) if **held == **row => *row = Arc::clone(held),
            _ => self.rows[from] = Some(Arc::clone(row)),
        }
    }

    fn tick(&mut self, i: usize, at: Instant, deferred: bool) {
        let slot = &mut self.slots[i];
        if slot.scheduled == Some(at) {
            slot.scheduled = None;
        }
        let Some(node) = slot.node.as_ref() else { return };
        if node.poll_timeout().is_none_or(|t| t > self.now) {
            self.reschedule(i);
            return;
        }
        if let Some(later) = self.postpone(i, deferred, true) {
            // Messages queued during a pause are handled before the first timer.
            let later = later + Duration::from_micros(1);
            self.slots[i].scheduled = Some(later);
            self.push(
                later,
                Action::Tick {
                    node: i as u32,
                    deferred: true,
                },
            );
            return;
        }
        let now = self.now;
        if let Some(node) = self.slots[i].node.as_mut() {
            node.handle_tick(now);
        }
        self.drain(i);
    }

    /// Makes sure a tick is queued for the node's next deadline.
    fn reschedule(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let Some(t) = slot.node.as_ref().and_then(Node::poll_timeout) else {
            return;
        };
        let t = t.max(self.now);
        if slot.scheduled.is_none_or(|s| t < s) {
            slot.scheduled = Some(t);
            self.push(
                t,
                Action::Tick {
                    node: i as u32,
                    deferred: false,
                },
            );
        }
    }

    /// Sends every queued output of node `i`; a broadcast is encoded once.
    fn drain(&mut self, i: usize) {
        while let Some(output) = self.slots[i].node.as_mut().and_then(Node::poll_output) {
            match output {
                Output::Send { to, envelope } => {
                    if let Some(bytes) = self.encode(&envelope) {
                        self.count_reach(&envelope, bytes.len(), 1);
                        self.transmit(i, to, bytes);
                    }
                }
                Output::Broadcast { to, envelope } => {
                    let Some(bytes) = self.encode(&envelope) else { continue };
                    self.count_reach(&envelope, bytes.len(), to.len());
                    for to in to {
                        self.transmit(i, to, Rc::clone(&bytes));
                    }
                }
                Output::Event(event) => self.ledger.event(self.now, i, &event),
            }
        }
        self.reschedule(i);
    }

    /// Reachability rows are counted apart too, so that what they add is measured.
    fn count_reach(&mut self, envelope: &Envelope, len: usize, copies: usize) {
        if matches!(envelope.message, Message::Reach { .. }) {
            for _ in 0..copies {
                self.ledger.sent_reach(self.now, len);
            }
        }
    }

    /// The datagram for `envelope`, addressed to [`ANYWHERE`] so that it serves every
    /// recipient; `None` (never, for what the core sends) if it cannot be encoded.
    fn encode(&mut self, envelope: &Envelope) -> Option<Rc<[u8]>> {
        let encoded = self.codec.encode(envelope, ANYWHERE, &mut self.buf);
        encoded.ok().map(|()| Rc::from(self.buf.as_slice()))
    }

    fn transmit(&mut self, from: usize, to: SocketAddr, bytes: Rc<[u8]>) {
        self.ledger.sent(self.now, bytes.len());
        let Some(to) = index_of(to).filter(|t| *t < self.slots.len()) else {
            return;
        };
        let cut = self.cuts.iter().any(|(side_of, one_way, active)| {
            let (a, b) = (side_of[from], side_of[to]);
            *active && if *one_way { a && !b } else { a != b }
        });
        if cut {
            return;
        }
        let mut delays = std::mem::take(&mut self.delays);
        let forming = self.now < self.ledger.start;
        self.scenario
            .net
            .delays(&mut self.net_rng, from, to, forming, &mut delays);
        for delay in &delays {
            let action = Action::Deliver {
                to: to as u32,
                from: from as u32,
                bytes: Rc::clone(&bytes),
                deferred: false,
            };
            self.push(self.now + *delay, action);
        }
        self.delays = delays;
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Crash(i) => self.crash(i),
            Step::Start(i) => {
                let seeds: Vec<usize> = (0..self.slots.len())
                    .filter(|&j| j != i && self.slots[j].node.is_some())
                    .take(3)
                    .collect();
                self.ledger.restarted(self.now, i);
                self.start(i, &seeds);
            }
            Step::Pause(i, until) => self.slots[i].paused_until = until,
            Step::Slow(i, until, by, messages_only) => self.slots[i].slow = Some((until, by, messages_only)),
            Step::Cut(p, active) => self.cuts[p].2 = active,
            Step::Loss(p) => self.scenario.net.loss = p,
            Step::Converged => self.check_convergence(),
        }
    }

    /// Starts a fresh process for node `i` (incarnation 0) that joins through `seeds`.
    fn start(&mut self, i: usize, seeds: &[usize]) {
        let me = Peer {
            name: node_name(i),
            addr: addr_of(i),
            incarnation: 0,
        };
        let mut node = Node::new(me, self.scenario.config.clone(), self.seed_rng.next_u64(), self.now);
        // Link measurement only observes (and costs memory per pair): off here.
        node.set_link_measurement(false);
        if let Some(target) = self.scenario.auto_tune {
            // Refused only for strategies `Spec::validate` refuses first.
            let _ = node.enable_auto_tune(self.now, target);
        }
        node.handle_command(self.now, Command::Join(seeds.iter().map(|&s| addr_of(s)).collect()));
        let slot = &mut self.slots[i];
        slot.node = Some(node);
        slot.scheduled = None;
        slot.paused_until = Instant::ZERO;
        slot.slow = None;
        self.drain(i);
    }

    fn crash(&mut self, i: usize) {
        let name = node_name(i);
        let watchers = (0..self.slots.len())
            .filter(|&o| {
                o != i
                    && self.slots[o]
                        .node
                        .as_ref()
                        .and_then(|n| n.members().get(&name))
                        .is_some_and(|m| m.status.is_up())
            })
            .collect();
        self.ledger.crashed(self.now, i, watchers, self.slots.len());
        self.slots[i].node = None;
        self.slots[i].scheduled = None;
    }

    /// Every pair of live, undisturbed nodes must see each other up (a mistake younger
    /// than the bound, on a lossy network, is tolerated).
    fn check_convergence(&mut self) {
        let now = self.now;
        let bound = self.scenario.convergence_bound();
        let since = Instant::from_micros(now.as_micros().saturating_sub(bound.as_micros() as u64));
        if self.ledger.news_from_a_cut(since, now) {
            return;
        }
        self.convergence_checks += 1;
        let live: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].node.is_some() && !self.ledger.node_disturbed(i, since, now))
            .collect();
        for &o in &live {
            let Some(node) = self.slots[o].node.as_ref() else {
                continue;
            };
            for &m in &live {
                if m == o || self.ledger.separated(o, m, since, now) {
                    continue;
                }
                let up = node.members().get(&node_name(m)).is_some_and(|x| x.status.is_up());
                if up || self.ledger.recent_mistake(o, m, now, bound) {
                    continue;
                }
                self.disagreement_count += 1;
                if self.disagreements.len() < 5 {
                    self.disagreements.push(Disagreement {
                        at: now,
                        observer: o,
                        member: m,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Spec;

    fn reach_datagram(sim: &mut Sim, unheard: &[&str]) -> Rc<[u8]> {
        let row = Row {
            unheard: unheard.iter().map(|name| (*name).to_owned()).collect(),
            ..Row::default()
        };
        let envelope = Envelope {
            from: Peer {
                name: node_name(1),
                addr: addr_of(1),
                incarnation: 0,
            },
            message: Message::Reach { row: Arc::new(row) },
            timing: None,
        };
        sim.encode(&envelope).expect("encodes")
    }

    /// The row `bytes` decode to, as the simulator holds it.
    fn row_of(sim: &mut Sim, bytes: Rc<[u8]>) -> Arc<Row> {
        assert!(sim.decode(1, bytes), "decodes");
        match sim.decoded.as_ref().map(|(_, e)| &e.message) {
            Some(Message::Reach { row }) => Arc::clone(row),
            other => panic!("not a row: {other:?}"),
        }
    }

    #[test]
    fn a_row_sent_again_unchanged_is_one_copy_for_every_node() {
        let spec = Spec {
            nodes: 3,
            duration: Duration::from_secs(1),
            ..Spec::default()
        };
        let mut sim = Sim::new(spec.scenario().expect("valid"));
        let first = reach_datagram(&mut sim, &["n2"]);
        let again = reach_datagram(&mut sim, &["n2"]);
        let changed = reach_datagram(&mut sim, &["n0"]);
        assert!(!Rc::ptr_eq(&first, &again), "two datagrams");
        let held = row_of(&mut sim, first);
        assert!(Arc::ptr_eq(&held, &row_of(&mut sim, again)), "the same row");
        let other = row_of(&mut sim, changed);
        assert!(!Arc::ptr_eq(&held, &other));
        assert_eq!(other.unheard, ["n0"]);
    }
}
