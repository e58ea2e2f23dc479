//! The signed envelope every non-frame attestation travels in.
//!
//! Wire format:
//!
//! ```text
//! envelope  = body || signature
//! body      = postcard(EnvelopeBody { signer, seq, timestamp, kind, payload })  canonical
//!             kind: u16 (varint), the AttestationKind number
//!             payload: length-prefixed bytes, the kind's own canonical encoding
//! signature = 64 bytes, over Domain::digest(MessageKind(kind), body)
//! ```
//!
//! The envelope is the same for every kind, built-in or a network's own: the verifier
//! decodes the body, finds the registered [`crate::kind::Kind`] of `kind` (unknown kinds are
//! [`Rejection::UnknownKind`]) and decodes the payload with it.
//!
//! The signature covers the signer, sequence number and timestamp as well as the
//! payload, under the depin-core domain (protocol tag, network, message kind, chain),
//! so a signature never verifies for another network, kind, chain, device, sequence
//! number or time. Decoding checks the size limit first, then decodes strictly
//! (truncation, trailing bytes and non-canonical encodings are refused); it never
//! verifies signatures.

use depin_core::encoding;
use depin_core::{DeviceId, Domain, SigningKey, Timestamp, SIGNATURE_LEN};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::kind::{AttestationKind, AttestationType};
use crate::reason::Rejection;

/// Default envelope size limit: 64 KiB.
pub const DEFAULT_MAX_ENVELOPE_LEN: usize = encoding::DEFAULT_MAX_LEN;

/// The signed part of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeBody {
    /// The signing device (its key).
    pub signer: DeviceId,
    /// Per-device sequence number (anti-replay; increasing, gaps and reordering within
    /// the replay window allowed).
    pub seq: u64,
    /// When the attestation was made (transmit time for beacons, receive time for
    /// witnesses, meter time for readings).
    pub timestamp: Timestamp,
    /// The attestation's kind (its signatures are bound to this message kind).
    pub kind: AttestationKind,
    /// The attestation, in its kind's canonical encoding.
    pub payload: Vec<u8>,
}

impl EnvelopeBody {
    /// The body of an attestation of a typed kind (built-in or a network's own).
    pub fn new<T: AttestationType>(
        signer: DeviceId,
        seq: u64,
        timestamp: Timestamp,
        attestation: &T,
    ) -> Result<Self> {
        Ok(EnvelopeBody {
            signer,
            seq,
            timestamp,
            kind: T::KIND,
            payload: encoding::encode(attestation)?,
        })
    }

    /// Decode the payload as a `T` (strict, with `T`'s structural checks);
    /// [`Rejection::UnknownKind`] if the body is of another kind.
    pub fn decode<T: AttestationType>(&self) -> Result<T, Rejection> {
        if self.kind != T::KIND {
            return Err(Rejection::UnknownKind);
        }
        T::decode_checked(&self.payload)
    }

    /// The canonical body bytes and the 32-byte digest a signer must sign for them in
    /// `domain`. Append the 64-byte signature to the bytes to get the wire form; this is how
    /// a key that lives elsewhere (a depin-device signer, a secure element) signs envelopes.
    pub fn encode_for_signing(&self, domain: &Domain) -> Result<(Vec<u8>, [u8; 32])> {
        let bytes = encoding::encode(self)?;
        let digest = domain.digest(self.kind.message_kind(), &bytes);
        Ok((bytes, digest))
    }
}

/// A decoded (not yet verified) envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The signed body.
    pub body: EnvelopeBody,
    /// The signature bytes (checked strictly by the verifier).
    pub signature: [u8; SIGNATURE_LEN],
}

impl Envelope {
    /// Sign an attestation of a typed kind: the body of `(signer = key's id, seq,
    /// timestamp, attestation)`, signed with `key` in `domain`; returns the wire bytes.
    pub fn sign_attestation<T: AttestationType>(
        domain: &Domain,
        key: &SigningKey,
        seq: u64,
        timestamp: Timestamp,
        attestation: &T,
    ) -> Result<Vec<u8>> {
        let body = EnvelopeBody::new(
            DeviceId::from(&key.public_key()),
            seq,
            timestamp,
            attestation,
        )?;
        Envelope::sign(domain, key, &body)
    }

    /// Encode `body` and sign it with `key` in `domain`; returns the wire bytes.
    ///
    /// `body.signer` should be the id of `key` (the verifier rejects it otherwise).
    pub fn sign(domain: &Domain, key: &SigningKey, body: &EnvelopeBody) -> Result<Vec<u8>> {
        let (mut bytes, digest) = body.encode_for_signing(domain)?;
        let sig = key.sign_prehash(&digest)?;
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(bytes)
    }

    /// Decode wire bytes of at most `max_len` bytes. No signature work.
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Envelope, Rejection> {
        let (body, _, signature) = decode_parts(bytes, max_len)?;
        Ok(Envelope { body, signature })
    }

    /// The wire bytes of this envelope.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = encoding::encode(&self.body)?;
        bytes.extend_from_slice(&self.signature);
        Ok(bytes)
    }
}

/// Split and decode a signed envelope: (body, signed body bytes, signature).
pub(crate) fn decode_parts(
    bytes: &[u8],
    max_len: usize,
) -> Result<(EnvelopeBody, &[u8], [u8; SIGNATURE_LEN]), Rejection> {
    decode_signed(bytes, max_len)
}

/// Split and decode any `postcard(T) || signature(64)` message (envelopes, deny lists):
/// (value, signed bytes, signature). Size first, then a strict canonical decode of the body;
/// no signature work.
pub(crate) fn decode_signed<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    max_len: usize,
) -> Result<(T, &[u8], [u8; SIGNATURE_LEN]), Rejection> {
    if bytes.len() > max_len {
        return Err(Rejection::TooLarge);
    }
    let split = bytes
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(Rejection::Truncated)?;
    let (body_bytes, sig_bytes) = bytes.split_at(split);
    let value: T =
        encoding::decode_canonical(body_bytes, max_len).map_err(|e| Rejection::from_core(&e))?;
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(sig_bytes);
    Ok((value, body_bytes, signature))
}
