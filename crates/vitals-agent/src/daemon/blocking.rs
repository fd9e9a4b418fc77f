//! Change indexes for blocking queries (Consul's convention): the member list and each
//! service's instances have an index that rises when what they show changes, served as
//! `X-Vitals-Index`; `?index=N&wait=30s` answers at the first change after N or at the
//! timeout.
//!
//! What counts as a change: a member's name, address, status, incarnation, tags, check
//! status or services (for `/v1/members`); an instance's member, address, member status,
//! check status or weight (for `/v1/services/NAME` and `/v1/route?service=NAME`). The
//! readings that move all the time (last heard, RTT, score, system samples) do not, so a
//! watcher is woken by verdicts, not by every heartbeat. Like Consul's, an index may
//! rise without a visible change (a service that is not announced takes the member
//! list's index); clients compare answers, not only indexes.
//!
//! Computed by the driver from each snapshot it publishes (`IndexKeeper`); handlers only
//! read the result. An agent's indexes start again from 1 when it restarts: a client
//! that sees an index lower than the one it asked with starts over from it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::snapshot::Snapshot;

/// The current indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indexes {
    /// `/v1/members`.
    pub members: u64,
    /// `/v1/services/NAME` and `/v1/route?service=NAME`, by service.
    pub services: BTreeMap<String, u64>,
}

impl Indexes {
    /// The index of `service`'s instances (the member list's when no member announces it).
    pub fn service(&self, service: &str) -> u64 {
        self.services.get(service).copied().unwrap_or(self.members)
    }
}

/// Keeps the indexes up to date from successive snapshots.
#[derive(Debug, Default)]
pub struct IndexKeeper {
    counter: u64,
    members: u64,
    services: BTreeMap<String, u64>,
    indexes: Indexes,
}

impl IndexKeeper {
    /// Reads `snapshot`; returns the indexes, raised where what they cover changed.
    pub fn update(&mut self, snapshot: &Snapshot) -> &Indexes {
        let next = self.counter + 1;
        let mut changed = false;
        let members = members_fingerprint(snapshot);
        if members != self.members || self.indexes.members == 0 {
            self.members = members;
            self.indexes.members = next;
            changed = true;
        }
        let names = snapshot.service_names();
        let gone: Vec<String> = self.services.keys().filter(|s| !names.contains(s)).cloned().collect();
        for name in gone {
            self.services.remove(&name);
            self.indexes.services.remove(&name);
            changed = true;
        }
        for name in names {
            let print = fingerprint(&service_print(snapshot, &name));
            if self.services.get(&name) != Some(&print) {
                self.services.insert(name.clone(), print);
                self.indexes.services.insert(name, next);
                changed = true;
            }
        }
        if changed {
            self.counter = next;
        }
        &self.indexes
    }
}

fn fingerprint(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What `/v1/members` shows that counts as a change (see the module docs), hashed in
/// place: building it as strings first (every address formatted, every publish) was
/// 6 % of a 500-member agent's time while the cluster formed.
fn members_fingerprint(snapshot: &Snapshot) -> u64 {
    let mut hasher = DefaultHasher::new();
    for m in &snapshot.members {
        let services = m
            .health
            .as_ref()
            .and_then(|h| h.checks.as_ref())
            .map_or(&[][..], |c| &c.services[..]);
        (m.name.as_str(), m.addr, m.status.as_str(), m.incarnation, &m.tags).hash(&mut hasher);
        (m.check_status.map(|s| s.as_str()), services.len()).hash(&mut hasher);
        for s in services {
            (s.name.as_str(), s.addr, s.weight, s.status.as_str()).hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn service_print(snapshot: &Snapshot, service: &str) -> Vec<(String, String, &'static str, &'static str, u16)> {
    snapshot
        .instances(service)
        .into_iter()
        .map(|i| {
            (
                i.name,
                i.addr.to_string(),
                i.member_status.as_str(),
                i.status.as_str(),
                i.weight,
            )
        })
        .collect()
}
