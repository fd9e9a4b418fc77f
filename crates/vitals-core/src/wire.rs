//! The wire format: [`Envelope`] ⇄ datagram. The only fallible step on the receive path.
//!
//! ```text
//! plaintext: | 'V' 'T' | version | key id = 0 | postcard(Frame)                          |
//! sealed:    | 'V' 'T' | version | key id ≠ 0 | nonce (24) | AEAD(postcard(Frame)) + tag |
//! ```
//!
//! A [`Frame`] carries the cluster tag (a hash of the cluster label), the sender's
//! generation and sequence number (replay protection), the destination address (so a
//! datagram recorded on its way to one node cannot be replayed to another), and the
//! envelope. A sealed datagram's associated data is its 4-byte header and the full
//! cluster label. Version 2 encodes every socket address as [`addr`] does; version 1
//! used serde's own form and is refused.
//!
//! **Invariant:** decoding never panics, checks the size cap before anything else, never
//! allocates more than the datagram's length, and refuses (with a reason) a datagram of
//! another cluster, a plaintext datagram when a keyring is configured, a forged or
//! tampered one, a replayed one, and one that carries a name [`is_valid_name`] refuses
//! (wherever it sits: the sender, member entries, rumors and their accusers, opinions,
//! digests, probe targets, service names), and tags beyond [`crate::tags`]' bounds.
//! Nothing is sent in reply to a refused datagram but, at the host's choice, a six-byte,
//! unauthenticated refusal notice ([`notice`]) that changes no state where it arrives.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::checks::MAX_SERVICE_NAME_LEN;
use crate::message::{Envelope, Health, MemberEntry, Message};
use crate::seal::{Keyring, NONCE_LEN, Replay, ReplayGuard, TAG_LEN};

pub use crate::form::{LIST_BUDGET, MAX_DATAGRAM, MAX_LIST_ENTRIES, MAX_NAME_LEN, addr, bounded_vec, is_valid_name};

/// The first two bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"VT";
/// The wire version this build speaks.
pub const VERSION: u8 = 2;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4;
/// The cluster label of a node that was given none.
pub const DEFAULT_LABEL: &str = "default";

/// What a datagram carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// [`cluster_tag`] of the sender's cluster label.
    pub cluster: u32,
    /// The sender's run: a new, higher value after every restart.
    pub generation: u64,
    /// The sender's datagram counter within its generation.
    pub seq: u64,
    /// The address the sender sent the datagram to.
    #[serde(with = "addr")]
    pub to: SocketAddr,
    /// The message.
    pub envelope: Envelope,
}

/// A [`Frame`] without its envelope: its leading fields, encoded the same way.
#[derive(Deserialize)]
struct FrameHead {
    cluster: u32,
    generation: u64,
    seq: u64,
    #[serde(with = "addr")]
    to: SocketAddr,
}

/// A [`Frame`] that borrows its envelope, for encoding without a copy (the same bytes).
#[derive(Serialize)]
struct FrameRef<'a> {
    cluster: u32,
    generation: u64,
    seq: u64,
    #[serde(with = "addr")]
    to: SocketAddr,
    envelope: &'a Envelope,
}

/// Why a datagram was refused. The datagram is dropped; nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes exceeds the {MAX_DATAGRAM}-byte cap")]
    TooLarge(usize),
    /// Shorter than its header (and nonce and tag, when sealed).
    #[error("datagram of {0} bytes is too short")]
    TooShort(usize),
    /// Does not start with [`MAGIC`].
    #[error("not a Vitals datagram (bad magic)")]
    BadMagic,
    /// Speaks another wire version.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// Sealed, but this node has no keyring.
    #[error("sealed datagram (key id {0}) but no keyring is configured")]
    Encrypted(u8),
    /// Plaintext, but this node's cluster is keyed.
    #[error("plaintext datagram refused: this cluster is keyed")]
    Plaintext,
    /// Sealed with a key this node does not hold.
    #[error("sealed with unknown key id {0}")]
    UnknownKey(u8),
    /// Failed authentication: forged, tampered, wrong key or wrong cluster label.
    #[error("authentication failed")]
    Forged,
    /// From another cluster.
    #[error("datagram of another cluster")]
    WrongCluster,
    /// A sealed datagram seen before, or from an older run of its sender.
    #[error("replayed datagram")]
    Replayed,
    /// Addressed to another node.
    #[error("datagram addressed to {0}, not to this node")]
    Misdirected(SocketAddr),
    /// The body is not a valid frame.
    #[error("malformed body: {0}")]
    Body(String),
    /// Bytes follow the frame.
    #[error("{0} trailing bytes after the body")]
    Trailing(usize),
    /// Carries a member or service name that [`is_valid_name`] refuses (not shown: it
    /// may hold control characters).
    #[error(
        "a member or service name is empty, too long or has characters other than letters, digits, `.`, `-`, `_`, `:` (or tags exceed their bounds)"
    )]
    BadName,
}

impl DecodeError {
    /// Every value [`DecodeError::reason`] can return.
    pub const REASONS: [&'static str; 14] = [
        "too_large",
        "too_short",
        "bad_magic",
        "unsupported_version",
        "encrypted",
        "plaintext",
        "unknown_key",
        "forged",
        "wrong_cluster",
        "replayed",
        "misdirected",
        "malformed_body",
        "trailing_bytes",
        "bad_name",
    ];

    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge(_) => "too_large",
            DecodeError::TooShort(_) => "too_short",
            DecodeError::BadMagic => "bad_magic",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::Encrypted(_) => "encrypted",
            DecodeError::Plaintext => "plaintext",
            DecodeError::UnknownKey(_) => "unknown_key",
            DecodeError::Forged => "forged",
            DecodeError::WrongCluster => "wrong_cluster",
            DecodeError::Replayed => "replayed",
            DecodeError::Misdirected(_) => "misdirected",
            DecodeError::Body(_) => "malformed_body",
            DecodeError::Trailing(_) => "trailing_bytes",
            DecodeError::BadName => "bad_name",
        }
    }
}

/// Why an envelope could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded datagram would exceed [`MAX_DATAGRAM`].
    #[error("encoded datagram exceeds the {MAX_DATAGRAM}-byte cap")]
    TooLarge,
}

/// A 32-bit tag of a cluster label (FNV-1a), carried in every frame.
pub fn cluster_tag(label: &str) -> u32 {
    label.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// One node's datagram codec: its cluster label, keyring, generation and counters, and
/// the replay windows of its peers.
#[derive(Clone, Debug)]
pub struct Codec {
    label: String,
    cluster: u32,
    keyring: Option<Keyring>,
    generation: u64,
    next_seq: u64,
    replay: ReplayGuard,
    local: Vec<SocketAddr>,
}

impl Codec {
    /// A codec for `label`; sealed when `keyring` is given. `generation` must grow from
    /// one run of the node to the next (the agent uses its start time).
    pub fn new(label: &str, keyring: Option<Keyring>, generation: u64) -> Codec {
        Codec {
            label: label.to_string(),
            cluster: cluster_tag(label),
            keyring,
            generation,
            next_seq: 0,
            replay: ReplayGuard::default(),
            local: Vec::new(),
        }
    }

    /// Accept only datagrams addressed to one of `local` (the node's bind and advertised
    /// addresses). Without it, any destination is accepted.
    pub fn with_local(mut self, local: Vec<SocketAddr>) -> Codec {
        self.local = local;
        self
    }

    /// A plaintext codec for [`DEFAULT_LABEL`] (tests and the simulator).
    pub fn plaintext() -> Codec {
        Codec::new(DEFAULT_LABEL, None, 0)
    }

    /// Replaces the keyring (key rotation); replay windows are kept.
    pub fn set_keyring(&mut self, keyring: Option<Keyring>) {
        self.keyring = keyring;
    }

    /// The keyring, if the cluster is keyed.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// Encodes `envelope`, bound for `to`, into `out` (replacing its contents). `nonce` is
    /// used only when sealing and must never repeat under one key: draw it from a secure
    /// random source.
    pub fn encode(
        &mut self,
        envelope: &Envelope,
        to: SocketAddr,
        nonce: [u8; NONCE_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.next_seq += 1;
        let frame = FrameRef {
            cluster: self.cluster,
            generation: self.generation,
            seq: self.next_seq,
            to,
            envelope,
        };
        let key_id = self.keyring.as_ref().map_or(0, Keyring::primary_id);
        out.clear();
        out.extend_from_slice(&[MAGIC[0], MAGIC[1], VERSION, key_id]);
        match &self.keyring {
            None => *out = postcard::to_extend(&frame, std::mem::take(out)).map_err(|_| EncodeError::TooLarge)?,
            Some(keyring) => {
                let plaintext = postcard::to_allocvec(&frame).map_err(|_| EncodeError::TooLarge)?;
                let aad = associated_data(&out[..HEADER_LEN], &self.label);
                let sealed = keyring.seal(&nonce, &aad, &plaintext);
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&sealed);
            }
        }
        if out.len() > MAX_DATAGRAM {
            return Err(EncodeError::TooLarge);
        }
        Ok(())
    }

    /// Decodes one datagram, authenticating and replay-checking it when keyed.
    pub fn decode(&mut self, datagram: &[u8]) -> Result<Envelope, DecodeError> {
        let key_id = check_header(datagram)?;
        let plaintext;
        let body = match (key_id, &self.keyring) {
            (0, None) => &datagram[HEADER_LEN..],
            (0, Some(_)) => return Err(DecodeError::Plaintext),
            (id, None) => return Err(DecodeError::Encrypted(id)),
            (id, Some(keyring)) => {
                plaintext = open(keyring, id, datagram, &self.label)?;
                &plaintext[..]
            }
        };
        // The frame's head, then its envelope, each decoded where it is used (a whole
        // `Frame` would be moved several times on the hot path).
        let (head, rest) =
            postcard::take_from_bytes::<FrameHead>(body).map_err(|e| DecodeError::Body(e.to_string()))?;
        if head.cluster != self.cluster {
            return Err(DecodeError::WrongCluster);
        }
        if !self.local.is_empty() && !self.local.contains(&head.to) {
            return Err(DecodeError::Misdirected(head.to));
        }
        let (envelope, rest) =
            postcard::take_from_bytes::<Envelope>(rest).map_err(|e| DecodeError::Body(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::Trailing(rest.len()));
        }
        if !names_are_valid(&envelope) {
            return Err(DecodeError::BadName);
        }
        if self.keyring.is_some() {
            self.replay
                .check(&envelope.from.name, head.generation, head.seq)
                .map_err(|_: Replay| DecodeError::Replayed)?;
        }
        Ok(envelope)
    }
}

/// Whether every name `envelope` carries is valid. Every message is taken apart field by
/// field (no `..`), so a field added to a message does not compile until it is placed
/// here or ignored on purpose.
pub(crate) fn names_are_valid(envelope: &Envelope) -> bool {
    let member = |name: &String| is_valid_name(name, MAX_NAME_LEN);
    let entries = |list: &[MemberEntry]| list.iter().all(|e| member(&e.name) && health_ok(e.health.as_ref()));
    member(&envelope.from.name)
        && match &envelope.message {
            Message::Join { page: _, padding: _ }
            | Message::Ack { seq: _ }
            | Message::Leave
            | Message::IndirectAck { seq: _ }
            | Message::Nack { seq: _ }
            | Message::VoteRequest {
                term: _,
                pre: _,
                known: _,
            }
            | Message::VoteReply {
                term: _,
                pre: _,
                granted: _,
            } => true,
            Message::Members {
                entries: list,
                next_page: _,
            }
            | Message::Poll { seq: _, view: list }
            | Message::LeaderHeartbeat {
                term: _,
                seq: _,
                view: list,
            } => entries(list),
            Message::Heartbeat { seq: _, health, ack: _ }
            | Message::PollReply { seq: _, health }
            | Message::LeaderReport {
                term: _,
                echo: _,
                health,
            } => health_ok(health.as_ref()),
            Message::Ping { seq: _, gossip } | Message::PingAck { seq: _, gossip } | Message::News { gossip } => {
                gossip.iter().all(|rumor| {
                    member(&rumor.entry.name)
                        && health_ok(rumor.entry.health.as_ref())
                        && rumor.accusers.iter().all(member)
                })
            }
            Message::PingReq { seq: _, target } => member(target),
            Message::Reap { name, incarnation: _ } => member(name),
            Message::Reach { row } => row.heard.iter().chain(&row.unheard).all(member),
            Message::Refused { reason: _ } => true,
            Message::Digest { health, entries } | Message::DigestReply { health, entries } => {
                health_ok(health.as_ref()) && entries.iter().all(|beat| member(&beat.name))
            }
            Message::Opinions { opinions } => opinions.iter().all(|opinion| member(&opinion.name)),
        }
}

/// Whether the service names a health summary announces are valid.
fn health_ok(health: Option<&Health>) -> bool {
    let checks = health.and_then(|h| h.checks.as_ref());
    let tags_ok = health.is_none_or(|h| crate::tags::validate(&h.tags).is_ok());
    tags_ok && checks.is_none_or(|c| c.services.iter().all(|s| is_valid_name(&s.name, MAX_SERVICE_NAME_LEN)))
}

fn check_header(datagram: &[u8]) -> Result<u8, DecodeError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge(datagram.len()));
    }
    if datagram.len() < HEADER_LEN {
        return Err(DecodeError::TooShort(datagram.len()));
    }
    if datagram[..2] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if datagram[2] != VERSION {
        return Err(DecodeError::UnsupportedVersion(datagram[2]));
    }
    Ok(datagram[3])
}

fn associated_data(header: &[u8], label: &str) -> Vec<u8> {
    [header, label.as_bytes()].concat()
}

fn open(keyring: &Keyring, id: u8, datagram: &[u8], label: &str) -> Result<Vec<u8>, DecodeError> {
    if datagram.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(DecodeError::TooShort(datagram.len()));
    }
    if !keyring.has(id) {
        return Err(DecodeError::UnknownKey(id));
    }
    let nonce: [u8; NONCE_LEN] = datagram[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        .try_into()
        .expect("length checked");
    let aad = associated_data(&datagram[..HEADER_LEN], label);
    keyring
        .open(id, &nonce, &aad, &datagram[HEADER_LEN + NONCE_LEN..])
        .ok_or(DecodeError::Forged)
}

/// Encodes `envelope` as a plaintext datagram of the default cluster.
pub fn encode(envelope: &Envelope, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    Codec::plaintext().encode(envelope, SocketAddr::from(([0, 0, 0, 0], 0)), [0; NONCE_LEN], buf)
}

/// Decodes a plaintext datagram of the default cluster.
pub fn decode(datagram: &[u8]) -> Result<Envelope, DecodeError> {
    Codec::plaintext().decode(datagram)
}

/// The encoded size of a value's body, for packing lists under [`LIST_BUDGET`].
pub fn body_len<T: serde::Serialize>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX)
}

/// Room left in [`LIST_BUDGET`] for the envelope around a list: the sender (a name of at
/// most [`MAX_NAME_LEN`] bytes, an address, an incarnation), the message tag, a sequence
/// number or page, and the list's length.
const ENVELOPE_ALLOWANCE: usize = MAX_NAME_LEN + 48;

/// Splits a member list into lists that each fit one datagram. Always returns at least
/// one (possibly empty) list.
pub fn chunk_entries(entries: Vec<MemberEntry>) -> Vec<Vec<MemberEntry>> {
    let mut chunks = vec![Vec::new()];
    let mut used = ENVELOPE_ALLOWANCE;
    for entry in entries {
        let len = body_len(&entry);
        let last = chunks.last_mut().expect("never empty");
        if (used + len > LIST_BUDGET || last.len() == MAX_LIST_ENTRIES) && !last.is_empty() {
            chunks.push(Vec::new());
            used = ENVELOPE_ALLOWANCE;
        }
        chunks.last_mut().expect("never empty").push(entry);
        used += len;
    }
    chunks
}

pub mod notice;

#[cfg(test)]
mod tests;
