//! Authenticated encryption of datagrams with a shared cluster keyring, and replay
//! protection. Pure: the sender's run ([`Boot`]: its generation and random salt) comes
//! from the caller (the agent reads its clock, its data dir and the OS random source), so
//! the core stays deterministic and the simulator can seal too.
//!
//! - Cipher: XChaCha20-Poly1305. The 192-bit nonce is not carried: it is built from what
//!   every sealed datagram carries anyway, the sender's run and the datagram's sequence
//!   number ([`Boot::nonce`]); docs/SECURITY.md argues why it never repeats under one key.
//! - Keys: each 32-byte secret yields an AEAD key by HKDF-SHA256 (info names the key id),
//!   and a one-byte key id (1–255) derived from the secret, which travels in the header.
//! - Associated data: the datagram header and the cluster label, so a datagram of another
//!   cluster (or with a rewritten header) fails authentication.
//! - Replay: every sealed datagram carries the sender's run and sequence number; receivers
//!   keep a per-sender high-water mark with a window for reordering.
//!
//! This module never reads a clock or draws randomness, and never logs key material.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a secret key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a nonce in bytes.
pub const NONCE_LEN: usize = 24;
/// Length of the random salt a run adds to its generation.
pub const SALT_LEN: usize = 8;
/// Length of the authentication tag in bytes.
pub const TAG_LEN: usize = 16;
/// Most keys a keyring holds (rotation needs two; more only widens the attack surface).
pub const MAX_KEYS: usize = 4;

/// One cluster key.
#[derive(Clone)]
struct Key {
    id: u8,
    cipher: XChaCha20Poly1305,
}

/// The keys a node accepts; the first (primary) is the one it seals with.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|k| k.id).collect();
        write!(f, "Keyring {{ key_ids: {ids:?} }}")
    }
}

/// Why a keyring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No key at all.
    #[error("the keyring holds no key: put one base64 key per line (make one with `vitals keygen`)")]
    Empty,
    /// More than [`MAX_KEYS`] keys.
    #[error("the keyring holds {0} keys; at most {MAX_KEYS} are allowed (add, switch, then remove)")]
    TooMany(usize),
    /// A key has the wrong length.
    #[error("key {index} is {len} bytes; keys are {KEY_LEN} bytes (make one with `vitals keygen`)")]
    BadLength {
        /// 1-based position in the keyring.
        index: usize,
        /// Its length.
        len: usize,
    },
}

/// The key id a secret travels under: 1–255, derived from the secret.
pub fn key_id(secret: &[u8]) -> u8 {
    let digest = Sha256::new()
        .chain_update(b"vitals key id v1")
        .chain_update(secret)
        .finalize();
    (digest[0] % 255) + 1
}

impl Keyring {
    /// A keyring of these secrets, the first being primary.
    pub fn new(secrets: &[Vec<u8>]) -> Result<Keyring, KeyringError> {
        if secrets.is_empty() {
            return Err(KeyringError::Empty);
        }
        if secrets.len() > MAX_KEYS {
            return Err(KeyringError::TooMany(secrets.len()));
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for (index, secret) in secrets.iter().enumerate() {
            if secret.len() != KEY_LEN {
                return Err(KeyringError::BadLength {
                    index: index + 1,
                    len: secret.len(),
                });
            }
            let id = key_id(secret);
            let mut okm = Zeroizing::new([0u8; KEY_LEN]);
            Hkdf::<Sha256>::new(Some(b"vitals aead v1"), secret)
                .expand(&[b"key id ".as_slice(), &[id]].concat(), okm.as_mut())
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            let cipher = XChaCha20Poly1305::new_from_slice(okm.as_ref()).expect("32-byte key");
            keys.push(Key { id, cipher });
        }
        Ok(Keyring { keys })
    }

    /// The primary key's id.
    pub fn primary_id(&self) -> u8 {
        self.keys[0].id
    }

    /// Every key id, primary first.
    pub fn ids(&self) -> Vec<u8> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// Encrypts `plaintext` with the primary key; returns ciphertext and tag.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XNonce::from(*nonce);
        self.keys[0]
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .expect("encryption of a bounded datagram cannot fail")
    }

    /// Decrypts with every key of id `id` until one authenticates; `None` if none does.
    pub fn open(&self, id: u8, nonce: &[u8; NONCE_LEN], aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let nonce = XNonce::from(*nonce);
        self.keys
            .iter()
            .filter(|k| k.id == id)
            .find_map(|k| k.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad }).ok())
    }

    /// Whether a key of this id is in the ring.
    pub fn has(&self, id: u8) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }
}

/// One run of a sender: from its start to its exit. Every sealed datagram carries it
/// (with its sequence number), and its nonce is built from both.
///
/// Ordered by generation, then salt: a receiver takes a higher run for a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Boot {
    /// Grows from one run of a node to the next: the start time in µs since the UNIX
    /// epoch, or one more than the previous run's when that is higher
    /// ([`Boot::next_generation`]).
    pub generation: u64,
    /// Random bits drawn once per run, so that two runs with the same generation (two
    /// nodes started in the same microsecond, a clock set back without a data dir) still
    /// build different nonces.
    pub salt: [u8; SALT_LEN],
}

impl Boot {
    /// A run of this generation and salt.
    pub fn new(generation: u64, salt: [u8; SALT_LEN]) -> Boot {
        Boot { generation, salt }
    }

    /// The generation of a run starting at `now_us` (µs since the UNIX epoch) after a run
    /// of generation `previous` (if one was recorded): `now_us`, or `previous + 1` when the
    /// clock says less, so a node that records its generations never repeats one,
    /// whatever its clock does. A recorded `u64::MAX` cannot be passed: `now_us` then.
    pub fn next_generation(previous: Option<u64>, now_us: u64) -> u64 {
        match previous.and_then(|p| p.checked_add(1)) {
            Some(after) => after.max(now_us),
            None => now_us,
        }
    }

    /// The nonce of datagram `seq` of this run: generation (8 bytes, little-endian), salt
    /// (8), sequence number (8). XChaCha20 derives a subkey from the first 16 bytes (one
    /// per run) and counts with the last 8 (one per datagram).
    pub fn nonce(&self, seq: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.generation.to_le_bytes());
        nonce[8..16].copy_from_slice(&self.salt);
        nonce[16..].copy_from_slice(&seq.to_le_bytes());
        nonce
    }
}

/// Bits of the reordering window: a sealed datagram whose sequence number is this far
/// below the highest seen from its sender is refused.
pub const REPLAY_WINDOW: u64 = 1024;
/// Most senders whose windows are kept (older ones are forgotten first).
pub const MAX_TRACKED_SENDERS: usize = 4096;

#[derive(Clone, Debug)]
struct Window {
    run: Boot,
    top: u64,
    seen: [u64; (REPLAY_WINDOW / 64) as usize],
}

/// Why a frame was refused as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// From a generation older than the sender's current one (a previous run).
    OldGeneration,
    /// Sequence number already seen, or too far behind.
    Repeated,
}

/// Per-sender (run, sequence) high-water marks.
#[derive(Clone, Debug, Default)]
pub struct ReplayGuard {
    senders: BTreeMap<String, Window>,
    order: std::collections::VecDeque<String>,
}

impl ReplayGuard {
    /// Accepts `(run, seq)` from `sender` once; refuses repeats and older runs.
    pub fn check(&mut self, sender: &str, run: Boot, seq: u64) -> Result<(), Replay> {
        let Some(window) = self.senders.get_mut(sender) else {
            self.remember(
                sender,
                Window {
                    run,
                    top: seq,
                    seen: one_bit(),
                },
            );
            return Ok(());
        };
        if run < window.run {
            return Err(Replay::OldGeneration);
        }
        if run > window.run {
            *window = Window {
                run,
                top: seq,
                seen: one_bit(),
            };
            return Ok(());
        }
        window.accept(seq)
    }

    fn remember(&mut self, sender: &str, window: Window) {
        if self.senders.len() >= MAX_TRACKED_SENDERS
            && let Some(oldest) = self.order.pop_front()
        {
            self.senders.remove(&oldest);
        }
        self.senders.insert(sender.to_string(), window);
        self.order.push_back(sender.to_string());
    }
}

fn one_bit() -> [u64; (REPLAY_WINDOW / 64) as usize] {
    let mut seen = [0; (REPLAY_WINDOW / 64) as usize];
    seen[0] = 1;
    seen
}

impl Window {
    /// Bit `i` of `seen` stands for sequence number `top - i`.
    fn accept(&mut self, seq: u64) -> Result<(), Replay> {
        if seq > self.top {
            self.shift(seq - self.top);
            self.top = seq;
            self.seen[0] |= 1;
            return Ok(());
        }
        let back = self.top - seq;
        if back >= REPLAY_WINDOW {
            return Err(Replay::Repeated);
        }
        let (word, bit) = ((back / 64) as usize, back % 64);
        if self.seen[word] & (1 << bit) != 0 {
            return Err(Replay::Repeated);
        }
        self.seen[word] |= 1 << bit;
        Ok(())
    }

    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.seen = [0; (REPLAY_WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        for i in (0..self.seen.len()).rev() {
            let from_hi = i.checked_sub(words).map_or(0, |j| self.seen[j] << bits);
            let from_lo = if bits == 0 {
                0
            } else {
                i.checked_sub(words + 1).map_or(0, |j| self.seen[j] >> (64 - bits))
            };
            self.seen[i] = from_hi | from_lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secrets: &[[u8; 32]]) -> Keyring {
        Keyring::new(&secrets.iter().map(|s| s.to_vec()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_nonce_and_aad() {
        let a = ring(&[[1; 32]]);
        let nonce = [7; NONCE_LEN];
        let sealed = a.seal(&nonce, b"header", b"hello");
        assert_eq!(sealed.len(), 5 + TAG_LEN);
        assert_eq!(
            a.open(a.primary_id(), &nonce, b"header", &sealed).as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(a.open(a.primary_id(), &nonce, b"other header", &sealed), None);
        assert_eq!(a.open(a.primary_id(), &[8; NONCE_LEN], b"header", &sealed), None);
        let b = ring(&[[2; 32]]);
        assert_eq!(b.open(a.primary_id(), &nonce, b"header", &sealed), None);
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(a.open(a.primary_id(), &nonce, b"header", &tampered), None);
    }

    #[test]
    fn a_rotating_keyring_opens_both_keys_and_seals_with_the_primary() {
        let (old, new) = (ring(&[[1; 32]]), ring(&[[2; 32]]));
        let both = ring(&[[1; 32], [2; 32]]);
        let nonce = [0; NONCE_LEN];
        assert!(
            both.open(old.primary_id(), &nonce, b"", &old.seal(&nonce, b"", b"x"))
                .is_some()
        );
        assert!(
            both.open(new.primary_id(), &nonce, b"", &new.seal(&nonce, b"", b"x"))
                .is_some()
        );
        assert!(
            old.open(both.primary_id(), &nonce, b"", &both.seal(&nonce, b"", b"x"))
                .is_some()
        );
    }

    #[test]
    fn bad_keyrings_are_refused_with_the_fix() {
        assert_eq!(Keyring::new(&[]).unwrap_err(), KeyringError::Empty);
        assert_eq!(
            Keyring::new(&[vec![0; 16]]).unwrap_err(),
            KeyringError::BadLength { index: 1, len: 16 }
        );
        assert_eq!(
            Keyring::new(&vec![vec![0; 32]; 5]).unwrap_err(),
            KeyringError::TooMany(5)
        );
        assert!(KeyringError::Empty.to_string().contains("vitals keygen"));
    }

    #[test]
    fn key_ids_are_never_zero_which_means_plaintext() {
        for byte in 0..=255u8 {
            assert_ne!(key_id(&[byte; 32]), 0);
        }
    }

    fn run(generation: u64) -> Boot {
        Boot::new(generation, [0; SALT_LEN])
    }

    #[test]
    fn each_sequence_number_is_accepted_once() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("a", run(1), 10), Ok(()));
        assert_eq!(guard.check("a", run(1), 10), Err(Replay::Repeated));
        assert_eq!(guard.check("a", run(1), 12), Ok(()));
        assert_eq!(guard.check("a", run(1), 11), Ok(()), "reordered within the window");
        assert_eq!(guard.check("a", run(1), 11), Err(Replay::Repeated));
        assert_eq!(guard.check("b", run(1), 11), Ok(()), "windows are per sender");
    }

    #[test]
    fn a_sequence_number_far_behind_is_refused() {
        let mut guard = ReplayGuard::default();
        guard.check("a", run(1), 5_000).unwrap();
        assert_eq!(guard.check("a", run(1), 5_000 - REPLAY_WINDOW), Err(Replay::Repeated));
        assert_eq!(guard.check("a", run(1), 5_000 - REPLAY_WINDOW + 1), Ok(()));
    }

    #[test]
    fn the_window_survives_shifts_across_word_boundaries() {
        let mut guard = ReplayGuard::default();
        for seq in [1u64, 2, 70, 200, 201, 900] {
            guard.check("a", run(1), seq).unwrap();
        }
        for seq in [1u64, 2, 70, 200, 201, 900] {
            assert_eq!(guard.check("a", run(1), seq), Err(Replay::Repeated), "{seq}");
        }
        assert_eq!(guard.check("a", run(1), 69), Ok(()));
    }

    #[test]
    fn a_recorded_generation_is_never_repeated_whatever_the_clock_says() {
        assert_eq!(Boot::next_generation(None, 500), 500);
        assert_eq!(Boot::next_generation(Some(400), 500), 500);
        assert_eq!(Boot::next_generation(Some(500), 500), 501, "same microsecond");
        assert_eq!(Boot::next_generation(Some(900), 500), 901, "clock set back");
        assert_eq!(Boot::next_generation(Some(u64::MAX), 500), 500);
    }

    #[test]
    fn nonces_differ_by_generation_salt_and_sequence_number() {
        let a = Boot::new(1, [0; SALT_LEN]);
        let b = Boot::new(1, [0, 0, 0, 0, 0, 0, 0, 1]);
        let c = Boot::new(2, [0; SALT_LEN]);
        let nonces = [a.nonce(1), a.nonce(2), b.nonce(1), c.nonce(1), a.nonce(1 << 56)];
        for (i, x) in nonces.iter().enumerate() {
            for y in &nonces[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(a.nonce(7), a.nonce(7));
    }

    #[test]
    fn a_same_generation_with_a_higher_salt_counts_as_a_later_run() {
        let mut guard = ReplayGuard::default();
        guard.check("a", Boot::new(5, [1; SALT_LEN]), 10).unwrap();
        assert_eq!(
            guard.check("a", Boot::new(5, [0; SALT_LEN]), 11),
            Err(Replay::OldGeneration)
        );
        assert_eq!(guard.check("a", Boot::new(5, [2; SALT_LEN]), 1), Ok(()));
    }

    #[test]
    fn a_new_generation_resets_and_an_old_one_is_refused() {
        let mut guard = ReplayGuard::default();
        guard.check("a", run(5), 100).unwrap();
        assert_eq!(guard.check("a", run(6), 1), Ok(()), "the sender restarted");
        assert_eq!(guard.check("a", run(5), 101), Err(Replay::OldGeneration));
    }
}
