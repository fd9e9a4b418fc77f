//! The wire format: [`Envelope`] ⇄ datagram. The only fallible step on the receive path.
//!
//! ```text
//! plaintext: | 'V' 'T' | version | key id = 0 | postcard(Frame)                        |
//! sealed:    | 'V' 'T' | version | key id ≠ 0 | run, seq | AEAD(postcard(envelope)) + tag |
//! ```
//!
//! A plaintext [`Frame`] carries the cluster tag (a hash of the cluster label), the
//! sender's generation and sequence number, the destination address (so a datagram
//! recorded on its way to one node cannot be replayed to another), and the envelope. A
//! sealed datagram carries only what cannot be known otherwise: the sender's run
//! ([`Boot`]: generation and salt) and sequence number in clear, since its nonce is built
//! from them (replay protection reads them too), then the envelope, sealed. Its
//! associated data is everything before the ciphertext, the destination address (which
//! the receiver supplies: one of its own addresses, [`Codec::with_local`]) and the full
//! cluster label (which stands for the cluster tag). Version 3 is this sealed layout;
//! versions 1 and 2 (which carried a random nonce and the destination) are refused.
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
use crate::seal::{Boot, Keyring, Replay, ReplayGuard, SALT_LEN, TAG_LEN};

pub use crate::form::{LIST_BUDGET, MAX_DATAGRAM, MAX_LIST_ENTRIES, MAX_NAME_LEN, addr, bounded_vec, is_valid_name};

/// The first two bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"VT";
/// The wire version this build speaks.
pub const VERSION: u8 = 3;
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

/// A [`Frame`] without its envelope: its leading fields, encoded the same way. A
/// plaintext frame's generation and sequence number are read past, unused: nothing
/// authenticates them, so they protect against nothing.
#[derive(Deserialize)]
struct FrameHead {
    cluster: u32,
    _generation: u64,
    _seq: u64,
    #[serde(with = "addr")]
    to: SocketAddr,
}

/// The clear part of a sealed datagram after its header: the sender's run and the
/// datagram's sequence number, from which its nonce is built ([`Boot::nonce`]).
#[derive(Serialize, Deserialize)]
struct SealedHead {
    generation: u64,
    salt: [u8; SALT_LEN],
    seq: u64,
}

/// The destination address as a sealed datagram's associated data holds it.
#[derive(Serialize)]
struct Destination {
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
    /// Shorter than its header (and run, sequence number and tag, when sealed).
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
    /// This run has sent 2^64 − 1 datagrams: the next would repeat a nonce (restart).
    #[error("sequence numbers exhausted: restart the node")]
    Exhausted,
}

/// A 32-bit tag of a cluster label (FNV-1a), carried in every frame.
pub fn cluster_tag(label: &str) -> u32 {
    label.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// One node's datagram codec: its cluster label, keyring, run and counter, and the replay
/// windows of its peers. Not `Clone`: two copies would send the same sequence numbers,
/// so the same nonces.
#[derive(Debug)]
pub struct Codec {
    label: String,
    cluster: u32,
    keyring: Option<Keyring>,
    boot: Boot,
    last_seq: u64,
    replay: ReplayGuard,
    local: Vec<SocketAddr>,
}

impl Codec {
    /// A codec for `label`; sealed when `keyring` is given. `boot` must be a new run:
    /// its generation grows from one run of the node to the next, and its salt is drawn
    /// from a secure random source (docs/SECURITY.md, "Nonces").
    pub fn new(label: &str, keyring: Option<Keyring>, boot: Boot) -> Codec {
        Codec {
            label: label.to_string(),
            cluster: cluster_tag(label),
            keyring,
            boot,
            last_seq: 0,
            replay: ReplayGuard::default(),
            local: Vec::new(),
        }
    }

    /// Accept only datagrams addressed to one of `local` (the node's bind and advertised
    /// addresses). Without it, a plaintext datagram's destination is not checked, and
    /// no sealed datagram authenticates (its destination is part of what is
    /// authenticated, tried against each of these addresses).
    pub fn with_local(mut self, local: Vec<SocketAddr>) -> Codec {
        self.local = local;
        self
    }

    /// A plaintext codec for [`DEFAULT_LABEL`] (tests and the simulator).
    pub fn plaintext() -> Codec {
        Codec::new(DEFAULT_LABEL, None, Boot::new(0, [0; SALT_LEN]))
    }

    /// Replaces the keyring (key rotation); replay windows are kept.
    pub fn set_keyring(&mut self, keyring: Option<Keyring>) {
        self.keyring = keyring;
    }

    /// The keyring, if the cluster is keyed.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_ref()
    }

    /// Encodes `envelope`, bound for `to`, into `out` (replacing its contents), with the
    /// run's next sequence number.
    pub fn encode(&mut self, envelope: &Envelope, to: SocketAddr, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // Never wraps: a repeated sequence number would repeat a nonce.
        self.last_seq = self.last_seq.checked_add(1).ok_or(EncodeError::Exhausted)?;
        let key_id = self.keyring.as_ref().map_or(0, Keyring::primary_id);
        out.clear();
        out.extend_from_slice(&[MAGIC[0], MAGIC[1], VERSION, key_id]);
        let too_large = |_| EncodeError::TooLarge;
        match &self.keyring {
            None => {
                let frame = FrameRef {
                    cluster: self.cluster,
                    generation: self.boot.generation,
                    seq: self.last_seq,
                    to,
                    envelope,
                };
                *out = postcard::to_extend(&frame, std::mem::take(out)).map_err(too_large)?;
            }
            Some(keyring) => {
                let head = SealedHead {
                    generation: self.boot.generation,
                    salt: self.boot.salt,
                    seq: self.last_seq,
                };
                *out = postcard::to_extend(&head, std::mem::take(out)).map_err(too_large)?;
                let plaintext = postcard::to_allocvec(envelope).map_err(too_large)?;
                let aad = associated_data(out, to, &self.label);
                let sealed = keyring.seal(&self.boot.nonce(self.last_seq), &aad, &plaintext);
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
        match (key_id, &self.keyring) {
            (0, None) => self.decode_plaintext(&datagram[HEADER_LEN..]),
            (0, Some(_)) => Err(DecodeError::Plaintext),
            (id, None) => Err(DecodeError::Encrypted(id)),
            (id, Some(keyring)) => {
                let (head, plaintext) = open(keyring, id, datagram, &self.label, &self.local)?;
                let envelope = envelope_of(&plaintext)?;
                let run = Boot::new(head.generation, head.salt);
                self.replay
                    .check(&envelope.from.name, run, head.seq)
                    .map_err(|_: Replay| DecodeError::Replayed)?;
                Ok(envelope)
            }
        }
    }

    /// A plaintext frame: its head, then its envelope, each decoded where it is used (a
    /// whole `Frame` would be moved several times on the hot path).
    fn decode_plaintext(&self, body: &[u8]) -> Result<Envelope, DecodeError> {
        let (head, rest) = take::<FrameHead>(body)?;
        if head.cluster != self.cluster {
            return Err(DecodeError::WrongCluster);
        }
        self.addressed_envelope(head.to, rest)
    }

    /// The envelope `rest` holds, if `to` is this node.
    fn addressed_envelope(&self, to: SocketAddr, rest: &[u8]) -> Result<Envelope, DecodeError> {
        if !self.local.is_empty() && !self.local.contains(&to) {
            return Err(DecodeError::Misdirected(to));
        }
        envelope_of(rest)
    }
}

/// The envelope `bytes` hold exactly, if its names are valid.
fn envelope_of(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let (envelope, rest) = take::<Envelope>(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    if !names_are_valid(&envelope) {
        return Err(DecodeError::BadName);
    }
    Ok(envelope)
}

/// One postcard value from the front of `bytes`, and what follows it.
fn take<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8]), DecodeError> {
    postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Body(e.to_string()))
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
            | Message::IndirectAck { seq: _, incarnation: _ }
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

/// Everything before the ciphertext (header, run, sequence number), the destination,
/// then the label.
pub(crate) fn associated_data(clear: &[u8], to: SocketAddr, label: &str) -> Vec<u8> {
    let aad = clear.to_vec();
    let mut aad = postcard::to_extend(&Destination { to }, aad).expect("an address always encodes");
    aad.extend_from_slice(label.as_bytes());
    aad
}

/// The clear head and the opened body of a sealed datagram addressed to one of `local`.
fn open(
    keyring: &Keyring,
    id: u8,
    datagram: &[u8],
    label: &str,
    local: &[SocketAddr],
) -> Result<(SealedHead, Vec<u8>), DecodeError> {
    let too_short = DecodeError::TooShort(datagram.len());
    let (head, sealed) = match postcard::take_from_bytes::<SealedHead>(&datagram[HEADER_LEN..]) {
        Ok(parts) => parts,
        Err(postcard::Error::DeserializeUnexpectedEnd) => return Err(too_short),
        Err(e) => return Err(DecodeError::Body(e.to_string())),
    };
    if sealed.len() < TAG_LEN {
        return Err(too_short);
    }
    if !keyring.has(id) {
        return Err(DecodeError::UnknownKey(id));
    }
    let clear = &datagram[..datagram.len() - sealed.len()];
    let nonce = Boot::new(head.generation, head.salt).nonce(head.seq);
    let plaintext = local
        .iter()
        .find_map(|&to| keyring.open(id, &nonce, &associated_data(clear, to, label), sealed))
        .ok_or(DecodeError::Forged)?;
    Ok((head, plaintext))
}

/// The nonce a sealed datagram was sealed with (built from its clear run and sequence
/// number), if its head can be read: for tests that prove nonces never repeat.
#[cfg(test)]
pub(crate) fn sealed_nonce(datagram: &[u8]) -> Option<[u8; crate::seal::NONCE_LEN]> {
    check_header(datagram).ok().filter(|&id| id != 0)?;
    let (head, _) = postcard::take_from_bytes::<SealedHead>(&datagram[HEADER_LEN..]).ok()?;
    Some(Boot::new(head.generation, head.salt).nonce(head.seq))
}

/// Encodes `envelope` as a plaintext datagram of the default cluster.
pub fn encode(envelope: &Envelope, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    Codec::plaintext().encode(envelope, SocketAddr::from(([0, 0, 0, 0], 0)), buf)
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
mod nonces;
#[cfg(test)]
mod tests;
