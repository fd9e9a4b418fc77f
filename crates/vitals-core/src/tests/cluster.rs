//! A small in-memory cluster with virtual time, for the core's own tests: nodes exchange
//! real encoded datagrams through a queue ordered by (delivery time, sequence number).
//! The simulator crate generalises this; here it proves the core runs on virtual time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::members::Transition;
use crate::message::{Envelope, Message, Peer, Status};
use crate::node::{Command, Event, Node, Output};
use crate::rng::Rng;
use crate::time::Instant;
use crate::wire;

type Filter = Box<dyn FnMut(&str, &str, &Message) -> bool>;
/// A datagram in flight: (delivery time, send order, to, from, bytes).
type InFlight = Reverse<(Instant, u64, SocketAddr, SocketAddr, Vec<u8>)>;

pub(crate) struct Cluster {
    pub(crate) now: Instant,
    config: Config,
    /// Nodes that run another configuration than `config` (mixed timing).
    configs: BTreeMap<String, Config>,
    nodes: BTreeMap<String, Node>,
    addrs: BTreeMap<String, SocketAddr>,
    in_flight: BinaryHeap<InFlight>,
    seq: u64,
    latency: Duration,
    /// Returns false to drop a message (from, to, message).
    pub(crate) deliver: Filter,
    pub(crate) events: Vec<(Instant, String, Event)>,
    /// Datagrams sent, by message kind.
    sent: BTreeMap<&'static str, u64>,
    /// When recording: every datagram sent (instant, sender, kind, destination).
    sends: Option<Vec<(Instant, String, &'static str, SocketAddr)>>,
    /// Seeds the nodes' generators (and the latency jitter, when set).
    seed: u64,
    /// When set: each datagram's latency is drawn from `[latency, latency + jitter]`.
    jitter: Option<(Duration, Rng)>,
    /// Paused nodes (a stopped process): not ticked, and what arrives for them waits in
    /// their socket buffer until the instant they resume.
    paused: BTreeMap<String, Instant>,
    /// Paused nodes whose timer fires before their socket buffer is read on resuming.
    timer_first: BTreeSet<String>,
    /// Clock rates of nodes whose clocks drift: a node's clock reads `rate × now`.
    rates: BTreeMap<String, f64>,
}

pub(crate) fn addr_of(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, index as u8 + 1], 7946))
}

impl Cluster {
    /// `names.len()` nodes that all join through the first.
    pub(crate) fn new(config: Config, names: &[&str]) -> Cluster {
        Cluster::seeded(config, names, 0, None)
    }

    /// Like [`Cluster::new`], with every node's generator derived from `seed`, and latency
    /// jittered by up to `jitter` (drawn from a generator seeded with `seed` too).
    pub(crate) fn seeded(config: Config, names: &[&str], seed: u64, jitter: Option<Duration>) -> Cluster {
        let mut cluster = Cluster {
            now: Instant::ZERO,
            config,
            configs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            addrs: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            latency: Duration::from_millis(1),
            deliver: Box::new(|_, _, _| true),
            events: Vec::new(),
            sent: BTreeMap::new(),
            sends: None,
            seed,
            jitter: jitter.map(|j| (j, Rng::seeded(seed ^ 0x5eed))),
            paused: BTreeMap::new(),
            timer_first: BTreeSet::new(),
            rates: BTreeMap::new(),
        };
        for (i, name) in names.iter().enumerate() {
            cluster.addrs.insert(name.to_string(), addr_of(i));
        }
        for name in names {
            cluster.start(name, 0);
        }
        cluster
    }

    /// A node not in the cluster yet, given the next free address, joining through the first.
    pub(crate) fn add(&mut self, name: &str) {
        let index = self.addrs.len();
        self.addrs.insert(name.to_string(), addr_of(index));
        self.start(name, 0);
    }

    /// Like [`Cluster::add`], the node running `config` rather than the cluster's.
    pub(crate) fn add_with(&mut self, name: &str, config: Config) {
        self.configs.insert(name.to_string(), config);
        self.add(name);
    }

    /// A node called `name` on the next free address, known to the harness as `key`
    /// (a second node with a member's name), joining through the first.
    pub(crate) fn start_as(&mut self, key: &str, name: &str) {
        let index = self.addrs.len();
        self.addrs.insert(key.to_string(), addr_of(index));
        self.start_named(key, name, 0);
    }

    pub(crate) fn start(&mut self, name: &str, incarnation: u64) {
        self.start_named(name, name, incarnation);
    }

    fn start_named(&mut self, key: &str, name: &str, incarnation: u64) {
        let addr = self.addrs[key];
        let me = Peer {
            name: name.to_string(),
            addr,
            incarnation,
        };
        // Distinct per node (by name) and per run (by `self.seed`).
        let by_name = name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let seed = (self.seq ^ (addr.ip().to_string().len() as u64) ^ (by_name << 32))
            .wrapping_add(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let local = self.local_now(key);
        let config = self.configs.get(key).unwrap_or(&self.config).clone();
        let mut node = Node::new(me, config, seed, local);
        node.handle_command(local, Command::Join(vec![addr_of(0)]));
        self.nodes.insert(key.to_string(), node);
        self.drain(key);
    }

    pub(crate) fn crash(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    pub(crate) fn node(&self, name: &str) -> &Node {
        &self.nodes[name]
    }

    /// The running nodes, in name order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Stops `name` (like SIGSTOP) for `duration`: it is not ticked, and datagrams for it
    /// are held until it resumes (like SIGCONT), when they arrive all at once.
    pub(crate) fn pause(&mut self, name: &str, duration: Duration) {
        self.paused.insert(name.to_string(), self.now + duration);
    }

    /// Like [`Cluster::pause`], but on resuming `name` is ticked before the datagrams held
    /// for it arrive (its overdue timer wins the race with its socket buffer).
    pub(crate) fn pause_timer_first(&mut self, name: &str, duration: Duration) {
        self.timer_first.insert(name.to_string());
        self.pause(name, duration);
    }

    /// Makes `name`'s clock run at `rate` (1.0: true time): it reads `rate × now`.
    pub(crate) fn set_clock_rate(&mut self, name: &str, rate: f64) {
        self.rates.insert(name.to_string(), rate);
    }

    /// What `name`'s clock reads now.
    pub(crate) fn local_now(&self, name: &str) -> Instant {
        match self.rates.get(name) {
            None => self.now,
            Some(rate) => Instant::from_micros((self.now.as_micros() as f64 * rate) as u64),
        }
    }

    /// The true instant at which `name`'s clock reads at least `local`.
    fn global(&self, name: &str, local: Instant) -> Instant {
        match self.rates.get(name) {
            None => local,
            Some(rate) => Instant::from_micros((local.as_micros() as f64 / rate).ceil() as u64 + 1),
        }
    }

    /// Whether `name` is paused now.
    pub(crate) fn is_paused(&self, name: &str) -> bool {
        self.paused.get(name).is_some_and(|until| *until > self.now)
    }

    /// Runs for `duration`, calling `check` after every step (every delivery and tick).
    pub(crate) fn run_checked(&mut self, duration: Duration, mut check: impl FnMut(&Cluster)) {
        let end = self.now + duration;
        while self.step(end) {
            check(self);
        }
        self.now = end;
    }

    pub(crate) fn command(&mut self, name: &str, command: Command) {
        let now = self.local_now(name);
        self.nodes.get_mut(name).unwrap().handle_command(now, command);
        self.drain(name);
    }

    /// `observer`'s view of `member`.
    pub(crate) fn status(&self, observer: &str, member: &str) -> Option<Status> {
        self.nodes[observer].members().get(member).map(|m| m.status)
    }

    pub(crate) fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.step(end) {}
        self.now = end;
    }

    /// Runs until `done` holds (checked after every step) or `limit` passes; returns the
    /// instant it held.
    pub(crate) fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) -> Option<Instant> {
        let end = self.now + limit;
        while !done(self) {
            if !self.step(end) {
                return None;
            }
        }
        Some(self.now)
    }

    pub(crate) fn transitions(&self, observer: &str, member: &str) -> Vec<Transition> {
        self.events
            .iter()
            .filter_map(|(_, node, event)| match event {
                Event::Transition(t) if node == observer && t.name == member => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn step(&mut self, end: Instant) -> bool {
        let now = self.now;
        self.paused.retain(|_, until| *until > now);
        let paused = &self.paused;
        let next_tick = self
            .nodes
            .iter()
            .filter_map(|(n, node)| {
                let resume = paused.get(n).copied().unwrap_or(Instant::ZERO);
                node.poll_timeout().map(|t| (self.global(n, t).max(resume), n.clone()))
            })
            .min();
        let next_delivery = self.in_flight.peek().map(|Reverse(m)| m.0);
        match (next_tick, next_delivery) {
            (Some((t, _)), Some(d)) if d <= t && d <= end => self.deliver_next(),
            (None, Some(d)) if d <= end => self.deliver_next(),
            (Some((t, name)), _) if t <= end => {
                self.now = self.now.max(t);
                let now = self.local_now(&name);
                self.nodes.get_mut(&name).unwrap().handle_tick(now);
                self.drain(&name);
            }
            _ => return false,
        }
        true
    }

    fn deliver_next(&mut self) {
        let Reverse((at, _, to, from, bytes)) = self.in_flight.pop().unwrap();
        self.now = self.now.max(at);
        let Some(name) = self.addrs.iter().find(|(_, a)| **a == to).map(|(n, _)| n.clone()) else {
            return;
        };
        if let Some(&until) = self.paused.get(&name)
            && until > self.now
        {
            let after_tick = Duration::from_micros(u64::from(self.timer_first.contains(&name)));
            self.in_flight
                .push(Reverse((until + after_tick, self.seq, to, from, bytes)));
            self.seq += 1;
            return;
        }
        let local = self.local_now(&name);
        let Some(node) = self.nodes.get_mut(&name) else { return };
        let envelope = wire::decode(&bytes).expect("the core only sends valid datagrams");
        node.handle_message(local, from, envelope);
        self.drain(&name);
    }

    fn drain(&mut self, name: &str) {
        let from = self.addrs[name];
        while let Some(output) = self.nodes.get_mut(name).unwrap().poll_output() {
            match output {
                Output::Send { to, envelope } => self.send(name, from, to, envelope),
                Output::Broadcast { to, envelope } => {
                    for to in to {
                        self.send(name, from, to, std::sync::Arc::clone(&envelope));
                    }
                }
                Output::Event(event) => self.events.push((self.now, name.to_string(), event)),
            }
        }
    }

    /// Whether every one of `names` holds every one of them alive.
    pub(crate) fn all_alive(&self, names: &[&str]) -> bool {
        names
            .iter()
            .all(|o| names.iter().all(|m| self.status(o, m) == Some(Status::Alive)))
    }

    /// Whether every node *shows* every other alive (as users and routing see them:
    /// `Member::shown`, a doubted member's status included).
    pub(crate) fn all_shown_alive(&self, names: &[&str]) -> bool {
        let shown = |o: &str, m: &str| self.nodes[o].members().get(m).map(|m| m.shown());
        names
            .iter()
            .all(|o| names.iter().all(|m| shown(o, m) == Some(Status::Alive)))
    }

    /// A cluster of `names` once every node holds every other alive, plus five quiet
    /// seconds (and, under ping, until fast confirmation works: [`Cluster::settle`]);
    /// panics if that takes longer than `limit`.
    pub(crate) fn converged(config: Config, names: &[&str], limit: Duration) -> Cluster {
        let mut cluster = Cluster::new(config, names);
        let formed = cluster.run_until(limit, |c| c.all_alive(names));
        assert!(formed.is_some(), "the cluster never converged");
        cluster.run_for(Duration::from_secs(5));
        cluster.settle();
        cluster
    }

    /// Under ping, runs until fast confirmation settles after the last join
    /// (`members::SETTLE_INTERVALS`), so that a fault injected next meets a
    /// settled cluster; under the other strategies, nothing.
    pub(crate) fn settle(&mut self) {
        if self.config.swim().is_some() {
            self.run_for(self.config.interval * crate::members::SETTLE_INTERVALS);
        }
    }

    /// Every (observer, member) pair where `observer` ever declared `member` dead.
    pub(crate) fn deaths(&self, observers: &[&str], members: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for observer in observers {
            for member in members {
                if self.transitions(observer, member).iter().any(|t| t.to == Status::Dead) {
                    out.push((observer.to_string(), member.to_string()));
                }
            }
        }
        out
    }

    /// From now on, the first request `joiner` sends for page `page` or later of a
    /// member list is lost; everything else is delivered.
    pub(crate) fn lose_first_page_request(&mut self, joiner: &str, page: u32) {
        let joiner = joiner.to_string();
        let mut lost = false;
        self.deliver = Box::new(move |from, _, m| {
            let later = from == joiner && matches!(m, Message::Join { page: p, .. } if *p >= page);
            if later && !lost {
                lost = true;
                return false;
            }
            true
        });
    }

    /// `from` sends `message` to `to` now, as if its own code had (a message the test
    /// needs at an instant the protocol would choose for itself).
    pub(crate) fn send_as(&mut self, from: &str, to: &str, message: Message) {
        let envelope = Envelope {
            from: self.nodes[from].me().clone(),
            message,
            timing: None,
        };
        let (src, dst) = (self.addrs[from], self.addrs[to]);
        self.send(from, src, dst, std::sync::Arc::new(envelope));
    }

    /// Datagrams of `kind` sent so far (dropped ones included).
    pub(crate) fn sent_by_kind(&self, kind: &str) -> u64 {
        self.sent.get(kind).copied().unwrap_or(0)
    }

    /// Every datagram sent from now on is recorded as (instant, sender, kind, destination).
    pub(crate) fn record_sends(&mut self) {
        self.sends = Some(Vec::new());
    }

    /// What [`Cluster::record_sends`] recorded.
    pub(crate) fn recorded_sends(&self) -> &[(Instant, String, &'static str, SocketAddr)] {
        self.sends.as_deref().unwrap_or_default()
    }

    /// The address of node `name`.
    pub(crate) fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }

    fn send(&mut self, name: &str, from: SocketAddr, to: SocketAddr, envelope: std::sync::Arc<Envelope>) {
        *self.sent.entry(envelope.message.kind()).or_default() += 1;
        if let Some(sends) = &mut self.sends {
            sends.push((self.now, name.to_string(), envelope.message.kind(), to));
        }
        let to_name = self
            .addrs
            .iter()
            .find(|(_, a)| **a == to)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        if !(self.deliver)(name, &to_name, &envelope.message) {
            return;
        }
        let mut bytes = Vec::new();
        wire::encode(&envelope, &mut bytes).expect("fits");
        self.seq += 1;
        let latency = match &mut self.jitter {
            Some((jitter, rng)) => {
                let extra = rng.below(u64::try_from(jitter.as_micros()).unwrap_or(1).max(1));
                self.latency + Duration::from_micros(extra)
            }
            None => self.latency,
        };
        self.in_flight
            .push(Reverse((self.now + latency, self.seq, to, from, bytes)));
    }
}

impl Cluster {
    /// `name` fronts one instance of `service` from now on (as `--service` does).
    pub(crate) fn front_service(&mut self, name: &str, service: &str) {
        use crate::checks::{CheckStatus, Checks, ServiceEntry};
        let addr = SocketAddr::new(self.addrs[name].ip(), 80);
        let services = vec![ServiceEntry {
            name: service.into(),
            addr,
            weight: 1,
            status: CheckStatus::Passing,
        }];
        let checks = Some(Checks {
            status: CheckStatus::Passing,
            services,
        });
        let health = crate::message::Health {
            checks,
            ..crate::message::Health::default()
        };
        self.command(name, Command::SetHealth(health));
    }

    /// Runs until every node holds everyone alive, then until every node lists every
    /// node's `service` instance; the periods the latter took (panics past 30 s each).
    pub(crate) fn periods_until_every_node_lists(&mut self, names: &[&str], service: &str) -> f64 {
        let formed = self.run_until(Duration::from_secs(30), |c| c.all_alive(names));
        let formed = formed.expect("the cluster never converged");
        let lists = |c: &Cluster, observer: &str, member: &str| {
            let member = c.nodes[observer].members().get(member);
            let checks = member.and_then(|m| m.health.as_ref()?.checks.as_ref());
            checks.is_some_and(|c| c.service(service).is_some())
        };
        let listed = self.run_until(Duration::from_secs(30), |c| {
            names.iter().all(|o| names.iter().all(|m| lists(c, o, m)))
        });
        let listed = listed.expect("some node never learned some member's service");
        (listed - formed).as_secs_f64() / self.config.interval.as_secs_f64()
    }
}
