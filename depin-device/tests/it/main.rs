//! Integration tests of depin-device (one test binary, one module per area).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod challenge;
mod counter;
mod doc_example;
mod flash;
mod fragment;
mod frame;
mod signer;
mod time;

use depin_core::{Domain, KeyType, NetworkId};
use depin_device::signer::{Ed25519Signer, P256Signer, Secp256k1Signer, Signer};

/// Test-only secret shared with the firmware and the worked example in the docs.
pub const TEST_SECRET: [u8; 32] = *b"depin-rs TEST KEY, never in prod";

/// The public key of [`TEST_SECRET`] as `key_type` (computed once: key derivation is
/// slow in unoptimised test builds).
pub fn test_public_key(key_type: KeyType) -> depin_core::PublicKey {
    static KEYS: std::sync::OnceLock<Vec<depin_core::PublicKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        KeyType::ALL
            .iter()
            .map(|&kt| {
                depin_core::SigningKey::from_secret_bytes(kt, &TEST_SECRET)
                    .unwrap()
                    .public_key()
            })
            .collect()
    })[usize::from(key_type.tag())]
}

/// The domain used by the examples.
pub fn domain() -> Domain {
    Domain::new(NetworkId::new("depin-qemu").unwrap())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse lowercase hex.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A software signer of any key type behind one enum (for table-driven tests).
pub enum AnySigner {
    /// Ed25519.
    Ed(Ed25519Signer),
    /// secp256k1.
    K(Secp256k1Signer),
    /// P-256.
    P(P256Signer),
}

impl AnySigner {
    /// Load the secret as a key of `key_type`.
    pub fn new(key_type: KeyType, secret: &[u8; 32]) -> Self {
        match key_type {
            KeyType::Ed25519 => AnySigner::Ed(Ed25519Signer::from_secret(secret).unwrap()),
            KeyType::Secp256k1 => AnySigner::K(Secp256k1Signer::from_secret(secret).unwrap()),
            KeyType::P256 => AnySigner::P(P256Signer::from_secret(secret).unwrap()),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> depin_core::PublicKey {
        match self {
            AnySigner::Ed(s) => s.public_key(),
            AnySigner::K(s) => s.public_key(),
            AnySigner::P(s) => s.public_key(),
        }
    }
}

impl depin_device::signer::ErrorType for AnySigner {
    type Error = depin_device::signer::SoftwareSignerError;
}

impl Signer for AnySigner {
    fn device_id(&self) -> depin_core::DeviceId {
        match self {
            AnySigner::Ed(s) => s.device_id(),
            AnySigner::K(s) => s.device_id(),
            AnySigner::P(s) => s.device_id(),
        }
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64], Self::Error> {
        match self {
            AnySigner::Ed(s) => s.sign_digest(digest),
            AnySigner::K(s) => s.sign_digest(digest),
            AnySigner::P(s) => s.sign_digest(digest),
        }
    }
}
