//! Ping's queue of news to piggyback: one rumor per member, each sent a bounded number of
//! times, the least-sent first (then by name). Kept in that order as sends are counted,
//! so that filling a message reads the queue's first rumors instead of sorting all of it
//! (a node queues news of every member that joins: thousands while a large cluster
//! forms), and kept small, since every node holds such a queue. Data only: the ping
//! strategy decides what is news and how many sends it gets.

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

/// The queued rumors, by times sent and then name: `by_sends[s]` holds those sent `s`
/// times (a send moves a rumor one level up; news enters at level 0).
#[derive(Clone, Debug, Default)]
pub(super) struct News {
    by_sends: Vec<BTreeMap<Box<str>, Queued>>,
    /// How many queued rumors have each encoded length (the shortest ends a fill).
    lens: BTreeMap<usize, usize>,
}

impl News {
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.by_sends.iter().all(BTreeMap::is_empty)
    }

    /// Queues `rumor`, unsent, in place of any rumor about the same member.
    pub(super) fn insert(&mut self, rumor: Rumor) {
        let name: Box<str> = rumor.entry.name.as_str().into();
        for level in 0..self.by_sends.len() {
            if let Some(queued) = self.by_sends[level].remove(&name) {
                self.uncount(queued.len);
                break;
            }
        }
        self.enqueue(name, Queued::new(rumor));
    }

    fn enqueue(&mut self, name: Box<str>, queued: Queued) {
        *self.lens.entry(queued.len).or_default() += 1;
        let level = queued.sent as usize;
        if self.by_sends.len() <= level {
            self.by_sends.resize_with(level + 1, BTreeMap::new);
        }
        self.by_sends[level].insert(name, queued);
    }

    fn uncount(&mut self, len: usize) {
        if let Some(count) = self.lens.get_mut(&len) {
            *count -= 1;
            if *count == 0 {
                self.lens.remove(&len);
            }
        }
    }

    /// The rumors a message carries within `budget` bytes, as (times sent, name): by
    /// times sent, then name, each that still fits (skipping `skip`'s, already carried);
    /// stops once not even the shortest rumor fits.
    pub(super) fn least_sent_that_fit(&self, budget: usize, skip: Option<&str>) -> Vec<(u32, Box<str>)> {
        let Some(&shortest) = self.lens.keys().next() else {
            return Vec::new();
        };
        let mut chosen = Vec::new();
        let mut used = 0;
        for (level, queue) in self.by_sends.iter().enumerate() {
            for (name, queued) in queue {
                if used + shortest > budget {
                    return chosen;
                }
                if used + queued.len > budget || skip.is_some_and(|s| s == &**name) {
                    continue;
                }
                used += queued.len;
                chosen.push((level as u32, name.clone()));
            }
        }
        chosen
    }

    /// The rumor about `name`, sent `sent` times so far, counted as sent once more:
    /// dropped from the queue once sent `limit` times.
    pub(super) fn send(&mut self, sent: u32, name: Box<str>, limit: u32) -> Option<Rumor> {
        let mut queued = self.by_sends.get_mut(sent as usize)?.remove(&name)?;
        let rumor = queued.rumor(&name);
        self.uncount(queued.len);
        queued.sent += 1;
        if queued.sent < limit {
            self.enqueue(name, queued);
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

    /// What a fill must be: every rumor sorted by (times sent, name), taken while it fits.
    fn sorted_fill(held: &[(u32, String, usize)], budget: usize, skip: Option<&str>) -> Vec<String> {
        let mut by_sends = held.to_vec();
        by_sends.sort();
        let shortest = by_sends.iter().map(|(_, _, len)| *len).min().unwrap_or(0);
        let (mut used, mut chosen) = (0, Vec::new());
        for (_, name, len) in by_sends {
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
    fn a_fill_takes_the_least_sent_by_name_as_a_full_sort_would() {
        let mut news = News::default();
        let mut held: Vec<(u32, String, usize)> = Vec::new();
        let names: Vec<String> = (0..90).map(|i| format!("n{}", i * 37 % 1000)).collect();
        for (i, name) in names.iter().enumerate() {
            let r = rumor(name, (i % 7) as u64 * 1000);
            held.push((0, name.clone(), wire::body_len(&r)));
            news.insert(r);
        }
        let limit = 4;
        for round in 0..200 {
            let (budget, skip) = (200 + round % 5 * 150, names.get(round % 90).map(String::as_str));
            let fill = news.least_sent_that_fit(budget, skip);
            let names_filled: Vec<String> = fill.iter().map(|(_, name)| name.to_string()).collect();
            assert_eq!(names_filled, sorted_fill(&held, budget, skip), "round {round}");
            for (sent, name) in fill {
                let name = name.to_string();
                let rumor = news.send(sent, name.as_str().into(), limit);
                assert_eq!(rumor.map(|r| r.entry.name), Some(name.clone()));
                let at = held.iter().position(|(_, n, _)| *n == name).expect("held");
                held[at].0 += 1;
                if held[at].0 >= limit {
                    held.remove(at);
                }
            }
            if round % 10 == 0 {
                // News about a member already queued replaces it, unsent.
                let name = &names[round % 90 + 1];
                held.retain(|(_, n, _)| n != name);
                let r = rumor(name, 99_999);
                held.push((0, name.clone(), wire::body_len(&r)));
                news.insert(r);
            }
        }
        assert!(held.len() < names.len(), "rumors ran out of sends");
        assert_eq!(news.is_empty(), held.is_empty());
    }
}
