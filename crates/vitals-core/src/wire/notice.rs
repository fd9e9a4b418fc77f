//! Refusal notices: the one thing ever sent in answer to a datagram this node refused,
//! so that a misconfigured joiner learns why (a WARN and its `/readyz` reason) instead
//! of hearing nothing.
//!
//! ```text
//! | 'V' 'T' | 0xFF | reason (1..=5) | the sender's wire version | 0 |   (6 bytes)
//! ```
//!
//! **Invariant:** a notice is unauthenticated (the refused datagram could not be
//! authenticated, so there is no shared key to seal it with), so it never changes any
//! state at its receiver: the host may only log it and show it as the reason it has not
//! joined, and only while it has not joined and only from an address it sent a join to.
//! It is never larger than the datagram it answers ([`NOTICE_LEN`] is below any
//! datagram that can be refused for one of these reasons: no amplification), it is
//! never answered (byte 2 is no wire version, and [`read`] is checked before decoding),
//! and the host rate-limits them. Version byte `0xFF` is reserved for notices in every
//! version to come, so that a node of another version can read one.

use super::{DecodeError, MAGIC, VERSION};

/// Byte 2 of a notice, in place of a wire version.
pub const NOTICE_MARK: u8 = 0xFF;
/// A notice's length in bytes.
pub const NOTICE_LEN: usize = 6;

/// The refusals a notice tells, by their [`DecodeError::reason`] names (so that a host
/// explains a notice it reads as it explains a datagram it refuses itself).
const REASONS: [(u8, &str); 5] = [
    (1, "forged"),
    (2, "plaintext"),
    (3, "encrypted"),
    (4, "wrong_cluster"),
    (5, "unsupported_version"),
];

/// The notice that answers a datagram refused with `error`, for the refusals that say
/// something about the sender's configuration; `None` for the others (malformed,
/// replayed, misdirected..., and anything shorter than a notice).
pub fn for_refusal(error: &DecodeError, refused_len: usize) -> Option<[u8; NOTICE_LEN]> {
    let reason = match error {
        DecodeError::UnknownKey(_) => "forged",
        DecodeError::UnsupportedVersion(NOTICE_MARK) => return None,
        other => other.reason(),
    };
    let code = REASONS.iter().find(|(_, name)| *name == reason)?.0;
    (refused_len >= NOTICE_LEN).then_some([MAGIC[0], MAGIC[1], NOTICE_MARK, code, VERSION, 0])
}

/// Whether `datagram` is a notice (whatever it says).
pub fn is_notice(datagram: &[u8]) -> bool {
    datagram.len() >= 3 && datagram[..2] == MAGIC && datagram[2] == NOTICE_MARK
}

/// What a notice says: the [`DecodeError::reason`] name of the refusal and the refusing
/// node's wire version; `None` for anything else, or a notice of a reason unknown here.
pub fn read(datagram: &[u8]) -> Option<(&'static str, u8)> {
    if datagram.len() != NOTICE_LEN || !is_notice(datagram) {
        return None;
    }
    let reason = REASONS.iter().find(|(code, _)| *code == datagram[3])?.1;
    Some((reason, datagram[4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_tells_a_configuration_refusal_and_nothing_else() {
        let notice = for_refusal(&DecodeError::WrongCluster, 100).unwrap();
        assert_eq!(read(&notice), Some(("wrong_cluster", VERSION)));
        assert_eq!(
            read(&for_refusal(&DecodeError::UnknownKey(3), 60).unwrap()),
            Some(("forged", VERSION))
        );
        assert_eq!(for_refusal(&DecodeError::Replayed, 100), None);
        assert_eq!(for_refusal(&DecodeError::Body("x".into()), 100), None);
        assert_eq!(
            for_refusal(&DecodeError::WrongCluster, NOTICE_LEN - 1),
            None,
            "never amplifies"
        );
        assert_eq!(
            for_refusal(&DecodeError::UnsupportedVersion(NOTICE_MARK), 100),
            None,
            "never answered"
        );
        let mut codec = super::super::Codec::plaintext();
        assert_eq!(codec.decode(&notice), Err(DecodeError::UnsupportedVersion(NOTICE_MARK)));
        assert_eq!(read(b"VT\x02\x00\x00\x00"), None);
        assert_eq!(read(&[b'V', b'T', NOTICE_MARK, 9, 2, 0]), None);
    }
}
