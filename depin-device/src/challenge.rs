//! Challenge-response: the device signs a network-issued nonce together with a
//! measurement, for proofs of presence (e.g. a received beacon's RSSI) or of storage
//! (e.g. a hash over challenged sectors).
//!
//! # Byte layout
//!
//! ```text
//! offset  size  field
//! 0       1     version           = 0x01
//! 1       1     key type          0 Ed25519, 1 secp256k1, 2 P-256
//! 2       8     key hint          as in report frames
//! 10      16    nonce             issued by the network, echoed verbatim
//! 26      1     measurement len   M, 0..=128
//! 27      M     measurement       application-defined bytes
//! 27+M    64    signature         over Domain::digest(CHALLENGE_RESPONSE, bytes[0..27+M])
//! ```
//!
//! Overhead: 27 + 64 = **91 bytes**. The signature binds the nonce (so a response
//! cannot be replayed for another challenge), the measurement (so it cannot be swapped)
//! and, through depin-core's domain, the network and message kind
//! ([`MessageKind::CHALLENGE_RESPONSE`]), so a report frame can never pass as a response.

use depin_core::{Domain, KeyHint, KeyType, MessageKind, PublicKey, Signature, SIGNATURE_LEN};

use crate::error::{Error, Result};
use crate::signer::{Signer, SignerError as _};

/// Challenge-response format version.
pub const CHALLENGE_VERSION: u8 = 1;
/// Nonce length (128 bits).
pub const NONCE_LEN: usize = 16;
/// Length of the fixed part before the measurement.
pub const RESPONSE_HEADER_LEN: usize = 27;
/// Maximum measurement length.
pub const MAX_MEASUREMENT_LEN: usize = 128;
/// Bytes a response adds around its measurement.
pub const RESPONSE_OVERHEAD: usize = RESPONSE_HEADER_LEN + SIGNATURE_LEN;
/// Maximum response length.
pub const MAX_RESPONSE_LEN: usize = RESPONSE_OVERHEAD + MAX_MEASUREMENT_LEN;

/// A network-issued challenge nonce.
pub type Nonce = [u8; NONCE_LEN];

/// Answer the challenge `nonce` with `measurement`: writes the signed response into
/// `out` and returns its length (`91 + measurement.len()`).
///
/// ```
/// use depin_core::{Domain, NetworkId};
/// use depin_device::challenge::{respond, verify_response, MAX_RESPONSE_LEN};
/// use depin_device::signer::P256Signer;
///
/// let mut signer = P256Signer::from_secret(&[5; 32])?;
/// let domain = Domain::new(NetworkId::new("demo-net")?);
/// let nonce = [0xab; 16]; // from the network
/// let mut out = [0u8; MAX_RESPONSE_LEN];
/// let n = respond(&mut signer, &domain, &nonce, b"rssi=-97", &mut out)?;
///
/// // network side
/// let resp = verify_response(&out[..n], &domain, &signer.public_key(), &nonce)?;
/// assert_eq!(resp.measurement, b"rssi=-97");
/// assert!(verify_response(&out[..n], &domain, &signer.public_key(), &[0; 16]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn respond<S: Signer + ?Sized>(
    signer: &mut S,
    domain: &Domain,
    nonce: &Nonce,
    measurement: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let m = u8::try_from(measurement.len())
        .ok()
        .filter(|&m| usize::from(m) <= MAX_MEASUREMENT_LEN)
        .ok_or(Error::TooLong {
            len: measurement.len(),
            limit: MAX_MEASUREMENT_LEN,
        })?;
    let signed_len = RESPONSE_HEADER_LEN + measurement.len();
    let total = signed_len + SIGNATURE_LEN;
    let dst = out
        .get_mut(..total)
        .ok_or(Error::BufferTooSmall { needed: total })?;
    let (signed, sig_out) = dst.split_at_mut(signed_len);
    let (fixed, meas_out) = signed.split_at_mut(RESPONSE_HEADER_LEN);
    let hint = signer.key_hint();
    let mut pos = 0;
    for part in [
        &[CHALLENGE_VERSION, signer.key_type().tag()][..],
        &hint[..],
        &nonce[..],
        &[m][..],
    ] {
        let end = pos + part.len();
        fixed
            .get_mut(pos..end)
            .ok_or(Error::BufferTooSmall { needed: total })?
            .copy_from_slice(part);
        pos = end;
    }
    meas_out.copy_from_slice(measurement);
    let digest = domain.digest(MessageKind::CHALLENGE_RESPONSE, signed);
    let signature = signer
        .sign_digest(&digest)
        .map_err(|e| Error::Signer(e.kind()))?;
    sig_out.copy_from_slice(&signature);
    Ok(total)
}

/// A parsed challenge response (not yet verified unless it came from
/// [`verify_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeResponse<'a> {
    /// The signing key's scheme.
    pub key_type: KeyType,
    /// Hint of the device key.
    pub key_hint: KeyHint,
    /// The nonce the device answered.
    pub nonce: Nonce,
    /// The measurement.
    pub measurement: &'a [u8],
    signed: &'a [u8],
    signature: &'a [u8],
}

impl<'a> ChallengeResponse<'a> {
    /// Parse a response: checks version, key type and exact length; no signature work.
    /// Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() > MAX_RESPONSE_LEN {
            return Err(Error::TooLong {
                len: bytes.len(),
                limit: MAX_RESPONSE_LEN,
            });
        }
        let Some((fixed, rest)) = bytes.split_at_checked(RESPONSE_HEADER_LEN) else {
            return Err(Error::Malformed("challenge response truncated"));
        };
        let [version, key_type, h0, h1, h2, h3, h4, h5, h6, h7, nonce_and_len @ ..] = fixed else {
            return Err(Error::Malformed("challenge response truncated"));
        };
        if *version != CHALLENGE_VERSION {
            return Err(Error::Malformed("unsupported challenge response version"));
        }
        let key_type = KeyType::from_tag(*key_type)?;
        let Some((nonce_bytes, [m])) = nonce_and_len.split_at_checked(NONCE_LEN) else {
            return Err(Error::Malformed("challenge response truncated"));
        };
        let m = usize::from(*m);
        if m > MAX_MEASUREMENT_LEN {
            return Err(Error::Malformed("measurement longer than 128 bytes"));
        }
        if rest.len() != m + SIGNATURE_LEN {
            return Err(Error::Malformed(
                "challenge response length does not match its measurement length",
            ));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(nonce_bytes);
        let (measurement, signature) = rest.split_at(m);
        let (signed, _) = bytes.split_at(RESPONSE_HEADER_LEN + m);
        Ok(ChallengeResponse {
            key_type,
            key_hint: [*h0, *h1, *h2, *h3, *h4, *h5, *h6, *h7],
            nonce,
            measurement,
            signed,
            signature,
        })
    }

    /// The signed bytes (everything before the signature).
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }

    /// The raw signature bytes.
    pub fn signature_bytes(&self) -> &'a [u8] {
        self.signature
    }

    /// Verify that `key` made this response in `domain` for `expected_nonce`.
    pub fn verify(&self, domain: &Domain, key: &PublicKey, expected_nonce: &Nonce) -> Result<()> {
        if self.nonce != *expected_nonce {
            return Err(Error::NonceMismatch);
        }
        depin_core::DeviceId::from(key)
            .check_named(self.key_type, &self.key_hint)
            .map_err(Error::Rejected)?;
        let signature =
            Signature::from_bytes(self.key_type, self.signature).map_err(Error::Rejected)?;
        domain
            .verify(
                key,
                MessageKind::CHALLENGE_RESPONSE,
                self.signed,
                &signature,
            )
            .map_err(Error::Rejected)
    }
}

/// Network side: parse `bytes` and verify the response against the device's registered
/// `key` and the nonce the network issued. Returns the verified response (with its
/// measurement) or [`Error::NonceMismatch`] / [`Error::Rejected`] / a parse error.
pub fn verify_response<'a>(
    bytes: &'a [u8],
    domain: &Domain,
    key: &PublicKey,
    expected_nonce: &Nonce,
) -> Result<ChallengeResponse<'a>> {
    let response = ChallengeResponse::parse(bytes)?;
    response.verify(domain, key, expected_nonce)?;
    Ok(response)
}
