//! The seeded random stream of a simulation.

use depin_core::{KeyType, SigningKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// A deterministic random stream (ChaCha20 seeded from a `u64` and a label). The same seed
/// and label always give the same sequence, on every machine, so runs are reproducible.
///
/// Keys come from the same stream: fine for a simulation, **never** for real devices (use
/// `SigningKey::generate` with the operating system's CSPRNG, or a secure element).
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha20Rng);

impl SimRng {
    /// The stream for `seed` and `label` (e.g. the network name).
    pub fn new(seed: u64, label: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"depin-rs example rng");
        h.update(seed.to_le_bytes());
        h.update(label.as_bytes());
        SimRng(ChaCha20Rng::from_seed(h.finalize().into()))
    }

    /// An independent stream derived from this one and `label`.
    pub fn fork(&mut self, label: &str) -> SimRng {
        let mut h = Sha256::new();
        h.update(self.0.next_u64().to_le_bytes());
        h.update(label.as_bytes());
        SimRng(ChaCha20Rng::from_seed(h.finalize().into()))
    }

    /// A uniform `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform integer in `0..n` (`0` if `n == 0`); negligible modulo bias for small `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.0.next_u64() % n
        }
    }

    /// A uniform integer in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// A uniform float in `[0, 1)` (simulation physics only, never reward math).
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform float in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }

    /// 32 secret bytes that are a valid `key_type` key (`SigningKey::from_secret_bytes`), so
    /// a simulator can hold the same key twice (say, in a depin-device signer and in a
    /// chain registration signer; `SigningKey` is deliberately not `Clone`).
    pub fn secret(&mut self, key_type: KeyType) -> [u8; 32] {
        loop {
            let mut s = [0u8; 32];
            self.0.fill_bytes(&mut s);
            if SigningKey::from_secret_bytes(key_type, &s).is_ok() {
                return s;
            }
        }
    }

    /// A signing key of `key_type` from this stream (simulation only, see the type docs).
    pub fn signing_key(&mut self, key_type: KeyType) -> SigningKey {
        SigningKey::generate(key_type, &mut self.0)
    }
}
