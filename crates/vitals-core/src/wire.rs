//! The wire format: [`Envelope`] ⇄ bytes. The only fallible step on the receive path.
//!
//! A datagram is a 4-byte header followed by a postcard body:
//!
//! ```text
//! +------+------+---------+--------+------------------------------+
//! | 'V'  | 'T'  | version | key id | postcard(Envelope)           |
//! +------+------+---------+--------+------------------------------+
//! ```
//!
//! Key id 0 means plaintext. Other key ids are reserved for authenticated encryption (the
//! nonce follows the header and the tag ends the datagram); this version refuses them.
//! Decoding never panics and checks the size cap before it allocates anything.

use crate::message::{Envelope, MemberEntry};

/// The first two bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"VT";
/// The wire version this build speaks.
pub const VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4;
/// The largest datagram accepted or produced, header included.
pub const MAX_DATAGRAM: usize = 2048;
/// Budget for one message body carrying a member list: stays under a 1,500-byte MTU with
/// room for IP/UDP headers and a future nonce and tag.
pub const LIST_BUDGET: usize = 1200;

/// Why a datagram was refused. The datagram is dropped; nothing else changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes exceeds the {MAX_DATAGRAM}-byte cap")]
    TooLarge(usize),
    /// Shorter than the header.
    #[error("datagram of {0} bytes is shorter than the header")]
    TooShort(usize),
    /// Does not start with [`MAGIC`].
    #[error("not a Vitals datagram (bad magic)")]
    BadMagic,
    /// Speaks another wire version.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// Encrypted with a key id this node cannot use.
    #[error("encrypted datagram (key id {0}) but no keyring is configured")]
    Encrypted(u8),
    /// The body is not a valid envelope.
    #[error("malformed body: {0}")]
    Body(String),
    /// Bytes follow the envelope.
    #[error("{0} trailing bytes after the body")]
    Trailing(usize),
}

impl DecodeError {
    /// Every value [`DecodeError::reason`] can return.
    pub const REASONS: [&'static str; 7] = [
        "too_large",
        "too_short",
        "bad_magic",
        "unsupported_version",
        "encrypted",
        "malformed_body",
        "trailing_bytes",
    ];

    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge(_) => "too_large",
            DecodeError::TooShort(_) => "too_short",
            DecodeError::BadMagic => "bad_magic",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::Encrypted(_) => "encrypted",
            DecodeError::Body(_) => "malformed_body",
            DecodeError::Trailing(_) => "trailing_bytes",
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

/// Encodes `envelope` as a plaintext datagram, replacing the contents of `buf`.
pub fn encode(envelope: &Envelope, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    buf.clear();
    buf.extend_from_slice(&MAGIC);
    buf.push(VERSION);
    buf.push(0);
    let body = postcard::to_extend(envelope, std::mem::take(buf)).map_err(|_| EncodeError::TooLarge)?;
    *buf = body;
    if buf.len() > MAX_DATAGRAM {
        return Err(EncodeError::TooLarge);
    }
    Ok(())
}

/// Decodes one datagram. Never panics; allocation is bounded by the datagram's length.
pub fn decode(datagram: &[u8]) -> Result<Envelope, DecodeError> {
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
    if datagram[3] != 0 {
        return Err(DecodeError::Encrypted(datagram[3]));
    }
    let (envelope, rest) =
        postcard::take_from_bytes::<Envelope>(&datagram[HEADER_LEN..]).map_err(|e| DecodeError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(envelope)
}

/// The encoded size of a value's body, for packing lists under [`LIST_BUDGET`].
pub fn body_len<T: serde::Serialize>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(usize::MAX)
}

/// Room left in [`LIST_BUDGET`] for the envelope around a list: the sender (a name of at
/// most [`MAX_NAME_LEN`] bytes, an address, an incarnation), the message tag, a sequence
/// number and the list's length.
const ENVELOPE_ALLOWANCE: usize = MAX_NAME_LEN + 48;

/// The longest node name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Splits a member list into lists that each fit one datagram. Always returns at least
/// one (possibly empty) list.
pub fn chunk_entries(entries: Vec<MemberEntry>) -> Vec<Vec<MemberEntry>> {
    let mut chunks = vec![Vec::new()];
    let mut used = ENVELOPE_ALLOWANCE;
    for entry in entries {
        let len = body_len(&entry);
        let last = chunks.last_mut().expect("never empty");
        if used + len > LIST_BUDGET && !last.is_empty() {
            chunks.push(Vec::new());
            used = ENVELOPE_ALLOWANCE;
        }
        chunks.last_mut().expect("never empty").push(entry);
        used += len;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Health, MemberEntry, Message, Peer, Status};
    use proptest::prelude::*;

    fn peer() -> impl Strategy<Value = Peer> {
        ("[a-z0-9-]{1,20}", any::<[u8; 4]>(), any::<u16>(), any::<u64>()).prop_map(|(name, ip, port, incarnation)| {
            Peer {
                name,
                addr: (ip, port).into(),
                incarnation,
            }
        })
    }

    fn health() -> impl Strategy<Value = Option<Health>> {
        proptest::option::of(
            (0f32..100.0, any::<u64>(), any::<u64>(), 0f32..64.0, any::<u64>()).prop_map(
                |(cpu, avail, total, load, disk)| Health {
                    cpu_percent: cpu,
                    mem_available_bytes: avail,
                    mem_total_bytes: total,
                    load1: load,
                    disk_free_bytes: disk,
                },
            ),
        )
    }

    fn entry() -> impl Strategy<Value = MemberEntry> {
        let status = prop_oneof![
            Just(Status::Alive),
            Just(Status::Suspect),
            Just(Status::Dead),
            Just(Status::Left)
        ];
        (peer(), status, health()).prop_map(|(p, status, health)| MemberEntry {
            name: p.name,
            addr: p.addr,
            incarnation: p.incarnation,
            status,
            health,
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            Just(Message::Join),
            Just(Message::Leave),
            proptest::collection::vec(entry(), 0..8).prop_map(|entries| Message::Members { entries }),
            (any::<u64>(), health(), any::<bool>()).prop_map(|(seq, health, ack)| Message::Heartbeat {
                seq,
                health,
                ack
            }),
            any::<u64>().prop_map(|seq| Message::Ack { seq }),
            (any::<u64>(), proptest::collection::vec(entry(), 0..8))
                .prop_map(|(seq, view)| Message::Poll { seq, view }),
            (any::<u64>(), health()).prop_map(|(seq, health)| Message::PollReply { seq, health }),
        ]
    }

    proptest! {
        #[test]
        fn every_message_survives_encode_then_decode(from in peer(), message in message()) {
            let envelope = Envelope { from, message };
            let mut buf = Vec::new();
            encode(&envelope, &mut buf).unwrap();
            prop_assert_eq!(decode(&buf).unwrap(), envelope);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut datagram = vec![MAGIC[0], MAGIC[1], VERSION, 0];
            datagram.extend_from_slice(&body);
            let _ = decode(&datagram);
        }
    }

    #[test]
    fn oversized_datagrams_are_refused_before_decoding() {
        assert_eq!(
            decode(&vec![0; MAX_DATAGRAM + 1]),
            Err(DecodeError::TooLarge(MAX_DATAGRAM + 1))
        );
    }

    #[test]
    fn headers_are_checked_field_by_field() {
        assert_eq!(decode(b"VT"), Err(DecodeError::TooShort(2)));
        assert_eq!(decode(b"XX\x01\x00"), Err(DecodeError::BadMagic));
        assert_eq!(decode(b"VT\x09\x00"), Err(DecodeError::UnsupportedVersion(9)));
        assert_eq!(decode(b"VT\x01\x07"), Err(DecodeError::Encrypted(7)));
    }

    #[test]
    fn long_member_lists_are_split_into_datagrams_that_fit() {
        let entries: Vec<MemberEntry> = (0..200)
            .map(|i| MemberEntry {
                name: format!("node-with-a-longish-name-{i:04}"),
                addr: "10.0.0.1:7946".parse().unwrap(),
                incarnation: u64::MAX,
                status: Status::Alive,
                health: Some(Health {
                    cpu_percent: 1.0,
                    mem_available_bytes: u64::MAX,
                    mem_total_bytes: u64::MAX,
                    load1: 1.0,
                    disk_free_bytes: u64::MAX,
                }),
            })
            .collect();
        let chunks = chunk_entries(entries.clone());
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), entries);
        let from = Peer {
            name: "n".repeat(MAX_NAME_LEN),
            addr: "[::1]:65535".parse().unwrap(),
            incarnation: u64::MAX,
        };
        for view in chunks {
            let envelope = Envelope {
                from: from.clone(),
                message: Message::Poll { seq: u64::MAX, view },
            };
            let mut buf = Vec::new();
            encode(&envelope, &mut buf).unwrap();
            assert!(buf.len() <= LIST_BUDGET + HEADER_LEN, "{} bytes", buf.len());
        }
        assert_eq!(chunk_entries(Vec::new()), vec![Vec::new()]);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let envelope = Envelope {
            from: Peer {
                name: "a".into(),
                addr: "127.0.0.1:1".parse().unwrap(),
                incarnation: 0,
            },
            message: Message::Join,
        };
        let mut buf = Vec::new();
        encode(&envelope, &mut buf).unwrap();
        buf.push(0);
        assert_eq!(decode(&buf), Err(DecodeError::Trailing(1)));
    }
}
