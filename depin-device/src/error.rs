//! The one error type of depin-device.

use core::fmt;

use crate::counter::ErrorKind as StorageErrorKind;
use crate::signer::ErrorKind as SignerErrorKind;

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in depin-device.
///
/// Fragment and reassembly errors say exactly what was wrong (they describe radio
/// transport, not cryptography); signature failures are opaque
/// ([`Error::Rejected`] wraps depin-core's deliberately detail-free
/// [`depin_core::Error::SignatureRejected`]).
///
/// Errors of a [`Signer`](crate::signer::Signer) or a
/// [`CounterStorage`](crate::counter::CounterStorage) implementation are reduced to
/// their [`kind`](crate::signer::SignerError::kind) so this type stays small and free of
/// generic parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An error from depin-core (frame encoding, key parsing, ...).
    Core(depin_core::Error),
    /// The signer (software key or secure element) failed.
    Signer(SignerErrorKind),
    /// The persistent counter storage failed.
    Storage(StorageErrorKind),
    /// The sequence counter reached `u32::MAX`: the device must be re-keyed.
    CounterExhausted,
    /// A counter block size of zero was requested.
    InvalidBlockSize,
    /// The caller's output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A payload or measurement is longer than the format allows.
    TooLong {
        /// Given length.
        len: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The fragment payload size cannot carry a frame in at most
    /// [`MAX_FRAGMENTS`](crate::fragment::MAX_FRAGMENTS) fragments (or is below the
    /// one-byte minimum).
    FragmentSizeTooSmall {
        /// Maximum radio payload that was given.
        max_payload: usize,
    },
    /// A fragment is shorter than its header plus one byte, or uses reserved bits.
    MalformedFragment,
    /// A fragment arrived after a gap: the fragments in between are missing (lost,
    /// or reordered). The partial frame was discarded.
    MissingFragment {
        /// Index the reassembler was waiting for.
        expected: u8,
        /// Index that arrived.
        got: u8,
    },
    /// A fragment with an index already received arrived again. The partial frame
    /// was discarded.
    DuplicateFragment {
        /// The repeated index.
        index: u8,
    },
    /// A fragment of another frame (other tag) arrived before the current frame was
    /// complete. The partial frame was discarded.
    MixedFragments {
        /// Tag of the frame being reassembled.
        expected_tag: u8,
        /// Tag of the fragment that arrived.
        got_tag: u8,
    },
    /// The fragments add up to more bytes than the frame declares (or than a frame
    /// can hold), or the last fragment arrived before all declared bytes did.
    LengthMismatch {
        /// Bytes the frame header declares (0 when the header was not complete).
        declared: usize,
        /// Bytes received.
        received: usize,
    },
    /// A challenge response answers another nonce than the one the network issued.
    NonceMismatch,
    /// A challenge response or frame is malformed.
    Malformed(&'static str),
    /// A reassembled frame or a challenge response failed verification (or the
    /// caller's verification closure refused it). Carries the verifier's error.
    Rejected(depin_core::Error),
    /// A flash layout for [`NorFlashStorage`](crate::counter::NorFlashStorage) does not fit
    /// the flash (page size, alignment or capacity); says which rule it broke.
    FlashLayout(&'static str),
}

impl Error {
    /// A stable numeric code for the error's kind, for firmware that reports errors without
    /// formatting them (`{:?}` of this type costs several KiB of flash): the codes below never
    /// change meaning, and new kinds get new codes.
    ///
    /// | code | kind | | code | kind |
    /// |---|---|---|---|---|
    /// | 1 | `Core` | | 9 | `MalformedFragment` |
    /// | 2 | `Signer` | | 10 | `MissingFragment` |
    /// | 3 | `Storage` | | 11 | `DuplicateFragment` |
    /// | 4 | `CounterExhausted` | | 12 | `MixedFragments` |
    /// | 5 | `InvalidBlockSize` | | 13 | `LengthMismatch` |
    /// | 6 | `BufferTooSmall` | | 14 | `NonceMismatch` |
    /// | 7 | `TooLong` | | 15 | `Malformed` |
    /// | 8 | `FragmentSizeTooSmall` | | 16 | `Rejected` |
    /// | | | | 17 | `FlashLayout` |
    pub const fn code(&self) -> u16 {
        match self {
            Error::Core(_) => 1,
            Error::Signer(_) => 2,
            Error::Storage(_) => 3,
            Error::CounterExhausted => 4,
            Error::InvalidBlockSize => 5,
            Error::BufferTooSmall { .. } => 6,
            Error::TooLong { .. } => 7,
            Error::FragmentSizeTooSmall { .. } => 8,
            Error::MalformedFragment => 9,
            Error::MissingFragment { .. } => 10,
            Error::DuplicateFragment { .. } => 11,
            Error::MixedFragments { .. } => 12,
            Error::LengthMismatch { .. } => 13,
            Error::NonceMismatch => 14,
            Error::Malformed(_) => 15,
            Error::Rejected(_) => 16,
            Error::FlashLayout(_) => 17,
        }
    }

    /// A short static name for the error's kind (`"counter-exhausted"`, ...), one per
    /// [`Error::code`], printable without any formatting machinery.
    pub const fn name(&self) -> &'static str {
        match self {
            Error::Core(_) => "core",
            Error::Signer(_) => "signer",
            Error::Storage(_) => "storage",
            Error::CounterExhausted => "counter-exhausted",
            Error::InvalidBlockSize => "invalid-block-size",
            Error::BufferTooSmall { .. } => "buffer-too-small",
            Error::TooLong { .. } => "too-long",
            Error::FragmentSizeTooSmall { .. } => "fragment-size-too-small",
            Error::MalformedFragment => "malformed-fragment",
            Error::MissingFragment { .. } => "missing-fragment",
            Error::DuplicateFragment { .. } => "duplicate-fragment",
            Error::MixedFragments { .. } => "mixed-fragments",
            Error::LengthMismatch { .. } => "length-mismatch",
            Error::NonceMismatch => "nonce-mismatch",
            Error::Malformed(_) => "malformed",
            Error::Rejected(_) => "rejected",
            Error::FlashLayout(_) => "flash-layout",
        }
    }
}

impl From<depin_core::Error> for Error {
    fn from(e: depin_core::Error) -> Self {
        Error::Core(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Core(e) => write!(f, "{e}"),
            Error::Signer(kind) => write!(f, "signer failed: {kind:?}"),
            Error::Storage(kind) => write!(f, "counter storage failed: {kind:?}"),
            Error::CounterExhausted => f.write_str("sequence counter exhausted"),
            Error::InvalidBlockSize => f.write_str("counter block size must be at least 1"),
            Error::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Error::TooLong { len, limit } => {
                write!(f, "{len} bytes exceed the limit of {limit} bytes")
            }
            Error::FragmentSizeTooSmall { max_payload } => write!(
                f,
                "a radio payload of {max_payload} bytes is too small to fragment this frame"
            ),
            Error::MalformedFragment => f.write_str("malformed fragment"),
            Error::MissingFragment { expected, got } => {
                write!(f, "missing fragment: expected index {expected}, got {got}")
            }
            Error::DuplicateFragment { index } => write!(f, "duplicate fragment {index}"),
            Error::MixedFragments {
                expected_tag,
                got_tag,
            } => write!(
                f,
                "fragment of frame {got_tag:#04x} mixed into frame {expected_tag:#04x}"
            ),
            Error::LengthMismatch { declared, received } => write!(
                f,
                "fragments carry {received} bytes but the frame declares {declared}"
            ),
            Error::NonceMismatch => f.write_str("challenge response answers another nonce"),
            Error::Malformed(what) => write!(f, "malformed input: {what}"),
            Error::Rejected(e) => write!(f, "rejected: {e}"),
            Error::FlashLayout(rule) => write!(f, "flash layout does not fit the flash: {rule}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Core(e) | Error::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind, in code order.
    fn every_kind() -> [Error; 17] {
        [
            Error::Core(depin_core::Error::SignatureRejected),
            Error::Signer(SignerErrorKind::Other),
            Error::Storage(StorageErrorKind::Other),
            Error::CounterExhausted,
            Error::InvalidBlockSize,
            Error::BufferTooSmall { needed: 1 },
            Error::TooLong { len: 2, limit: 1 },
            Error::FragmentSizeTooSmall { max_payload: 1 },
            Error::MalformedFragment,
            Error::MissingFragment {
                expected: 1,
                got: 2,
            },
            Error::DuplicateFragment { index: 1 },
            Error::MixedFragments {
                expected_tag: 1,
                got_tag: 2,
            },
            Error::LengthMismatch {
                declared: 1,
                received: 2,
            },
            Error::NonceMismatch,
            Error::Malformed("x"),
            Error::Rejected(depin_core::Error::SignatureRejected),
            Error::FlashLayout("x"),
        ]
    }

    #[test]
    fn codes_are_pinned_and_names_unique() {
        let all = every_kind();
        for (i, e) in all.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i + 1, "{e:?}");
            assert!(!e.name().is_empty());
            for other in all.iter().skip(i + 1) {
                assert_ne!(e.name(), other.name());
            }
        }
    }
}
