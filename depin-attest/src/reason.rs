//! Named rejection reasons and the per-epoch report.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use depin_core::Epoch;
use serde::{Deserialize, Serialize};

use crate::kind::{AttestationKind, Label};

/// A rejection by a network-defined policy: the policy's name and a stable code of the
/// reason, e.g. `mapping_speed` / `impossible_speed`. Counted in epoch reports like the
/// built-in reasons, and mapped to a gossip verdict by the same rule
/// ([`Rejection::penalises_sender`]).
///
/// Two policy rejections are equal (and ordered, and hashed) by `policy` and `code` only: the
/// penalty is a property of the code, so it is not part of its identity (and not of its
/// serialized form, which is the code).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRejection {
    /// The policy that rejected ([`crate::policy::Policy::name`]).
    pub policy: Label,
    /// The reason's stable code within the policy.
    pub code: Label,
    /// Whether the sender is at fault (gossip `Reject` with a peer penalty) or may be honest
    /// (gossip `Ignore`, e.g. a rate limit).
    pub penalise: bool,
}

impl PolicyRejection {
    /// A rejection by `policy` for the reason `code`; the sender is at fault.
    pub const fn new(policy: Label, code: Label) -> Self {
        PolicyRejection {
            policy,
            code,
            penalise: true,
        }
    }

    /// The same rejection, but the sender may be honest: no gossip penalty.
    #[must_use]
    pub const fn without_penalty(mut self) -> Self {
        self.penalise = false;
        self
    }
}

impl PartialEq for PolicyRejection {
    fn eq(&self, other: &Self) -> bool {
        (self.policy, self.code) == (other.policy, other.code)
    }
}

impl Eq for PolicyRejection {}

impl PartialOrd for PolicyRejection {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PolicyRejection {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.policy, self.code).cmp(&(other.policy, other.code))
    }
}

impl core::hash::Hash for PolicyRejection {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        (self.policy, self.code).hash(state);
    }
}

impl From<PolicyRejection> for Rejection {
    fn from(r: PolicyRejection) -> Self {
        Rejection::Policy(r)
    }
}

/// Why an item was rejected. Every rejection in the pipeline is one of these, grouped in
/// the order the pipeline checks them: size, decoding, kind, structure, signature encoding
/// and freshness (stage 1), registry and keys (stage 2), signatures (stage 3), replay, then
/// policies (stage 4); later additions are at the end.
///
/// Serialized as its [`Rejection::code`] (a string), and parsed back from it
/// ([`FromStr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rejection {
    // ---- size and decoding (no signature work done) ----
    /// Input longer than the configured limit (checked before decoding).
    TooLarge,
    /// Input ended before the message was complete.
    Truncated,
    /// Bytes left after a complete message.
    TrailingBytes,
    /// Bytes that do not decode to a message (bad tag, bad varint, bad H3 cell, ...).
    Malformed,
    /// Decodes, but is not the canonical encoding of the value.
    NonCanonical,
    /// Decodes, but violates a structural rule (a field out of range, inconsistent lengths).
    InvalidStructure,
    /// An attestation kind that may not travel where it arrived (e.g. an energy reading on
    /// the coverage gossip topic; see [`crate::pipeline::Input::EnvelopeOf`]).
    WrongTopic,
    // ---- registry and keys ----
    /// The signer is not in the registry (or no registered device has the frame's key hint).
    UnknownDevice,
    /// The device is registered but not active.
    InactiveDevice,
    /// The device (or this key of it) has been revoked.
    RevokedDevice,
    /// The device may not send this kind of attestation.
    KindNotAllowed,
    /// The frame's key type or key hint does not match the registered key.
    KeyMismatch,
    /// The signer's key is on the deny list.
    DeniedKey,
    /// The registered key cannot be parsed strictly (e.g. a small-order "weak" Ed25519 key).
    InvalidKey,
    // ---- signatures ----
    /// The signature bytes are not a strict encoding (non-reduced or high S, bad R).
    SignatureEncoding,
    /// The signature does not verify (wrong key, network, kind, chain or bytes).
    BadSignature,
    // ---- freshness and replay ----
    /// Timestamp older than the freshness window.
    Stale,
    /// Timestamp too far in the future.
    FromFuture,
    /// Sequence number already seen, or below the anti-replay window.
    Replayed,
    /// The replay store failed; the item is refused (fail closed).
    ReplayStoreUnavailable,
    // ---- coverage ----
    /// A beacon sooner than the minimum beacon interval after the previous one.
    BeaconTooSoon,
    /// A second beacon with the same payload in the epoch.
    DuplicateBeacon,
    /// The reported cell differs from the device's asserted location.
    LocationMismatch,
    /// A witness for a beacon that was not accepted.
    UnknownBeacon,
    /// A gateway witnessing its own beacon.
    SelfWitness,
    /// A second witness from the same gateway for the same beacon.
    DuplicateWitness,
    /// The (beaconer, witness) edge is on the deny list.
    DeniedEdge,
    /// Witness received too long after the beacon, or before it.
    WitnessLag,
    /// Witness closer than the minimum H3 grid distance.
    TooClose,
    /// Witness farther than the maximum distance.
    TooFar,
    /// Received signal stronger than free-space path loss allows.
    ImpossibleSignal,
    /// Witness frequency differs from the beacon's by more than the tolerance.
    FrequencyMismatch,
    /// Witness in another region than the beacon.
    RegionMismatch,
    /// Valid witness beyond the maximum number kept per beacon.
    WitnessLimit,
    /// Member of a closed reciprocal witness group (collusion ring).
    CollusionRing,
    // ---- storage ----
    /// A commitment for the same root is already registered.
    DuplicateCommitment,
    /// A proof for a root the prover never registered.
    UnknownCommitment,
    /// No challenge has been issued for the proof's epoch.
    NoChallenge,
    /// A proof for an earlier epoch's challenge.
    StaleChallenge,
    /// The proven chunk indices are not the derived challenge.
    WrongChallenge,
    /// A chunk or its Merkle path does not lead to the registered root.
    StorageProofInvalid,
    // ---- energy ----
    /// The rated power needed for the plausibility check is not registered.
    NoRatedPower,
    /// A cumulative counter went backwards.
    CounterRollback,
    /// Energy over time exceeds the rated power.
    ImpossiblePower,
    /// Gap since the previous reading exceeds the limit (the reading becomes the new
    /// baseline but earns nothing for the gap).
    EnergyGap,
    /// A charging session overlaps the previous one of the same charger.
    SessionOverlap,
    // ---- added later; kept at the end so existing wire tags do not move ----
    /// A timestamp (of the item, or the processing time) before the epoch schedule's
    /// genesis: it belongs to no epoch.
    BeforeGenesis,
    /// A coverage report from a device with no asserted location (see
    /// [`crate::coverage::CoveragePolicy::allow_unlocated`]).
    NoLocation,
    /// A beacon payload that is not derived from its beaconer and a current entropy (see
    /// [`crate::coverage::CoveragePolicy::require_entropy`]).
    BeaconPayloadMismatch,
    /// A second proof for the same commitment in the same challenge epoch.
    DuplicateProof,
    /// A commitment to a root another device already committed (see
    /// [`crate::policy::StoragePolicy::allow_shared_roots`]).
    SharedCommitment,
    /// A charging session longer than the policy allows.
    SessionTooLong,
    /// A charging session that starts before the device's last accepted energy data (or
    /// before the freshness window).
    SessionBeforeHistory,
    /// Energy credited to one device over an interval, across all its counters and
    /// sessions, would exceed its rated power over that interval.
    DevicePowerExceeded,
    /// Production the policy's daylight profile rules out (solar output at night).
    ImplausibleProduction,
    /// A speed test outside the policy's plausible bounds (throughput, latency).
    ImplausibleSpeed,
    /// A speed test sooner than the policy's minimum interval after the previous one.
    SpeedTestTooSoon,
    /// A speed test that does not name a current network-issued challenge.
    UnknownChallenge,
    /// Member of a dense, mostly internal witness community (Sybil ring).
    SybilCommunity,
    /// The device already holds the most commitments the storage policy allows, or the
    /// commitment claims more bytes than it allows.
    TooManyCommitments,
    /// A proof for a commitment that was recorded after the proof's challenge was opened
    /// (a tree built around challenges already known).
    CommitmentTooLate,
    /// The device already has the most pending witness reports the coverage policy allows
    /// for this round.
    TooManyWitnesses,
    /// An attestation kind (or a frame report kind) no registered [`crate::kind::Kind`]
    /// handles.
    UnknownKind,
    /// The registry could not answer ([`crate::registry::Lookup::Unavailable`]): neither
    /// accepted nor the sender's fault; nothing was consumed, send again later.
    RegistryUnavailable,
    /// An item accepted by the verifier whose epoch (the epoch of its timestamp) has
    /// already begun closing at the oracle: it is refused, and its sequence number stays
    /// consumed. See the oracle's grace window (`crate::ingest`).
    EpochClosed,
    /// A network-defined policy rejected the item.
    Policy(PolicyRejection),
}

impl Rejection {
    /// A short stable code (`snake_case`) for logs, metrics and gossip verdicts.
    /// Built-in reasons have a fixed code; a [`Rejection::Policy`] has `policy/code`.
    pub fn code(&self) -> Cow<'static, str> {
        match self {
            Rejection::Policy(p) => Cow::Owned(format!("{}/{}", p.policy, p.code)),
            other => Cow::Borrowed(other.builtin_code().unwrap_or("policy")),
        }
    }

    /// The code of a built-in reason (`None` for [`Rejection::Policy`]).
    pub fn builtin_code(&self) -> Option<&'static str> {
        use Rejection::*;
        Some(match self {
            TooLarge => "too_large",
            Truncated => "truncated",
            TrailingBytes => "trailing_bytes",
            Malformed => "malformed",
            NonCanonical => "non_canonical",
            InvalidStructure => "invalid_structure",
            WrongTopic => "wrong_topic",
            UnknownDevice => "unknown_device",
            InactiveDevice => "inactive_device",
            RevokedDevice => "revoked_device",
            KindNotAllowed => "kind_not_allowed",
            KeyMismatch => "key_mismatch",
            DeniedKey => "denied_key",
            InvalidKey => "invalid_key",
            SignatureEncoding => "signature_encoding",
            BadSignature => "bad_signature",
            Stale => "stale",
            FromFuture => "from_future",
            Replayed => "replayed",
            ReplayStoreUnavailable => "replay_store_unavailable",
            BeaconTooSoon => "beacon_too_soon",
            DuplicateBeacon => "duplicate_beacon",
            LocationMismatch => "location_mismatch",
            UnknownBeacon => "unknown_beacon",
            SelfWitness => "self_witness",
            DuplicateWitness => "duplicate_witness",
            DeniedEdge => "denied_edge",
            WitnessLag => "witness_lag",
            TooClose => "too_close",
            TooFar => "too_far",
            ImpossibleSignal => "impossible_signal",
            FrequencyMismatch => "frequency_mismatch",
            RegionMismatch => "region_mismatch",
            WitnessLimit => "witness_limit",
            CollusionRing => "collusion_ring",
            DuplicateCommitment => "duplicate_commitment",
            UnknownCommitment => "unknown_commitment",
            NoChallenge => "no_challenge",
            StaleChallenge => "stale_challenge",
            WrongChallenge => "wrong_challenge",
            StorageProofInvalid => "storage_proof_invalid",
            NoRatedPower => "no_rated_power",
            CounterRollback => "counter_rollback",
            ImpossiblePower => "impossible_power",
            EnergyGap => "energy_gap",
            SessionOverlap => "session_overlap",
            BeforeGenesis => "before_genesis",
            NoLocation => "no_location",
            BeaconPayloadMismatch => "beacon_payload_mismatch",
            DuplicateProof => "duplicate_proof",
            SharedCommitment => "shared_commitment",
            SessionTooLong => "session_too_long",
            SessionBeforeHistory => "session_before_history",
            DevicePowerExceeded => "device_power_exceeded",
            ImplausibleProduction => "implausible_production",
            ImplausibleSpeed => "implausible_speed",
            SpeedTestTooSoon => "speed_test_too_soon",
            UnknownChallenge => "unknown_challenge",
            SybilCommunity => "sybil_community",
            TooManyCommitments => "too_many_commitments",
            CommitmentTooLate => "commitment_too_late",
            TooManyWitnesses => "too_many_witnesses",
            UnknownKind => "unknown_kind",
            RegistryUnavailable => "registry_unavailable",
            EpochClosed => "epoch_closed",
            Policy(_) => return None,
        })
    }

    /// Whether the sender is at fault. The one rule that maps verdicts to gossip: a
    /// rejection that penalises is a gossip `Reject`, any other is `Ignore` (items that may
    /// be honest but late, repeated or not checkable now: stale, replayed, from the future,
    /// replay store or registry unavailable, and policy rejections made
    /// [`PolicyRejection::without_penalty`]).
    pub fn penalises_sender(&self) -> bool {
        use Rejection::*;
        match self {
            Stale
            | Replayed
            | FromFuture
            | ReplayStoreUnavailable
            | RegistryUnavailable
            | EpochClosed => false,
            Policy(p) => p.penalise,
            _ => true,
        }
    }

    /// The policy a rejection belongs to: the policy's name for [`Rejection::Policy`] and
    /// for the built-in policies' reasons (`coverage`, which includes the collusion-ring
    /// rules, `storage`, `energy`, `bandwidth`), `None` for the pipeline's own checks (decoding, registry,
    /// keys, signatures, freshness, replay).
    pub fn policy(&self) -> Option<Label> {
        use Rejection::*;
        Some(match self {
            Policy(p) => p.policy,
            BeaconTooSoon
            | DuplicateBeacon
            | LocationMismatch
            | UnknownBeacon
            | SelfWitness
            | DuplicateWitness
            | DeniedEdge
            | WitnessLag
            | TooClose
            | TooFar
            | ImpossibleSignal
            | FrequencyMismatch
            | RegionMismatch
            | WitnessLimit
            | NoLocation
            | BeaconPayloadMismatch
            | TooManyWitnesses => Label::new("coverage"),
            // the collusion-ring rules run inside the coverage policy (`CoverageRules`)
            CollusionRing | SybilCommunity => Label::new("coverage"),
            DuplicateCommitment | UnknownCommitment | NoChallenge | StaleChallenge
            | WrongChallenge | StorageProofInvalid | DuplicateProof | SharedCommitment
            | TooManyCommitments | CommitmentTooLate => Label::new("storage"),
            NoRatedPower
            | CounterRollback
            | ImpossiblePower
            | EnergyGap
            | SessionOverlap
            | SessionTooLong
            | SessionBeforeHistory
            | DevicePowerExceeded
            | ImplausibleProduction => Label::new("energy"),
            ImplausibleSpeed | SpeedTestTooSoon | UnknownChallenge => Label::new("bandwidth"),
            _ => return None,
        })
    }

    /// Whether the item's signature had verified and its sequence number was consumed
    /// before it was refused: the policies' reasons ([`Rejection::policy`] is `Some`) and
    /// [`Rejection::EpochClosed`]. Such items changed verifier state, so an oracle logs
    /// them with their bytes and replays them after a restart ([`crate::store`]).
    pub fn consumed_sequence(&self) -> bool {
        matches!(self, Rejection::EpochClosed) || self.policy().is_some()
    }

    /// Every built-in reason (not [`Rejection::Policy`]), in declaration order.
    pub const BUILT_IN: [Rejection; 65] = {
        use Rejection::*;
        [
            TooLarge,
            Truncated,
            TrailingBytes,
            Malformed,
            NonCanonical,
            InvalidStructure,
            WrongTopic,
            UnknownDevice,
            InactiveDevice,
            RevokedDevice,
            KindNotAllowed,
            KeyMismatch,
            DeniedKey,
            InvalidKey,
            SignatureEncoding,
            BadSignature,
            Stale,
            FromFuture,
            Replayed,
            ReplayStoreUnavailable,
            BeaconTooSoon,
            DuplicateBeacon,
            LocationMismatch,
            UnknownBeacon,
            SelfWitness,
            DuplicateWitness,
            DeniedEdge,
            WitnessLag,
            TooClose,
            TooFar,
            ImpossibleSignal,
            FrequencyMismatch,
            RegionMismatch,
            WitnessLimit,
            CollusionRing,
            DuplicateCommitment,
            UnknownCommitment,
            NoChallenge,
            StaleChallenge,
            WrongChallenge,
            StorageProofInvalid,
            NoRatedPower,
            CounterRollback,
            ImpossiblePower,
            EnergyGap,
            SessionOverlap,
            BeforeGenesis,
            NoLocation,
            BeaconPayloadMismatch,
            DuplicateProof,
            SharedCommitment,
            SessionTooLong,
            SessionBeforeHistory,
            DevicePowerExceeded,
            ImplausibleProduction,
            ImplausibleSpeed,
            SpeedTestTooSoon,
            UnknownChallenge,
            SybilCommunity,
            TooManyCommitments,
            CommitmentTooLate,
            TooManyWitnesses,
            UnknownKind,
            RegistryUnavailable,
            EpochClosed,
        ]
    };

    /// `true` for reasons found before any signature work (size, decoding, structure).
    pub fn is_pre_signature(self) -> bool {
        use Rejection::*;
        matches!(
            self,
            TooLarge
                | Truncated
                | TrailingBytes
                | Malformed
                | NonCanonical
                | InvalidStructure
                | WrongTopic
                | UnknownKind
        )
    }

    pub(crate) fn from_core(e: &depin_core::Error) -> Self {
        use depin_core::Error as E;
        match e {
            E::TooLarge { .. } => Rejection::TooLarge,
            E::Truncated => Rejection::Truncated,
            E::TrailingBytes { .. } => Rejection::TrailingBytes,
            E::NonCanonical => Rejection::NonCanonical,
            E::InvalidSignatureEncoding { .. } => Rejection::SignatureEncoding,
            E::InvalidFrame(_) => Rejection::InvalidStructure,
            _ => Rejection::Malformed,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Policy(p) => write!(f, "{}/{}", p.policy, p.code),
            other => f.write_str(other.builtin_code().unwrap_or("policy")),
        }
    }
}

/// An unrecognised rejection code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rejection code {0:?}")]
pub struct UnknownRejectionCode(pub String);

impl FromStr for Rejection {
    type Err = UnknownRejectionCode;

    /// Parse a [`Rejection::code`]. A policy code without a penalty flag parses as a
    /// penalising one: the flag is not part of the code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((policy, code)) = s.split_once('/') {
            let bad = || UnknownRejectionCode(s.to_string());
            let policy = Label::parse(policy).map_err(|_| bad())?;
            let code = Label::parse(code).map_err(|_| bad())?;
            return Ok(Rejection::Policy(PolicyRejection::new(policy, code)));
        }
        Rejection::BUILT_IN
            .iter()
            .find(|r| r.builtin_code() == Some(s))
            .copied()
            .ok_or_else(|| UnknownRejectionCode(s.to_string()))
    }
}

impl Serialize for Rejection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for Rejection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Accepted and rejected counts of one epoch, by kind and by reason. Serializable (JSON
/// for operators' dashboards) and printable as a small table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochReport {
    /// The epoch (of processing time) these counts belong to.
    pub epoch: Epoch,
    /// Accepted items per kind.
    pub accepted: BTreeMap<AttestationKind, u64>,
    /// Rejected items per reason.
    pub rejected: BTreeMap<Rejection, u64>,
    /// The names of the kinds counted (from the verifier's registered kinds).
    #[serde(default)]
    pub kind_names: BTreeMap<AttestationKind, Label>,
    /// Every policy the verifier ran, with its version (built-in and network-defined).
    #[serde(default)]
    pub policies: BTreeMap<Label, u32>,
}

impl EpochReport {
    /// An empty report for `epoch`.
    pub fn new(epoch: Epoch) -> Self {
        EpochReport {
            epoch,
            ..Default::default()
        }
    }

    /// Total accepted items.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.values().sum()
    }

    /// Total rejected items.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Rejections for one reason.
    pub fn rejected_for(&self, reason: Rejection) -> u64 {
        self.rejected.get(&reason).copied().unwrap_or(0)
    }

    /// Accepted items of one kind.
    pub fn accepted_for(&self, kind: AttestationKind) -> u64 {
        self.accepted.get(&kind).copied().unwrap_or(0)
    }

    /// Rejections by one policy (its own [`Rejection::Policy`] codes and, for a built-in
    /// policy, its built-in reasons; see [`Rejection::policy`]).
    pub fn rejected_by_policy(&self, policy: Label) -> u64 {
        self.rejected
            .iter()
            .filter(|(r, _)| r.policy() == Some(policy))
            .map(|(_, n)| n)
            .sum()
    }

    /// The name of `kind`: the registered name, the built-in one, or `kind_0x....`.
    pub fn kind_name(&self, kind: AttestationKind) -> String {
        match self.kind_names.get(&kind) {
            Some(l) => l.to_string(),
            None => kind.to_string(),
        }
    }

    pub(crate) fn accept(&mut self, kind: AttestationKind) {
        *self.accepted.entry(kind).or_insert(0) += 1;
    }

    pub(crate) fn reject(&mut self, reason: Rejection) {
        *self.rejected.entry(reason).or_insert(0) += 1;
    }

    /// Move one accepted item of `kind` to `reason` (epoch-end decisions such as witness
    /// selection and collusion rings; an oracle's rejections at close, for a report built
    /// from its answers).
    pub fn demote(&mut self, kind: AttestationKind, reason: Rejection) {
        if let Some(n) = self.accepted.get_mut(&kind) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.accepted.remove(&kind);
            }
        }
        self.reject(reason);
    }
}

impl fmt::Display for EpochReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} accepted, {} rejected",
            self.epoch,
            self.accepted_total(),
            self.rejected_total()
        )?;
        for (kind, n) in &self.accepted {
            writeln!(f, "  accepted {:<24} {n}", self.kind_name(*kind))?;
        }
        for (reason, n) in &self.rejected {
            writeln!(f, "  rejected {:<24} {n}", reason.code())?;
        }
        Ok(())
    }
}
