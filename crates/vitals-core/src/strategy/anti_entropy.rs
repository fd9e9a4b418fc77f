//! How often a node makes a full state exchange (anti-entropy): ping's push-pull
//! (`Ping::push_pull`: its whole member list to one random member, and theirs asked for)
//! and push's and pull's sync (`Ctx::sync_now_and_then`: a join's paged reply). Each
//! exchange carries every member, O(N) bytes, so at a fixed period a node's bytes per
//! second would grow with the cluster. The period is spaced with the cluster's size
//! instead, so that a node's anti-entropy bytes stay at most what they cost at
//! [`ANTI_ENTROPY_MEMBERS`] members.

use crate::strategy::Ctx;

/// How many members up one anti-entropy exchange per `probes.push_pull_rounds` rounds may
/// carry: beyond, exchanges are `⌈up / ANTI_ENTROPY_MEMBERS⌉` times further apart
/// ([`anti_entropy_rounds`]), so a node sends at most about `ANTI_ENTROPY_MEMBERS` members'
/// entries each way per `push_pull_rounds` whatever N: a sawtooth between about half
/// (101 members up) and all (100, 200, 300...) of the cost at 100 members, flat in N.
///
/// Why 100: every cluster of up to 100 members exchanges exactly as before (the period
/// stays `push_pull_rounds`, 60 by default: memberlist's 30 s push-pull at its 1 s
/// probes), and at 100 members the exchanges cost about 60 B/s per node at a 1 s interval
/// (about 37 bytes per member each way, measured: docs/SCALE.md), a quarter of ping's
/// 256 B/s at rest there; the budget is the cost of a size where a full exchange was
/// already accepted, not a new one. A smaller constant would trim that quarter but slow
/// the repair in clusters below 100 too. memberlist scales its interval by
/// `⌈log2 n − log2 32⌉ + 1` above 32 nodes instead: 6 at 1,000 nodes, an exchange of
/// 1,000 members every 180 s, about 5 times its bytes per node at 32 and O(N / log N) as
/// N grows; here 1,000 members up exchange every 600 rounds.
///
/// The price: a node's exchanges are further apart in a large cluster. Under ping a node
/// starts one with a member up every `2 × anti_entropy_rounds` (the others go to a member
/// held dead) and is some other node's partner about as often, so a node that missed
/// some news is in an exchange about every `push_pull_rounds × ⌈N / 100⌉` rounds
/// (10 minutes at 1,000 members and a 1 s interval; memberlist, about 90 s).
/// Anti-entropy is the backstop: news travels piggybacked in O(log N) periods, and a
/// healed partition is found by ping's reconnect loop, whose cost does not depend on N.
pub(crate) const ANTI_ENTROPY_MEMBERS: usize = 100;

/// Besides the periodic ones, a node makes an exchange at the first of these rounds after
/// its start, the settling time (`members::SETTLE_INTERVALS`), and at each later one if a
/// member was first added to its table since the one before (its list was still
/// incomplete then, so it may still be). A cluster forming spreads news of each join
/// piggybacked, each rumor sent `retransmit_mult × ⌈log10(N + 1)⌉` times by every node
/// that hears it, to random members: about `N² e^-sends` pairs are missed (a few at
/// N = 500), and each waited for a periodic exchange (at 500 agents forming on 2 cores,
/// one agent lacked a member for 196 s; with an exchange at round 20, the last to form
/// learned four members it had missed in its seed's list at its round 20). By the
/// settling time a node has read its seed's list (within 4 s of its start at N = 500 on
/// two cores) and most news of its own start has spread. But a node that read only part
/// of its seed's list (the seed stopped answering after a page) meets, at its first
/// exchange, a partner that may be forming itself: at N = 500 such an agent lacked two
/// members for over 120 s, its round-10 exchange having brought 6 (docs/SCALE.md, "A
/// fifth of the cluster at once"), and met the others one by one. The exchanges at rounds
/// 20 and 40 find partners that have formed. Each is O(N) bytes each way, so it is made
/// only while the table still grows: a node that joined a formed cluster and read its
/// seed's whole list makes the first alone.
pub(crate) const EARLY_EXCHANGE_ROUNDS: [u64; 3] = [SETTLE, 2 * SETTLE, 4 * SETTLE];
const SETTLE: u64 = crate::members::SETTLE_INTERVALS as u64;

/// Rounds between two anti-entropy exchanges of a node that holds `up` members up (itself
/// included): `push_pull_rounds × max(1, ⌈up / ANTI_ENTROPY_MEMBERS⌉)`.
pub(crate) fn anti_entropy_rounds(push_pull_rounds: u32, up: usize) -> u64 {
    u64::from(push_pull_rounds) * up.div_ceil(ANTI_ENTROPY_MEMBERS).max(1) as u64
}

/// Whether a node exchanges at its round `round`, exchanging every `period` rounds
/// ([`anti_entropy_rounds`]) and at its [`EARLY_EXCHANGE_ROUNDS`]: the first always, a
/// later one if `added_within(rounds)`, a member was first added to its table within the
/// `rounds` rounds since the early exchange before.
pub(crate) fn exchange_due(round: u64, period: u64, added_within: impl FnOnce(u64) -> bool) -> bool {
    if round.is_multiple_of(period) {
        return true;
    }
    match EARLY_EXCHANGE_ROUNDS.iter().position(|&r| r == round) {
        Some(0) => true,
        Some(i) => added_within(round - EARLY_EXCHANGE_ROUNDS[i - 1]),
        None => false,
    }
}

impl Ctx<'_> {
    /// [`anti_entropy_rounds`] for this node's configuration and the members it holds up.
    pub(crate) fn anti_entropy_rounds(&self) -> u64 {
        anti_entropy_rounds(self.config.probes.push_pull_rounds, self.members.up_count())
    }

    /// [`exchange_due`] at this node's round `round`.
    pub(crate) fn exchange_due(&self, round: u64) -> bool {
        let (now, interval) = (self.now, self.config.interval);
        exchange_due(round, self.anti_entropy_rounds(), |rounds| {
            self.members.added_within(now, interval * rounds as u32)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Preset, StrategyKind};
    use crate::message::Message;
    use crate::message::Status;
    use crate::strategy::fixture::{Fixture, entry, messages, names};
    use crate::time::Instant;

    #[test]
    fn the_period_is_push_pull_rounds_up_to_a_hundred_members_then_grows_with_every_hundred() {
        let cases = [
            (0, 60),
            (1, 60),
            (100, 60),
            (101, 120),
            (200, 120),
            (250, 180),
            (1000, 600),
        ];
        for (up, rounds) in cases {
            assert_eq!(anti_entropy_rounds(60, up), rounds, "{up} members up");
        }
        assert_eq!(anti_entropy_rounds(10, 401), 50, "the configured rounds scale too");
    }

    /// The rounds in `1..=rounds` at which a push node holding `others` + 1 members up asks
    /// one of them for its member list, its rounds one interval apart, and a new member
    /// first added at each of the rounds in `added`.
    fn push_syncs(others: usize, rounds: u64, added: &[u64]) -> Vec<u64> {
        let config = Config::preset(Preset::LanFast, StrategyKind::Push);
        let interval = config.interval;
        let mut f = Fixture::new(config, &names(others));
        let mut synced = Vec::new();
        for round in 1..=rounds {
            let now = Instant::ZERO + interval * round as u32;
            if added.contains(&round) {
                f.members.apply(
                    now,
                    &entry(&format!("new{round}"), 1000 + round as usize, Status::Alive),
                );
            }
            let mut ctx = f.ctx(now);
            ctx.round = round;
            ctx.sync_now_and_then();
            let joins = messages(f.sent())
                .into_iter()
                .filter(|m| *m == Message::join(0))
                .count();
            if joins > 0 {
                assert_eq!(joins, 1, "one partner at round {round}");
                synced.push(round);
            }
        }
        synced
    }

    #[test]
    fn push_syncs_at_round_10_then_every_60_rounds_with_100_members_up_and_every_180_with_250() {
        assert_eq!(push_syncs(99, 360, &[]), [10, 60, 120, 180, 240, 300, 360]);
        assert_eq!(push_syncs(249, 360, &[]), [10, 180, 360]);
    }

    #[test]
    fn a_node_whose_table_still_grows_syncs_again_at_rounds_20_and_40() {
        // A member added after round 10 brings round 20's exchange; one added after 20,
        // round 40's; none added since the early exchange before, none.
        assert_eq!(push_syncs(249, 200, &[15]), [10, 20, 180]);
        assert_eq!(push_syncs(249, 200, &[25]), [10, 40, 180]);
        assert_eq!(push_syncs(249, 200, &[5, 15, 30]), [10, 20, 40, 180]);
        assert_eq!(push_syncs(249, 200, &[5, 41]), [10, 180]);
    }
}
