//! Nonces never repeat under one key: over any sequence of datagrams, restarts (with the
//! clock going on, standing still or set back) and key rotations, every sealed datagram a
//! node sends has a (key, nonce) pair of its own, and a receiver that holds every key
//! accepts each one once.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::message::Peer;
use crate::seal::{Boot, Keyring, NONCE_LEN, SALT_LEN};

/// Secrets of the keys a test cluster rotates through.
const SECRETS: [[u8; 32]; 3] = [[1; 32], [2; 32], [3; 32]];

/// What happens to the node next.
#[derive(Clone, Debug)]
enum Step {
    /// It sends this many datagrams.
    Send(u8),
    /// It restarts, its wall clock having moved by this many µs (negative: set back).
    Restart(i64),
    /// Its keyring's primary becomes this key (the others stay in the ring).
    Rotate(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u8..5).prop_map(Step::Send),
        2 => prop_oneof![Just(0i64), Just(-1), -5_000_000i64..5_000_000].prop_map(Step::Restart),
        1 => (0..SECRETS.len()).prop_map(Step::Rotate),
    ]
}

/// A keyring of every key, `primary` first.
fn ring(primary: usize) -> Keyring {
    let mut secrets = vec![SECRETS[primary].to_vec()];
    secrets.extend(
        (0..SECRETS.len())
            .filter(|&k| k != primary)
            .map(|k| SECRETS[k].to_vec()),
    );
    Keyring::new(&secrets).unwrap()
}

fn to() -> SocketAddr {
    "10.0.0.2:7946".parse().unwrap()
}

fn envelope() -> Envelope {
    Envelope {
        from: Peer {
            name: "node".into(),
            addr: "10.0.0.1:7946".parse().unwrap(),
            incarnation: 0,
        },
        message: Message::Leave,
        timing: None,
    }
}

/// One node through `steps`, starting at wall clock `start`: every datagram it sends.
/// With `recorded`, each run's generation comes after the one recorded by the run before
/// (the agent's data dir) and every salt is zero, so uniqueness rests on the generation
/// alone; without, the generation is the clock's and the salts are `salts`, in turn.
fn run_node(steps: &[Step], start: u64, recorded: bool, salts: &[[u8; SALT_LEN]]) -> Vec<Vec<u8>> {
    let (mut now, mut primary, mut last, mut runs) = (start, 0, None, 0);
    let mut boot = |now: u64| {
        let generation = if recorded {
            Boot::next_generation(last, now)
        } else {
            now
        };
        last = Some(generation);
        runs += 1;
        let salt = if recorded {
            [0; SALT_LEN]
        } else {
            salts[runs % salts.len()]
        };
        Boot::new(generation, salt)
    };
    let mut codec = Codec::new("c", Some(ring(primary)), boot(now));
    let to = to();
    let mut sent = Vec::new();
    for step in steps {
        match *step {
            Step::Send(count) => {
                for _ in 0..count {
                    let mut bytes = Vec::new();
                    codec.encode(&envelope(), to, &mut bytes).unwrap();
                    sent.push(bytes);
                }
            }
            Step::Restart(delta) => {
                now = now.saturating_add_signed(delta);
                codec = Codec::new("c", Some(ring(primary)), boot(now));
            }
            Step::Rotate(key) => {
                primary = key;
                codec.set_keyring(Some(ring(primary)));
            }
        }
    }
    sent
}

/// Asserts that no two datagrams share a key and a nonce.
fn assert_unique(sent: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::<(u8, [u8; NONCE_LEN])>::new();
    for datagram in sent {
        let nonce = sealed_nonce(datagram).expect("a sealed datagram");
        prop_assert!(
            seen.insert((datagram[3], nonce)),
            "nonce repeated under key {}",
            datagram[3]
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_node_that_records_its_generation_never_repeats_a_nonce(
        steps in proptest::collection::vec(step(), 1..60),
        start in 0u64..10_000_000,
    ) {
        let sent = run_node(&steps, start, true, &[]);
        assert_unique(&sent)?;
        // Each run is later than the one before, so a receiver accepts every datagram.
        let mut receiver = Codec::new("c", Some(ring(0)), Boot::new(0, [9; SALT_LEN])).with_local(vec![to()]);
        for datagram in &sent {
            prop_assert_eq!(receiver.decode(datagram), Ok(envelope()));
        }
    }

    #[test]
    fn a_node_without_a_record_relies_on_its_salt_when_the_clock_repeats(
        steps in proptest::collection::vec(step(), 1..60),
        salts in proptest::collection::btree_set(any::<[u8; SALT_LEN]>(), 64),
    ) {
        let salts: Vec<_> = salts.into_iter().collect();
        assert_unique(&run_node(&steps, 1_000, false, &salts))?;
    }
}

#[test]
fn a_restarted_node_with_the_same_key_and_clock_never_repeats_a_nonce() {
    let steps = [
        Step::Send(3),
        Step::Restart(0),
        Step::Send(3),
        Step::Restart(-10),
        Step::Send(3),
    ];
    let sent = run_node(&steps, 5_000, true, &[]);
    assert_unique(&sent).unwrap();
    // Without the record and with one salt for every run, the clock's repeat is a nonce's
    // repeat: what the salt (and the record) stand against.
    let sent = run_node(&steps, 5_000, false, &[[7; SALT_LEN]]);
    assert!(assert_unique(&sent).is_err());
}
