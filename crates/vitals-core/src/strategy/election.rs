//! Raft's leader election without a log: terms, one vote per term, majorities, randomised
//! election timeouts, pre-vote, check-quorum and leader leases. A pure state machine:
//! it is told the time, the voter set and what arrived, and answers with the messages to
//! send (addressed by name). It owns the term, the vote, the role, the known leader, the
//! election timer and the leader's acknowledgements; it never sends, never reads a clock,
//! never knows an address and never touches a member's status.
//!
//! References: "§5.x" is Ongaro & Ousterhout, *In Search of an Understandable Consensus
//! Algorithm (Extended Version)*, 2014; "thesis §x" is Ongaro, *Consensus: Bridging Theory
//! and Practice*, 2014. §5.4.1 (the election restriction: vote only for a candidate whose
//! log is at least as up to date) does not apply: there is no log, so every voter is an
//! acceptable leader and the only comparison is the term.
//!
//! **Invariants.** At most one leader per term (§5.2: one vote per term, a majority of a
//! fixed voter set; tested after every step of the core's simulations). With leases, at
//! most one leader *acting* at any instant: a leader acts only until
//! `t + lease`, where `t` is the send time of its latest heartbeat round acknowledged by a
//! majority; a voter grants no vote within `election_timeout` of hearing its leader
//! (thesis §4.2.3), and `lease × (1 + drift) < election_timeout × (1 − drift)`
//! (`Config::validate`), so any majority that elects a successor contains a voter whose
//! acknowledgement bounds the old lease, and the old lease ends first (thesis §6.4.1).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::rng::Rng;
use crate::time::Instant;

/// A node's part in elections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Follows the leader of its term (or waits for one).
    Follower,
    /// Asks whether it could win before standing (thesis §9.6).
    PreCandidate,
    /// Stands for election in its term (§5.2).
    Candidate,
    /// Won its term's election (§5.2).
    Leader,
    /// Not a voter: never votes or stands, only follows.
    Observer,
}

/// What a node knows about leadership, for the host's API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Leadership {
    /// The leader of `term` as this node knows it.
    pub leader: Option<String>,
    /// The node's current term.
    pub term: u64,
    /// The voters, in name order.
    pub voters: Vec<String>,
    /// This node's role.
    pub role: Role,
    /// When this node leads: the instant its lease ends (it publishes its view until then).
    pub lease_until: Option<Instant>,
    /// Whether this node knows a leader elected by a majority. `false`: no leader quorum,
    /// and this node judges every member with its own detectors until there is one.
    pub quorum: bool,
    /// Why this node does not stand for election now (`bootstrap_expect` not reached, or
    /// its seeds never answered), if it does not.
    pub held: Option<String>,
}

/// Election timing, from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// Raft's election timeout `T`; timers are drawn from `[T, 2T]`.
    pub(crate) election_timeout: Duration,
    /// How long after a majority-acknowledged round the leader may act.
    pub(crate) lease: Duration,
}

/// What a vote request or reply is about: the term, and whether it is a pre-vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ballot {
    pub(crate) term: u64,
    pub(crate) pre: bool,
}

/// Messages to send, addressed by member name.
pub(crate) type Sends = Vec<(String, Message)>;

#[derive(Clone, Debug)]
pub(crate) struct Election {
    me: String,
    timing: Timing,
    /// Whether the voter set is configured (else: every member known, see `known`).
    configured: bool,
    term: u64,
    voted_for: Option<String>,
    role: Role,
    leader: Option<String>,
    granted: BTreeSet<String>,
    /// Non-leaders: when the election timer fires.
    deadline: Instant,
    /// When this node last heard the leader of its term.
    leader_contact: Option<Instant>,
    /// Leader: since when it leads.
    leader_since: Instant,
    /// Leader: per voter, the send time of the latest heartbeat of this term it echoed.
    acked: BTreeMap<String, Instant>,
}

impl Election {
    pub(crate) fn new(me: &str, timing: Timing, configured: bool, now: Instant, rng: &mut Rng) -> Election {
        let mut election = Election {
            me: me.to_string(),
            timing,
            configured,
            term: 0,
            voted_for: None,
            role: Role::Follower,
            leader: None,
            granted: BTreeSet::new(),
            deadline: now,
            leader_contact: None,
            leader_since: now,
            acked: BTreeMap::new(),
        };
        election.rearm(now, rng);
        election
    }

    pub(crate) fn term(&self) -> u64 {
        self.term
    }

    pub(crate) fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// When the election timer fires (non-leaders only; a leader ticks every round).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        (self.role != Role::Leader).then_some(self.deadline)
    }

    /// §5.2: "election timeouts are chosen randomly from a fixed interval", here `[T, 2T]`,
    /// from the node's seeded generator, so that split votes are rare and resolve.
    fn rearm(&mut self, now: Instant, rng: &mut Rng) {
        let t = self.timing.election_timeout;
        let extra = rng.below(u64::try_from(t.as_micros()).unwrap_or(u64::MAX).saturating_add(1));
        self.deadline = now + t + Duration::from_micros(extra);
    }

    fn quorum(voters: &BTreeSet<String>) -> usize {
        voters.len() / 2 + 1
    }

    /// Time passed: check-quorum for a leader, the election timer for the others.
    /// `may_stand`: false while the node must not start an election (its timer runs on).
    pub(crate) fn tick(&mut self, now: Instant, voters: &BTreeSet<String>, may_stand: bool, rng: &mut Rng) -> Sends {
        if self.role == Role::Leader {
            // Thesis §6.2 (check-quorum): a leader that has not completed a heartbeat round
            // with a majority within an election timeout steps down, so that clients (here:
            // members and the API) stop trusting a leader that cannot lead.
            let heard = self.quorum_acked(now, voters).unwrap_or(self.leader_since);
            if now >= heard.max(self.leader_since) + self.timing.election_timeout {
                self.become_follower(now, self.term, None, rng);
                self.leader_contact = None;
            }
            return Vec::new();
        }
        if now < self.deadline {
            return Vec::new();
        }
        self.rearm(now, rng);
        if !voters.contains(&self.me) || !may_stand {
            return Vec::new(); // observers never stand, nor a node held back
        }
        self.start_pre_vote(now, voters, rng)
    }

    /// Thesis §9.6 (pre-vote): before raising its term, a would-be candidate asks whether
    /// a majority would vote for it; a node cut off from the majority therefore never
    /// raises its term, and cannot depose a healthy leader when it returns.
    fn start_pre_vote(&mut self, now: Instant, voters: &BTreeSet<String>, rng: &mut Rng) -> Sends {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.granted = BTreeSet::from([self.me.clone()]);
        if self.granted.len() >= Election::quorum(voters) {
            return self.start_election(now, voters, rng);
        }
        self.requests(voters, self.term + 1, true)
    }

    /// §5.2: a candidate increments its term, votes for itself and asks every voter.
    fn start_election(&mut self, now: Instant, voters: &BTreeSet<String>, rng: &mut Rng) -> Sends {
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.me.clone());
        self.granted = BTreeSet::from([self.me.clone()]);
        self.leader = None;
        self.rearm(now, rng);
        if self.granted.len() >= Election::quorum(voters) {
            self.become_leader(now);
            return Vec::new();
        }
        self.requests(voters, self.term, false)
    }

    fn requests(&self, voters: &BTreeSet<String>, term: u64, pre: bool) -> Sends {
        let known = u32::try_from(voters.len()).unwrap_or(u32::MAX);
        voters
            .iter()
            .filter(|v| **v != self.me)
            .map(|v| (v.clone(), Message::VoteRequest { term, pre, known }))
            .collect()
    }

    /// §5.2: a candidate that wins a majority becomes leader (the caller sends its first
    /// heartbeat at once, to establish its authority).
    fn become_leader(&mut self, now: Instant) {
        self.role = Role::Leader;
        self.leader = Some(self.me.clone());
        self.leader_since = now;
        self.leader_contact = None;
        self.acked.clear();
    }

    /// §5.1: a node that sees a higher term adopts it and becomes a follower (forgetting
    /// its vote, which was for an older term).
    fn become_follower(&mut self, now: Instant, term: u64, leader: Option<String>, rng: &mut Rng) {
        if term > self.term {
            self.voted_for = None;
        }
        self.term = term;
        self.role = Role::Follower;
        self.leader = leader;
        self.granted.clear();
        self.acked.clear();
        self.rearm(now, rng);
    }

    /// A (pre-)vote request from `from`, who knows `known` voters. Returns the reply.
    pub(crate) fn on_vote_request(
        &mut self,
        now: Instant,
        from: &str,
        Ballot { term, pre }: Ballot,
        known: u32,
        voters: &BTreeSet<String>,
        rng: &mut Rng,
    ) -> Message {
        // Thesis §4.2.3 (and §9.6): a node that heard from a current leader within the
        // minimum election timeout neither updates its term nor grants its vote. A leader
        // hears itself. This is also what makes leases safe (see the module docs).
        let sticky = self.role == Role::Leader
            || self
                .leader_contact
                .is_some_and(|t| now < t + self.timing.election_timeout);
        // Only voters vote and stand. With default voters, a candidate that knows fewer
        // voters than this node has an incomplete view of the cluster and is refused.
        let eligible =
            voters.contains(from) && voters.contains(&self.me) && (self.configured || known as usize >= voters.len());
        if pre {
            // Thesis §9.6: grant if the candidate's next term would be newer than ours
            // (no log to compare, §5.4.1 N/A). A pre-vote changes no state.
            let granted = term > self.term && !sticky && eligible;
            let term = if granted { term } else { self.term };
            return Message::VoteReply { term, pre, granted };
        }
        if sticky {
            return Message::VoteReply {
                term: self.term,
                pre,
                granted: false,
            };
        }
        if term > self.term {
            self.become_follower(now, term, None, rng); // §5.1
        }
        // §5.2: at most one vote per term, first come first served.
        let granted = term == self.term && eligible && self.voted_for.as_deref().is_none_or(|v| v == from);
        if granted {
            self.voted_for = Some(from.to_string());
            self.rearm(now, rng); // §5.2: granting a vote resets the election timer
        }
        Message::VoteReply {
            term: self.term,
            pre,
            granted,
        }
    }

    /// The answer to one of this node's vote requests.
    pub(crate) fn on_vote_reply(
        &mut self,
        now: Instant,
        from: &str,
        Ballot { term, pre }: Ballot,
        granted: bool,
        voters: &BTreeSet<String>,
        rng: &mut Rng,
    ) -> Sends {
        if !granted {
            if term > self.term {
                self.become_follower(now, term, None, rng); // §5.1
            }
            return Vec::new();
        }
        if !voters.contains(from) {
            return Vec::new();
        }
        match (self.role, pre) {
            (Role::PreCandidate, true) if term == self.term + 1 => {
                self.granted.insert(from.to_string());
                if self.granted.len() >= Election::quorum(voters) {
                    return self.start_election(now, voters, rng);
                }
            }
            (Role::Candidate, false) if term == self.term => {
                self.granted.insert(from.to_string());
                if self.granted.len() >= Election::quorum(voters) {
                    self.become_leader(now);
                }
            }
            _ => {} // a late answer to an earlier campaign
        }
        Vec::new()
    }

    /// A heartbeat from `from`, leader of `term`. Returns whether it is accepted (false:
    /// the sender leads an older term and must be told ours, §5.1).
    pub(crate) fn on_heartbeat(&mut self, now: Instant, from: &str, term: u64, rng: &mut Rng) -> bool {
        if term < self.term || (term == self.term && self.role == Role::Leader) {
            // The second case cannot happen (one leader per term); refuse rather than follow.
            return false;
        }
        // §5.2: a candidate (or pre-candidate) that hears a leader of its term or a later
        // one recognises it and returns to follower; a follower resets its timer.
        self.become_follower(now, term, Some(from.to_string()), rng);
        self.leader_contact = Some(now);
        true
    }

    /// A member's report in `term`, echoing a heartbeat this node sent at `echoed`.
    pub(crate) fn on_report(&mut self, now: Instant, from: &str, term: u64, echoed: Option<Instant>, rng: &mut Rng) {
        if term > self.term {
            self.become_follower(now, term, None, rng); // §5.1
            self.leader_contact = None;
            return;
        }
        if let (Role::Leader, true, Some(at)) = (self.role, term == self.term, echoed) {
            let held = self.acked.entry(from.to_string()).or_insert(at);
            *held = (*held).max(at);
        }
    }

    /// The latest send time `t` such that a majority of voters (this leader counting as
    /// `now`) acknowledged a heartbeat of this term sent at or after `t`.
    fn quorum_acked(&self, now: Instant, voters: &BTreeSet<String>) -> Option<Instant> {
        let mut times: Vec<Instant> = voters
            .iter()
            .filter_map(|v| {
                if *v == self.me {
                    Some(now)
                } else {
                    self.acked.get(v).copied()
                }
            })
            .collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        times.get(Election::quorum(voters) - 1).copied()
    }

    /// Thesis §6.4.1: a leader may act (publish verdicts) until its lease ends.
    pub(crate) fn lease_until(&self, now: Instant, voters: &BTreeSet<String>) -> Option<Instant> {
        if self.role != Role::Leader {
            return None;
        }
        self.quorum_acked(now, voters).map(|t| t + self.timing.lease)
    }

    pub(crate) fn holds_lease(&self, now: Instant, voters: &BTreeSet<String>) -> bool {
        self.lease_until(now, voters).is_some_and(|until| now < until)
    }

    pub(crate) fn leadership(&self, now: Instant, voters: &BTreeSet<String>) -> Leadership {
        let role = if voters.contains(&self.me) || self.role == Role::Leader {
            self.role
        } else {
            Role::Observer
        };
        Leadership {
            leader: self.leader.clone(),
            term: self.term,
            voters: voters.iter().cloned().collect(),
            role,
            lease_until: self.lease_until(now, voters),
            quorum: self.leader.is_some(),
            held: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn voters() -> BTreeSet<String> {
        ["a", "b", "c"].into_iter().map(String::from).collect()
    }

    fn node(name: &str) -> (Election, Rng) {
        let mut rng = Rng::seeded(1);
        let timing = Timing {
            election_timeout: Duration::from_millis(600),
            lease: Duration::from_millis(480),
        };
        (Election::new(name, timing, true, at(0), &mut rng), rng)
    }

    fn reply_fields(message: &Message) -> (u64, bool) {
        match message {
            Message::VoteReply { term, granted, .. } => (*term, *granted),
            other => panic!("not a vote reply: {other:?}"),
        }
    }

    #[test]
    fn a_voter_grants_one_vote_per_term() {
        let (mut b, mut rng) = node("b");
        let v = voters();
        let first = b.on_vote_request(at(2000), "a", Ballot { term: 1, pre: false }, 3, &v, &mut rng);
        let second = b.on_vote_request(at(2001), "c", Ballot { term: 1, pre: false }, 3, &v, &mut rng);
        assert_eq!(reply_fields(&first), (1, true));
        assert_eq!(reply_fields(&second), (1, false));
        let again = b.on_vote_request(at(2002), "a", Ballot { term: 1, pre: false }, 3, &v, &mut rng);
        assert_eq!(
            reply_fields(&again),
            (1, true),
            "a repeated request gets the same answer"
        );
    }

    #[test]
    fn a_voter_that_hears_its_leader_refuses_votes_and_pre_votes() {
        let (mut b, mut rng) = node("b");
        let v = voters();
        assert!(b.on_heartbeat(at(100), "a", 1, &mut rng));
        let pre = b.on_vote_request(at(200), "c", Ballot { term: 2, pre: true }, 3, &v, &mut rng);
        let real = b.on_vote_request(at(200), "c", Ballot { term: 2, pre: false }, 3, &v, &mut rng);
        assert_eq!(reply_fields(&pre), (1, false));
        assert_eq!(reply_fields(&real), (1, false));
        assert_eq!(b.term(), 1, "the term is not raised by a disruptive candidate");
        let late = b.on_vote_request(at(701), "c", Ballot { term: 2, pre: true }, 3, &v, &mut rng);
        assert_eq!(reply_fields(&late), (2, true));
        assert_eq!(b.term(), 1, "a pre-vote changes no state");
    }

    #[test]
    fn a_pre_vote_majority_then_a_vote_majority_make_a_leader() {
        let (mut a, mut rng) = node("a");
        let v = voters();
        let sends = a.tick(at(5000), &v, true, &mut rng);
        assert_eq!(sends.len(), 2);
        assert_eq!(a.term(), 0, "pre-vote does not raise the term");
        let sends = a.on_vote_reply(at(5001), "b", Ballot { term: 1, pre: true }, true, &v, &mut rng);
        assert_eq!(a.term(), 1);
        assert!(matches!(
            sends[0].1,
            Message::VoteRequest {
                term: 1,
                pre: false,
                ..
            }
        ));
        a.on_vote_reply(at(5002), "c", Ballot { term: 1, pre: false }, true, &v, &mut rng);
        assert!(a.is_leader());
        assert!(!a.holds_lease(at(5002), &v), "no lease before a majority acknowledges");
        a.on_report(at(5010), "c", 1, Some(at(5003)), &mut rng);
        assert_eq!(a.lease_until(at(5010), &v), Some(at(5483)));
        assert!(a.holds_lease(at(5482), &v));
        assert!(!a.holds_lease(at(5483), &v));
    }

    #[test]
    fn a_leader_that_cannot_hear_a_majority_steps_down() {
        let (mut a, mut rng) = node("a");
        let v = voters();
        a.tick(at(5000), &v, true, &mut rng);
        a.on_vote_reply(at(5001), "b", Ballot { term: 1, pre: true }, true, &v, &mut rng);
        a.on_vote_reply(at(5002), "b", Ballot { term: 1, pre: false }, true, &v, &mut rng);
        assert!(a.is_leader());
        a.tick(at(5601), &v, true, &mut rng);
        assert!(a.is_leader(), "an election timeout has not passed yet");
        a.tick(at(5602), &v, true, &mut rng);
        assert!(!a.is_leader(), "check-quorum");
        assert_eq!(a.term(), 1);
        assert_eq!(a.leader(), None);
    }

    #[test]
    fn a_higher_term_anywhere_makes_a_leader_follow() {
        let (mut a, mut rng) = node("a");
        let v = voters();
        a.tick(at(5000), &v, true, &mut rng);
        a.on_vote_reply(at(5001), "b", Ballot { term: 1, pre: true }, true, &v, &mut rng);
        a.on_vote_reply(at(5002), "b", Ballot { term: 1, pre: false }, true, &v, &mut rng);
        a.on_report(at(5100), "c", 3, None, &mut rng);
        assert!(!a.is_leader());
        assert_eq!(a.term(), 3);
        assert!(
            !a.on_heartbeat(at(5200), "b", 2, &mut rng),
            "an older leader is refused"
        );
    }

    #[test]
    fn observers_never_stand() {
        let (mut d, mut rng) = node("d");
        let v = voters();
        assert!(d.tick(at(10_000), &v, true, &mut rng).is_empty());
        assert_eq!(d.leadership(at(10_000), &v).role, Role::Observer);
        let reply = d.on_vote_request(at(10_000), "a", Ballot { term: 1, pre: false }, 3, &v, &mut rng);
        assert_eq!(reply_fields(&reply), (1, false), "observers do not vote");
    }

    #[test]
    fn the_election_timer_fires_between_t_and_2t_after_the_last_word_of_a_leader() {
        let timing = Timing {
            election_timeout: Duration::from_millis(600),
            lease: Duration::from_millis(480),
        };
        let (t, two_t) = (Duration::from_millis(600), Duration::from_millis(1200));
        let mut seen = BTreeSet::new();
        for seed in 0..200 {
            let mut rng = Rng::seeded(seed);
            let mut b = Election::new("b", timing, true, at(0), &mut rng);
            let first = b.deadline().expect("a follower has a timer") - at(0);
            assert!((t..=two_t).contains(&first), "seed {seed}: {first:?}");
            assert!(b.on_heartbeat(at(5000), "a", 1, &mut rng));
            let rearmed = b.deadline().expect("a follower has a timer") - at(5000);
            assert!((t..=two_t).contains(&rearmed), "seed {seed}: {rearmed:?}");
            seen.insert(rearmed.as_millis() / 100);
        }
        assert!(seen.len() >= 5, "drawn across the interval, not fixed: {seen:?}");
    }
}
