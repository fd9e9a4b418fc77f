//! Gossip: scuttlebutt-style heartbeat counters (van Renesse et al., 2008; as in
//! Cassandra and chitchat).
//!
//! Every interval a node raises its own heartbeat counter and sends a [`Message::Digest`]
//! to `gossip.fanout` random members that are up (and, every few rounds, to one member
//! held dead, so the two sides of a healed partition meet again). The receiver merges by
//! maximum, `(incarnation, heartbeat)` compared in that order, and answers with a
//! [`Message::DigestReply`]: its own counter and the counters it holds newer than the
//! digest did (push-pull), never more bytes than the digest it answers.
//!
//! **Bounded digests.** A digest is at most `gossip.digest_budget` bytes whatever the
//! cluster size: the sender's own entry; the entry of the target when the sender holds
//! it dead (so it refutes); the entries whose counters rose here most recently (fresh
//! news travels on, a quarter of the budget); then a slice of the member list in name
//! order that rotates from one digest to the next, so every member is covered every
//! `N / entries` digests. Bytes per node per second are therefore at most
//! `2 × fanout × digest_budget / interval`, independent of N.
//!
//! **Evidence, not verdicts.** A rise of a member's counter is proof that it was alive at
//! that incarnation: it is reported to [`crate::members::Members`] as a direct
//! observation (which clears a local suspicion, and counts as hearing from it) and as
//! an arrival for its detector. Each node judges every member from these arrivals (phi
//! or missed heartbeats); a `Dead` status in a digest is never adopted for a third
//! party. Incarnations and addresses travel in digests, so restarts and new members
//! spread; a node that reads that it is held dead or left refutes (through
//! [`crate::strategy::Ctx::learn`], via the entries returned to the node), and an
//! announced departure (`Left`) is taken as news. A node restarted without state counts
//! from 0 at the incarnation its previous instance had; the first reply carrying that
//! instance's higher counter makes it count on from there, so its counter rises again.
//!
//! This module never sets a status and never encodes a datagram; its only randomness is
//! `ctx.rng`.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Duration;

use foldhash::quality::FixedState;
use hashbrown::HashTable;

use crate::bounds::Cluster;
use crate::config::{Config, DetectorKind, GossipConfig};
use crate::members::Member;
use crate::message::{Beat, Health, Incarnation, MemberEntry, Message, Peer, Status};
use crate::strategy::{Ctx, DEAD_FULL_RATE_ROUNDS, DEAD_RETRY_ROUNDS};
use crate::wire;

/// Most names remembered as "recently risen" (the candidates for the fresh-news part).
const RECENT: usize = 128;
/// Bytes of a digest's body besides the health and the entries (the variant tag, the
/// option and the list length), rounded up.
const OVERHEAD: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Gossip {
    /// This node's own counter, raised every interval. The highest counter seen from each
    /// other member, with its incarnation, is held in the member table
    /// ([`crate::members::Members::counted`]), found by the table's hash index.
    heartbeat: u64,
    /// Names whose counter rose here, most recent last (may repeat).
    recent: VecDeque<String>,
    /// Where the rotating slice of the next digest starts (after this name).
    cursor: Option<String>,
    /// The fanout and the digest budget.
    settings: GossipConfig,
}

/// A digest being filled up to its budget, with the names it holds (borrowed from the
/// member table or the digest being answered).
struct Filling<'a> {
    entries: Vec<Beat>,
    /// Lookups only, never iterated. A fixed key is enough: at most
    /// `wire::MAX_LIST_ENTRIES` names, so even names chosen to collide cost little.
    names: HashTable<&'a str>,
    used: usize,
    budget: usize,
}

impl<'a> Filling<'a> {
    fn new(budget: usize) -> Filling<'a> {
        Filling {
            entries: Vec::new(),
            names: HashTable::new(),
            used: 0,
            budget,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.find(name_hash(name), |held| *held == name).is_some()
    }

    fn add_name(&mut self, name: &'a str) {
        if !self.has(name) {
            self.names.insert_unique(name_hash(name), name, |held| name_hash(held));
        }
    }

    /// Adds `beat` (about `name`) if it fits and is not in yet; returns whether it fits.
    fn push(&mut self, name: &'a str, beat: Beat) -> bool {
        if self.has(name) {
            return true;
        }
        let len = wire::body_len(&beat);
        if self.used + len > self.budget && !self.entries.is_empty() {
            return false;
        }
        self.used += len;
        self.add_name(name);
        self.entries.push(beat);
        true
    }

    fn full(&self) -> bool {
        self.used + wire::MAX_NAME_LEN / 4 + 12 > self.budget
    }
}

impl Gossip {
    pub(crate) fn new(settings: GossipConfig) -> Gossip {
        Gossip {
            heartbeat: 0,
            recent: VecDeque::new(),
            cursor: None,
            settings,
        }
    }

    /// Members a digest goes to each interval.
    pub(crate) fn fanout(&self) -> usize {
        self.settings.fanout
    }

    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        self.heartbeat += 1;
        let targets = self.targets(ctx);
        let members = &ctx.members;
        let expected = targets
            .iter()
            .filter(|(name, _)| members.get(name).is_some_and(|m| members.expects_to_hear(ctx.now, m)))
            .count();
        ctx.members.expect_messages(ctx.now, expected);
        for (name, addr) in targets {
            let budget = self.settings.digest_budget;
            let (health, entries) = self.digest(ctx, Some(&name), budget);
            let digest = Message::Digest { health, entries };
            debug_assert!(
                wire::body_len(&digest) <= budget
                    || matches!(&digest, Message::Digest { entries, .. } if entries.len() == 1),
                "a digest never exceeds gossip.digest_budget (unless its own entry alone does)"
            );
            ctx.send(addr, digest);
        }
    }

    /// `fanout` distinct random members that are up; while fewer than `fanout` are up
    /// here, the rest from members declared dead within [`DEAD_FULL_RATE_ROUNDS`]
    /// intervals (memberlist's gossip to the dead: a node that hears almost nothing and
    /// holds everyone dead still sends its heartbeat, so its deafness does not make it
    /// dead to the others); and every [`DEAD_RETRY_ROUNDS`] rounds one random member held
    /// dead.
    fn targets(&self, ctx: &mut Ctx<'_>) -> Vec<(String, SocketAddr)> {
        let fanout = self.settings.fanout;
        let mut up = ctx.random_up(fanout);
        let recent = ctx.config.interval * DEAD_FULL_RATE_ROUNDS;
        let (mut fresh, mut dead): (Vec<_>, Vec<_>) = ctx
            .members
            .others()
            .filter(|m| m.status == Status::Dead)
            .map(|m| ((m.name.clone(), m.addr), ctx.now - m.since < recent))
            .partition(|(_, fresh)| *fresh);
        while up.len() < fanout && !fresh.is_empty() {
            let j = ctx.rng.below(fresh.len() as u64) as usize;
            up.push(fresh.swap_remove(j).0);
        }
        dead.append(&mut fresh);
        if ctx.round.is_multiple_of(DEAD_RETRY_ROUNDS) && !dead.is_empty() {
            let j = ctx.rng.below(dead.len() as u64) as usize;
            up.push(dead.swap_remove(j).0);
        }
        up
    }

    /// The health to carry and a window of entries for `target`, within `budget` bytes.
    fn digest(&mut self, ctx: &Ctx<'_>, target: Option<&str>, budget: usize) -> (Option<Health>, Vec<Beat>) {
        let health = ctx.health.clone();
        let left = budget.saturating_sub(wire::body_len(&health) + OVERHEAD);
        let mut fill = Filling::new(left);
        fill.push(&ctx.me.name, self.own(ctx));
        if let Some((name, beat)) = target
            .and_then(|t| beat(ctx, t))
            .filter(|(_, b)| b.status == Status::Dead)
        {
            fill.push(name, beat);
        }
        self.add_recent(ctx, &mut fill, left / 4);
        self.add_rotating(ctx, &mut fill);
        (health, fill.entries)
    }

    fn own(&self, ctx: &Ctx<'_>) -> Beat {
        Beat {
            name: ctx.me.name.clone(),
            addr: ctx.me.addr,
            incarnation: ctx.me.incarnation,
            status: Status::Alive,
            heartbeat: self.heartbeat,
        }
    }

    /// Fresh news: the members whose counters rose here most recently, up to `until` bytes.
    fn add_recent<'c>(&self, ctx: &'c Ctx<'_>, fill: &mut Filling<'c>, until: usize) {
        for name in self.recent.iter().rev() {
            if fill.used >= until || fill.full() {
                return;
            }
            if fill.has(name) {
                continue; // in already (`recent` repeats names; a reply lists the digest's)
            }
            if let Some((name, beat)) = beat(ctx, name).filter(|(_, b)| b.status.is_up())
                && !fill.push(name, beat)
            {
                return;
            }
        }
    }

    /// The rotating slice: members in name order from the cursor on, wrapping once.
    fn add_rotating<'c>(&mut self, ctx: &'c Ctx<'_>, fill: &mut Filling<'c>) {
        let start = self.cursor.as_deref().unwrap_or_default();
        let mut last: Option<&str> = None;
        for (member, counter) in ctx.members.counted_from(start) {
            if fill.full() {
                break;
            }
            let Some(beat) = beat_of(member, counter).filter(|b| b.status.is_up()) else {
                continue;
            };
            if !fill.push(&member.name, beat) {
                break;
            }
            last = Some(&member.name);
        }
        if let Some(last) = last {
            self.cursor = Some(last.to_owned());
        }
    }

    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        match message {
            Message::Digest { health, entries } => {
                ctx.members.heard_message(ctx.now);
                ctx.members.set_health(&from.name, health.clone());
                let reply = self.reply(ctx, &health, &entries);
                ctx.send(src, reply);
                self.merge(ctx, from, entries)
            }
            Message::DigestReply { health, entries } => {
                ctx.members.heard_message(ctx.now);
                ctx.members.set_health(&from.name, health);
                self.merge(ctx, from, entries)
            }
            _ => {
                ctx.out.ignored();
                Vec::new()
            }
        }
    }

    /// The pull half: our own counter, the counters we hold newer than the digest's,
    /// then up to a quarter of the budget of fresh news it did not mention; never more
    /// bytes than the digest. (What is newer here is about half of a digest at any N,
    /// so a reply's size hardly depends on N.)
    fn reply(&mut self, ctx: &Ctx<'_>, health: &Option<Health>, digest: &[Beat]) -> Message {
        let request = wire::body_len(health) + digest.iter().map(wire::body_len).sum::<usize>();
        let budget = request.min(self.settings.digest_budget);
        let own = self.own(ctx);
        // A health sample that would make the reply larger than the digest stays home
        // (the replier's own digests carry it).
        let health = ctx
            .health
            .clone()
            .filter(|h| wire::body_len(h) + wire::body_len(&own) + OVERHEAD <= budget);
        let mut fill = Filling::new(budget.saturating_sub(wire::body_len(&health)));
        fill.push(&ctx.me.name, own);
        for theirs in digest {
            if fill.full() {
                break;
            }
            let Some((member, ours)) = ctx.members.counted(&theirs.name) else {
                continue;
            };
            if ours > (theirs.incarnation, theirs.heartbeat)
                && let Some(beat) = beat_of(member, ours).filter(|b| b.status.is_up())
            {
                fill.push(&member.name, beat);
            }
        }
        for theirs in digest {
            fill.add_name(&theirs.name);
        }
        let until = fill.used + fill.budget / 4;
        self.add_recent(ctx, &mut fill, until);
        Message::DigestReply {
            health,
            entries: fill.entries,
        }
    }

    /// Merge by maximum: every counter that rose is evidence of life for its member.
    /// Returns the entries the node must learn: news of this node held dead, left or
    /// superseded (it refutes), and departures.
    fn merge(&mut self, ctx: &mut Ctx<'_>, from: &Peer, entries: Vec<Beat>) -> Vec<MemberEntry> {
        let mut learn = Vec::new();
        for beat in entries {
            if beat.name == ctx.me.name {
                let accused = matches!(beat.status, Status::Dead | Status::Left);
                if beat.incarnation == ctx.me.incarnation && beat.heartbeat > self.heartbeat {
                    // A previous instance of this node (restarted without state) counted
                    // higher: count on from there, or nobody would see this one's counter rise.
                    self.heartbeat = beat.heartbeat;
                }
                if accused || beat.incarnation > ctx.me.incarnation {
                    learn.push(entry_of(beat));
                }
                continue;
            }
            match beat.status {
                Status::Left => {
                    learn.push(entry_of(beat));
                    continue;
                }
                Status::Dead => continue, // a verdict: each node judges for itself
                Status::Alive | Status::Suspect => {}
            }
            let key = (beat.incarnation, beat.heartbeat);
            if ctx.members.counted(&beat.name).is_some_and(|(_, held)| held >= key) {
                continue;
            }
            if beat.name != from.name {
                let peer = Peer {
                    name: beat.name.clone(),
                    addr: beat.addr,
                    incarnation: beat.incarnation,
                };
                if crate::quorum::applies(ctx.config) {
                    crate::quorum::hold_unconfirmed(ctx.members, ctx.now, &peer);
                }
                let observed = ctx.members.observe(ctx.now, &peer);
                if matches!(
                    observed,
                    crate::members::Observed::Stale
                        | crate::members::Observed::Refused
                        | crate::members::Observed::Overtaken
                ) {
                    // Held dead at that incarnation (only its refutation revives it), or
                    // the counter of an incarnation already superseded.
                    continue;
                }
            }
            self.rose(ctx, beat);
        }
        debug_assert!(
            learn.iter().all(|e| e.name == ctx.me.name || e.status != Status::Dead),
            "a third party's death is never adopted from a digest"
        );
        learn
    }

    fn rose(&mut self, ctx: &mut Ctx<'_>, beat: Beat) {
        ctx.members.arrival(ctx.now, &beat.name);
        ctx.members.set_counter(&beat.name, beat.incarnation, beat.heartbeat);
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(beat.name);
    }
}

/// The entry this node would send about `name`, and the name as the member table holds
/// it: only a counter of the incarnation the table holds.
fn beat<'c>(ctx: &'c Ctx<'_>, name: &str) -> Option<(&'c str, Beat)> {
    let (member, counter) = ctx.members.counted(name)?;
    Some((&member.name, beat_of(member, counter)?))
}

/// A name's hash for [`Filling`]'s set (foldhash with a fixed key: deterministic).
fn name_hash(name: &str) -> u64 {
    FixedState::with_seed(0x6469_6765_7374).hash_one(name)
}

/// The entry this node sends about `member`: only a counter of the incarnation held.
fn beat_of(member: &Member, (incarnation, heartbeat): (Incarnation, u64)) -> Option<Beat> {
    (incarnation == member.incarnation).then(|| Beat {
        name: member.name.clone(),
        addr: member.addr,
        incarnation,
        status: member.status,
        heartbeat,
    })
}

fn entry_of(beat: Beat) -> MemberEntry {
    MemberEntry {
        name: beat.name,
        addr: beat.addr,
        incarnation: beat.incarnation,
        status: beat.status,
        health: None,
        timing: None,
    }
}

/// The bound of an observer in `cluster`: the detector's tolerance (whose timeout
/// already allows for two hops), one interval of phase, and the rounds a counter needs to
/// reach every node. A digest lists about `digest_budget / 25` members; beyond that a
/// member's counter is refreshed at a node only every `N / (fanout × that / 2)` rounds
/// (the rotation), and the rumour needs `log_(fanout+1) N` rounds to spread: both count,
/// twice.
pub(crate) fn detection_bound(config: &Config, gossip: &GossipConfig, cluster: &Cluster) -> Duration {
    let c = config;
    let n = cluster.nodes.max(2) as f64;
    let per_digest = (gossip.digest_budget / 25).max(1) as f64;
    let rotation = (n / (gossip.fanout as f64 * per_digest / 2.0)).ceil() as u32;
    let spread = n.log(gossip.fanout as f64 + 1.0).ceil() as u32;
    let tolerance = match c.detector {
        DetectorKind::Missed => c.dead_after(),
        DetectorKind::Phi if cluster.lossy => c.dead_after().max(c.interval * (c.threshold + 4)),
        DetectorKind::Phi => c.dead_after().max(c.interval * (c.threshold + 2)),
    };
    tolerance + c.interval * (1 + 2 * (rotation + spread)) + cluster.delay * 2
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::{Config, Preset, StrategyConfig, StrategyKind};
    use crate::strategy::fixture::{Fixture, messages, names};
    use crate::time::Instant;

    /// A node that holds a counter of `heartbeat` for each of `count` members.
    fn fixture(count: usize, budget: usize, heartbeat: u64) -> (Fixture, Vec<String>) {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Gossip);
        config.strategy = StrategyConfig::Gossip(GossipConfig {
            digest_budget: budget,
            ..GossipConfig::default()
        });
        let others = names(count);
        let mut f = Fixture::new(config, &others);
        for name in &others {
            f.members.set_counter(name, 0, heartbeat);
        }
        (f, others)
    }

    fn gossip_of(f: &Fixture) -> Gossip {
        match &f.config.strategy {
            StrategyConfig::Gossip(settings) => Gossip::new(settings.clone()),
            other => unreachable!("a gossip fixture runs {other:?}"),
        }
    }

    fn digests(sent: Vec<Message>) -> Vec<Message> {
        sent.into_iter()
            .filter(|m| matches!(m, Message::Digest { .. }))
            .collect()
    }

    #[test]
    fn a_digest_never_exceeds_its_budget_and_the_slices_cover_everyone() {
        for budget in [200, 600, wire::LIST_BUDGET] {
            let (mut f, others) = fixture(300, budget, 5);
            let mut gossip = gossip_of(&f);
            let mut listed = BTreeSet::new();
            for _ in 0..300 {
                gossip.on_round(&mut f.ctx(Instant::ZERO));
                for digest in digests(messages(f.sent())) {
                    assert!(
                        wire::body_len(&digest) <= budget,
                        "{} > {budget}",
                        wire::body_len(&digest)
                    );
                    let Message::Digest { entries, .. } = digest else {
                        unreachable!()
                    };
                    assert_eq!(entries[0].name, "me", "the own entry comes first");
                    listed.extend(entries.into_iter().map(|b| b.name));
                }
            }
            for name in &others {
                assert!(listed.contains(name), "{name} never listed at budget {budget}");
            }
        }
    }

    #[test]
    fn a_reply_is_never_larger_than_the_digest_it_answers() {
        let (mut f, others) = fixture(300, wire::LIST_BUDGET, 9);
        let mut gossip = gossip_of(&f);
        let ctx = f.ctx(Instant::ZERO);
        for size in [1, 5, 30] {
            // The asker holds older counters than ours for `size` members: all news to it.
            let digest: Vec<Beat> = others[..size]
                .iter()
                .map(|name| {
                    let mut beat = beat(&ctx, name).expect("counted").1;
                    beat.heartbeat = 1;
                    beat
                })
                .collect();
            let request = Message::Digest {
                health: None,
                entries: digest.clone(),
            };
            let reply = gossip.reply(&ctx, &None, &digest);
            let Message::DigestReply { entries, .. } = &reply else {
                unreachable!()
            };
            // A one-entry digest leaves room only for the replier's own entry.
            assert!(
                size == 1 || entries.len() > 1,
                "the reply carries news besides its own entry"
            );
            assert!(wire::body_len(&reply) <= wire::body_len(&request).max(wire::body_len(&entries[0]) + OVERHEAD));
        }
    }
}
