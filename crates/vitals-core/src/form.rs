//! The serde forms and size limits shared by the vocabulary ([`crate::message`],
//! [`crate::checks`]) and its encoding ([`crate::wire`], which re-exports them), so that
//! neither depends on the other for them: socket addresses as one byte string
//! ([`addr`]), lists decoded without trusting their length prefix ([`bounded_vec`]), and
//! what a name may be ([`is_valid_name`]). Never encodes a whole datagram (that is
//! `wire`'s).

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

pub mod addr;

/// The largest datagram accepted or produced, header included.
pub const MAX_DATAGRAM: usize = 2048;
/// Budget for one message body carrying a member list: stays under a 1,500-byte MTU with
/// room for IP/UDP headers, the nonce and the tag.
pub const LIST_BUDGET: usize = 1200;
/// Most entries one list message may carry (checked while decoding).
pub const MAX_LIST_ENTRIES: usize = 256;

/// The longest member name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a member (at most [`MAX_NAME_LEN`] bytes) or a service (at
/// most `crate::checks::MAX_SERVICE_NAME_LEN`): 1 to `max_len` ASCII letters, digits,
/// `.`, `-`, `_` or `:` (a host name, a DNS label, `host:port`). No whitespace, no
/// control characters, nothing outside ASCII, so a name is safe in a log line, a metrics
/// label, a URL path and a terminal as it is. The agent refuses any other `--name` or
/// service name at start-up, and `wire` refuses any datagram that carries one.
pub fn is_valid_name(name: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// Deserializes a sequence of at most `MAX` elements without trusting the length prefix
/// for allocation (serde's default would reserve up to 1 MiB from a few bytes).
pub fn bounded_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>, const MAX: usize>(d: D) -> Result<Vec<T>, D::Error> {
    struct Bounded<T, const MAX: usize>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Bounded<T, MAX> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a sequence of at most {MAX} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(element) = seq.next_element()? {
                if out.len() == MAX {
                    return Err(serde::de::Error::custom(format!("more than {MAX} elements")));
                }
                out.push(element);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded::<T, MAX>(std::marker::PhantomData))
}
