//! The verification pipeline.
//!
//! Stages, cheapest first; an item leaves at the first failure with a named
//! [`Rejection`]:
//!
//! 1. **Size and decoding** (stateless, parallel): size limit before any parsing; frames
//!    with [`Frame::parse`], envelopes with a strict canonical decode; the item's
//!    [`Kind`] found by its number (or a frame's report kind byte), unknown kinds refused
//!    ([`Rejection::UnknownKind`]); the payload decoded by that kind with its structural
//!    checks and size limit; strict signature encoding; freshness window against `now`.
//! 2. **Registry and keys** (read-only state): registry available
//!    ([`Rejection::RegistryUnavailable`] otherwise, which penalises nobody), device known, active, not revoked,
//!    allowed this kind, key type and hint match, key not deny-listed, public key parsed
//!    strictly (once per device, then cached).
//! 3. **Signatures** (parallel): [`depin_core::batch::verify_batch`], Ed25519 batched
//!    with bad-item isolation, ECDSA one by one.
//! 4. **State** (sequential, in input order): the anti-replay window of every item whose
//!    signature verified, then one [`ReplayStore::flush`] that makes those windows durable,
//!    then the [`Policy`]s of the item's kind, in the builder's order (see
//!    [`crate::policy`]). A verified sequence number is consumed even if a policy
//!    then rejects the item. If the flush fails, the store forgets the batch's updates
//!    ([`ReplayStore::rollback`]), every item that needed them is refused with
//!    [`Rejection::ReplayStoreUnavailable`] and no policy state changes: `Accepted`
//!    always means the replay state that forbids its repetition is durable.
//!
//! Stages 1 to 3 run across cores with the `parallel` feature for large batches; their
//! results are per item, so the verdicts are identical to the sequential path.

//!
//! Every kind, the built-in ones included, goes through the same [`Kind`] and [`Policy`]
//! traits; a network adds its own with [`VerifierBuilder::kind`] and
//! [`VerifierBuilder::policy`].

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use depin_core::batch::{verify_batch, BatchItem};
use depin_core::frame::Frame;
use depin_core::{
    DeviceId, Domain, Epoch, EpochSchedule, MessageKind, PublicKey, Signature, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::bandwidth::{BandwidthChallenge, BandwidthRules, SpeedTier};
use crate::coverage::{BeaconEntropy, CoverageOutcome, CoverageRules};
use crate::deny::{DenyList, DenyState};
use crate::energy::EnergyRules;
use crate::envelope::{decode_parts, DEFAULT_MAX_ENVELOPE_LEN};
use crate::error::{Error, Result};
use crate::kind::{AttestationKind, Kind, KindSet, Label, Payload, RawReports, Typed};
use crate::policy::{Item, Policies, Policy};
use crate::reason::{EpochReport, Rejection};
use crate::registry::{DeviceRecord, DeviceStatus, Lookup, Registry};
use crate::replay::{ReplayKey, ReplayStore, Stream};
use crate::storage::StorageRules;
use crate::table::CachedKey;
use crate::types::{
    BandwidthTest, ChargingSession, CoverageBeacon, CoverageWitness, EnergyReading,
    StorageCommitment, StorageProof,
};

/// One item to verify: raw bytes and which wire format they are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A depin-core report frame.
    Frame(&'a [u8]),
    /// A signed [`crate::Envelope`].
    Envelope(&'a [u8]),
    /// A signed [`crate::Envelope`] that may only carry the kinds in the set, e.g. the kinds
    /// of the gossip topic it arrived on ([`Verifier::topic_kinds`]). Any other kind is
    /// rejected with [`Rejection::WrongTopic`] at decoding (and counted in the report),
    /// before keys, signatures or replay windows are touched, so a copy on the wrong topic
    /// cannot use up the sequence number of the real one.
    EnvelopeOf(&'a [u8], KindSet),
}

/// What an accepted item produced (set by the policies of its kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Outcome {
    /// A device report frame (the decoded payload, if its kind decodes one, is in
    /// [`Accepted::payload`]; raw reports keep none: decode the frame's payload).
    Report {
        /// The frame's application-defined report kind.
        report_kind: u8,
    },
    /// Recorded for later use (beacon, storage commitment).
    Recorded,
    /// A witness that passed every ingest check; its fate is decided by
    /// [`Verifier::finalize_coverage`].
    PendingSelection,
    /// A storage proof that answered the epoch's challenge. At most one proof counts per
    /// (device, commitment, challenge epoch); a second one is
    /// [`Rejection::DuplicateProof`].
    Proven {
        /// Root of the commitment that was proven.
        root: [u8; 32],
        /// The challenge epoch the proof answered.
        epoch: Epoch,
    },
    /// Energy credited (Wh since the previous reading, or of the session).
    Energy {
        /// Watt-hours.
        wh: u64,
    },
    /// A graded speed test.
    Tier(SpeedTier),
    /// Accepted; no policy set a more specific outcome (the default for envelopes of a
    /// network's own kinds: the decoded body is in [`Accepted::payload`]).
    Accepted,
    /// A quantity a network-defined policy credited (units are the policy's: minutes of
    /// uptime, refreshed tiles, ...).
    Credited {
        /// The policy that credited it.
        policy: Label,
        /// The amount.
        units: u64,
    },
}

/// An accepted item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    /// The signing device.
    pub device: DeviceId,
    /// What it attested.
    pub kind: AttestationKind,
    /// Its sequence number.
    pub seq: u64,
    /// Its timestamp.
    pub timestamp: Timestamp,
    /// What it produced.
    pub outcome: Outcome,
    /// Its signing digest: a unique id of the signed item.
    pub digest: [u8; 32],
    /// How far the registry trusted the device when the item was verified
    /// ([`DeviceRecord::trust`](crate::DeviceRecord::trust)): what the reward rules price
    /// (`depin_rewards::policy::trust`). Read from the verdict, not from the registry
    /// later, so payouts stay a function of the accepted items.
    #[serde(default)]
    pub trust: depin_core::TrustLevel,
    /// The decoded body (`payload.get::<T>()`), so the application does not parse it
    /// again. Not serialized.
    #[serde(skip)]
    pub payload: Payload,
}

impl PartialEq for Accepted {
    /// Equal fields; the payload is not compared (the digest covers the signed bytes it was
    /// decoded from).
    fn eq(&self, other: &Self) -> bool {
        self.device == other.device
            && self.kind == other.kind
            && self.seq == other.seq
            && self.timestamp == other.timestamp
            && self.outcome == other.outcome
            && self.digest == other.digest
            && self.trust == other.trust
    }
}

impl Eq for Accepted {}

/// The verdict on one item.
pub type Verdict = core::result::Result<Accepted, Rejection>;

/// Counters of work done, for operators and for proving stage order in tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Items received.
    pub received: u64,
    /// Items that passed size, decoding and structure checks.
    pub decoded: u64,
    /// Items whose signature was checked.
    pub signatures_checked: u64,
    /// Items accepted.
    pub accepted: u64,
    /// Items rejected.
    pub rejected: u64,
}

/// Verifier configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierConfig {
    /// The network's signing domain.
    pub domain: Domain,
    /// Epoch schedule (reports are kept per epoch of processing time).
    pub schedule: EpochSchedule,
    /// Envelope size limit, checked before decoding (default 64 KiB).
    pub max_envelope_len: usize,
    /// Oldest accepted timestamp relative to `now`, ms (default 15 minutes).
    pub max_age_ms: u64,
    /// Furthest accepted timestamp in the future, ms (default 60 s).
    pub max_future_ms: u64,
    /// Key of the deny-list authority; `None` disables deny-list updates.
    pub deny_authority: Option<DeviceId>,
    /// Parameters of the built-in policies.
    pub policies: Policies,
    /// Batches at least this large are spread across cores (feature `parallel`).
    pub parallel_threshold: usize,
}

impl VerifierConfig {
    /// Defaults for `domain`: daily UTC epochs, 64 KiB envelopes, 15 min freshness,
    /// 60 s future skew, Helium-derived policies, no deny-list authority.
    pub fn new(domain: Domain) -> Self {
        VerifierConfig {
            domain,
            schedule: EpochSchedule::daily_utc(),
            max_envelope_len: DEFAULT_MAX_ENVELOPE_LEN,
            max_age_ms: 15 * 60_000,
            max_future_ms: 60_000,
            deny_authority: None,
            policies: Policies::default(),
            parallel_threshold: 256,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_envelope_len < depin_core::SIGNATURE_LEN {
            return Err(Error::Config("max_envelope_len below the signature length"));
        }
        Ok(())
    }
}

/// The built-in kinds: raw report frames, coverage beacons and witnesses, storage
/// commitments and proofs, energy readings, charging sessions, bandwidth tests. What
/// [`VerifierBuilder::new`] registers unless [`VerifierBuilder::without_builtins`].
pub fn builtin_kinds() -> Vec<Arc<dyn Kind>> {
    vec![
        Arc::new(RawReports),
        Arc::new(Typed::<CoverageBeacon>::new()),
        Arc::new(Typed::<CoverageWitness>::new()),
        Arc::new(Typed::<StorageCommitment>::new()),
        Arc::new(Typed::<StorageProof>::new()),
        Arc::new(Typed::<EnergyReading>::new()),
        Arc::new(Typed::<ChargingSession>::new()),
        Arc::new(Typed::<BandwidthTest>::new()),
    ]
}

/// The built-in policies with the parameters in `policies`, in their order: coverage
/// (with the collusion-ring policy), storage, energy, bandwidth.
///
/// Errors: [`Error::Config`] for parameters out of range.
pub fn builtin_policies(policies: &Policies) -> Result<Vec<Box<dyn Policy>>> {
    if policies.coverage.distance_resolution > 15 {
        return Err(Error::Config("H3 resolution above 15"));
    }
    if !(1..=crate::types::MAX_CHALLENGES).contains(&policies.storage.challenges) {
        return Err(Error::Config("storage challenges out of range"));
    }
    policies.energy.validate().map_err(Error::Config)?;
    policies.bandwidth.validate().map_err(Error::Config)?;
    Ok(vec![
        Box::new(CoverageRules::new(
            policies.coverage.clone(),
            policies.collusion_ring.clone(),
        )),
        Box::new(StorageRules::new(policies.storage.clone())),
        Box::new(EnergyRules::new(policies.energy.clone())),
        Box::new(BandwidthRules::new(policies.bandwidth.clone())),
    ])
}

/// Builds a [`Verifier`]: the configuration, the kinds it accepts and the policies it runs,
/// in order. Starts with the built-in kinds and policies (parameters from
/// [`VerifierConfig::policies`]); a network adds its own after them.
///
/// ```
/// use depin_attest::{MemoryRegistry, MemoryReplayStore, VerifierBuilder, VerifierConfig};
/// use depin_core::{Domain, NetworkId};
/// let config = VerifierConfig::new(Domain::new(NetworkId::new("air-net").unwrap()));
/// let verifier = VerifierBuilder::new(config)
///     .without_builtins()
///     .expected_devices(10_000)
///     .build(MemoryRegistry::new(), MemoryReplayStore::new())
///     .unwrap();
/// assert!(verifier.kinds().is_empty());
/// ```
pub struct VerifierBuilder {
    config: VerifierConfig,
    builtins: bool,
    kinds: Vec<Arc<dyn Kind>>,
    policies: Vec<Box<dyn Policy>>,
    expected_devices: usize,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("builtins", &self.builtins)
            .field(
                "kinds",
                &self.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
            )
            .field(
                "policies",
                &self.policies.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl VerifierBuilder {
    /// A builder with `config` and the built-in kinds and policies.
    pub fn new(config: VerifierConfig) -> Self {
        VerifierBuilder {
            config,
            builtins: true,
            kinds: Vec::new(),
            policies: Vec::new(),
            expected_devices: 0,
        }
    }

    /// Leave out the built-in kinds and policies (add the ones wanted with
    /// [`builtin_kinds`] and [`builtin_policies`]).
    #[must_use]
    pub fn without_builtins(mut self) -> Self {
        self.builtins = false;
        self
    }

    /// Accept a kind.
    #[must_use]
    pub fn kind(mut self, kind: impl Kind) -> Self {
        self.kinds.push(Arc::new(kind));
        self
    }

    /// Accept a kind given as a shared trait object.
    #[must_use]
    pub fn kind_dyn(mut self, kind: Arc<dyn Kind>) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Accept the kind of a serde type ([`crate::kind::AttestationType`]).
    #[must_use]
    pub fn kind_type<T: crate::kind::AttestationType>(self) -> Self {
        self.kind(Typed::<T>::new())
    }

    /// Run a policy, after the ones added before it.
    #[must_use]
    pub fn policy(mut self, policy: impl Policy) -> Self {
        self.policies.push(Box::new(policy));
        self
    }

    /// Run a boxed policy, after the ones added before it.
    #[must_use]
    pub fn policy_dyn(mut self, policy: Box<dyn Policy>) -> Self {
        self.policies.push(policy);
        self
    }

    /// Size the verifier's per-device tables (key cache) for `devices` devices up front, so
    /// they do not rehash while the fleet is first seen.
    #[must_use]
    pub fn expected_devices(mut self, devices: usize) -> Self {
        self.expected_devices = devices;
        self
    }

    /// Build the verifier over `registry` and `replay`. The deny list is restored from the
    /// store ([`ReplayStore::load_deny_list`]) and checked against the configured
    /// authority, so a restart can neither forget a denied key nor be rolled back to an
    /// older list.
    ///
    /// Errors: [`Error::Config`] for an invalid configuration: a kind number outside the
    /// built-in numbers and the application range, two kinds with one number, name or frame
    /// kind byte, more than [`crate::kind::KIND_SET_CAPACITY`] kinds on one topic, two
    /// policies with one name, a policy that applies to no registered kind;
    /// [`Error::DenyList`] if the stored list does not verify (or one is stored but no
    /// authority is configured), or the store's error.
    pub fn build<R: Registry, S: ReplayStore>(
        self,
        registry: R,
        mut replay: S,
    ) -> Result<Verifier<R, S>> {
        let VerifierBuilder {
            config,
            builtins,
            kinds: extra_kinds,
            policies: extra_policies,
            expected_devices,
        } = self;
        config.validate()?;
        let (mut kinds, mut policies) = if builtins {
            (builtin_kinds(), builtin_policies(&config.policies)?)
        } else {
            (Vec::new(), Vec::new())
        };
        kinds.extend(extra_kinds);
        policies.extend(extra_policies);
        let table = KindTable::new(kinds, &policies)?;
        let mut deny = DenyState::default();
        if let Some(signed) = replay.load_deny_list()? {
            let authority = config.deny_authority.ok_or(Error::Config(
                "the store holds a deny list but no deny-list authority is configured",
            ))?;
            let key = authority.public_key()?;
            deny.replace(DenyList::verify_signed(&signed, &config.domain, &key)?)?;
        }
        Ok(Verifier {
            config,
            registry,
            replay,
            keys: crate::table::KeyCache::with_capacity(expected_devices),
            deny,
            kinds: table,
            policies,
            last_epoch: None,
            reports: BTreeMap::new(),
            counters: Counters::default(),
        })
    }
}

/// What the verifier knows about one registered kind.
#[derive(Clone)]
struct KindEntry {
    spec: Arc<dyn Kind>,
    kind: AttestationKind,
    name: Label,
    topic: Label,
    /// Indices of the policies that apply to it, in order.
    policies: Vec<usize>,
}

/// The registered kinds, indexed for dispatch.
#[derive(Clone)]
struct KindTable {
    entries: Vec<KindEntry>,
    /// Frame report kind byte -> entry.
    frames: [Option<u16>; 256],
    /// The raw report kind (frames no kind claims).
    raw: Option<u16>,
}

impl KindTable {
    fn new(kinds: Vec<Arc<dyn Kind>>, policies: &[Box<dyn Policy>]) -> Result<Self> {
        let mut entries: Vec<KindEntry> = Vec::with_capacity(kinds.len());
        let mut frames = [None; 256];
        let mut raw = None;
        if kinds.len() > usize::from(u16::MAX) {
            return Err(Error::Config("too many kinds"));
        }
        for spec in kinds {
            let kind = spec.kind();
            if !kind.is_application() && !AttestationKind::BUILT_IN.contains(&kind) {
                return Err(Error::Config(
                    "a kind number must be a built-in one or in the application range",
                ));
            }
            let (name, topic) = (spec.name(), spec.topic());
            if entries.iter().any(|e| e.kind == kind) {
                return Err(Error::Config("two kinds with the same number"));
            }
            if entries.iter().any(|e| e.name == name) {
                return Err(Error::Config("two kinds with the same name"));
            }
            if topic == crate::kind::FRAME_TOPIC && kind != AttestationKind::DEVICE_REPORT {
                return Err(Error::Config(
                    "the frame topic is reserved for raw report frames",
                ));
            }
            if entries.iter().filter(|e| e.topic == topic).count() >= crate::kind::KIND_SET_CAPACITY
            {
                return Err(Error::Config("too many kinds on one topic"));
            }
            let idx = entries.len() as u16;
            if kind == AttestationKind::DEVICE_REPORT {
                raw = Some(idx);
            }
            if let Some(fk) = spec.frame_kind() {
                let slot = &mut frames[usize::from(fk)];
                if slot.is_some() {
                    return Err(Error::Config("two kinds with the same frame report kind"));
                }
                *slot = Some(idx);
            }
            let applying = policies
                .iter()
                .enumerate()
                .filter(|(_, p)| p.applies_to(kind))
                .map(|(i, _)| i)
                .collect();
            entries.push(KindEntry {
                spec,
                kind,
                name,
                topic,
                policies: applying,
            });
        }
        for (i, p) in policies.iter().enumerate() {
            if policies[..i].iter().any(|q| q.name() == p.name()) {
                return Err(Error::Config("two policies with the same name"));
            }
            if !entries.iter().any(|e| e.policies.contains(&i)) {
                return Err(Error::Config("a policy applies to no registered kind"));
            }
        }
        Ok(KindTable {
            entries,
            frames,
            raw,
        })
    }

    #[inline]
    fn find(&self, kind: AttestationKind) -> Option<u16> {
        self.entries
            .iter()
            .position(|e| e.kind == kind)
            .map(|i| i as u16)
    }

    fn for_frame(&self, report_kind: u8) -> Option<u16> {
        self.frames[usize::from(report_kind)].or(self.raw)
    }
}

/// What the verifier's state costs in memory ([`Verifier::memory`]), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryUse {
    /// Devices whose key is cached.
    pub devices: usize,
    /// The parsed-key cache (dense: 200 bytes a key plus its index slot).
    pub key_cache: usize,
    /// The replay store's windows, if the store reports it
    /// ([`ReplayStore::memory_bytes`]).
    pub replay: Option<usize>,
    /// The policies' state, summed over the policies that report it
    /// ([`Policy::memory_bytes`]); how many do is in `policies_reporting`.
    pub policies: usize,
    /// Policies that reported their memory.
    pub policies_reporting: usize,
}

impl MemoryUse {
    /// Everything reported.
    pub fn total(&self) -> usize {
        self.key_cache + self.replay.unwrap_or(0) + self.policies
    }
}

/// A registered kind, as listed by [`Verifier::kinds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// Its number.
    pub kind: AttestationKind,
    /// Its name.
    pub name: Label,
    /// Its gossip topic.
    pub topic: Label,
    /// The report kind byte of frames that carry it.
    pub frame_kind: Option<u8>,
}

/// What an item says about itself ([`Verifier::describe`]): unverified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemInfo {
    /// The registered device it names.
    pub device: DeviceId,
    /// Its kind.
    pub kind: AttestationKind,
    /// Its sequence number.
    pub seq: u64,
    /// Its timestamp.
    pub timestamp: Timestamp,
    /// Its signing digest.
    pub digest: [u8; 32],
}

/// Which signer an item names before the registry resolves it.
#[derive(Debug, Clone, Copy)]
enum Claimed {
    Hint(depin_core::KeyHint, depin_core::KeyType),
    Device(DeviceId),
}

/// An item after stage 1.
#[derive(Debug, Clone)]
struct Staged {
    kind_idx: u16,
    kind: AttestationKind,
    claimed: Claimed,
    seq: u64,
    stream: Stream,
    timestamp: Timestamp,
    digest: [u8; 32],
    signature: Signature,
    payload: Payload,
    frame_kind: Option<u8>,
}

/// Where an item's key is: in the verifier's key cache, or parsed for this batch.
enum KeyRef {
    Cached(u32),
    New(PublicKey),
}

/// An item after stage 2.
struct Resolved {
    staged: Staged,
    device: DeviceId,
    record: DeviceRecord,
    key: KeyRef,
}

enum Slot {
    Done(Verdict),
    Resolved(Box<Resolved>),
}

/// A slot, whether the item decoded, and a key parsed for the cache.
type Prepared = (Slot, bool, Option<(DeviceId, Option<PublicKey>)>);

/// Read-only view of the verifier for stages 1 and 2.
struct Ctx<'v, R> {
    config: &'v VerifierConfig,
    kinds: &'v KindTable,
    registry: &'v R,
    keys: &'v crate::table::KeyCache,
    deny: &'v DenyState,
}

impl<R: Registry> Ctx<'_, R> {
    fn prepare(&self, input: &Input<'_>, now: Timestamp) -> Prepared {
        let staged = match stage1(self.config, self.kinds, input, now) {
            Ok(s) => s,
            Err(r) => return (Slot::Done(Err(r)), false, None),
        };
        let mut new_key = None;
        let slot = match self.resolve(staged, &mut new_key) {
            Ok(r) => Slot::Resolved(Box::new(r)),
            Err(r) => Slot::Done(Err(r)),
        };
        (slot, true, new_key)
    }

    fn resolve(
        &self,
        staged: Staged,
        new_key: &mut Option<(DeviceId, Option<PublicKey>)>,
    ) -> core::result::Result<Resolved, Rejection> {
        let (device, record) = match staged.claimed {
            Claimed::Device(d) => (d, found(self.registry.device(&d))?),
            Claimed::Hint(hint, key_type) => {
                // one lookup where the registry can (frames name their key by hint)
                let (d, record) = found(self.registry.device_by_hint(&hint))?;
                if d.key_type() != key_type {
                    return Err(Rejection::KeyMismatch);
                }
                (d, record)
            }
        };
        match record.status {
            DeviceStatus::Active => {}
            DeviceStatus::Inactive => return Err(Rejection::InactiveDevice),
            DeviceStatus::Revoked => return Err(Rejection::RevokedDevice),
        }
        if !record.allowed.contains(staged.kind) {
            return Err(Rejection::KindNotAllowed);
        }
        if self.deny.key_denied(&device) {
            return Err(Rejection::DeniedKey);
        }
        let key = match self.keys.get(&device) {
            Some(CachedKey::Valid(i)) => {
                if self.keys.at(i).key_type() != staged.signature.key_type() {
                    return Err(Rejection::KeyMismatch);
                }
                // a reference into the cache, not a copy of the 200-byte key
                return Ok(Resolved {
                    staged,
                    device,
                    record,
                    key: KeyRef::Cached(i),
                });
            }
            Some(CachedKey::Invalid) => None,
            None => {
                // Parsed once per device and cached after the batch. The strict parse
                // (canonical, small-order and torsion checks: a scalar multiplication) is
                // the expensive part; a registry that validated the key at registration
                // says so, and only the decompression is left.
                let k = if record.key_checked {
                    device.public_key_prechecked().ok()
                } else {
                    device.public_key().ok()
                };
                *new_key = Some((device, k));
                k
            }
        };
        let key = key.ok_or(Rejection::InvalidKey)?;
        if key.key_type() != staged.signature.key_type() {
            return Err(Rejection::KeyMismatch);
        }
        Ok(Resolved {
            staged,
            device,
            record,
            key: KeyRef::New(key),
        })
    }
}

fn found<T>(lookup: Lookup<T>) -> core::result::Result<T, Rejection> {
    match lookup {
        Lookup::Found(v) => Ok(v),
        Lookup::Unknown => Err(Rejection::UnknownDevice),
        Lookup::Unavailable => Err(Rejection::RegistryUnavailable),
    }
}

/// The verifier: registry `R`, replay store `S`, the registered kinds and the policies with
/// their state.
pub struct Verifier<R, S> {
    config: VerifierConfig,
    registry: R,
    replay: S,
    keys: crate::table::KeyCache,
    deny: DenyState,
    kinds: KindTable,
    policies: Vec<Box<dyn Policy>>,
    last_epoch: Option<Epoch>,
    reports: BTreeMap<Epoch, EpochReport>,
    counters: Counters,
}

impl<R: std::fmt::Debug, S: std::fmt::Debug> std::fmt::Debug for Verifier<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("replay", &self.replay)
            .field("kinds", &self.kinds())
            .field("policies", &self.policy_versions())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<R: Registry, S: ReplayStore> Verifier<R, S> {
    /// A verifier over `registry` and `replay` with the built-in kinds and policies
    /// (`VerifierBuilder::new(config).build(registry, replay)`; see [`VerifierBuilder::build`]
    /// for the errors).
    pub fn new(config: VerifierConfig, registry: R, replay: S) -> Result<Self> {
        VerifierBuilder::new(config).build(registry, replay)
    }

    /// A builder (the built-in kinds and policies, then a network's own).
    pub fn builder(config: VerifierConfig) -> VerifierBuilder {
        VerifierBuilder::new(config)
    }
}

impl<R, S> Verifier<R, S> {
    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The registry.
    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The registry, mutably (to register devices in an embedded registry).
    pub fn registry_mut(&mut self) -> &mut R {
        &mut self.registry
    }

    /// The replay store.
    pub fn replay_store(&self) -> &S {
        &self.replay
    }

    /// Work counters since creation.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The registered kinds, in registration order.
    pub fn kinds(&self) -> Vec<KindInfo> {
        self.kinds
            .entries
            .iter()
            .map(|e| KindInfo {
                kind: e.kind,
                name: e.name,
                topic: e.topic,
                frame_kind: e.spec.frame_kind(),
            })
            .collect()
    }

    /// The registered name of `kind`.
    pub fn kind_label(&self, kind: AttestationKind) -> Option<Label> {
        self.kinds
            .find(kind)
            .map(|i| self.kinds.entries[usize::from(i)].name)
    }

    /// The gossip topics of the registered kinds (each once, in registration order), with
    /// the frame topic ([`crate::kind::FRAME_TOPIC`]) first if any kind travels in frames.
    pub fn topics(&self) -> Vec<Label> {
        let mut out: Vec<Label> = Vec::new();
        if self.kinds.raw.is_some() || self.kinds.frames.iter().any(Option::is_some) {
            out.push(crate::kind::FRAME_TOPIC);
        }
        for e in &self.kinds.entries {
            if !out.contains(&e.topic) {
                out.push(e.topic);
            }
        }
        out
    }

    /// The kinds that travel on `topic`.
    pub fn topic_kinds(&self, topic: Label) -> KindSet {
        self.kinds
            .entries
            .iter()
            .filter(|e| e.topic == topic)
            .fold(KindSet::NONE, |s, e| s.try_with(e.kind).unwrap_or(s))
    }

    /// Whether `topic` carries frames: the frame topic ([`crate::kind::FRAME_TOPIC`]), if
    /// any registered kind travels in frames. Every other topic carries envelopes.
    pub fn topic_carries_frames(&self, topic: Label) -> bool {
        topic == crate::kind::FRAME_TOPIC
            && (self.kinds.raw.is_some() || self.kinds.frames.iter().any(Option::is_some))
    }

    /// What the verifier's state costs in memory: the key cache, the replay store (if it
    /// reports it) and the policies that report theirs. The registry is not included (it is
    /// the application's).
    pub fn memory(&self) -> MemoryUse
    where
        S: ReplayStore,
    {
        let reported: Vec<usize> = self
            .policies
            .iter()
            .filter_map(|p| p.memory_bytes())
            .collect();
        MemoryUse {
            devices: self.keys.len(),
            key_cache: self.keys.memory_bytes(),
            replay: self.replay.memory_bytes(),
            policies: reported.iter().sum(),
            policies_reporting: reported.len(),
        }
    }

    /// `(name, version)` of every policy, in the order they run.
    pub fn policy_versions(&self) -> Vec<(Label, u32)> {
        self.policies
            .iter()
            .map(|p| (p.name(), p.version()))
            .collect()
    }

    /// The first policy of type `P` (a built-in one such as [`CoverageRules`], or a
    /// network's own), to read its state.
    pub fn policy<P: Policy>(&self) -> Option<&P> {
        self.policies.iter().find_map(|p| {
            let any: &dyn Any = p.as_ref();
            any.downcast_ref::<P>()
        })
    }

    /// The first policy of type `P`, mutably (to feed it network-issued values: challenges,
    /// entropy, routes).
    pub fn policy_mut<P: Policy>(&mut self) -> Option<&mut P> {
        self.policies.iter_mut().find_map(|p| {
            let any: &mut dyn Any = p.as_mut();
            any.downcast_mut::<P>()
        })
    }

    /// The report of `epoch`, if anything was processed in it.
    pub fn report(&self, epoch: Epoch) -> Option<&EpochReport> {
        self.reports.get(&epoch)
    }

    /// Remove and return the report of `epoch` (e.g. once it is published).
    pub fn take_report(&mut self, epoch: Epoch) -> Option<EpochReport> {
        self.reports.remove(&epoch)
    }

    /// The active deny list version.
    pub fn deny_list_version(&self) -> Option<u64> {
        self.deny.version
    }

    /// The active deny list.
    pub fn deny_state(&self) -> &DenyState {
        &self.deny
    }

    /// Record that an item of `kind` accepted in `epoch` was rejected later for `reason`
    /// (decisions a policy can only make at the end of a round or epoch, like witness
    /// selection): the epoch's report moves it from accepted to rejected, and the counters
    /// follow. [`Verifier::finalize_coverage`] uses this for witnesses.
    pub fn reject_after_acceptance(
        &mut self,
        epoch: Epoch,
        kind: AttestationKind,
        reason: Rejection,
    ) {
        let mut report = match self.reports.remove(&epoch) {
            Some(r) => r,
            None => self.new_report(epoch),
        };
        report.demote(kind, reason);
        self.reports.insert(epoch, report);
        self.counters.accepted = self.counters.accepted.saturating_sub(1);
        self.counters.rejected += 1;
    }

    fn new_report(&self, epoch: Epoch) -> EpochReport {
        let mut report = EpochReport::new(epoch);
        report.kind_names = self
            .kinds
            .entries
            .iter()
            .map(|e| (e.kind, e.name))
            .collect();
        report.policies = self.policy_versions().into_iter().collect();
        report
    }

    /// Add Helium-style beacon entropy to the coverage policy ([`CoverageRules::add_entropy`]).
    /// [`Error::Config`] if the window ends before it starts or no coverage policy runs.
    pub fn set_beacon_entropy(&mut self, entropy: BeaconEntropy) -> Result<()> {
        if entropy.valid_until < entropy.valid_from {
            return Err(Error::Config("beacon entropy window ends before it starts"));
        }
        self.policy_mut::<CoverageRules>()
            .ok_or(Error::Config("no coverage policy"))?
            .add_entropy(entropy);
        Ok(())
    }

    /// Add a network-issued speed-test challenge to the bandwidth policy
    /// ([`BandwidthRules::add_challenge`]). [`Error::Config`] if the window ends before it
    /// starts or no bandwidth policy runs.
    pub fn set_bandwidth_challenge(&mut self, challenge: BandwidthChallenge) -> Result<()> {
        if challenge.valid_until < challenge.valid_from {
            return Err(Error::Config(
                "bandwidth challenge window ends before it starts",
            ));
        }
        self.policy_mut::<BandwidthRules>()
            .ok_or(Error::Config("no bandwidth policy"))?
            .add_challenge(challenge);
        Ok(())
    }

    /// Open the storage challenge of `epoch` with its public `randomness`
    /// ([`StorageRules::set_challenge`]). Proofs for earlier epochs become stale.
    pub fn set_storage_challenge(&mut self, epoch: Epoch, randomness: [u8; 32]) -> Result<()> {
        self.policy_mut::<StorageRules>()
            .ok_or(Error::Config("no storage policy"))?
            .set_challenge(epoch, randomness)
    }

    /// Take the storage policy's challenges from `beacon` ([`StorageRules::set_beacon`]).
    /// [`Error::Config`] if no storage policy runs.
    pub fn set_storage_beacon(&mut self, beacon: crate::storage::ChallengeBeacon) -> Result<()> {
        self.policy_mut::<StorageRules>()
            .ok_or(Error::Config("no storage policy"))?
            .set_beacon(beacon);
        Ok(())
    }

    /// Decide on every pending witness ([`CoverageRules::finalize`]) and move the witnesses
    /// rejected there into the reports of the epochs they were accepted in. An empty
    /// outcome if no coverage policy runs, or if it selects at close
    /// ([`crate::CoveragePolicy::select_at_close`]: the oracle's closer decides, from its
    /// store).
    pub fn finalize_coverage(&mut self) -> CoverageOutcome {
        let deny = &self.deny;
        let Some(rules) = self.policies.iter_mut().find_map(|p| {
            let any: &mut dyn Any = p.as_mut();
            any.downcast_mut::<CoverageRules>()
        }) else {
            return CoverageOutcome::default();
        };
        if rules.params().select_at_close {
            return CoverageOutcome::default();
        }
        let (outcome, rejected) = rules.finalize(deny);
        for (rej, ep) in rejected {
            self.reject_after_acceptance(ep, AttestationKind::COVERAGE_WITNESS, rej.reason);
        }
        outcome
    }
}

impl<R: Registry, S: ReplayStore> Verifier<R, S> {
    /// Replace the deny list with a signed list from the configured authority; its
    /// version must be strictly greater than the current one. The signed list is written
    /// durably to the store ([`ReplayStore::store_deny_list`]) before it takes effect, so
    /// after a restart the same list is active and an older one is still refused.
    pub fn update_deny_list(&mut self, signed: &[u8]) -> Result<u64> {
        let authority = self
            .config
            .deny_authority
            .ok_or(Error::Config("no deny-list authority configured"))?;
        let key = authority.public_key()?;
        let list: DenyList = DenyList::verify_signed(signed, &self.config.domain, &key)?;
        let version = list.version;
        // checked before the list is stored, so a refused list is never persisted
        self.deny.check_newer(version)?;
        self.replay.store_deny_list(signed)?;
        self.deny.replace(list)?;
        Ok(version)
    }

    /// Verify one item.
    pub fn verify_one(&mut self, input: Input<'_>, now: Timestamp) -> Verdict {
        self.verify_batch(&[input], now)
            .pop()
            .unwrap_or(Err(Rejection::Malformed))
    }

    /// Verify a batch; one verdict per input, in order. `now` is the processing time:
    /// it drives freshness, witness arrival order and the report epoch.
    ///
    /// If the replay store cannot make the batch durable, every item whose signature
    /// verified is refused with [`Rejection::ReplayStoreUnavailable`] (nothing is
    /// accepted, nothing is consumed); [`Verifier::try_verify_batch`] reports that as an
    /// error for the whole batch instead. A `now` before the schedule's genesis refuses
    /// every item with [`Rejection::BeforeGenesis`].
    pub fn verify_batch(&mut self, inputs: &[Input<'_>], now: Timestamp) -> Vec<Verdict> {
        match self.run_batch(inputs, now) {
            Ok(verdicts) => verdicts,
            Err((verdicts, _)) => verdicts,
        }
    }

    /// Like [`Verifier::verify_batch`], but a replay-store failure is an error for the
    /// batch: `Err` means no item of the batch was accepted and no replay window or policy
    /// item state changed (the counters, rejection counts and key cache did, and a batch in
    /// a new epoch has started it for the policies: [`Policy::begin_epoch`]); the batch may
    /// be retried once the store works.
    pub fn try_verify_batch(
        &mut self,
        inputs: &[Input<'_>],
        now: Timestamp,
    ) -> Result<Vec<Verdict>> {
        self.run_batch(inputs, now).map_err(|(_, e)| e)
    }

    /// Replay items whose signatures an oracle already verified, to rebuild the replay
    /// windows and every policy's state after a restart (see [`crate::store`]): each item
    /// is decoded and checked for freshness against `now` as before, its device's record
    /// is read from the registry whatever its status (a device revoked since still had its
    /// item accepted then), and the item must name that device; no signature is checked.
    /// Then the replay window and the policies run exactly as in
    /// [`Verifier::verify_batch`]. Replaying an oracle's batches in commit order with their
    /// `now` gives the verdicts they had, as long as the registry still holds the devices
    /// with the same records and the policies are the same versions; a caller compares
    /// and counts the items whose verdict differs.
    ///
    /// Counters and epoch reports are not changed. Fails only if the replay store cannot
    /// make the windows durable.
    pub fn replay_batch(
        &mut self,
        items: &[(Input<'_>, DeviceId)],
        now: Timestamp,
    ) -> Result<Vec<Verdict>> {
        let Ok(epoch) = self.config.schedule.epoch_of(now) else {
            return Ok(vec![Err(Rejection::BeforeGenesis); items.len()]);
        };
        if self.last_epoch.is_none_or(|e| epoch > e) {
            self.last_epoch = Some(epoch);
            for p in &mut self.policies {
                p.begin_epoch(epoch);
            }
        }
        let mut staged = Vec::with_capacity(items.len());
        let mut consumed = false;
        for (input, device) in items {
            staged.push(
                self.replay_stage(input, device, now)
                    .and_then(|(staged, record)| {
                        let rkey = ReplayKey {
                            device: *device,
                            stream: staged.stream,
                        };
                        match self.replay.check_and_update(&rkey, staged.seq) {
                            Ok(true) => {
                                consumed = true;
                                Ok((staged, record))
                            }
                            Ok(false) => Err(Rejection::Replayed),
                            Err(_) => Err(Rejection::ReplayStoreUnavailable),
                        }
                    }),
            );
        }
        if consumed {
            if let Err(e) = self.replay.flush() {
                self.replay.rollback();
                return Err(e);
            }
        }
        Ok(items
            .iter()
            .zip(staged)
            .map(|((_, device), s)| {
                let (staged, record) = s?;
                self.apply(staged, *device, record, now, epoch)
            })
            .collect())
    }

    fn replay_stage(
        &self,
        input: &Input<'_>,
        device: &DeviceId,
        now: Timestamp,
    ) -> core::result::Result<(Staged, DeviceRecord), Rejection> {
        let staged = stage1(&self.config, &self.kinds, input, now)?;
        let named = match staged.claimed {
            Claimed::Device(d) => d == *device,
            Claimed::Hint(hint, key_type) => {
                device.key_hint() == hint && device.key_type() == key_type
            }
        };
        if !named {
            return Err(Rejection::KeyMismatch);
        }
        let record = found(self.registry.device(device))?;
        Ok((staged, record))
    }

    /// What an item says about itself, decoded as [`Verifier::verify_batch`] would at
    /// `now`, with its signer looked up in the registry: `None` if it does not decode, is
    /// not fresh at `now` or names no registered device. Nothing is verified: use it to
    /// attribute a refused item (for logs and explanations), never to trust one.
    pub fn describe(&self, input: Input<'_>, now: Timestamp) -> Option<ItemInfo> {
        let staged = stage1(&self.config, &self.kinds, &input, now).ok()?;
        let device = match staged.claimed {
            Claimed::Device(d) => {
                found(self.registry.device(&d)).ok()?;
                d
            }
            Claimed::Hint(hint, key_type) => {
                let (d, _) = found(self.registry.device_by_hint(&hint)).ok()?;
                if d.key_type() != key_type {
                    return None;
                }
                d
            }
        };
        Some(ItemInfo {
            device,
            kind: staged.kind,
            seq: staged.seq,
            timestamp: staged.timestamp,
            digest: staged.digest,
        })
    }

    fn run_batch(
        &mut self,
        inputs: &[Input<'_>],
        now: Timestamp,
    ) -> core::result::Result<Vec<Verdict>, (Vec<Verdict>, Error)> {
        self.counters.received += inputs.len() as u64;
        let Ok(epoch) = self.config.schedule.epoch_of(now) else {
            self.counters.rejected += inputs.len() as u64;
            return Ok(vec![Err(Rejection::BeforeGenesis); inputs.len()]);
        };
        if self.last_epoch.is_none_or(|e| epoch > e) {
            self.last_epoch = Some(epoch);
            for p in &mut self.policies {
                p.begin_epoch(epoch);
            }
        }

        // Stages 1 and 2: size, decoding, structure, signature encoding, freshness;
        // then registry, deny list and keys (read-only, so they run in parallel too).
        let prepared = self.prepare(inputs, now);
        let mut slots: Vec<Slot> = Vec::with_capacity(prepared.len());
        for (slot, decoded, new_key) in prepared {
            self.counters.decoded += u64::from(decoded);
            if let Some((device, key)) = new_key {
                self.keys.insert(device, key);
            }
            slots.push(slot);
        }

        // Stage 3: signatures.
        let (idx, ok) = {
            let (idx, items): (Vec<usize>, Vec<BatchItem<'_>>) = slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    Slot::Resolved(r) => Some((
                        i,
                        BatchItem {
                            key: match &r.key {
                                KeyRef::Cached(k) => self.keys.at(*k),
                                KeyRef::New(k) => k,
                            },
                            digest: &r.staged.digest,
                            signature: &r.staged.signature,
                        },
                    )),
                    Slot::Done(_) => None,
                })
                .unzip();
            self.counters.signatures_checked += items.len() as u64;
            (idx, self.verify_signatures(&items))
        };

        // Stage 4a: replay windows, in input order.
        let mut sig_ok = vec![false; slots.len()];
        for (&i, good) in idx.iter().zip(ok) {
            sig_ok[i] = good;
        }
        // boxed, as in the slots: moving the resolved items by value costs more than the
        // replay checks themselves on large batches
        let windows: Vec<(ReplayKey, u64)> = slots
            .iter()
            .zip(&sig_ok)
            .filter_map(|(slot, &good)| match slot {
                Slot::Resolved(r) if good => Some((
                    ReplayKey {
                        device: r.device,
                        stream: r.staged.stream,
                    },
                    r.staged.seq,
                )),
                _ => None,
            })
            .collect();
        // one call for the batch, in input order: a store may find the windows in parallel
        let mut checked = self.replay.check_and_update_batch(&windows).into_iter();
        let mut staged: Vec<core::result::Result<Box<Resolved>, Verdict>> =
            Vec::with_capacity(slots.len());
        let mut consumed = false;
        for (slot, good) in slots.into_iter().zip(sig_ok) {
            staged.push(match slot {
                Slot::Done(v) => Err(v),
                Slot::Resolved(_) if !good => Err(Err(Rejection::BadSignature)),
                // a store that returned fewer results than items is unavailable for the rest
                Slot::Resolved(r) => match checked.next() {
                    Some(Ok(true)) => {
                        consumed = true;
                        Ok(r)
                    }
                    Some(Ok(false)) => Err(Err(Rejection::Replayed)),
                    Some(Err(_)) | None => Err(Err(Rejection::ReplayStoreUnavailable)),
                },
            });
        }
        // Stage 4b: the windows are durable before anything is accepted.
        let store_error = if consumed {
            self.replay.flush().err()
        } else {
            None
        };
        if store_error.is_some() {
            self.replay.rollback();
        }

        // Stage 4c: policies, in input order.
        let mut verdicts = Vec::with_capacity(staged.len());
        let mut report = match self.reports.remove(&epoch) {
            Some(r) => r,
            None => self.new_report(epoch),
        };
        for item in staged {
            let verdict = match item {
                Err(v) => v,
                Ok(_) if store_error.is_some() => Err(Rejection::ReplayStoreUnavailable),
                Ok(r) => {
                    let r = *r;
                    self.apply(r.staged, r.device, r.record, now, epoch)
                }
            };
            match &verdict {
                Ok(a) => {
                    report.accept(a.kind);
                    self.counters.accepted += 1;
                }
                Err(reason) => {
                    report.reject(*reason);
                    self.counters.rejected += 1;
                }
            }
            verdicts.push(verdict);
        }
        self.reports.insert(epoch, report);
        match store_error {
            None => Ok(verdicts),
            Some(e) => Err((verdicts, e)),
        }
    }

    fn prepare(&self, inputs: &[Input<'_>], now: Timestamp) -> Vec<Prepared> {
        let ctx = Ctx {
            config: &self.config,
            kinds: &self.kinds,
            registry: &self.registry,
            keys: &self.keys,
            deny: &self.deny,
        };
        let f = |input: &Input<'_>| ctx.prepare(input, now);
        #[cfg(feature = "parallel")]
        if inputs.len() >= self.config.parallel_threshold {
            use rayon::prelude::*;
            return inputs.par_iter().map(f).collect();
        }
        inputs.iter().map(f).collect()
    }

    fn verify_signatures(&self, items: &[BatchItem<'_>]) -> Vec<bool> {
        #[cfg(feature = "parallel")]
        if items.len() >= self.config.parallel_threshold {
            use rayon::prelude::*;
            let threads = rayon::current_num_threads().max(1);
            let chunk = items.len().div_ceil(threads).max(64);
            let parts: Vec<Vec<bool>> = items.par_chunks(chunk).map(verify_batch).collect();
            return parts.concat();
        }
        verify_batch(items)
    }

    fn apply(
        &mut self,
        staged: Staged,
        device: DeviceId,
        record: DeviceRecord,
        now: Timestamp,
        epoch: Epoch,
    ) -> Verdict {
        let entry = &self.kinds.entries[usize::from(staged.kind_idx)];
        let item = Item {
            device: &device,
            record: &record,
            kind: staged.kind,
            seq: staged.seq,
            timestamp: staged.timestamp,
            now,
            epoch,
            digest: &staged.digest,
            payload: &staged.payload,
            frame_kind: staged.frame_kind,
        };
        for &p in &entry.policies {
            self.policies[p].check(&item)?;
        }
        let mut outcome = match staged.frame_kind {
            Some(report_kind) => Outcome::Report { report_kind },
            None => Outcome::Accepted,
        };
        for &p in &entry.policies {
            self.policies[p].apply(&item, &mut outcome)?;
        }
        Ok(Accepted {
            device,
            kind: staged.kind,
            seq: staged.seq,
            timestamp: staged.timestamp,
            outcome,
            digest: staged.digest,
            trust: record.trust,
            payload: staged.payload,
        })
    }
}

fn check_fresh(
    config: &VerifierConfig,
    at: Timestamp,
    now: Timestamp,
) -> core::result::Result<(), Rejection> {
    if at < config.schedule.genesis() {
        return Err(Rejection::BeforeGenesis);
    }
    if at.0.saturating_add(config.max_age_ms) < now.0 {
        return Err(Rejection::Stale);
    }
    if at.0 > now.0.saturating_add(config.max_future_ms) {
        return Err(Rejection::FromFuture);
    }
    Ok(())
}

/// Stage 1: size, decoding, kind, structure, signature encoding, freshness. No keys, no
/// state.
fn stage1(
    config: &VerifierConfig,
    kinds: &KindTable,
    input: &Input<'_>,
    now: Timestamp,
) -> core::result::Result<Staged, Rejection> {
    match *input {
        Input::Frame(bytes) => {
            let frame = Frame::parse(bytes).map_err(|e| Rejection::from_core(&e))?;
            let signature = frame
                .signature()
                .map_err(|_| Rejection::SignatureEncoding)?;
            let h = frame.header;
            let kind_idx = kinds.for_frame(h.kind).ok_or(Rejection::UnknownKind)?;
            let entry = &kinds.entries[usize::from(kind_idx)];
            if frame.payload.len() > entry.spec.max_len() {
                return Err(Rejection::TooLarge);
            }
            let payload = decode_guarded(entry.spec.as_ref(), frame.payload)?;
            check_fresh(config, h.timestamp, now)?;
            Ok(Staged {
                kind_idx,
                kind: entry.kind,
                claimed: Claimed::Hint(h.key_hint, h.key_type),
                seq: u64::from(h.seq),
                stream: Stream::Frame,
                timestamp: h.timestamp,
                digest: frame.digest(&config.domain),
                signature,
                payload,
                frame_kind: Some(h.kind),
            })
        }
        Input::Envelope(bytes) => stage1_envelope(config, kinds, bytes, KindSet::ALL, now),
        Input::EnvelopeOf(bytes, allowed) => stage1_envelope(config, kinds, bytes, allowed, now),
    }
}

/// A kind's decoder on untrusted bytes: a decoder that panics (a network-defined one with a
/// bug) refuses the item as [`Rejection::Malformed`] instead of taking the verifier, or the
/// gossip validator that shares it, down.
fn decode_guarded(kind: &dyn Kind, payload: &[u8]) -> core::result::Result<Payload, Rejection> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.decode(payload)))
        .unwrap_or(Err(Rejection::Malformed))
}

/// Stage 1 of an envelope whose kind must be in `allowed`.
fn stage1_envelope(
    config: &VerifierConfig,
    kinds: &KindTable,
    bytes: &[u8],
    allowed: KindSet,
    now: Timestamp,
) -> core::result::Result<Staged, Rejection> {
    let (body, signed, sig) = decode_parts(bytes, config.max_envelope_len)?;
    let kind = body.kind;
    let kind_idx = kinds.find(kind).ok_or(Rejection::UnknownKind)?;
    // raw reports travel in frames only
    if kind == AttestationKind::DEVICE_REPORT {
        return Err(Rejection::UnknownKind);
    }
    if !allowed.contains(kind) {
        return Err(Rejection::WrongTopic);
    }
    let entry = &kinds.entries[usize::from(kind_idx)];
    if body.payload.len() > entry.spec.max_len() {
        return Err(Rejection::TooLarge);
    }
    let payload = decode_guarded(entry.spec.as_ref(), &body.payload)?;
    let signature = Signature::from_bytes(body.signer.key_type(), &sig)
        .map_err(|_| Rejection::SignatureEncoding)?;
    check_fresh(config, body.timestamp, now)?;
    Ok(Staged {
        kind_idx,
        kind,
        claimed: Claimed::Device(body.signer),
        seq: body.seq,
        stream: Stream::Envelope,
        timestamp: body.timestamp,
        digest: config.domain.digest(MessageKind(kind.0), signed),
        signature,
        payload,
        frame_kind: None,
    })
}
