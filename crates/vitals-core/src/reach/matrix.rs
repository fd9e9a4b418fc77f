//! The N×N reachability matrix from the rows one node holds, and the class of every
//! unreachable pair: node down (nobody hears it), link down (most hear it, one does
//! not), sick observer (it hears almost nobody), or partition (neither: a good part of
//! the cluster does not hear it). Sparse: counts cost O(N + names listed), so the
//! summary of 1,000 members is cheap; the cells themselves are built only up to
//! [`FULL_MATRIX_MAX`] members.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Row;

/// Up to this many members the matrix has every cell; beyond it, per-observer counts
/// and the unreachable pairs only (at most [`MAX_PAIRS_LISTED`] of them).
pub const FULL_MATRIX_MAX: usize = 64;
/// Most unreachable pairs listed (their total is always given).
pub const MAX_PAIRS_LISTED: usize = 256;

/// Why an observer does not hear a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Class {
    /// Nobody (or at most one in five observers with a word) hears the member.
    NodeDown,
    /// At least as many hear the member as do not: this link is broken.
    LinkDown,
    /// The observer hears fewer than half of the members that are not down, most of
    /// which the others hear.
    SickObserver,
    /// More observers do not hear the member than do (a split cluster).
    Partition,
}

impl Class {
    /// How `vitals matrix` and the dashboard say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::NodeDown => "node down",
            Class::LinkDown => "link down",
            Class::SickObserver => "sick observer",
            Class::Partition => "partition",
        }
    }
}

/// One unreachable pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unreachable {
    /// Who does not hear.
    pub observer: String,
    /// Whom it does not hear.
    pub target: String,
    /// Why, as the matrix reads it.
    pub class: Class,
}

/// One observer's line in the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObserverSummary {
    /// The observer.
    pub observer: String,
    /// Members it hears.
    pub heard: u32,
    /// Members it does not hear.
    pub unheard: u32,
    /// How old its row is, in milliseconds (0 for the serving node's own).
    pub age_ms: u64,
    /// The median round-trip time it measured, in milliseconds, where known.
    pub median_rtt_ms: Option<f64>,
}

/// One observer's row of cells, in the order of [`Matrix::members`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixRow {
    /// The observer.
    pub observer: String,
    /// One character per member: `h` heard, `x` not heard, `.` no word (no row from this
    /// observer, or it does not judge that member), `-` itself.
    pub cells: String,
    /// Round-trip times in milliseconds, per member, where this node measured them (its
    /// own row only; empty for the others).
    pub rtt_ms: Vec<Option<f64>>,
}

/// `GET /v1/reachability`: who hears whom, as one node holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Matrix {
    /// Whether every cell is given (at most [`FULL_MATRIX_MAX`] members).
    pub full: bool,
    /// The columns (and rows) in name order: every member not left. Empty when not `full`.
    pub members: Vec<String>,
    /// One row per member, in `members` order. Empty when not `full`.
    pub rows: Vec<MatrixRow>,
    /// Every observer whose row this node holds (itself included), in name order.
    pub observers: Vec<ObserverSummary>,
    /// Members nobody hears.
    pub node_down: Vec<String>,
    /// Observers that hear fewer than half of the members that are not down.
    pub sick_observers: Vec<String>,
    /// Unreachable pairs, at most [`MAX_PAIRS_LISTED`] (node-down pairs last).
    pub unreachable: Vec<Unreachable>,
    /// How many unreachable pairs there are in all.
    pub unreachable_total: u64,
}

/// One observer's row as the matrix reads it.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The observer.
    pub observer: &'a str,
    /// Its row.
    pub row: &'a Row,
    /// The row's age.
    pub age: Duration,
    /// Round-trip times this node measured itself, by member (its own row only).
    pub rtt_us: BTreeMap<&'a str, u32>,
}

/// One observer's row read once against the targets: the members it lists as target
/// indices (sorted), so that its word about a member costs a binary search over the few it
/// lists rather than a scan of their names.
struct Indexed {
    /// The observer's own index among the targets, if it is one.
    me: Option<usize>,
    others: Option<bool>,
    heard: Vec<usize>,
    unheard: Vec<usize>,
}

impl Indexed {
    fn of(o: &Observed<'_>, index: &BTreeMap<&str, usize>) -> Indexed {
        let listed = |names: &[String]| {
            let mut at: Vec<usize> = names.iter().filter_map(|n| index.get(n.as_str()).copied()).collect();
            at.sort_unstable();
            at.dedup();
            at
        };
        Indexed {
            me: index.get(o.observer).copied(),
            others: o.row.others,
            heard: listed(&o.row.heard),
            unheard: listed(&o.row.unheard),
        }
    }

    /// The same as [`Row::word`] for the target at `t`.
    fn word(&self, t: usize) -> Option<bool> {
        if self.unheard.binary_search(&t).is_ok() {
            Some(false)
        } else if self.heard.binary_search(&t).is_ok() {
            Some(true)
        } else {
            self.others
        }
    }

    /// The targets (itself aside) this observer does not hear, in index order.
    fn unheard_targets(&self, n: usize) -> Vec<usize> {
        let mut unheard: Vec<usize> = if self.others == Some(false) {
            (0..n).filter(|t| self.word(*t) == Some(false)).collect()
        } else {
            self.unheard.clone()
        };
        unheard.retain(|t| Some(*t) != self.me);
        unheard
    }
}

/// Per-target counts of the observers (other than the target) that hear it and not.
struct Tally {
    heard: Vec<u32>,
    unheard: Vec<u32>,
}

/// Builds the matrix of `targets` (every member not left, name order) from the rows of
/// `observers` (name order).
pub fn build(targets: &[&str], observers: &[Observed<'_>]) -> Matrix {
    let index: BTreeMap<&str, usize> = targets.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let indexed: Vec<Indexed> = observers.iter().map(|o| Indexed::of(o, &index)).collect();
    let tally = tally(&index, targets.len(), observers);
    let down: Vec<bool> = (0..targets.len())
        .map(|t| tally.unheard[t] > 0 && tally.heard[t] * 4 <= tally.unheard[t])
        .collect();
    let down_at: Vec<usize> = (0..targets.len()).filter(|t| down[*t]).collect();
    let mut summaries = Vec::with_capacity(observers.len());
    let mut sick = vec![false; observers.len()];
    for (i, (o, x)) in observers.iter().zip(&indexed).enumerate() {
        let (heard, unheard) = counts(o, &index);
        let (down_heard, down_unheard) = down_at
            .iter()
            .filter(|t| Some(**t) != x.me)
            .fold((0, 0), |(h, u), t| match x.word(*t) {
                Some(true) => (h + 1, u),
                Some(false) => (h, u + 1),
                None => (h, u),
            });
        let (alive_heard, alive_unheard) = (heard - down_heard, unheard - down_unheard);
        sick[i] = alive_unheard >= 2
            && alive_heard * 2 < alive_heard + alive_unheard
            && others_hear(x, targets.len(), &tally);
        summaries.push(ObserverSummary {
            observer: o.observer.to_owned(),
            heard,
            unheard,
            age_ms: u64::try_from(o.age.as_millis()).unwrap_or(u64::MAX),
            median_rtt_ms: o.row.median_rtt_us.map(|us| f64::from(us) / 1e3),
        });
    }
    let class = |observer: usize, t: usize| {
        if down[t] {
            Class::NodeDown
        } else if sick[observer] {
            Class::SickObserver
        } else if tally.heard[t] >= tally.unheard[t] {
            Class::LinkDown
        } else {
            Class::Partition
        }
    };
    let (unreachable, unreachable_total) = pairs(targets, observers, &indexed, &class);
    let full = targets.len() <= FULL_MATRIX_MAX;
    Matrix {
        full,
        members: if full {
            targets.iter().map(|t| (*t).to_owned()).collect()
        } else {
            Vec::new()
        },
        rows: if full { cells(targets, observers) } else { Vec::new() },
        observers: summaries,
        node_down: down_at.iter().map(|t| targets[*t].to_owned()).collect(),
        sick_observers: observers
            .iter()
            .zip(&sick)
            .filter(|(_, s)| **s)
            .map(|(o, _)| o.observer.to_owned())
            .collect(),
        unreachable,
        unreachable_total,
    }
}

/// Sparse: each observer adds its default word to a base count, and its listed names
/// correct it.
fn tally(index: &BTreeMap<&str, usize>, n: usize, observers: &[Observed<'_>]) -> Tally {
    let base = |word: bool| observers.iter().filter(|o| o.row.others == Some(word)).count() as u32;
    let (base_heard, base_unheard) = (base(true), base(false));
    let mut tally = Tally {
        heard: vec![base_heard; n],
        unheard: vec![base_unheard; n],
    };
    for o in observers {
        // An observer says nothing of itself.
        if let Some(&me) = index.get(o.observer) {
            match o.row.others {
                Some(true) => tally.heard[me] -= 1,
                Some(false) => tally.unheard[me] -= 1,
                None => {}
            }
        }
        let listed = |names: &[String]| -> Vec<usize> {
            names
                .iter()
                .filter(|name| name.as_str() != o.observer)
                .filter_map(|name| index.get(name.as_str()).copied())
                .collect()
        };
        for t in listed(&o.row.unheard) {
            tally.unheard[t] += 1;
            if o.row.others == Some(true) {
                tally.heard[t] = tally.heard[t].saturating_sub(1);
            }
        }
        for t in listed(&o.row.heard) {
            tally.heard[t] += 1;
            if o.row.others == Some(false) {
                tally.unheard[t] = tally.unheard[t].saturating_sub(1);
            }
        }
    }
    tally
}

/// Whether most of the members `o` does not hear are heard by at least as many others
/// as do not hear them (else `o` is on the small side of a split, not sick).
fn others_hear(o: &Indexed, n: usize, tally: &Tally) -> bool {
    let (mut heard, mut not) = (0, 0);
    for t in o.unheard_targets(n) {
        // `o` is one of those that do not hear it: count the others.
        if tally.heard[t] > tally.unheard[t].saturating_sub(1) {
            heard += 1;
        } else {
            not += 1;
        }
    }
    heard > not
}

/// How many members `o` hears and does not hear, among the targets.
fn counts(o: &Observed<'_>, index: &BTreeMap<&str, usize>) -> (u32, u32) {
    let listed = |names: &[String]| {
        names
            .iter()
            .filter(|n| n.as_str() != o.observer && index.contains_key(n.as_str()))
            .count() as u32
    };
    let (heard, unheard) = (listed(&o.row.heard), listed(&o.row.unheard));
    let others = index.len() as u32 - u32::from(index.contains_key(o.observer));
    let rest = others.saturating_sub(heard + unheard);
    match o.row.others {
        Some(true) => (heard + rest, unheard),
        Some(false) => (heard, unheard + rest),
        None => (heard, unheard),
    }
}

/// The unreachable pairs: every one counted, the first [`MAX_PAIRS_LISTED`] listed,
/// those not explained by a node down first.
fn pairs(
    targets: &[&str],
    observers: &[Observed<'_>],
    indexed: &[Indexed],
    class: &dyn Fn(usize, usize) -> Class,
) -> (Vec<Unreachable>, u64) {
    let mut listed = Vec::new();
    let mut down = Vec::new();
    let mut total = 0u64;
    for (i, (o, x)) in observers.iter().zip(indexed).enumerate() {
        let unheard: Vec<usize> = if o.row.others == Some(false) {
            x.unheard_targets(targets.len())
        } else {
            // As listed (a row read from the wire may repeat a name: counted as sent).
            let index = |name: &String| targets.binary_search(&name.as_str()).ok();
            o.row.unheard.iter().filter_map(index).collect()
        };
        for t in unheard.into_iter().filter(|t| targets[*t] != o.observer) {
            total += 1;
            let class = class(i, t);
            let into = if class == Class::NodeDown {
                &mut down
            } else {
                &mut listed
            };
            if into.len() < MAX_PAIRS_LISTED {
                into.push(Unreachable {
                    observer: o.observer.to_owned(),
                    target: targets[t].to_owned(),
                    class,
                });
            }
        }
    }
    listed.extend(down);
    listed.truncate(MAX_PAIRS_LISTED);
    (listed, total)
}

fn cells(targets: &[&str], observers: &[Observed<'_>]) -> Vec<MatrixRow> {
    targets
        .iter()
        .map(|observer| {
            let o = observers.iter().find(|o| o.observer == *observer);
            let cells = targets
                .iter()
                .map(|t| match o.map(|o| o.row.word(t)) {
                    _ if t == observer => '-',
                    Some(Some(true)) => 'h',
                    Some(Some(false)) => 'x',
                    _ => '.',
                })
                .collect();
            let rtt_ms = match o {
                Some(o) if !o.rtt_us.is_empty() => targets
                    .iter()
                    .map(|t| o.rtt_us.get(t).map(|us| f64::from(*us) / 1e3))
                    .collect(),
                _ => Vec::new(),
            };
            MatrixRow {
                observer: (*observer).to_owned(),
                cells,
                rtt_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i:03}")).collect()
    }

    /// Rows from `words(observer, target) -> Option<bool>` over `targets`.
    fn rows(targets: &[&str], words: impl Fn(&str, &str) -> Option<bool>) -> Vec<(String, Row)> {
        targets
            .iter()
            .map(|o| {
                let w: Vec<(&str, bool)> = targets
                    .iter()
                    .filter(|t| *t != o)
                    .filter_map(|t| words(o, t).map(|h| (*t, h)))
                    .collect();
                ((*o).to_owned(), Row::compact(&w, targets.len() - 1, &mut []))
            })
            .collect()
    }

    fn matrix(targets: &[&str], rows: &[(String, Row)]) -> Matrix {
        let observed: Vec<Observed<'_>> = rows
            .iter()
            .map(|(o, row)| Observed {
                observer: o,
                row,
                age: Duration::ZERO,
                rtt_us: BTreeMap::new(),
            })
            .collect();
        build(targets, &observed)
    }

    fn classes(m: &Matrix) -> Vec<(&str, &str, Class)> {
        m.unreachable
            .iter()
            .map(|u| (u.observer.as_str(), u.target.as_str(), u.class))
            .collect()
    }

    #[test]
    fn a_dead_node_a_cut_link_and_a_sick_observer_are_told_apart() {
        let all = names(6);
        let t: Vec<&str> = all.iter().map(String::as_str).collect();
        // n005 is down (its own row is gone); n000 does not hear n001 (one-way cut);
        // n004 hears nobody.
        let held = rows(&t[..5], |o, target| {
            Some(!(target == "n005" || (o, target) == ("n000", "n001") || o == "n004"))
        });
        let held: Vec<(String, Row)> = held
            .into_iter()
            .map(|(o, mut row)| {
                if o != "n004" {
                    row.unheard.push("n005".into());
                } else {
                    row = Row::compact(&[], 5, &mut []);
                    row.others = Some(false);
                }
                (o, row)
            })
            .collect();
        let m = matrix(&t, &held);
        assert_eq!(m.node_down, ["n005"]);
        assert_eq!(m.sick_observers, ["n004"]);
        let c = classes(&m);
        assert!(c.contains(&("n000", "n001", Class::LinkDown)), "{c:?}");
        assert!(c.contains(&("n004", "n002", Class::SickObserver)), "{c:?}");
        assert!(c.contains(&("n001", "n005", Class::NodeDown)), "{c:?}");
        assert!(
            !c.iter()
                .any(|(o, target, class)| *o != "n004" && *target == "n001" && *class != Class::LinkDown)
        );
        // Every unreachable pair counted: n000→n001, five observers' n005, n004→4 others.
        assert_eq!(m.unreachable_total, 1 + 5 + 4);
        assert!(m.full);
        assert_eq!(m.rows[0].cells, "-xhhhx");
        assert_eq!(m.rows[5].cells, ".....-", "no row from the dead member");
    }

    #[test]
    fn an_indexed_row_says_what_the_row_says_about_every_target() {
        let all = names(8);
        let t: Vec<&str> = all.iter().map(String::as_str).collect();
        let index: BTreeMap<&str, usize> = t.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        // Repeated names, a name in both lists (unheard wins), a name no target has.
        for others in [Some(true), Some(false), None] {
            let row = Row {
                others,
                heard: list(&["n005", "n001", "n001", "stranger", "n003"]),
                unheard: list(&["n006", "n003", "n000", "n006"]),
                median_rtt_us: None,
            };
            let o = Observed {
                observer: "n002",
                row: &row,
                age: Duration::ZERO,
                rtt_us: BTreeMap::new(),
            };
            let x = Indexed::of(&o, &index);
            for (i, name) in t.iter().enumerate() {
                assert_eq!(x.word(i), row.word(name), "{others:?} {name}");
            }
            let slow: Vec<usize> = (0..t.len())
                .filter(|i| t[*i] != "n002" && row.word(t[*i]) == Some(false))
                .collect();
            assert_eq!(x.unheard_targets(t.len()), slow, "{others:?}");
        }
    }

    #[test]
    fn a_split_cluster_is_a_partition_not_a_set_of_broken_links() {
        let all = names(4);
        let t: Vec<&str> = all.iter().map(String::as_str).collect();
        let side = |n: &str| n < "n002";
        let m = matrix(&t, &rows(&t, |o, target| Some(side(o) == side(target))));
        assert!(m.node_down.is_empty() && m.sick_observers.is_empty());
        assert_eq!(m.unreachable_total, 8);
        assert!(classes(&m).iter().all(|(_, _, c)| *c == Class::Partition));
    }

    #[test]
    fn a_large_matrix_is_a_bounded_summary() {
        let all = names(500);
        let t: Vec<&str> = all.iter().map(String::as_str).collect();
        // Everyone is healthy but n000 does not hear 50 members.
        let m = matrix(
            &t,
            &rows(&t, |o, target| Some(o != "n000" || !("n100".."n150").contains(&target))),
        );
        assert!(!m.full && m.members.is_empty() && m.rows.is_empty());
        assert_eq!(m.observers.len(), 500);
        assert_eq!(m.unreachable_total, 50);
        assert!(classes(&m).iter().all(|(_, _, c)| *c == Class::LinkDown));
        assert!(m.unreachable.len() <= MAX_PAIRS_LISTED);
        let json = serde_json::to_vec(&m).expect("serializes");
        assert!(json.len() < 500 * 120 + MAX_PAIRS_LISTED * 80, "{} bytes", json.len());
        // An observer that hears nobody names nobody: its row stays small.
        let many = matrix(&t, &rows(&t, |o, _| Some(o != "n000")));
        assert_eq!(many.sick_observers, ["n000"]);
        assert_eq!(many.unreachable_total, 499);
        assert_eq!(many.unreachable.len(), MAX_PAIRS_LISTED);
    }
}
