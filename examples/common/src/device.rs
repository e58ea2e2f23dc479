//! Device-side signing through depin-device's [`Signer`] trait, for any key type.

use depin_attest::EnvelopeBody;
use depin_core::{DeviceId, Domain, KeyType, SigningKey, SIGNATURE_LEN};
use depin_device::signer::{
    Ed25519Signer, ErrorType, P256Signer, Secp256k1Signer, Signer, SoftwareSignerError,
};

use crate::error::{Error, Result};

/// One of depin-device's software signers, chosen by key type at run time (firmware picks
/// one statically; a simulator holds many devices of different kinds).
#[derive(Debug)]
pub enum AnySigner {
    /// Ed25519.
    Ed25519(Ed25519Signer),
    /// secp256k1 ECDSA.
    Secp256k1(Secp256k1Signer),
    /// P-256 ECDSA (what secure elements sign with).
    P256(P256Signer),
}

impl AnySigner {
    /// Wrap a key in the signer of its type.
    pub fn new(key: SigningKey) -> Result<Self> {
        let kt = key.key_type();
        let refused = |e| Error::Check(format!("depin-device refused a {kt} key: {e:?}"));
        Ok(match kt {
            KeyType::Ed25519 => AnySigner::Ed25519(Ed25519Signer::new(key).map_err(refused)?),
            KeyType::Secp256k1 => AnySigner::Secp256k1(Secp256k1Signer::new(key).map_err(refused)?),
            KeyType::P256 => AnySigner::P256(P256Signer::new(key).map_err(refused)?),
        })
    }
}

impl ErrorType for AnySigner {
    type Error = SoftwareSignerError;
}

impl Signer for AnySigner {
    fn device_id(&self) -> DeviceId {
        match self {
            AnySigner::Ed25519(s) => s.device_id(),
            AnySigner::Secp256k1(s) => s.device_id(),
            AnySigner::P256(s) => s.device_id(),
        }
    }

    fn sign_digest(
        &mut self,
        digest: &[u8; 32],
    ) -> core::result::Result<[u8; SIGNATURE_LEN], SoftwareSignerError> {
        match self {
            AnySigner::Ed25519(s) => s.sign_digest(digest),
            AnySigner::Secp256k1(s) => s.sign_digest(digest),
            AnySigner::P256(s) => s.sign_digest(digest),
        }
    }
}

/// Sign a depin-attest envelope with a depin-device [`Signer`] (the key may live in a secure
/// element): the body's canonical encoding, then the signature over its signing digest for
/// the attestation's message kind, as defined by [`EnvelopeBody::encode_for_signing`].
pub fn sign_envelope<S: Signer + ?Sized>(
    signer: &mut S,
    domain: &Domain,
    body: &EnvelopeBody,
) -> Result<Vec<u8>> {
    let (mut bytes, digest) = body.encode_for_signing(domain)?;
    let signature = signer
        .sign_digest(&digest)
        .map_err(|e| Error::Check(format!("device signer failed: {e:?}")))?;
    bytes.extend_from_slice(&signature);
    Ok(bytes)
}
