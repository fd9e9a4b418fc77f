//! Ping's queue of news to piggyback: one rumor per member, each sent a bounded number of
//! times, the least-sent first (then the newest). Kept in that order as sends are counted,
//! so that filling a message reads the queue's first rumors instead of sorting all of it
//! (a node queues news of every member that joins: thousands while a large cluster
//! forms), and kept small, since every node holds such a queue. Data only: the ping
//! strategy decides what is news and how many sends it gets.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::message::{Health, Incarnation, MemberEntry, Rumor, Status};
use crate::timing::Timing;
use crate::wire;

/// A queued rumor, how many times it was sent, and its encoded length (measured once,
/// when queued: every outgoing message reads it). The name is the queue's key; what this
/// node's own rumors never carry (health, timing, accusers, an age) is boxed apart,
/// present only for a rumor that came in with some.
#[derive(Clone, Debug)]
pub(super) struct Queued {
    addr: SocketAddr,
    incarnation: Incarnation,
    status: Status,
    rare: Option<Box<RareNews>>,
    sent: u32,
    pub(super) len: usize,
}

/// The parts of a queued rumor that are almost always empty.
#[derive(Clone, Debug)]
struct RareNews {
    health: Option<Health>,
    timing: Option<Timing>,
    accusers: Vec<String>,
    age_ms: u32,
}

impl Queued {
    pub(super) fn new(rumor: Rumor) -> Queued {
        let len = wire::body_len(&rumor);
        let Rumor {
            entry,
            accusers,
            age_ms,
        } = rumor;
        let plain = entry.health.is_none() && entry.timing.is_none() && accusers.is_empty() && age_ms == 0;
        let rare = (!plain).then(|| {
            Box::new(RareNews {
                health: entry.health,
                timing: entry.timing,
                accusers,
                age_ms,
            })
        });
        Queued {
            addr: entry.addr,
            incarnation: entry.incarnation,
            status: entry.status,
            rare,
            sent: 0,
            len,
        }
    }

    /// The rumor as it was queued, about `name` (the queue's key).
    pub(super) fn rumor(&self, name: &str) -> Rumor {
        let rare = self.rare.as_deref();
        Rumor {
            entry: MemberEntry {
                name: name.to_owned(),
                addr: self.addr,
                incarnation: self.incarnation,
                status: self.status,
                health: rare.and_then(|r| r.health.clone()),
                timing: rare.and_then(|r| r.timing),
            },
            accusers: rare.map(|r| r.accusers.clone()).unwrap_or_default(),
            age_ms: rare.map_or(0, |r| r.age_ms),
        }
    }
}

/// Where a queued rumor sits: (times sent, its arrival, newest first).
pub(super) type Slot = (u32, Reverse<u64>);

/// The rumors sent a given number of times, newest first, with their members' names.
type Level = BTreeMap<Reverse<u64>, (Box<str>, Queued)>;

/// The queued rumors, by times sent and then newest first: `by_sends[s]` holds those
/// sent `s` times (a send moves a rumor one level up; news enters at level 0). Newest
/// first, as memberlist's queue: fresh news (a suspicion, a refutation, a death) is not
/// held behind a backlog of join news, and each node's backlog goes out in its own order
/// of arrival, so that while a large cluster forms the nodes do not all hold back the
/// same members' news (in name order, members late in it reached some nodes only after a
/// minute at N = 500).
#[derive(Clone, Debug, Default)]
pub(super) struct News {
    by_sends: Vec<Level>,
    /// Where each member's rumor sits.
    slots: BTreeMap<Box<str>, Slot>,
    /// How many queued rumors have each encoded length (the shortest ends a fill).
    lens: BTreeMap<usize, usize>,
    /// Arrivals so far (the next rumor's order).
    arrivals: u64,
}

impl News {
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many rumors are queued.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The status queued about `name`, if any.
    #[cfg(test)]
    pub(super) fn status_of(&self, name: &str) -> Option<crate::message::Status> {
        let (level, order) = self.slots.get(name)?;
        self.by_sends[*level as usize].get(order).map(|(_, q)| q.status)
    }

    /// Queues `rumor`, unsent and newest, in place of any rumor about the same member.
    pub(super) fn insert(&mut self, rumor: Rumor) {
        let name: Box<str> = rumor.entry.name.as_str().into();
        if let Some((level, order)) = self.slots.remove(&name)
            && let Some((_, queued)) = self.by_sends[level as usize].remove(&order)
        {
            self.uncount(queued.len);
        }
        self.arrivals += 1;
        self.enqueue(name, Queued::new(rumor), Reverse(self.arrivals));
    }

    fn enqueue(&mut self, name: Box<str>, queued: Queued, order: Reverse<u64>) {
        *self.lens.entry(queued.len).or_default() += 1;
        let level = queued.sent as usize;
        if self.by_sends.len() <= level {
            self.by_sends.resize_with(level + 1, BTreeMap::new);
        }
        self.slots.insert(name.clone(), (queued.sent, order));
        self.by_sends[level].insert(order, (name, queued));
    }

    fn uncount(&mut self, len: usize) {
        if let Some(count) = self.lens.get_mut(&len) {
            *count -= 1;
            if *count == 0 {
                self.lens.remove(&len);
            }
        }
    }

    /// The rumors a message carries within `budget` bytes: by times sent, then newest
    /// first, each that still fits (skipping `skip`'s, already carried, and suspicions
    /// unless `suspicions`); stops once not even the shortest rumor fits.
    pub(super) fn least_sent_that_fit(&self, budget: usize, skip: Option<&str>, suspicions: bool) -> Vec<Slot> {
        let Some(&shortest) = self.lens.keys().next() else {
            return Vec::new();
        };
        let mut chosen = Vec::new();
        let mut used = 0;
        for (level, queue) in self.by_sends.iter().enumerate() {
            for (order, (name, queued)) in queue {
                if used + shortest > budget {
                    return chosen;
                }
                let unwanted = !suspicions && queued.status == Status::Suspect;
                if used + queued.len > budget || unwanted || skip.is_some_and(|s| s == &**name) {
                    continue;
                }
                used += queued.len;
                chosen.push((level as u32, *order));
            }
        }
        chosen
    }

    /// The rumor at `slot`, counted as sent once more: dropped from the queue once sent
    /// `limit` times.
    pub(super) fn send(&mut self, (level, order): Slot, limit: u32) -> Option<Rumor> {
        let (name, mut queued) = self.by_sends.get_mut(level as usize)?.remove(&order)?;
        let rumor = queued.rumor(&name);
        self.uncount(queued.len);
        queued.sent += 1;
        if queued.sent < limit {
            self.enqueue(name, queued, order);
        } else {
            self.slots.remove(&name);
        }
        Some(rumor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Preset, StrategyKind};

    fn rumor(name: &str, incarnation: Incarnation) -> Rumor {
        Rumor {
            entry: MemberEntry {
                name: name.to_owned(),
                addr: "10.0.0.1:7946".parse().expect("an address"),
                incarnation,
                status: Status::Alive,
                health: None,
                timing: None,
            },
            accusers: Vec::new(),
            age_ms: 0,
        }
    }

    #[test]
    fn a_queued_rumor_is_small_and_comes_out_as_it_went_in() {
        assert!(std::mem::size_of::<Queued>() <= 64, "{}", std::mem::size_of::<Queued>());
        let plain = rumor("n7", 7);
        assert!(Queued::new(plain.clone()).rare.is_none());
        assert_eq!(Queued::new(plain.clone()).rumor("n7"), plain);
        let mut rare = rumor("n8", 8);
        rare.entry.status = Status::Suspect;
        rare.entry.timing = Some(Timing::of(&Config::preset(Preset::Lan, StrategyKind::Ping)));
        rare.accusers = vec!["n1".to_owned(), "n2".to_owned()];
        rare.age_ms = 250;
        let queued = Queued::new(rare.clone());
        assert_eq!(queued.len, wire::body_len(&rare));
        assert_eq!(queued.rumor("n8"), rare);
    }

    /// What a fill must be: every rumor sorted by (times sent, newest first), taken while
    /// it fits. `held`: (times sent, arrival, name, length).
    fn sorted_fill(held: &[(u32, Reverse<u64>, String, usize)], budget: usize, skip: Option<&str>) -> Vec<String> {
        let mut by_sends = held.to_vec();
        by_sends.sort();
        let shortest = by_sends.iter().map(|(_, _, _, len)| *len).min().unwrap_or(0);
        let (mut used, mut chosen) = (0, Vec::new());
        for (_, _, name, len) in by_sends {
            if used + shortest > budget {
                break;
            }
            if used + len <= budget && skip != Some(name.as_str()) {
                used += len;
                chosen.push(name);
            }
        }
        chosen
    }

    #[test]
    fn a_fill_takes_the_least_sent_newest_first_as_a_full_sort_would() {
        let mut news = News::default();
        let mut held: Vec<(u32, Reverse<u64>, String, usize)> = Vec::new();
        let names: Vec<String> = (0..90).map(|i| format!("n{}", i * 37 % 1000)).collect();
        let mut arrivals = 0;
        for (i, name) in names.iter().enumerate() {
            let r = rumor(name, (i % 7) as u64 * 1000);
            arrivals += 1;
            held.push((0, Reverse(arrivals), name.clone(), wire::body_len(&r)));
            news.insert(r);
        }
        let limit = 4;
        for round in 0..200 {
            let (budget, skip) = (200 + round % 5 * 150, names.get(round % 90).map(String::as_str));
            let fill = news.least_sent_that_fit(budget, skip, true);
            let sent: Vec<String> = fill
                .into_iter()
                .map(|slot| news.send(slot, limit).expect("queued").entry.name)
                .collect();
            assert_eq!(sent, sorted_fill(&held, budget, skip), "round {round}");
            for name in sent {
                let at = held.iter().position(|(_, _, n, _)| *n == name).expect("held");
                held[at].0 += 1;
                if held[at].0 >= limit {
                    held.remove(at);
                }
            }
            if round % 10 == 0 {
                // News about a member already queued replaces it, unsent and newest.
                let name = &names[round % 90 + 1];
                held.retain(|(_, _, n, _)| n != name);
                let r = rumor(name, 99_999);
                arrivals += 1;
                held.push((0, Reverse(arrivals), name.clone(), wire::body_len(&r)));
                news.insert(r);
            }
        }
        assert!(held.len() < names.len(), "rumors ran out of sends");
        assert_eq!(news.is_empty(), held.is_empty());
    }
}
