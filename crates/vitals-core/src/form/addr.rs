//! Socket addresses on the wire: the IP's 4 or 16 bytes, then the port's 2 (big-endian),
//! as one byte string; in human-readable formats (the JSON API), serde's own text form.
//!
//! serde's binary form for `SocketAddr` is an enum of tuples, one visitor call per
//! field: decoding the two addresses of a heartbeat that way cost a sixth of the
//! simulator's decoding time. This form has the same size and is read in one step. An
//! IPv6 address's flow label and scope id are not sent (nor are they in serde's form).
//! Use it as `#[serde(with = "crate::form::addr")]`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Serializes `addr` as `ip ‖ port`.
pub fn serialize<S: Serializer>(addr: &SocketAddr, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return addr.serialize(serializer);
    }
    let mut bytes = [0; 18];
    let len = match addr.ip() {
        IpAddr::V4(ip) => {
            bytes[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            bytes[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    bytes[len..len + 2].copy_from_slice(&addr.port().to_be_bytes());
    serializer.serialize_bytes(&bytes[..len + 2])
}

/// Deserializes what [`serialize`] wrote; any other length is an error.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    if deserializer.is_human_readable() {
        return SocketAddr::deserialize(deserializer);
    }
    deserializer.deserialize_bytes(AddrBytes)
}

struct AddrBytes;

impl Visitor<'_> for AddrBytes {
    type Value = SocketAddr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("6 bytes (IPv4 and port) or 18 bytes (IPv6 and port)")
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<SocketAddr, E> {
        let ip = match bytes.len() {
            6 => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(&bytes[..4]).expect("length checked"),
            )),
            18 => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(&bytes[..16]).expect("length checked"),
            )),
            n => return Err(E::invalid_length(n, &self)),
        };
        let port = u16::from_be_bytes([bytes[bytes.len() - 2], bytes[bytes.len() - 1]]);
        Ok(SocketAddr::new(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder(#[serde(with = "super")] SocketAddr);

    #[test]
    fn addresses_round_trip_in_both_forms_and_bad_lengths_are_refused() {
        for text in ["10.1.2.3:7946", "[2001:db8::1]:65535", "0.0.0.0:0"] {
            let addr: SocketAddr = text.parse().unwrap();
            let bytes = postcard::to_allocvec(&Holder(addr)).unwrap();
            let ip_len = if addr.is_ipv4() { 4 } else { 16 };
            assert_eq!(bytes.len(), 1 + ip_len + 2, "{text}: length prefix, ip, port");
            assert_eq!(postcard::from_bytes::<Holder>(&bytes).unwrap(), Holder(addr));
            let json = serde_json::to_string(&Holder(addr)).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), Holder(addr));
        }
        for bad in [&[5u8, 1, 2, 3, 4, 5][..], &[0], &[7, 1, 2, 3, 4, 5, 6, 7]] {
            let err = postcard::from_bytes::<Holder>(bad).unwrap_err();
            assert!(matches!(err, postcard::Error::SerdeDeCustom), "{bad:?}: {err:?}");
        }
    }
}
