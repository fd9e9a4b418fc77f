//! The agent's event log: every verdict change, produced once by the driver (member and
//! leader changes from the node's `Output::Event`s, check and service changes from
//! comparing successive snapshots) and by the check board's follower (this agent's own
//! checks), numbered, kept in a bounded ring for resumption and fanned out to every
//! subscriber (`GET /v1/events`, event handlers, webhooks, the embedding API).
//!
//! **Invariant:** publishing never waits for a subscriber. The fan-out is a
//! `tokio::sync::broadcast` channel: a subscriber that falls more than
//! [`SUBSCRIBER_BUFFER`] events behind is told how many it missed (and the HTTP stream
//! then closes); the ring holds the last [`RING`] events, and a resumption from beyond
//! it is told the gap, never silently skipped. Per-subscriber filters are applied by the
//! subscriber, not here.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio::sync::{broadcast, watch};
use vitals_core::members::Transition;
use vitals_core::why::Why;
use vitals_core::{CheckStatus, Status};

use super::snapshot::Snapshot;
use crate::api::events::{Change, CheckChange, Event, Gap, MemberChange};
use crate::health::checks::Board;

/// Events kept for resumption (`Last-Event-ID`).
pub const RING: usize = 1024;
/// How far behind the newest event one subscriber may fall before it is told it lagged.
pub const SUBSCRIBER_BUFFER: usize = 256;

/// The numbered, bounded log of events and its fan-out.
#[derive(Debug)]
pub struct EventHub {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Event>>,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    capacity: usize,
    events: VecDeque<Arc<Event>>,
}

/// What a new subscriber gets: what it missed that the ring still holds, the gap it
/// cannot be given, and the live feed from there on (no event twice, none lost between).
#[derive(Debug)]
pub struct Subscription {
    /// Held events after the id resumed from, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// Events after the id resumed from that are no longer held.
    pub gap: Option<Gap>,
    /// Every event published after the subscription.
    pub live: broadcast::Receiver<Arc<Event>>,
}

impl EventHub {
    /// A hub whose first id is `first_id`, holding `ring` events, each subscriber at most
    /// `buffer` behind.
    pub fn new(first_id: u64, ring: usize, buffer: usize) -> EventHub {
        let (live, _) = broadcast::channel(buffer.max(1));
        EventHub {
            ring: Mutex::new(Ring {
                next_id: first_id.max(1),
                capacity: ring.max(1),
                events: VecDeque::new(),
            }),
            live,
        }
    }

    /// A hub with the default sizes, numbering from the current time in microseconds
    /// since the Unix epoch (so ids stay above those of the agent's earlier lives).
    pub fn start() -> EventHub {
        let micros = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        EventHub::new(micros, RING, SUBSCRIBER_BUFFER)
    }

    /// Numbers `change`, keeps it and sends it to every subscriber; returns the event.
    pub fn publish(&self, change: Change, at: SystemTime) -> Arc<Event> {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let event = Arc::new(Event {
            id: ring.next_id,
            time: humantime::format_rfc3339_millis(at).to_string(),
            change,
        });
        ring.next_id += 1;
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(Arc::clone(&event));
        // Sent under the lock, so a subscription sees each event either in its backlog or
        // live, never both, never neither. No receiver is not an error.
        let _ = self.live.send(Arc::clone(&event));
        event
    }

    /// Subscribes; with `after`, first replays the held events after that id.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let live = self.live.subscribe();
        let Some(after) = after else {
            return Subscription {
                backlog: Vec::new(),
                gap: None,
                live,
            };
        };
        let oldest = ring.events.front().map_or(ring.next_id, |e| e.id);
        let gap = if after >= ring.next_id {
            // Not an id of this life (a clock that went back across a restart): all we hold.
            Some(Gap {
                from: after + 1,
                to: None,
            })
        } else if after + 1 < oldest {
            Some(Gap {
                from: after + 1,
                to: Some(oldest - 1),
            })
        } else {
            None
        };
        let backlog = ring
            .events
            .iter()
            .filter(|e| gap.as_ref().is_some_and(|g| g.to.is_none()) || e.id > after)
            .cloned()
            .collect();
        Subscription { backlog, gap, live }
    }

    /// The id the next event will have.
    pub fn next_id(&self) -> u64 {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner).next_id
    }
}

/// The member change a node's transition makes, with the accuser and a one-line reason
/// taken from this node's explanation of the new status (`why`, if it has one).
pub fn member_change(t: &Transition, why: Option<&Why>, me: &str, tags: vitals_core::tags::Tags) -> MemberChange {
    let quorum_accuser = why
        .and_then(|w| w.quorum.as_ref())
        .and_then(|q| q.accusers.first())
        .map(|a| a.observer.clone());
    let suspicion_accuser = why
        .and_then(|w| w.suspicion.as_ref())
        .and_then(|s| s.accusers.first().cloned());
    let accuser = match t.to {
        Status::Suspect | Status::Dead => quorum_accuser
            .or(suspicion_accuser)
            .or_else(|| t.silence.map(|_| me.to_string())),
        Status::Alive | Status::Left => None,
    };
    MemberChange {
        member: t.name.clone(),
        addr: t.addr.to_string(),
        from: t.from,
        to: t.to,
        incarnation: t.incarnation,
        reason: reason(t, why),
        accuser,
        tags,
    }
}

/// Why a transition happened, in one line.
fn reason(t: &Transition, why: Option<&Why>) -> String {
    let silence = t
        .silence
        .map(|d| humantime::format_duration(std::time::Duration::from_millis(d.as_millis() as u64)).to_string());
    let quorum = why.and_then(|w| w.quorum.as_ref());
    let suspicion = why.and_then(|w| w.suspicion.as_ref());
    match (t.from, t.to) {
        (None, Status::Alive) => "joined the cluster".into(),
        (_, Status::Left) => "left the cluster on purpose".into(),
        (Some(Status::Alive), Status::Alive) => format!("restarted at incarnation {}", t.incarnation),
        (Some(_), Status::Alive) => format!("heard again at incarnation {}", t.incarnation),
        (_, Status::Dead) => match (quorum, silence) {
            (Some(q), _) => format!(
                "declared dead by {} of {} observers (quorum {})",
                q.accusers.len(),
                q.observers,
                q.needed
            ),
            (None, Some(silence)) => format!("not heard for {silence}"),
            (None, None) => "reported dead by another member".into(),
        },
        (_, Status::Suspect) => match (suspicion, quorum, why.and_then(|w| w.detector.as_ref())) {
            (Some(s), _, _) => format!("suspected by {} (failed probes)", s.accusers.join(", ")),
            (None, Some(q), _) if !q.admitted => format!("awaiting a quorum's vouch ({} needed)", q.needed),
            (None, _, Some(d)) => format!("heartbeats missed (level {:.1})", d.level),
            _ => "suspected by another member".into(),
        },
    }
}

/// The check and service changes between two snapshots: each member's node-level check
/// status (a first report of `passing` is not news) and each service instance's status.
/// Both list their members in name order (`Snapshot::of`), walked side by side.
pub fn snapshot_changes(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    debug_assert!(old.members.is_sorted_by(|a, b| a.name < b.name));
    debug_assert!(new.members.is_sorted_by(|a, b| a.name < b.name));
    let mut before = old.members.iter().peekable();
    let mut changes = Vec::new();
    for member in &new.members {
        while before.next_if(|m| m.name < member.name).is_some() {}
        let previous = before.next_if(|m| m.name == member.name);
        let from = previous.and_then(|m| m.check_status);
        let to = member.check_status;
        if from != to && !(from.is_none() && to == Some(CheckStatus::Passing)) && !member.is_self {
            changes.push(Change::Check(CheckChange {
                name: "node".into(),
                service: None,
                from,
                to,
                member: member.name.clone(),
                tags: member.tags.clone(),
            }));
        }
        let services_before = previous.map(services_of).unwrap_or_default();
        let services_now = services_of(member);
        let names: std::collections::BTreeSet<&String> = services_before.keys().chain(services_now.keys()).collect();
        for name in names {
            let (from, to) = (services_before.get(name).copied(), services_now.get(name).copied());
            if from != to {
                changes.push(Change::Service(CheckChange {
                    name: name.clone(),
                    service: Some(name.clone()),
                    from,
                    to,
                    member: member.name.clone(),
                    tags: member.tags.clone(),
                }));
            }
        }
    }
    changes
}

fn services_of(member: &crate::api::MemberView) -> BTreeMap<String, CheckStatus> {
    let Some(checks) = member.health.as_ref().and_then(|h| h.checks.as_ref()) else {
        return BTreeMap::new();
    };
    checks
        .services
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                vitals_core::score::instance_status(member.health.as_ref(), s),
            )
        })
        .collect()
}

/// The changes of this agent's own checks between two boards (a first result of
/// `passing` is not news).
pub fn board_changes(old: &Board, new: &Board, me: &str, tags: &vitals_core::tags::Tags) -> Vec<Change> {
    new.values()
        .filter_map(|check| {
            let from = old.get(&check.name).map(|c| c.status);
            let to = check.status;
            (from != Some(to) && !(from.is_none() && to == CheckStatus::Passing)).then(|| {
                Change::Check(CheckChange {
                    name: check.name.clone(),
                    service: check.service.clone(),
                    from,
                    to: Some(to),
                    member: me.to_string(),
                    tags: tags.clone(),
                })
            })
        })
        .collect()
}

/// Publishes the changes of this agent's own checks as the board changes, until the
/// board's sender is gone.
pub async fn follow_board(
    mut board: watch::Receiver<Board>,
    hub: Arc<EventHub>,
    me: String,
    tags: vitals_core::tags::Tags,
) {
    let mut last = board.borrow_and_update().clone();
    while board.changed().await.is_ok() {
        let now = board.borrow_and_update().clone();
        for change in board_changes(&last, &now, &me, &tags) {
            hub.publish(change, SystemTime::now());
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::events::LeaderChange;

    fn leader(term: u64) -> Change {
        Change::Leader(LeaderChange {
            leader: Some("a".into()),
            term,
        })
    }

    /// A snapshot listing `members` (name and node-level check status), in that order.
    fn snapshot_of(members: &[(&str, Option<CheckStatus>)]) -> Snapshot {
        use vitals_core::{Config, Instant, Node, Peer, Preset, StrategyKind};
        let addr: std::net::SocketAddr = "127.0.0.1:7946".parse().unwrap();
        let me = Peer {
            name: "me".into(),
            addr,
            incarnation: 0,
        };
        let node = Node::new(me, Config::preset(Preset::Lan, StrategyKind::Ping), 1, Instant::ZERO);
        let context = super::super::snapshot::Context {
            http: addr,
            preset: Preset::Lan,
            seed: 1,
        };
        let mut snapshot = Snapshot::of(&node, context, Instant::ZERO, None);
        let row = snapshot.members[0].clone();
        snapshot.members = members
            .iter()
            .map(|&(name, check_status)| crate::api::MemberView {
                name: name.into(),
                check_status,
                is_self: false,
                ..row.clone()
            })
            .collect();
        snapshot
    }

    #[test]
    fn each_members_check_status_is_compared_with_its_own_previous_one() {
        use CheckStatus::{Critical, Passing, Warning};
        let old = snapshot_of(&[
            ("b", Some(Passing)),
            ("d", Some(Warning)),
            ("e", Some(Critical)),
            ("f", None),
        ]);
        let new = snapshot_of(&[
            ("a", Some(Critical)),
            ("b", Some(Passing)),
            ("c", Some(Passing)),
            ("d", Some(Critical)),
            ("f", Some(Warning)),
        ]);
        let changes: Vec<(String, Option<CheckStatus>, Option<CheckStatus>)> = snapshot_changes(&old, &new)
            .into_iter()
            .map(|c| match c {
                Change::Check(c) => (c.member, c.from, c.to),
                other => panic!("only node checks changed: {other:?}"),
            })
            .collect();
        // `a` is new and critical; `c` is new and passing (not news); `d` went from
        // warning to critical; `e` is gone (no event here); `f` reported a first status.
        assert_eq!(
            changes,
            [
                ("a".into(), None, Some(Critical)),
                ("d".into(), Some(Warning), Some(Critical)),
                ("f".into(), None, Some(Warning)),
            ]
        );
    }

    #[test]
    fn ids_count_up_and_the_ring_keeps_the_last() {
        let hub = EventHub::new(10, 3, 8);
        let ids: Vec<u64> = (0..5).map(|t| hub.publish(leader(t), SystemTime::now()).id).collect();
        assert_eq!(ids, [10, 11, 12, 13, 14]);
        let resumed = hub.subscribe(Some(12));
        assert_eq!(resumed.backlog.iter().map(|e| e.id).collect::<Vec<_>>(), [13, 14]);
        assert_eq!(resumed.gap, None);
    }

    #[test]
    fn a_resumption_beyond_the_ring_is_told_the_gap() {
        let hub = EventHub::new(1, 3, 8);
        for t in 0..6 {
            hub.publish(leader(t), SystemTime::now());
        }
        let resumed = hub.subscribe(Some(1));
        assert_eq!(resumed.gap, Some(Gap { from: 2, to: Some(3) }));
        assert_eq!(resumed.backlog.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 5, 6]);
        let stranger = hub.subscribe(Some(99));
        assert_eq!(stranger.gap, Some(Gap { from: 100, to: None }));
        assert_eq!(stranger.backlog.len(), 3);
    }

    #[test]
    fn a_subscriber_sees_each_later_event_once_and_a_slow_one_is_told_it_lagged() {
        let hub = EventHub::new(1, 16, 2);
        let mut fresh = hub.subscribe(None);
        hub.publish(leader(1), SystemTime::now());
        assert_eq!(fresh.live.try_recv().unwrap().id, 1);
        for t in 0..5 {
            hub.publish(leader(t), SystemTime::now());
        }
        assert!(matches!(
            fresh.live.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
    }

    #[test]
    fn a_transition_names_its_accuser_and_reason() {
        let t = Transition {
            name: "node-2".into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            incarnation: 3,
            from: Some(Status::Suspect),
            to: Status::Dead,
            at: vitals_core::Instant::ZERO,
            silence: Some(std::time::Duration::from_millis(812)),
            quiet: false,
        };
        let change = member_change(&t, None, "node-1", Default::default());
        assert_eq!(change.accuser.as_deref(), Some("node-1"));
        assert_eq!(change.reason, "not heard for 812ms");
        let back = Transition {
            from: Some(Status::Dead),
            to: Status::Alive,
            silence: None,
            ..t
        };
        let change = member_change(&back, None, "node-1", Default::default());
        assert_eq!(
            (change.accuser, change.reason.as_str()),
            (None, "heard again at incarnation 3")
        );
    }
}
