//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), shared with the ordinary
//! test that replays the saved corpus, so both exercise exactly the same code. Each
//! accepts arbitrary bytes and must never panic.
//! Compiled only under the `fuzzing` feature (which the fuzz crate enables) and in this
//! crate's tests, so release builds carry none of it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{Config, Preset, StrategyKind};
use crate::message::Peer;
use crate::node::{Command, Node};
use crate::seal::{Boot, Keyring, SALT_LEN};
use crate::time::Instant;
use crate::wire::{self, Codec};

fn keyring() -> Keyring {
    Keyring::new(&[vec![42; 32]]).expect("a valid key")
}

/// The plaintext decoder on arbitrary bytes. Whatever it accepts carries only valid
/// names (a name with a control character would otherwise become a member everywhere).
pub fn decode_plaintext(data: &[u8]) {
    if let Ok(envelope) = wire::decode(data) {
        assert!(
            wire::names_are_valid(&envelope),
            "accepted a datagram with an invalid name"
        );
    }
}

/// The sealed decoder on arbitrary bytes, and on arbitrary plaintext sealed with the
/// right key (so the checks after authentication are reached too).
pub fn decode_sealed(data: &[u8]) {
    let to: SocketAddr = "10.0.0.1:7946".parse().expect("an address");
    let mut codec = Codec::new("fuzz", Some(keyring()), Boot::new(1, [0; SALT_LEN])).with_local(vec![to]);
    let _ = codec.decode(data);
    // Header, then the clear run and sequence number: generation 1, a zero salt, seq 1.
    let mut datagram = vec![wire::MAGIC[0], wire::MAGIC[1], wire::VERSION, keyring().primary_id()];
    datagram.push(1);
    datagram.extend_from_slice(&[0; SALT_LEN]);
    datagram.push(1);
    let aad = wire::associated_data(&datagram, to, "fuzz");
    let nonce = Boot::new(1, [0; SALT_LEN]).nonce(1);
    datagram.extend_from_slice(&keyring().seal(&nonce, &aad, data));
    let _ = codec.decode(&datagram);
}

/// A node of each strategy fed a sequence of datagrams (each prefixed by a one-byte
/// length), with time advancing between them and its outputs drained.
pub fn node_messages(data: &[u8]) {
    let src: SocketAddr = "10.0.0.2:7946".parse().expect("an address");
    for strategy in [StrategyKind::Push, StrategyKind::Pull, StrategyKind::Leader] {
        let mut config = Config::preset(Preset::LanFast, strategy);
        if strategy == StrategyKind::Pull {
            config.strategy = crate::config::StrategyConfig::Pull {
                monitors: vec!["fuzz".into()],
            };
        }
        let me = Peer {
            name: "fuzz".into(),
            addr: "10.0.0.1:7946".parse().expect("an address"),
            incarnation: 0,
        };
        let mut node = Node::new(me, config, 1, Instant::ZERO);
        node.handle_command(Instant::ZERO, Command::Join(vec![src]));
        let mut now = Instant::ZERO;
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let (datagram, tail) = tail.split_at((len as usize).min(tail.len()));
            rest = tail;
            now = now + Duration::from_millis(u64::from(len));
            if let Ok(envelope) = wire::decode(datagram) {
                node.handle_message(now, src, envelope);
            }
            node.handle_tick(now);
            while node.poll_output().is_some() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays every input saved under `fuzz/corpus/<target>/` through its target.
    #[test]
    fn the_saved_fuzz_corpus_replays_without_a_panic() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 3] = [
            ("decode_plaintext", super::decode_plaintext),
            ("decode_sealed", super::decode_sealed),
            ("node_messages", super::node_messages),
        ];
        for (target, run) in targets {
            let dir = corpus.join(target);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let mut replayed = 0;
            for entry in entries {
                run(&std::fs::read(entry.unwrap().path()).unwrap());
                replayed += 1;
            }
            assert!(replayed >= 10, "{target}: only {replayed} saved inputs");
        }
    }
}
