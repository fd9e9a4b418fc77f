//! The node's lifecycle rules beyond joining and leaving: one live member per name, and
//! an operator's removal of a dead member (`force-leave`).
//!
//! **One name, one live member.** A message whose sender names a member this node holds
//! up (alive or suspect) at another address is dropped before it can change anything
//! (`Stats::name_conflicts`): neither the member's address nor its incarnation moves. A
//! join among such messages is answered with [`Message::Refused`] (smaller than the
//! padded join: no amplification), and both sides say so (`Event::NameConflict` here,
//! `Event::JoinRefused` at the joiner, which stays unjoined and keeps trying). The same
//! holds for a join that names this node itself from another address.
//!
//! What still works: a node restarted on the *same* address is the member itself (its
//! messages pass, and the usual incarnation rules apply: it learns how it is held and
//! refutes); a node restarted on a *new* address while the old one is silent is refused
//! until the old one is declared dead (within `dead_after`), then its next join attempt
//! is taken like any returning member's (a dead or left member's address may change).
//!
//! **Force-leave.** `Command::ForceLeave(name)` applies only to a member held dead or left
//! (never to a member that is up: it is for nodes that will not come back). The node
//! forgets it (its last incarnation is kept, so stale news cannot bring it back) and sends
//! [`Message::Reap`] to every member up, which do the same unless they still hear it.

use std::net::SocketAddr;

use super::{Event, Node};
use crate::message::{Message, Peer, Refusal};

/// Why a force-leave was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub enum ForceLeaveError {
    /// No such member here.
    #[error("no member named `{0}`")]
    Unknown(String),
    /// The member is up.
    #[error("`{0}` is {1}: force-leave removes only dead members (to take a live node out, run `vitals leave` on it)")]
    Up(String, &'static str),
    /// The node's own name.
    #[error("`{0}` is this node: use `vitals leave`")]
    Itself(String),
}

impl Node {
    /// Whether a message from `from` (received from `src`) contests a name: the name of
    /// a member held up at another address, or this node's own. Refuses a join among
    /// them; the caller drops the message.
    pub(super) fn contests_name(&mut self, src: SocketAddr, from: &Peer, message: &Message) -> bool {
        let holder = if from.name == self.me.name {
            self.me.addr
        } else {
            match self.members.get(&from.name) {
                Some(held) if held.status.is_up() && held.addr != from.addr => held.addr,
                _ => return false,
            }
        };
        if from.addr == holder {
            return false; // this node's own name from its own address: an echo, not a rival
        }
        self.out.stats.name_conflicts += 1;
        if matches!(message, Message::Join { page: 0, .. }) {
            let reason = Refusal::NameTaken { holder };
            self.out.send(&self.me, src, Message::Refused { reason });
            self.out.event(Event::NameConflict {
                name: from.name.clone(),
                from: src,
                holder,
            });
        }
        true
    }

    /// A refusal of this node's join: only told, never acted on (the join goes on, and a
    /// refusal after joining is ignored).
    pub(super) fn on_refused(&mut self, src: SocketAddr, reason: Refusal) {
        if self.joined {
            self.out.ignored();
        } else {
            self.out.event(Event::JoinRefused { by: src, reason });
        }
    }

    /// Forgets `name`, held dead or left, and asks every member up to do the same.
    pub fn force_leave(&mut self, name: &str) -> Result<(), ForceLeaveError> {
        if name == self.me.name {
            return Err(ForceLeaveError::Itself(name.to_string()));
        }
        let held = self
            .members
            .get(name)
            .ok_or_else(|| ForceLeaveError::Unknown(name.to_string()))?;
        if held.status.is_up() {
            return Err(ForceLeaveError::Up(name.to_string(), held.status.as_str()));
        }
        let incarnation = held.incarnation;
        let targets: Vec<SocketAddr> = self.members.up_others().map(|m| m.addr).collect();
        self.members.forget(name);
        let message = Message::Reap {
            name: name.to_string(),
            incarnation,
        };
        self.out.broadcast(&self.me, targets, message);
        self.out.event(Event::Reaped {
            name: name.to_string(),
            by: None,
        });
        Ok(())
    }

    /// Another node forgot `name` at an operator's request: so does this one, unless it
    /// holds it at a higher incarnation, or alive at the same one (it hears it).
    pub(super) fn on_reap(&mut self, by: &Peer, name: &str, incarnation: u64) {
        let forget = name != self.me.name
            && self.members.get(name).is_some_and(|held| {
                held.incarnation < incarnation
                    || (held.incarnation == incarnation && held.status != crate::message::Status::Alive)
            });
        if !forget {
            self.out.ignored();
            return;
        }
        self.members.forget(name);
        self.out.event(Event::Reaped {
            name: name.to_string(),
            by: Some(by.name.clone()),
        });
    }
}
