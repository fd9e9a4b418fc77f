//! The ledger: what happened, recorded online as the simulation runs, in the vocabulary
//! the checkers and the QoS report need (crashes and who detected them when, mistakes,
//! traffic). Owns the "was this verdict excused by an injected fault?" rule. It never
//! touches a node and never draws a random number.

use std::collections::BTreeMap;
use std::time::Duration;

use vitals_core::{Event, Instant, Status};

use crate::net::Partition;
use crate::scenario::{Fault, FaultKind, Scenario, node_index};

/// One crash of one node, and who detected it when.
#[derive(Clone, Debug)]
pub(crate) struct Crash {
    pub(crate) node: usize,
    pub(crate) at: Instant,
    pub(crate) restart_at: Option<Instant>,
    /// Observers that held the node up when it crashed.
    pub(crate) watchers: Vec<usize>,
    /// Per node: when it first declared the crashed node dead.
    pub(crate) detected: Vec<Option<Instant>>,
}

/// A window during which verdicts about (or by) a node are excused.
#[derive(Clone, Copy, Debug)]
struct Window {
    node: usize,
    start: Instant,
    end: Instant,
}

#[derive(Clone, Debug)]
struct Cut {
    side_of: Vec<bool>,
    start: Instant,
    /// When the partition healed.
    healed: Instant,
    /// The heal plus the tail during which verdicts are excused.
    end: Instant,
}

/// A false positive, for failure messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mistake {
    pub(crate) observer: usize,
    pub(crate) member: usize,
    pub(crate) at: Instant,
}

#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    windows: Vec<Window>,
    cuts: Vec<Cut>,
    /// Pull: the monitors, whose verdicts members copy.
    monitors: Vec<usize>,
    /// Ping, gossip and leader: news spreads from node to node, so a verdict reached by
    /// anyone during a fault may still arrive, and be excused, this long after the fault
    /// ends. Leader carries it in the member lists leaderless nodes exchange (`discover`
    /// in `leader.rs`) and in the view the next leader starts from (the handover
    /// invariant), until the member refutes it.
    gossip_tail: Option<std::time::Duration>,
    pub(crate) down: Vec<Option<usize>>,
    /// Leader strategy: since when each node leads, by its own account (`Event::Leader`).
    leading: Vec<Option<Instant>>,
    /// Leader strategy: (node, from, to) of every reign that ended.
    reigns: Vec<(usize, Instant, Instant)>,
    pub(crate) crashes: Vec<Crash>,
    open: BTreeMap<(usize, usize), Instant>,
    /// On a lossy network: excused verdicts about live members, open until the observer
    /// sees the member up again. A loss-made mistake is excused when a fault lies within
    /// the tail, yet it is a mistake all the same, so the convergence check tolerates it
    /// while it is young as it tolerates any other (`recent_mistake`).
    excused_open: Option<BTreeMap<(usize, usize), Instant>>,
    last_mistake: BTreeMap<(usize, usize), Instant>,
    pub(crate) mistake_durations: Vec<f64>,
    pub(crate) recurrences: Vec<f64>,
    pub(crate) mistake_time: f64,
    pub(crate) false_positives: u64,
    pub(crate) first_mistakes: Vec<Mistake>,
    /// When each false positive happened (for tests that look at phases of a run).
    pub(crate) mistake_times: Vec<Instant>,
    pub(crate) excused: u64,
    /// `dead` verdicts, by any observer (a faulty one too), about members that were up,
    /// undisturbed and reachable: Lifeguard's "false positives at healthy members".
    pub(crate) healthy_deaths: u64,
    /// The same for `suspect`.
    pub(crate) healthy_suspicions: u64,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Of `bytes`: those of reachability rows (`Message::Reach`).
    pub(crate) reach_bytes: u64,
    pub(crate) refutations: u64,
    pub(crate) decode_errors: u64,
    /// Per member, then per observer: the status changes the observer recorded about it
    /// within the measured window (joins not counted). A flapping member shows here.
    pub(crate) status_changes: Vec<Vec<u64>>,
}

/// IP (20 B) and UDP (8 B) headers, counted on every datagram.
pub const HEADER_BYTES: u64 = 28;

fn at(d: Duration) -> Instant {
    Instant::from_duration(d)
}

impl Ledger {
    pub(crate) fn new(scenario: &Scenario) -> Ledger {
        let tail = scenario.direct_bound() + scenario.config.interval + scenario.net.delay_bound();
        let windows = scenario.faults.iter().map(|f| fault_window(f, tail)).collect();
        let cuts = scenario
            .partitions
            .iter()
            .map(|p| cut(p, scenario.nodes, tail))
            .collect();
        let gossip = matches!(
            scenario.config.kind(),
            vitals_core::StrategyKind::Ping | vitals_core::StrategyKind::Gossip | vitals_core::StrategyKind::Leader
        );
        Ledger {
            start: at(scenario.warmup),
            end: at(scenario.end()),
            windows,
            cuts,
            monitors: (0..scenario.nodes).filter(|&i| scenario.is_monitor(i)).collect(),
            gossip_tail: gossip.then(|| scenario.convergence_bound()),
            down: vec![None; scenario.nodes],
            leading: vec![None; scenario.nodes],
            reigns: Vec::new(),
            crashes: Vec::new(),
            open: BTreeMap::new(),
            excused_open: scenario.net.lossy().then(BTreeMap::new),
            last_mistake: BTreeMap::new(),
            mistake_durations: Vec::new(),
            recurrences: Vec::new(),
            mistake_time: 0.0,
            false_positives: 0,
            first_mistakes: Vec::new(),
            mistake_times: Vec::new(),
            excused: 0,
            healthy_deaths: 0,
            healthy_suspicions: 0,
            messages: 0,
            bytes: 0,
            reach_bytes: 0,
            refutations: 0,
            decode_errors: 0,
            status_changes: vec![vec![0; scenario.nodes]; scenario.nodes],
        }
    }

    /// A datagram of `len` bytes carrying a reachability row was sent at `now` (counted
    /// by [`Ledger::sent`] too).
    pub(crate) fn sent_reach(&mut self, now: Instant, len: usize) {
        if now >= self.start {
            self.reach_bytes += len as u64 + HEADER_BYTES;
        }
    }

    /// A datagram of `len` bytes was sent at `now`.
    pub(crate) fn sent(&mut self, now: Instant, len: usize) {
        if now >= self.start {
            self.messages += 1;
            self.bytes += len as u64 + HEADER_BYTES;
        }
    }

    /// Whether `node` is inside one of its fault windows during `[from, to]`.
    pub(crate) fn node_disturbed(&self, node: usize, from: Instant, to: Instant) -> bool {
        self.windows
            .iter()
            .any(|w| w.node == node && w.start <= to && from <= w.end)
    }

    /// Whether `node` crashed at some instant in `(from, to]`.
    pub(crate) fn went_down(&self, node: usize, from: Instant, to: Instant) -> bool {
        self.crashes.iter().any(|c| c.node == node && from < c.at && c.at <= to)
    }

    /// Ping, gossip and leader: whether any partition was in force during `[from, to]`. News
    /// carried across the healed cut (a `dead` spread by the other side) reaches members
    /// of the victim's own side too, so until the partition's own convergence check no
    /// pair is held to agree.
    pub(crate) fn news_from_a_cut(&self, from: Instant, to: Instant) -> bool {
        self.gossip_tail.is_some() && self.cuts.iter().any(|c| c.start <= to && from < c.healed)
    }

    /// Whether a partition separated `a` and `b` during `[from, to]`.
    pub(crate) fn separated(&self, a: usize, b: usize, from: Instant, to: Instant) -> bool {
        self.cuts
            .iter()
            .any(|c| c.side_of[a] != c.side_of[b] && c.start <= to && from <= c.end)
    }

    /// Whether a verdict by `observer` on `member` at `now` may be due to an injected
    /// fault: either is disturbed, they are partitioned, or (pull) a monitor whose view
    /// the observer copies is.
    fn excused_at(&self, observer: usize, member: usize, now: Instant) -> bool {
        let direct = |o: usize| {
            self.node_disturbed(member, now, now)
                || self.node_disturbed(o, now, now)
                || self.separated(o, member, now, now)
        };
        direct(observer)
            || self
                .monitors
                .iter()
                .any(|&m| direct(m) || self.separated(m, observer, now, now))
            || self
                .gossip_tail
                .is_some_and(|tail| self.heard_of_a_fault(member, now, tail))
    }

    /// Gossip strategies: whether `member` was disturbed, or any partition was in force,
    /// within `tail` before `now` (someone may have reached a verdict then).
    fn heard_of_a_fault(&self, member: usize, now: Instant, tail: std::time::Duration) -> bool {
        let recent = |start: Instant, end: Instant| start <= now && now <= end + tail;
        self.windows.iter().any(|w| w.node == member && recent(w.start, w.end))
            || self.cuts.iter().any(|c| recent(c.start, c.end))
    }

    pub(crate) fn crashed(&mut self, now: Instant, node: usize, watchers: Vec<usize>, nodes: usize) {
        self.close_mistakes(now, |o, m| o == node || m == node);
        self.stop_leading(now, node);
        self.down[node] = Some(self.crashes.len());
        self.crashes.push(Crash {
            node,
            at: now,
            restart_at: None,
            watchers,
            detected: vec![None; nodes],
        });
    }

    pub(crate) fn restarted(&mut self, now: Instant, node: usize) {
        if let Some(c) = self.down[node].take() {
            self.crashes[c].restart_at = Some(now);
        }
    }

    /// An event `observer`'s node reported at `now`.
    pub(crate) fn event(&mut self, now: Instant, observer: usize, event: &Event) {
        match event {
            Event::Transition(t) => {
                let Some(member) = node_index(&t.name) else { return };
                self.about_a_healthy_member(now, observer, member, t.to);
                if t.from.is_some()
                    && observer != member
                    && now >= self.start
                    && let Some(count) = self.status_changes.get_mut(member).and_then(|c| c.get_mut(observer))
                {
                    *count += 1;
                }
                if t.to == Status::Dead {
                    self.dead(now, observer, member);
                } else if t.to.is_up() {
                    if let Some(excused) = &mut self.excused_open {
                        excused.remove(&(observer, member));
                    }
                    if let Some(since) = self.open.remove(&(observer, member)) {
                        self.close(since, now);
                    }
                }
            }
            Event::Refuted { .. } => self.refutations += 1,
            Event::Leader { leader, .. } => {
                let leads = leader.as_deref().and_then(node_index) == Some(observer);
                if !leads {
                    self.stop_leading(now, observer);
                } else if self.leading[observer].is_none() {
                    self.leading[observer] = Some(now);
                }
            }
            _ => {}
        }
    }

    /// Counts a `dead` or `suspect` verdict about a healthy member, whoever reached it.
    fn about_a_healthy_member(&mut self, now: Instant, observer: usize, member: usize, to: Status) {
        let healthy = observer != member
            && now >= self.start
            && self.down[member].is_none()
            && !self.node_disturbed(member, now, now)
            && !self.separated(observer, member, now, now);
        match to {
            Status::Dead if healthy => self.healthy_deaths += 1,
            Status::Suspect if healthy => self.healthy_suspicions += 1,
            _ => {}
        }
    }

    fn dead(&mut self, now: Instant, observer: usize, member: usize) {
        let up = self.down[member].is_none();
        if up && self.excused_open.is_some() && self.excused_at(observer, member, now) {
            // Excused (or taken for a late verdict on a previous incarnation), but a
            // mistake about a live member all the same.
            if let Some(excused) = &mut self.excused_open {
                excused.insert((observer, member), now);
            }
        }
        let crash = self.down[member].or_else(|| {
            // A verdict on the previous incarnation, arriving after the restart.
            let last = self.crashes.iter().rposition(|c| c.node == member)?;
            self.excused_at(observer, member, now).then_some(last)
        });
        if let Some(c) = crash {
            let slot = &mut self.crashes[c].detected[observer];
            if slot.is_none() {
                *slot = Some(now);
            }
            return;
        }
        if self.excused_at(observer, member, now) {
            self.excused += 1;
            return;
        }
        if now < self.start {
            return;
        }
        self.false_positives += 1;
        self.mistake_times.push(now);
        if self.first_mistakes.len() < 5 {
            self.first_mistakes.push(Mistake {
                observer,
                member,
                at: now,
            });
        }
        let pair = (observer, member);
        if let Some(previous) = self.last_mistake.insert(pair, now) {
            self.recurrences.push((now - previous).as_secs_f64());
        }
        self.open.insert(pair, now);
    }

    fn close(&mut self, since: Instant, now: Instant) {
        let duration = (now - since).as_secs_f64();
        self.mistake_durations.push(duration);
        self.mistake_time += duration;
    }

    fn close_mistakes(&mut self, now: Instant, which: impl Fn(usize, usize) -> bool) {
        let closing: Vec<(usize, usize)> = self.open.keys().filter(|(o, m)| which(*o, *m)).copied().collect();
        for pair in closing {
            if let Some(since) = self.open.remove(&pair) {
                self.close(since, now);
            }
        }
    }

    fn stop_leading(&mut self, now: Instant, node: usize) {
        if let Some(since) = self.leading[node].take() {
            self.reigns.push((node, since, now));
        }
    }

    /// Leader strategy: the latest start of an injected fault (crash, restart, pause, slow
    /// spell) of a node that led at some time in `[from, to]`, if its fault window
    /// overlaps `[from, to]`: the members then elect another leader, which judges afresh.
    pub(crate) fn leader_disturbed(&self, from: Instant, to: Instant) -> Option<Instant> {
        let open = self
            .leading
            .iter()
            .enumerate()
            .filter_map(|(n, s)| s.map(|s| (n, s, Instant::from_micros(u64::MAX))));
        let led: Vec<usize> = self
            .reigns
            .iter()
            .copied()
            .chain(open)
            .filter(|&(_, start, end)| start <= to && from <= end)
            .map(|(node, _, _)| node)
            .collect();
        self.windows
            .iter()
            .filter(|w| led.contains(&w.node) && w.start <= to && from <= w.end)
            .map(|w| w.start)
            .max()
    }

    /// Whether `observer`'s verdict on `member` is a mistake younger than `within` (on a
    /// lossy network, an excused one too).
    pub(crate) fn recent_mistake(&self, observer: usize, member: usize, now: Instant, within: Duration) -> bool {
        let young = |since: &Instant| now - *since < within;
        self.open.get(&(observer, member)).is_some_and(young)
            || self
                .excused_open
                .as_ref()
                .and_then(|excused| excused.get(&(observer, member)))
                .is_some_and(young)
    }

    /// The run ended: close every open mistake at the end.
    pub(crate) fn finish(&mut self) {
        let end = self.end;
        self.close_mistakes(end, |_, _| true);
    }

    /// Seconds each node was up inside the measured window.
    pub(crate) fn up_seconds(&self, nodes: usize) -> Vec<f64> {
        let window = (self.end - self.start).as_secs_f64();
        let mut up = vec![window; nodes];
        for c in &self.crashes {
            let from = c.at.max(self.start);
            let to = c.restart_at.unwrap_or(self.end).min(self.end);
            up[c.node] -= (to - from).as_secs_f64();
        }
        up
    }
}

fn fault_window(fault: &Fault, tail: Duration) -> Window {
    let (start, end) = fault.window();
    let end = if fault.kind == FaultKind::Crash {
        Instant::from_micros(u64::MAX)
    } else {
        at(end) + tail
    };
    Window {
        node: fault.node,
        start: at(start),
        end,
    }
}

fn cut(p: &Partition, nodes: usize, tail: Duration) -> Cut {
    let mut side_of = vec![false; nodes];
    for &i in &p.side {
        side_of[i] = true;
    }
    Cut {
        side_of,
        start: at(p.start),
        healed: at(p.start + p.duration),
        end: at(p.start + p.duration) + tail,
    }
}
