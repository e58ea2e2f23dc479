//! The device signer trait, in the style of embedded-hal, and software signers.
//!
//! A [`Signer`] has two required methods: [`Signer::device_id`] (the public key the
//! network registered) and [`Signer::sign_digest`], which signs the 32-byte
//! domain-separated digest that depin-core computes for every message. Errors go
//! through [`ErrorType`] and expose an [`ErrorKind`], so generic code (the
//! [`Reporter`](crate::Reporter)) can react without knowing the concrete signer.
//!
//! What `sign_digest` must return, per key type (this is what the network verifies,
//! see [`depin_core::PublicKey::verify_prehash`]):
//!
//! | key type  | signature over the 32-byte `digest`                         | bytes     |
//! |-----------|-------------------------------------------------------------|-----------|
//! | Ed25519   | PureEdDSA (RFC 8032) with `digest` as the message            | `R || S`  |
//! | secp256k1 | ECDSA with `digest` as the prehash, **low S**               | `r || s`  |
//! | P-256     | ECDSA with `digest` as the prehash, **low S**               | `r || s`  |
//!
//! `r` and `s` are 32-byte big-endian. The network refuses high-S ECDSA signatures;
//! a secure element that does not normalise `s` can be fixed up with [`normalize_low_s`].
//!
//! # A secure element that only signs P-256 digests
//!
//! Many secure elements (ATECC608, SE050, OPTIGA Trust M, ...) hold a P-256 key that
//! never leaves the chip and offer one operation: "sign this 32-byte digest". That is
//! exactly [`Signer::sign_digest`] for [`KeyType::P256`], because depin-core's signing
//! digest is `SHA-256(domain header || message)` and ECDSA signs it as the prehash. The
//! device never needs the secret key in RAM, and its flash carries no P-256 signing code.
//!
//! The example below is **an illustration with a mock chip**: `MockSecureElement`
//! stands in for an I2C driver and keeps a software key so the example can run. A real
//! implementation sends the digest over the bus and reads back `r || s`.
//!
//! ```
//! use depin_core::{DeviceId, Domain, KeyType, NetworkId, PublicKey, SigningKey};
//! use depin_device::signer::{self, normalize_low_s, ErrorKind, ErrorType, Signer};
//!
//! /// EXAMPLE ONLY: a stand-in for a secure-element driver (no real hardware here).
//! struct MockSecureElement {
//!     chip_key: SigningKey, // inside the chip in reality, never readable
//!     bus_ok: bool,
//! }
//!
//! /// Bus errors of the (mock) driver.
//! #[derive(Debug)]
//! enum SeError {
//!     Nack,
//! }
//!
//! impl signer::SignerError for SeError {
//!     fn kind(&self) -> ErrorKind {
//!         match self {
//!             SeError::Nack => ErrorKind::Communication,
//!         }
//!     }
//! }
//!
//! /// The SE-backed signer: all it needs is the public key read once at boot.
//! struct SeSigner {
//!     chip: MockSecureElement,
//!     id: DeviceId,
//! }
//!
//! impl ErrorType for SeSigner {
//!     type Error = SeError;
//! }
//!
//! impl Signer for SeSigner {
//!     fn device_id(&self) -> DeviceId {
//!         self.id
//!     }
//!
//!     fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64], SeError> {
//!         if !self.chip.bus_ok {
//!             return Err(SeError::Nack);
//!         }
//!         // Real driver: write `digest` to the chip's "sign digest" command, read r || s.
//!         let mut sig = self.chip.chip_key.sign_prehash(digest).map_err(|_| SeError::Nack)?.to_bytes();
//!         // Chips may return high-S signatures; the network only accepts low S.
//!         normalize_low_s(KeyType::P256, &mut sig);
//!         Ok(sig)
//!     }
//! }
//!
//! // At provisioning the chip exports its public key (often uncompressed SEC1).
//! let chip_key = SigningKey::from_secret_bytes(KeyType::P256, &[0x42; 32])?;
//! let exported = chip_key.public_key().to_uncompressed_sec1()?;
//! let public = PublicKey::from_sec1(KeyType::P256, &exported)?;
//! let mut se = SeSigner {
//!     chip: MockSecureElement { chip_key, bus_ok: true },
//!     id: DeviceId::from(&public),
//! };
//!
//! // The SE signer plugs into the frame builder like any software signer.
//! let domain = Domain::new(NetworkId::new("demo-net")?);
//! let mut out = [0u8; depin_core::frame::MAX_FRAME_LEN];
//! let header = depin_device::frame_header(&se, 7, 1, depin_core::Timestamp(1_700_000_000_000));
//! let n = depin_device::write_frame(&mut se, &domain, &header, b"21.5C", &mut out)?;
//! let frame = depin_core::frame::Frame::parse(&out[..n])?;
//! frame.verify(&domain, &public)?;
//!
//! // A bus failure surfaces as a typed error kind.
//! se.chip.bus_ok = false;
//! let err = depin_device::write_frame(&mut se, &domain, &header, b"21.5C", &mut out).unwrap_err();
//! assert_eq!(err, depin_device::Error::Signer(ErrorKind::Communication));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt::Debug;

use depin_core::{DeviceId, KeyHint, KeyType, PublicKey, SigningKey, SIGNATURE_LEN};

/// What kind of failure a signer reported. More kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The signer is busy (e.g. a secure element still processing); retry later.
    Busy,
    /// Talking to an external signer failed (bus error, NACK, CRC).
    Communication,
    /// The key is not provisioned, locked or otherwise unavailable.
    KeyUnavailable,
    /// The signer holds a key of another type than the caller needs.
    WrongKeyType,
    /// The signing operation itself failed.
    SigningFailed,
    /// Anything else.
    Other,
}

crate::pattern::error_pattern! {
    kind: ErrorKind,
    /// A signer error: anything that can say which [`ErrorKind`] it is.
    ///
    /// (Named apart from the crate's [`Error`](crate::Error), which a failed signer surfaces
    /// as [`Error::Signer`](crate::Error::Signer) with this kind.)
    error: SignerError,
    /// The error type of a signer.
    error_type,
    /// The signer's error type.
    assoc,
}

/// A device key that signs 32-byte signing digests: in software or in a secure element.
pub trait Signer: ErrorType {
    /// The device identity (key type and public key) the network knows this key by.
    fn device_id(&self) -> DeviceId;

    /// Sign a 32-byte depin-core signing digest; see the module docs for the exact
    /// signature each key type must return.
    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], Self::Error>;

    /// The key's scheme.
    fn key_type(&self) -> KeyType {
        self.device_id().key_type()
    }

    /// The 8-byte key hint carried in frames (computes a SHA-256; cache it).
    fn key_hint(&self) -> KeyHint {
        self.device_id().key_hint()
    }
}

impl<T: Signer + ?Sized> Signer for &mut T {
    fn device_id(&self) -> DeviceId {
        T::device_id(self)
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], Self::Error> {
        T::sign_digest(self, digest)
    }

    fn key_type(&self) -> KeyType {
        T::key_type(self)
    }

    fn key_hint(&self) -> KeyHint {
        T::key_hint(self)
    }
}

/// Errors of the software signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SoftwareSignerError {
    /// The signing operation failed (not expected with a valid key).
    SigningFailed,
}

impl SignerError for SoftwareSignerError {
    fn kind(&self) -> ErrorKind {
        match self {
            SoftwareSignerError::SigningFailed => ErrorKind::SigningFailed,
        }
    }
}

// The software signers below call the one scheme's code directly (matching the single
// enum variant they hold) instead of depin-core's `SigningKey` methods, which dispatch
// over all three schemes: with link-time optimisation a firmware then only carries the
// code of the scheme it uses (an Ed25519 device links no secp256k1 or P-256 arithmetic).

macro_rules! software_signer {
    (
        $(#[$doc:meta])*
        $name:ident, $key_type:expr, $variant:ident,
        load: |$secret:ident| $load:expr,
        id: |$idk:ident| $id:expr,
        sign: |$sk:ident, $digest:ident| $sign:expr $(,)?
    ) => {
        $(#[$doc])*
        ///
        /// The secret lives in RAM and is zeroized when the signer is dropped.
        #[derive(Debug)]
        pub struct $name {
            key: SigningKey,
            id: DeviceId,
        }

        impl $name {
            /// The key type this signer holds.
            pub const KEY_TYPE: KeyType = $key_type;

            /// Wrap a depin-core key; fails with
            /// [`Error::Signer`](crate::Error::Signer)`(`[`ErrorKind::WrongKeyType`]`)` if
            /// the key is of another type.
            pub fn new(key: SigningKey) -> crate::Result<Self> {
                let SigningKey::$variant($idk) = &key else {
                    return Err(crate::Error::Signer(ErrorKind::WrongKeyType));
                };
                let id = $id.map_err(crate::Error::Core)?;
                Ok($name { key, id })
            }

            /// Load the key from its 32 secret bytes (Ed25519 seed or ECDSA scalar,
            /// big-endian). ECDSA scalars must be in `1..n`; others fail with
            /// [`Error::Core`](crate::Error::Core)`(InvalidKey)`.
            pub fn from_secret(secret: &[u8; 32]) -> crate::Result<Self> {
                let $secret = secret;
                let key = SigningKey::$variant($load.map_err(|_| {
                    crate::Error::Core(depin_core::Error::InvalidKey {
                        key_type: $key_type,
                        reason: "secret scalar is zero or not below the group order",
                    })
                })?);
                Self::new(key)
            }

            /// The public key.
            pub fn public_key(&self) -> PublicKey {
                self.key.public_key()
            }
        }

        impl ErrorType for $name {
            type Error = SoftwareSignerError;
        }

        impl Signer for $name {
            fn device_id(&self) -> DeviceId {
                self.id
            }

            fn sign_digest(
                &mut self,
                digest: &[u8; 32],
            ) -> Result<[u8; SIGNATURE_LEN], SoftwareSignerError> {
                let SigningKey::$variant($sk) = &self.key else {
                    return Err(SoftwareSignerError::SigningFailed);
                };
                let $digest = digest;
                $sign
            }

            fn key_type(&self) -> KeyType {
                Self::KEY_TYPE
            }
        }
    };
}

software_signer!(
    /// An Ed25519 key in software (signs the digest as the PureEdDSA message).
    Ed25519Signer, KeyType::Ed25519, Ed25519,
    load: |secret| Ok::<_, core::convert::Infallible>(From::from(secret)),
    id: |k| DeviceId::new(KeyType::Ed25519, k.verifying_key().as_bytes()),
    sign: |k, digest| {
        use depin_core::signature::Signer as _;
        k.try_sign(digest)
            .map(|s| s.to_bytes())
            .map_err(|_| SoftwareSignerError::SigningFailed)
    },
);
software_signer!(
    /// A secp256k1 ECDSA key in software (RFC 6979 nonces, low S).
    Secp256k1Signer, KeyType::Secp256k1, Secp256k1,
    load: |secret| TryFrom::try_from(&secret[..]),
    id: |k| DeviceId::new(KeyType::Secp256k1, k.verifying_key().to_sec1_point(true).as_bytes()),
    sign: |k, digest| {
        use depin_core::signature::hazmat::PrehashSigner as _;
        let sig: depin_core::keys::hazmat::k256::ecdsa::Signature = k
            .sign_prehash(digest)
            .map_err(|_| SoftwareSignerError::SigningFailed)?;
        Ok(sig.normalize_s().to_bytes().into())
    },
);
software_signer!(
    /// A P-256 ECDSA key in software (RFC 6979 nonces, low S).
    P256Signer, KeyType::P256, P256,
    load: |secret| TryFrom::try_from(&secret[..]),
    id: |k| DeviceId::new(KeyType::P256, k.verifying_key().to_sec1_point(true).as_bytes()),
    sign: |k, digest| {
        use depin_core::signature::hazmat::PrehashSigner as _;
        let sig: depin_core::keys::hazmat::p256::ecdsa::Signature = k
            .sign_prehash(digest)
            .map_err(|_| SoftwareSignerError::SigningFailed)?;
        Ok(sig.normalize_s().to_bytes().into())
    },
);

/// The group order `n` of secp256k1, big-endian.
const SECP256K1_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];
/// The group order `n` of P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Make an ECDSA `r || s` signature low-S: if `s > n/2`, replace it by `n - s` (both
/// signatures are valid; the network accepts only the low one). Returns `true` if the
/// signature was changed. Ed25519 signatures are left alone (returns `false`).
///
/// Meant for secure elements that return either form. Works on bytes only: `s` is
/// assumed to be below `n` (a chip's valid output); if it is not, the signature is left
/// unchanged and the network will reject it.
///
/// Why bytes and not the curve crates' `normalize_s` (which depin-core's verifier and the
/// software signers use): a firmware whose key lives in a secure element links no curve
/// arithmetic at all, and `normalize_s` would pull in a scalar field implementation (a few
/// KiB of flash) for one 256-bit subtraction. `tests/it/signer.rs` checks it against the
/// low-S signatures k256 and p256 produce (their `normalize_s`), from the high-S twins.
pub fn normalize_low_s(key_type: KeyType, signature: &mut [u8; SIGNATURE_LEN]) -> bool {
    let n = match key_type {
        KeyType::Ed25519 => return false,
        KeyType::Secp256k1 => &SECP256K1_N,
        KeyType::P256 => &P256_N,
    };
    let (_, s_part) = signature.split_at_mut(32);
    let Ok(s) = <&mut [u8; 32]>::try_from(s_part) else {
        return false;
    };
    // s > n/2  <=>  2s > n  <=>  s > n - s (for s < n). Compute t = n - s and compare.
    let mut t = [0u8; 32];
    let mut borrow = 0u16;
    for ((ti, &ni), &si) in t.iter_mut().zip(n.iter()).zip(s.iter()).rev() {
        let sub = u16::from(si) + borrow;
        let (v, b) = if u16::from(ni) >= sub {
            (u16::from(ni) - sub, 0)
        } else {
            (u16::from(ni) + 256 - sub, 1)
        };
        *ti = v as u8;
        borrow = b;
    }
    if borrow != 0 {
        return false; // s > n: not a valid scalar, leave it alone
    }
    if *s > t {
        *s = t;
        true
    } else {
        false
    }
}
