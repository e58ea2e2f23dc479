//! Device keys: Ed25519, secp256k1 ECDSA and P-256 ECDSA behind one API.
//!
//! Every type here is built on the RustCrypto [`signature`] traits: [`SigningKey`]
//! implements [`signature::Signer`] and [`signature::Keypair`], [`PublicKey`] implements
//! [`signature::Verifier`]. Verification is *strict* for all three schemes:
//!
//! * Ed25519 public keys must be canonical encodings of torsion-free points of large
//!   order (small-order "weak" keys are refused when the key is parsed), `S` must be
//!   reduced (`S < l`), `R` must be a canonical encoding of a point that is not of small
//!   order, and the cofactorless equation is checked (`verify_strict`).
//! * ECDSA signatures (secp256k1 and P-256) must have `1 <= r, s < n` and low `S`
//!   (`s <= n/2`); the high-S twin of a valid signature is rejected, so signatures are
//!   not malleable. Signing always produces low-S signatures (RFC 6979 nonces).
//!
//! ECDSA here means ECDSA over SHA-256 of the message on both curves; Ed25519 is
//! PureEdDSA (RFC 8032).

use core::fmt;

use ed25519_dalek::{Signer as _, SigningKey as EdSigningKey, VerifyingKey as EdVerifyingKey};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use signature::hazmat::{PrehashSigner, PrehashVerifier};

use crate::error::{Error, Result};

/// The curve crates behind [`SigningKey`]'s variants, for code that holds one scheme's
/// key directly (firmware signers that must link only one curve). Keys and signatures made
/// with them enter depin-core only through the validating constructors of [`PublicKey`]
/// and [`Signature`].
pub mod hazmat {
    pub use ed25519_dalek;
    pub use k256;
    pub use p256;
}

/// Length of every signature in depin-rs: Ed25519 `R || S`, ECDSA `r || s`.
pub const SIGNATURE_LEN: usize = 64;
/// Maximum encoded public key length (compressed SEC1 ECDSA keys).
pub const MAX_PUBLIC_KEY_LEN: usize = 33;

/// The three supported signature schemes. The numeric tag is part of wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum KeyType {
    /// Ed25519 (RFC 8032), 32-byte public keys.
    Ed25519 = 0,
    /// ECDSA over secp256k1 with SHA-256, 33-byte compressed SEC1 public keys.
    Secp256k1 = 1,
    /// ECDSA over NIST P-256 (secp256r1) with SHA-256, 33-byte compressed SEC1 public keys.
    P256 = 2,
}

impl KeyType {
    /// All key types, in tag order.
    pub const ALL: [KeyType; 3] = [KeyType::Ed25519, KeyType::Secp256k1, KeyType::P256];

    /// Parse the one-byte wire tag.
    pub fn from_tag(tag: u8) -> Result<Self> {
        match tag {
            0 => Ok(KeyType::Ed25519),
            1 => Ok(KeyType::Secp256k1),
            2 => Ok(KeyType::P256),
            other => Err(Error::UnknownKeyType(other)),
        }
    }

    /// The one-byte wire tag.
    pub const fn tag(self) -> u8 {
        self as u8
    }

    /// Length of this type's encoded public key.
    pub const fn public_key_len(self) -> usize {
        match self {
            KeyType::Ed25519 => 32,
            KeyType::Secp256k1 | KeyType::P256 => 33,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Secp256k1 => "secp256k1",
            KeyType::P256 => "p256",
        })
    }
}

/// A public key of one of the supported schemes, already validated.
///
/// The type is opaque: the ways to build one are [`PublicKey::from_bytes`],
/// [`PublicKey::from_sec1`] and [`SigningKey::public_key`], which apply the strict checks
/// (an Ed25519 key is canonical, torsion-free and not of small order), and
/// [`PublicKey::from_prechecked_bytes`], which still refuses small-order keys but trusts
/// the caller for the canonical and torsion checks (bytes that passed
/// [`PublicKey::from_bytes`] before). The batch verifier relies on that: no key of small
/// order (the one that lets anyone forge in a batch) can reach it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(Pk);

/// The validated key of one scheme (private: the invariant lives in [`PublicKey`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pk {
    /// An Ed25519 key (canonical, torsion-free, not of small order).
    Ed25519(EdVerifyingKey),
    /// A secp256k1 ECDSA key.
    Secp256k1(k256::ecdsa::VerifyingKey),
    /// A P-256 ECDSA key.
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        write!(f, "PublicKey({}:", self.key_type())?;
        for b in bytes.as_ref() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// An encoded public key in a fixed-size buffer (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKeyBytes {
    len: u8,
    buf: [u8; MAX_PUBLIC_KEY_LEN],
}

impl PublicKeyBytes {
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        let mut buf = [0u8; MAX_PUBLIC_KEY_LEN];
        let len = bytes.len().min(MAX_PUBLIC_KEY_LEN);
        buf[..len].copy_from_slice(&bytes[..len]);
        PublicKeyBytes {
            len: len as u8,
            buf,
        }
    }
}

impl AsRef<[u8]> for PublicKeyBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Debug for PublicKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_ref() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn parse_ed25519_key(bytes: &[u8]) -> Result<EdVerifyingKey> {
    let kt = KeyType::Ed25519;
    let arr: &[u8; 32] = bytes.try_into().map_err(|_| Error::InvalidKeyLength {
        key_type: kt,
        expected: 32,
        actual: bytes.len(),
    })?;
    let vk = EdVerifyingKey::from_bytes(arr).map_err(|_| Error::InvalidKey {
        key_type: kt,
        reason: "not a point on the curve",
    })?;
    let point = vk.to_edwards();
    if point.compress().as_bytes() != arr {
        return Err(Error::InvalidKey {
            key_type: kt,
            reason: "non-canonical point encoding",
        });
    }
    if vk.is_weak() {
        return Err(Error::InvalidKey {
            key_type: kt,
            reason: "small-order (weak) key",
        });
    }
    if !point.is_torsion_free() {
        return Err(Error::InvalidKey {
            key_type: kt,
            reason: "key has a torsion component",
        });
    }
    Ok(vk)
}

fn sec1_len_check(key_type: KeyType, bytes: &[u8]) -> Result<()> {
    if bytes.len() != 33 {
        return Err(Error::InvalidKeyLength {
            key_type,
            expected: 33,
            actual: bytes.len(),
        });
    }
    if bytes[0] != 0x02 && bytes[0] != 0x03 {
        return Err(Error::InvalidKey {
            key_type,
            reason: "expected a compressed SEC1 point (prefix 0x02 or 0x03)",
        });
    }
    Ok(())
}

impl PublicKey {
    /// Parse a key whose exact bytes already passed [`PublicKey::from_bytes`] (a registry
    /// validated them when the device registered and kept that fact), without repeating the
    /// checks that cost a scalar multiplication or an inversion: an Ed25519 key is
    /// decompressed and refused if of small order (a few doublings), without the canonical
    /// re-encoding and torsion checks (about 7 µs instead of about 40 µs); ECDSA keys are
    /// parsed exactly as by [`PublicKey::from_bytes`] (their check is the parse).
    ///
    /// # Security
    /// The caller asserts that these bytes passed [`PublicKey::from_bytes`]. Given bytes
    /// that did not, a key with a torsion component or a non-canonical encoding can come out
    /// (never one of small order, which would let anyone forge its signatures in a batch); a
    /// torsion component makes batch verdicts on the owner's own odd signatures differ from
    /// strict ones (see `docs/security.md`). Registries must set their "checked" mark only
    /// after a successful [`PublicKey::from_bytes`] of the same bytes.
    pub fn from_prechecked_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self> {
        if key_type != KeyType::Ed25519 {
            return PublicKey::from_bytes(key_type, bytes);
        }
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| Error::InvalidKeyLength {
            key_type,
            expected: 32,
            actual: bytes.len(),
        })?;
        let vk = EdVerifyingKey::from_bytes(arr).map_err(|_| Error::InvalidKey {
            key_type,
            reason: "not a point on the curve",
        })?;
        if vk.is_weak() {
            return Err(Error::InvalidKey {
                key_type,
                reason: "small-order (weak) key",
            });
        }
        Ok(PublicKey(Pk::Ed25519(vk)))
    }

    /// Parse a public key of the given type from its canonical encoding: 32 bytes for
    /// Ed25519, 33-byte compressed SEC1 for secp256k1 and P-256.
    ///
    /// ```
    /// use depin_core::{KeyType, PublicKey};
    /// let err = PublicKey::from_bytes(KeyType::Ed25519, &[0u8; 31]).unwrap_err();
    /// assert!(err.to_string().contains("32 bytes"));
    /// ```
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self> {
        match key_type {
            KeyType::Ed25519 => parse_ed25519_key(bytes).map(|k| PublicKey(Pk::Ed25519(k))),
            KeyType::Secp256k1 => {
                sec1_len_check(key_type, bytes)?;
                k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                    .map(|k| PublicKey(Pk::Secp256k1(k)))
                    .map_err(|_| Error::InvalidKey {
                        key_type,
                        reason: "not a point on the curve",
                    })
            }
            KeyType::P256 => {
                sec1_len_check(key_type, bytes)?;
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                    .map(|k| PublicKey(Pk::P256(k)))
                    .map_err(|_| Error::InvalidKey {
                        key_type,
                        reason: "not a point on the curve",
                    })
            }
        }
    }

    /// Parse an uncompressed (65-byte, `0x04` prefix) or compressed SEC1 ECDSA key.
    /// Useful for keys exported by secure elements, which often give the uncompressed form.
    pub fn from_sec1(key_type: KeyType, bytes: &[u8]) -> Result<Self> {
        let bad = |reason| Error::InvalidKey { key_type, reason };
        match key_type {
            KeyType::Ed25519 => Err(bad("Ed25519 keys have no SEC1 form")),
            KeyType::Secp256k1 => k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .map(|k| PublicKey(Pk::Secp256k1(k)))
                .map_err(|_| bad("invalid SEC1 point")),
            KeyType::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .map(|k| PublicKey(Pk::P256(k)))
                .map_err(|_| bad("invalid SEC1 point")),
        }
    }

    /// The key's scheme.
    pub fn key_type(&self) -> KeyType {
        match self.0 {
            Pk::Ed25519(_) => KeyType::Ed25519,
            Pk::Secp256k1(_) => KeyType::Secp256k1,
            Pk::P256(_) => KeyType::P256,
        }
    }

    /// The validated inner key (crate-internal: batch verification and addresses).
    #[cfg_attr(not(feature = "batch"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Pk {
        &self.0
    }

    /// Canonical encoding (32 bytes Ed25519, 33 bytes compressed SEC1 otherwise).
    pub fn to_bytes(&self) -> PublicKeyBytes {
        match &self.0 {
            Pk::Ed25519(k) => PublicKeyBytes::from_slice(k.as_bytes()),
            Pk::Secp256k1(k) => PublicKeyBytes::from_slice(k.to_sec1_point(true).as_bytes()),
            Pk::P256(k) => PublicKeyBytes::from_slice(k.to_sec1_point(true).as_bytes()),
        }
    }

    /// Uncompressed SEC1 encoding (65 bytes, `0x04 || x || y`) of an ECDSA key.
    pub fn to_uncompressed_sec1(&self) -> Result<[u8; 65]> {
        let point = match &self.0 {
            Pk::Ed25519(_) => {
                return Err(Error::InvalidKey {
                    key_type: KeyType::Ed25519,
                    reason: "Ed25519 keys have no SEC1 form",
                })
            }
            Pk::Secp256k1(k) => k.to_sec1_point(false),
            Pk::P256(k) => k.to_sec1_point(false),
        };
        point
            .as_bytes()
            .try_into()
            .map_err(|_| Error::InvalidAddress("unexpected SEC1 length"))
    }

    /// Strictly verify `signature` over the raw `message` (PureEdDSA for Ed25519,
    /// ECDSA over SHA-256 of `message` for secp256k1 and P-256).
    ///
    /// Most callers want [`crate::Domain::verify`], which binds network, kind and chain.
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<()> {
        match (&self.0, &signature.0) {
            (Pk::Secp256k1(_), Sig::Secp256k1(_)) | (Pk::P256(_), Sig::P256(_)) => {
                let digest = Sha256::digest(message);
                self.verify_prehash(&digest.into(), signature)
            }
            (Pk::Ed25519(k), Sig::Ed25519(s)) => k
                .verify_strict(message, &s.to_dalek())
                .map_err(|_| Error::SignatureRejected),
            _ => Err(self.mismatch(signature)),
        }
    }

    /// Verify an ECDSA signature over a 32-byte prehash (e.g. a SHA-256 or Keccak-256
    /// digest computed by the caller). For Ed25519 keys the digest is verified as the
    /// message itself.
    pub fn verify_prehash(&self, digest: &[u8; 32], signature: &Signature) -> Result<()> {
        match (&self.0, &signature.0) {
            (Pk::Secp256k1(k), Sig::Secp256k1(s)) => k
                .verify_prehash(digest, s)
                .map_err(|_| Error::SignatureRejected),
            (Pk::P256(k), Sig::P256(s)) => k
                .verify_prehash(digest, s)
                .map_err(|_| Error::SignatureRejected),
            (Pk::Ed25519(_), Sig::Ed25519(_)) => self.verify_raw(digest, signature),
            _ => Err(self.mismatch(signature)),
        }
    }

    fn mismatch(&self, signature: &Signature) -> Error {
        Error::KeyTypeMismatch {
            key: self.key_type(),
            signature: signature.key_type(),
        }
    }
}

impl signature::Verifier<Signature> for PublicKey {
    fn verify(
        &self,
        msg: &[u8],
        signature: &Signature,
    ) -> core::result::Result<(), signature::Error> {
        self.verify_raw(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

/// `true` when the little-endian scalar is fully reduced (`s < l`), decided by the
/// scalar type of curve25519-dalek itself.
fn ed25519_scalar_is_canonical(s: &[u8; 32]) -> bool {
    bool::from(curve25519_dalek::Scalar::from_canonical_bytes(*s).is_some())
}

/// `true` when the 255-bit `y` of an Edwards encoding is a canonical field element
/// (`y < p = 2^255 - 19`). The only other non-canonical encodings are a set sign bit on
/// `x = 0`, which happens only for `y = 1` and `y = -1`: the identity and the point of
/// order 2, both refused as small order below.
fn ed25519_y_is_canonical(r: &[u8; 32]) -> bool {
    // y >= p  <=>  the low 255 bits are in [2^255 - 19, 2^255 - 1]
    let high = r[31] & 0x7f;
    !(high == 0x7f && r[1..31].iter().all(|&b| b == 0xff) && r[0] >= 0xed)
}

/// The `y` coordinates (little-endian, sign bit clear) of the eight points of small order:
/// the identity `y = 1`, the point of order 2 `y = -1`, the two of order 4 `y = 0`, and the
/// four of order 8, which share two values `y = ±y8`. A point is of small order exactly when
/// its `y` is one of these five, whatever the sign of `x`. The unit test
/// `small_order_ys_are_the_curves_torsion` derives the set from curve25519-dalek's
/// `EIGHT_TORSION` and checks it equals this one.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [0; 32],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// The strict checks on an Ed25519 `R`: a canonical `y` (`y < p`) that is not the `y` of a
/// point of small order, with either sign of `x`.
///
/// This is the curve's own criterion, evaluated on `y` alone: every point of small order
/// has one of five `y` values (listed in the source), and no other point has one, so the
/// check covers every encoding of every small-order point (the earlier table compared
/// whole encodings and missed the identity with its sign bit set, `01 00..00 80`). The two
/// remaining non-canonical encodings, a set sign bit on `x = 0`, exist only for `y = ±1`,
/// which are small order. [`ed25519_r_is_acceptable_by_decompression`] is the same rule by
/// point decompression and `[8]R == identity`; a property test checks that both agree on
/// every small-order encoding and on random bytes. The fast form is used because
/// decompressing `R` a second time (the batch equation decompresses it again) costs about
/// 6.5 us per signature here, a third of the pipeline's speed.
pub fn ed25519_r_is_acceptable(r: &[u8; 32]) -> bool {
    if !ed25519_y_is_canonical(r) {
        return false;
    }
    let mut y = *r;
    y[31] &= 0x7f;
    !SMALL_ORDER_Y.contains(&y)
}

/// [`ed25519_r_is_acceptable`] by decompression: a canonical `y`, a point on the curve, and
/// `[8]R != identity`. Points that do not decompress are refused here but pass the fast
/// check; they fail every signature equation anyway (single and batch), so verdicts agree.
pub fn ed25519_r_is_acceptable_by_decompression(r: &[u8; 32]) -> bool {
    if !ed25519_y_is_canonical(r) {
        return false;
    }
    match curve25519_dalek::edwards::CompressedEdwardsY(*r).decompress() {
        Some(point) => !point.is_small_order(),
        None => false,
    }
}

#[cfg(test)]
mod small_order_tests {
    use super::*;

    #[test]
    fn small_order_ys_are_the_curves_torsion() {
        let mut derived: [[u8; 32]; 8] = [[0; 32]; 8];
        for (slot, t) in derived
            .iter_mut()
            .zip(curve25519_dalek::constants::EIGHT_TORSION.iter())
        {
            let mut y = t.compress().to_bytes();
            y[31] &= 0x7f;
            *slot = y;
        }
        for y in &derived {
            assert!(SMALL_ORDER_Y.contains(y));
        }
        for y in &SMALL_ORDER_Y {
            assert!(derived.contains(y));
        }
    }
}

/// A signature of one of the supported schemes, validated for strict encoding.
///
/// The type is opaque: [`Signature::from_bytes`] and the signing methods of
/// [`SigningKey`] are the only ways to build one, and both apply the strict encoding
/// rules (Ed25519: `S < l`, canonical `R` not of small order; ECDSA: low S). The batch
/// verifier relies on that, so no caller can hand it a malleable or small-order
/// signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(Sig);

/// The validated signature of one scheme (private: the invariant lives in [`Signature`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    /// Ed25519 `R || S` with `S < l` and acceptable `R`.
    Ed25519(Ed25519Signature),
    /// secp256k1 ECDSA `r || s`, low S.
    Secp256k1(k256::ecdsa::Signature),
    /// P-256 ECDSA `r || s`, low S.
    P256(p256::ecdsa::Signature),
}

/// Ed25519 signature bytes that passed the strict encoding checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ed25519Signature {
    r_bytes: [u8; 32],
    s_bytes: [u8; 32],
}

impl Ed25519Signature {
    /// The dalek form of this signature.
    pub(crate) fn to_dalek(self) -> ed25519_dalek::Signature {
        ed25519_dalek::Signature::from_components(self.r_bytes, self.s_bytes)
    }

    /// `R || S`.
    pub(crate) fn to_bytes(self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.r_bytes);
        out[32..].copy_from_slice(&self.s_bytes);
        out
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}:", self.key_type())?;
        for b in self.to_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Signature {
    /// Parse a 64-byte signature of the given type, applying the strict encoding rules
    /// (Ed25519: `S < l`, canonical non-small-order `R`; ECDSA: `0 < r, s < n`, low S).
    pub fn from_bytes(key_type: KeyType, bytes: &[u8]) -> Result<Self> {
        let bad = |reason| Error::InvalidSignatureEncoding { key_type, reason };
        let arr: &[u8; 64] = bytes
            .try_into()
            .map_err(|_| bad("signature must be 64 bytes"))?;
        match key_type {
            KeyType::Ed25519 => {
                let mut r_bytes = [0u8; 32];
                let mut s_bytes = [0u8; 32];
                r_bytes.copy_from_slice(&arr[..32]);
                s_bytes.copy_from_slice(&arr[32..]);
                if !ed25519_scalar_is_canonical(&s_bytes) {
                    return Err(bad("S is not reduced modulo l"));
                }
                if !ed25519_r_is_acceptable(&r_bytes) {
                    return Err(bad("R is non-canonical or of small order"));
                }
                Ok(Signature(Sig::Ed25519(Ed25519Signature {
                    r_bytes,
                    s_bytes,
                })))
            }
            KeyType::Secp256k1 => {
                let sig = k256::ecdsa::Signature::from_slice(arr)
                    .map_err(|_| bad("r or s out of range"))?;
                if sig.normalize_s() != sig {
                    return Err(bad("high S (malleable)"));
                }
                Ok(Signature(Sig::Secp256k1(sig)))
            }
            KeyType::P256 => {
                let sig = p256::ecdsa::Signature::from_slice(arr)
                    .map_err(|_| bad("r or s out of range"))?;
                if sig.normalize_s() != sig {
                    return Err(bad("high S (malleable)"));
                }
                Ok(Signature(Sig::P256(sig)))
            }
        }
    }

    /// The signature's scheme.
    pub fn key_type(&self) -> KeyType {
        match self.0 {
            Sig::Ed25519(_) => KeyType::Ed25519,
            Sig::Secp256k1(_) => KeyType::Secp256k1,
            Sig::P256(_) => KeyType::P256,
        }
    }

    /// The 64 signature bytes (`R || S` or `r || s`).
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        match &self.0 {
            Sig::Ed25519(s) => s.to_bytes(),
            Sig::Secp256k1(s) => to_array64(&s.to_bytes()),
            Sig::P256(s) => to_array64(&s.to_bytes()),
        }
    }

    /// The validated inner signature (crate-internal: batch verification).
    #[cfg_attr(not(feature = "batch"), allow(dead_code))]
    pub(crate) fn inner(&self) -> &Sig {
        &self.0
    }
}

fn to_array64(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    let n = bytes.len().min(64);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// A secret signing key. Secrets are zeroized when the key is dropped (the inner
/// dalek and RustCrypto keys zeroize on drop).
pub enum SigningKey {
    /// Ed25519 secret key.
    Ed25519(EdSigningKey),
    /// secp256k1 secret key.
    Secp256k1(k256::ecdsa::SigningKey),
    /// P-256 secret key.
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, public: {:?})",
            self.key_type(),
            self.public_key()
        )
    }
}

impl SigningKey {
    /// Generate a fresh key from any cryptographically secure RNG.
    pub fn generate<R: CryptoRng + ?Sized>(key_type: KeyType, rng: &mut R) -> Self {
        match key_type {
            KeyType::Ed25519 => SigningKey::Ed25519(EdSigningKey::generate(rng)),
            KeyType::Secp256k1 => SigningKey::Secp256k1(
                <k256::ecdsa::SigningKey as k256::elliptic_curve::Generate>::generate_from_rng(rng),
            ),
            KeyType::P256 => SigningKey::P256(
                <p256::ecdsa::SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(rng),
            ),
        }
    }

    /// Load a key from its 32 secret bytes (Ed25519 seed, or ECDSA scalar big-endian).
    pub fn from_secret_bytes(key_type: KeyType, secret: &[u8; 32]) -> Result<Self> {
        let bad = Error::InvalidKey {
            key_type,
            reason: "secret scalar is zero or not below the group order",
        };
        Ok(match key_type {
            KeyType::Ed25519 => SigningKey::Ed25519(EdSigningKey::from_bytes(secret)),
            KeyType::Secp256k1 => {
                SigningKey::Secp256k1(k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| bad)?)
            }
            KeyType::P256 => {
                SigningKey::P256(p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| bad)?)
            }
        })
    }

    /// The key's scheme.
    pub fn key_type(&self) -> KeyType {
        match self {
            SigningKey::Ed25519(_) => KeyType::Ed25519,
            SigningKey::Secp256k1(_) => KeyType::Secp256k1,
            SigningKey::P256(_) => KeyType::P256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        // A dalek signing key's public half is `a * B` with `a` clamped: torsion-free and of
        // large order, so it meets the strict rules without the parse-time checks.
        PublicKey(match self {
            SigningKey::Ed25519(k) => Pk::Ed25519(k.verifying_key()),
            SigningKey::Secp256k1(k) => Pk::Secp256k1(*k.verifying_key()),
            SigningKey::P256(k) => Pk::P256(*k.verifying_key()),
        })
    }

    /// Sign raw `message` bytes (PureEdDSA, or ECDSA over SHA-256). Prefer
    /// [`crate::Domain::sign`], which adds domain separation.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Signature> {
        match self {
            SigningKey::Ed25519(_) => self.sign_digest_or_message(message),
            _ => {
                let digest: [u8; 32] = Sha256::digest(message).into();
                self.sign_prehash(&digest)
            }
        }
    }

    /// Sign a 32-byte prehash with ECDSA (RFC 6979 deterministic nonce, low S), or the
    /// 32 bytes as the message for Ed25519.
    pub fn sign_prehash(&self, digest: &[u8; 32]) -> Result<Signature> {
        match self {
            SigningKey::Ed25519(_) => self.sign_digest_or_message(digest),
            SigningKey::Secp256k1(k) => {
                let sig: k256::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|_| Error::SigningFailed)?;
                Ok(Signature(Sig::Secp256k1(sig.normalize_s())))
            }
            SigningKey::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(digest).map_err(|_| Error::SigningFailed)?;
                Ok(Signature(Sig::P256(sig.normalize_s())))
            }
        }
    }

    fn sign_digest_or_message(&self, message: &[u8]) -> Result<Signature> {
        match self {
            SigningKey::Ed25519(k) => {
                let sig = k.sign(message);
                Ok(Signature(Sig::Ed25519(Ed25519Signature {
                    r_bytes: *sig.r_bytes(),
                    s_bytes: *sig.s_bytes(),
                })))
            }
            _ => Err(Error::SigningFailed),
        }
    }

    /// Sign a 32-byte digest with secp256k1 and return the Ethereum-style 65-byte
    /// `r || s || v` signature (`v` in {27, 28}), low S. Used for EIP-712 and EIP-191.
    pub fn sign_prehash_recoverable(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        match self {
            SigningKey::Secp256k1(k) => {
                // k256 normalizes to low S and adjusts the recovery id accordingly.
                let (sig, recid) = k.sign_prehash_recoverable(digest);
                let mut out = [0u8; 65];
                out[..64].copy_from_slice(&sig.to_bytes());
                out[64] = 27 + recid.to_byte();
                Ok(out)
            }
            _ => Err(Error::KeyTypeMismatch {
                key: self.key_type(),
                signature: KeyType::Secp256k1,
            }),
        }
    }
}

impl signature::Signer<Signature> for SigningKey {
    fn try_sign(&self, msg: &[u8]) -> core::result::Result<Signature, signature::Error> {
        self.sign_raw(msg).map_err(|_| signature::Error::new())
    }
}

impl signature::Keypair for SigningKey {
    type VerifyingKey = PublicKey;
    fn verifying_key(&self) -> PublicKey {
        self.public_key()
    }
}
