//! The serde forms and size limits shared by the vocabulary ([`crate::message`],
//! [`crate::checks`]) and its encoding ([`crate::wire`], which re-exports them), so that
//! neither depends on the other for them: socket addresses as one byte string
//! ([`addr`]), and lists decoded without trusting their length prefix ([`bounded_vec`]).
//! Never encodes a whole datagram (that is `wire`'s).

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
