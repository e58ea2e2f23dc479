//! Attestation kinds: what a network's devices attest, how it is encoded and checked.
//!
//! A kind is a [`Kind`]: its number ([`AttestationKind`], which is the depin-core
//! [`MessageKind`] its signatures are bound to), its [`Label`], its gossip topic, its size
//! limit and a strict decoder with the structural checks, which turns payload bytes into a
//! typed [`Payload`]. The built-in kinds (coverage, storage, energy, bandwidth and raw report
//! frames) are implementations of this trait like any a network writes; most kinds are
//! plain serde structs and implement [`AttestationType`] instead, which gives them a
//! [`Kind`] through [`Typed`].
//!
//! ```
//! use depin_attest::kind::{AttestationKind, AttestationType, Label};
//! use depin_attest::Rejection;
//! use serde::{Deserialize, Serialize};
//!
//! /// An air-quality reading (µg/m³ of PM2.5, tenths).
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! struct AirQuality { pm25_dug: u32 }
//!
//! impl AttestationType for AirQuality {
//!     const KIND: AttestationKind = AttestationKind::application(0x0001);
//!     const NAME: Label = Label::new("air_quality");
//!     fn check(&self) -> Result<(), Rejection> {
//!         if self.pm25_dug > 10_000 { Err(Rejection::InvalidStructure) } else { Ok(()) }
//!     }
//! }
//! assert_eq!(AirQuality::KIND.message_kind().0, 0x8001);
//! ```

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use depin_core::{encoding, MessageKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::reason::Rejection;

/// Longest [`Label`], bytes.
pub const MAX_LABEL_LEN: usize = 31;

/// A short stable name: 1 to 31 bytes of `a-z`, `0-9` and `_`, starting with a letter.
/// Kinds, topics, policies and policy rejection codes are named with labels, which are
/// `Copy`, equal when their text is, and serialize as a string (their order is by length,
/// then text: stable, not alphabetical).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    len: u8,
    bytes: [u8; MAX_LABEL_LEN],
}

const fn label_byte_ok(b: u8, first: bool) -> bool {
    b.is_ascii_lowercase() || (!first && (b.is_ascii_digit() || b == b'_'))
}

impl Label {
    /// The label `s`.
    ///
    /// # Panics
    /// If `s` is not a valid label; in a `const` this is a compile-time error. Use
    /// [`Label::parse`] for text that is not a constant.
    pub const fn new(s: &str) -> Label {
        match Label::try_new(s) {
            Some(l) => l,
            // a constant's text is checked at compile time; see `Label::parse` otherwise
            #[allow(clippy::panic)]
            None => panic!("a label is 1 to 31 bytes of a-z, 0-9 and _, starting with a letter"),
        }
    }

    const fn try_new(s: &str) -> Option<Label> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > MAX_LABEL_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_LABEL_LEN];
        let mut i = 0;
        while i < b.len() {
            if !label_byte_ok(b[i], i == 0) {
                return None;
            }
            bytes[i] = b[i];
            i += 1;
        }
        Some(Label {
            len: b.len() as u8,
            bytes,
        })
    }

    /// Parse `s`; [`Error::Config`] if it is not a valid label.
    pub fn parse(s: &str) -> Result<Label> {
        Label::try_new(s).ok_or(Error::Config(
            "a label is 1 to 31 bytes of a-z, 0-9 and _, starting with a letter",
        ))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // only ASCII bytes are ever stored
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Label::try_new(&s).ok_or_else(|| serde::de::Error::custom("invalid label"))
    }
}

/// The number of an attestation kind: the depin-core [`MessageKind`] its envelopes'
/// signatures are bound to (frames are signed as [`MessageKind::REPORT_FRAME`], with the
/// report kind byte that selects the kind in their signed header). Built-in kinds use the numbers depin-core assigns; a network's own kinds use
/// the application range ([`AttestationKind::application`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttestationKind(pub u16);

impl AttestationKind {
    /// A device report frame ([`MessageKind::REPORT_FRAME`]) whose payload the application
    /// decodes itself (frames of a report kind no registered kind claims).
    pub const DEVICE_REPORT: AttestationKind = AttestationKind(MessageKind::REPORT_FRAME.0);
    /// A proof-of-coverage beacon ([`MessageKind::COVERAGE_BEACON`]).
    pub const COVERAGE_BEACON: AttestationKind = AttestationKind(MessageKind::COVERAGE_BEACON.0);
    /// A proof-of-coverage witness ([`MessageKind::COVERAGE_WITNESS`]).
    pub const COVERAGE_WITNESS: AttestationKind = AttestationKind(MessageKind::COVERAGE_WITNESS.0);
    /// A storage commitment ([`MessageKind::STORAGE_COMMITMENT`]).
    pub const STORAGE_COMMITMENT: AttestationKind =
        AttestationKind(MessageKind::STORAGE_COMMITMENT.0);
    /// A storage proof ([`MessageKind::STORAGE_PROOF`]).
    pub const STORAGE_PROOF: AttestationKind = AttestationKind(MessageKind::STORAGE_PROOF.0);
    /// A cumulative energy meter reading ([`MessageKind::ENERGY_READING`]).
    pub const ENERGY_READING: AttestationKind = AttestationKind(MessageKind::ENERGY_READING.0);
    /// An EV charging session ([`MessageKind::CHARGING_SESSION`]).
    pub const CHARGING_SESSION: AttestationKind = AttestationKind(MessageKind::CHARGING_SESSION.0);
    /// A bandwidth speed test ([`MessageKind::BANDWIDTH_TEST`]).
    pub const BANDWIDTH_TEST: AttestationKind = AttestationKind(MessageKind::BANDWIDTH_TEST.0);

    /// The built-in kinds.
    pub const BUILT_IN: [AttestationKind; 8] = [
        AttestationKind::DEVICE_REPORT,
        AttestationKind::COVERAGE_BEACON,
        AttestationKind::COVERAGE_WITNESS,
        AttestationKind::STORAGE_COMMITMENT,
        AttestationKind::STORAGE_PROOF,
        AttestationKind::ENERGY_READING,
        AttestationKind::CHARGING_SESSION,
        AttestationKind::BANDWIDTH_TEST,
    ];

    /// The `n`-th kind of the application range depin-core reserves
    /// ([`MessageKind::APPLICATION_START`]` + n`), for a network's own kinds.
    ///
    /// # Panics
    /// If `n` is `0x8000` or more (in a `const`, a compile-time error).
    pub const fn application(n: u16) -> AttestationKind {
        assert!(n < 0x8000, "application kind numbers are below 0x8000");
        AttestationKind(MessageKind::APPLICATION_START + n)
    }

    /// The depin-core message kind signatures of this kind are bound to.
    pub const fn message_kind(self) -> MessageKind {
        MessageKind(self.0)
    }

    /// Whether this is a kind of the application range.
    pub const fn is_application(self) -> bool {
        self.0 >= MessageKind::APPLICATION_START
    }

    /// The label of a built-in kind (`None` for others: a verifier knows the names of the
    /// kinds registered with it, see [`crate::Verifier::kind_label`]).
    pub fn builtin_label(self) -> Option<Label> {
        Some(match self {
            AttestationKind::DEVICE_REPORT => Label::new("device_report"),
            AttestationKind::COVERAGE_BEACON => Label::new("coverage_beacon"),
            AttestationKind::COVERAGE_WITNESS => Label::new("coverage_witness"),
            AttestationKind::STORAGE_COMMITMENT => Label::new("storage_commitment"),
            AttestationKind::STORAGE_PROOF => Label::new("storage_proof"),
            AttestationKind::ENERGY_READING => Label::new("energy_reading"),
            AttestationKind::CHARGING_SESSION => Label::new("charging_session"),
            AttestationKind::BANDWIDTH_TEST => Label::new("bandwidth_test"),
            _ => return None,
        })
    }
}

impl fmt::Display for AttestationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.builtin_label() {
            Some(l) => f.write_str(l.as_str()),
            None => write!(f, "kind_{:#06x}", self.0),
        }
    }
}

/// Most kinds a [`KindSet`] holds (besides [`KindSet::ALL`]).
pub const KIND_SET_CAPACITY: usize = 8;

/// A set of [`AttestationKind`]s (the kinds a device may send, the kinds of a gossip
/// topic): up to [`KIND_SET_CAPACITY`] kinds, or every kind. `Copy`, 20 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet {
    all: bool,
    len: u8,
    kinds: [u16; KIND_SET_CAPACITY],
}

impl KindSet {
    /// No kinds.
    pub const NONE: KindSet = KindSet {
        all: false,
        len: 0,
        kinds: [0; KIND_SET_CAPACITY],
    };
    /// Every kind.
    pub const ALL: KindSet = KindSet {
        all: true,
        len: 0,
        kinds: [0; KIND_SET_CAPACITY],
    };

    /// The set of the given kinds.
    ///
    /// # Panics
    /// If there are more than [`KIND_SET_CAPACITY`] distinct kinds; see [`KindSet::try_of`].
    pub fn of(kinds: &[AttestationKind]) -> Self {
        match Self::try_of(kinds) {
            Some(s) => s,
            // configuration-time misuse, documented under "Panics"; `try_*` for data
            #[allow(clippy::panic)]
            None => panic!("a KindSet holds at most {KIND_SET_CAPACITY} kinds"),
        }
    }

    /// The set of the given kinds, `None` if there are more than [`KIND_SET_CAPACITY`]
    /// distinct ones.
    pub fn try_of(kinds: &[AttestationKind]) -> Option<Self> {
        kinds.iter().try_fold(KindSet::NONE, |s, k| s.try_with(*k))
    }

    /// This set plus `kind`.
    ///
    /// # Panics
    /// If the set is full; see [`KindSet::try_with`].
    #[must_use]
    pub fn with(self, kind: AttestationKind) -> Self {
        match self.try_with(kind) {
            Some(s) => s,
            // configuration-time misuse, documented under "Panics"; `try_*` for data
            #[allow(clippy::panic)]
            None => panic!("a KindSet holds at most {KIND_SET_CAPACITY} kinds"),
        }
    }

    /// This set plus `kind`, `None` if the set is full.
    #[must_use]
    pub fn try_with(mut self, kind: AttestationKind) -> Option<Self> {
        if self.contains(kind) {
            return Some(self);
        }
        let n = usize::from(self.len);
        if n >= KIND_SET_CAPACITY {
            return None;
        }
        self.kinds[n] = kind.0;
        self.len += 1;
        Some(self)
    }

    /// Whether `kind` is in the set.
    #[inline]
    pub fn contains(self, kind: AttestationKind) -> bool {
        self.all || self.kinds[..usize::from(self.len)].contains(&kind.0)
    }

    /// Whether this is [`KindSet::ALL`].
    pub fn is_all(self) -> bool {
        self.all
    }

    /// The kinds in the set, in insertion order (empty for [`KindSet::ALL`]).
    pub fn iter(&self) -> impl Iterator<Item = AttestationKind> + '_ {
        self.kinds[..usize::from(self.len)]
            .iter()
            .map(|k| AttestationKind(*k))
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("KindSet::ALL");
        }
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A decoded attestation body of any kind, shared cheaply (`Clone` is a reference count).
/// The verifier hands it to policies and to the application in [`crate::Accepted`], so a
/// body is decoded once.
#[derive(Clone)]
pub struct Payload(Option<Arc<dyn Any + Send + Sync>>);

impl Payload {
    /// Wrap a decoded body.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Payload(Some(Arc::new(value)))
    }

    /// No body (raw report frames, or an `Accepted` that was deserialized). Free: no
    /// allocation.
    pub const fn none() -> Self {
        Payload(None)
    }

    /// Whether there is no body.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The body as a `T`, if it is one.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|v| v.downcast_ref::<T>())
    }

    /// The body as a shared `T`, if it is one.
    pub fn get_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.clone().and_then(|v| v.downcast::<T>().ok())
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::none()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Payload(..)")
    }
}

/// Default payload size limit of a kind (the envelope limit applies as well).
pub const DEFAULT_MAX_PAYLOAD_LEN: usize = encoding::DEFAULT_MAX_LEN;

/// An attestation kind as the verifier sees it: number, names, limits, decoder. Object safe;
/// register implementations with [`crate::VerifierBuilder::kind`].
pub trait Kind: Send + Sync + 'static {
    /// Its number (and signing message kind).
    fn kind(&self) -> AttestationKind;

    /// Its stable name (reports, logs).
    fn name(&self) -> Label;

    /// The gossip topic it travels on (default: its name). Kinds that belong together (a
    /// beacon and its witnesses) share a topic.
    fn topic(&self) -> Label {
        self.name()
    }

    /// Longest payload accepted, bytes, checked before decoding (default 64 KiB).
    fn max_len(&self) -> usize {
        DEFAULT_MAX_PAYLOAD_LEN
    }

    /// The report kind byte of depin-core frames that carry this kind, if devices send it
    /// in compact frames (the frame's payload is then decoded with [`Kind::decode`]).
    fn frame_kind(&self) -> Option<u8> {
        None
    }

    /// Decode `payload` strictly (truncation, trailing bytes and non-canonical encodings
    /// refused) and run the structural checks; no state, no keys.
    fn decode(&self, payload: &[u8]) -> core::result::Result<Payload, Rejection>;
}

/// A kind that is a serde type encoded canonically with postcard
/// ([`depin_core::encoding`]). Implement this for a network's own kinds and register it
/// with [`crate::VerifierBuilder::kind_type`]; the built-in bodies implement it too.
pub trait AttestationType: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Its number; for a network's own kinds from [`AttestationKind::application`].
    const KIND: AttestationKind;
    /// Its name.
    const NAME: Label;
    /// Its gossip topic (default: its name).
    const TOPIC: Label = Self::NAME;
    /// Longest encoded body, bytes.
    const MAX_LEN: usize = DEFAULT_MAX_PAYLOAD_LEN;
    /// The report kind byte of frames that carry it, if any.
    const FRAME_KIND: Option<u8> = None;

    /// Structural checks on a decoded value (ranges, lengths); default none.
    fn check(&self) -> core::result::Result<(), Rejection> {
        Ok(())
    }

    /// Decode canonical bytes and check the structure.
    fn decode_checked(bytes: &[u8]) -> core::result::Result<Self, Rejection> {
        let value: Self = encoding::decode_canonical(bytes, Self::MAX_LEN)
            .map_err(|e| Rejection::from_core(&e))?;
        value.check()?;
        Ok(value)
    }
}

/// The [`Kind`] of an [`AttestationType`].
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    /// The kind of `T`.
    pub fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Typed::new()
    }
}

impl<T: AttestationType> fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Typed<{}>", T::NAME)
    }
}

impl<T: AttestationType> Kind for Typed<T> {
    fn kind(&self) -> AttestationKind {
        T::KIND
    }
    fn name(&self) -> Label {
        T::NAME
    }
    fn topic(&self) -> Label {
        T::TOPIC
    }
    fn max_len(&self) -> usize {
        T::MAX_LEN
    }
    fn frame_kind(&self) -> Option<u8> {
        T::FRAME_KIND
    }
    fn decode(&self, payload: &[u8]) -> core::result::Result<Payload, Rejection> {
        if payload.len() > T::MAX_LEN {
            return Err(Rejection::TooLarge);
        }
        T::decode_checked(payload).map(Payload::new)
    }
}

/// The gossip topic of device frames, whatever kind they carry (frames of a kind with a
/// [`Kind::frame_kind`] travel here too; that kind's envelopes travel on its own topic).
/// Reserved: only [`AttestationKind::DEVICE_REPORT`] may name it as its topic.
pub const FRAME_TOPIC: Label = Label::new("report");

/// Raw device report frames: any frame whose report kind byte no registered kind claims.
/// No payload is kept (the application decodes the frame's payload bytes itself; register a
/// kind with [`Kind::frame_kind`] to have them decoded); the outcome is
/// [`crate::Outcome::Report`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawReports;

impl Kind for RawReports {
    fn kind(&self) -> AttestationKind {
        AttestationKind::DEVICE_REPORT
    }
    fn name(&self) -> Label {
        Label::new("device_report")
    }
    fn topic(&self) -> Label {
        FRAME_TOPIC
    }
    fn decode(&self, _payload: &[u8]) -> core::result::Result<Payload, Rejection> {
        Ok(Payload::none())
    }
}
