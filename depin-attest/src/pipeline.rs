//! The verification pipeline.
//!
//! Stages, cheapest first; an item leaves at the first failure with a named
//! [`Rejection`]:
//!
//! 1. **Size and decoding** (stateless, parallel): size limit before any parsing; frames
//!    with [`Frame::parse`], envelopes with a strict canonical decode; structural
//!    checks; strict signature encoding; freshness window against `now`.
//! 2. **Registry and keys** (read-only state): device known, active, not revoked,
//!    allowed this kind, key type and hint match, key not deny-listed, public key parsed
//!    strictly (once per device, then cached).
//! 3. **Signatures** (parallel): [`depin_core::batch::verify_batch`], Ed25519 batched
//!    with bad-item isolation, ECDSA one by one.
//! 4. **State** (sequential, in input order): the anti-replay window of every item whose
//!    signature verified, then one [`ReplayStore::flush`] that makes those windows durable,
//!    then the kind's policies. A verified sequence number is consumed even if a policy
//!    then rejects the item. If the flush fails, the store forgets the batch's updates
//!    ([`ReplayStore::rollback`]), every item that needed them is refused with
//!    [`Rejection::ReplayStoreUnavailable`] and no policy state changes: `Accepted`
//!    always means the replay state that forbids its repetition is durable.
//!
//! Stages 1 to 3 run across cores with the `parallel` feature for large batches; their
//! results are per item, so the verdicts are identical to the sequential path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use depin_core::batch::{verify_batch, BatchItem};
use depin_core::frame::Frame;
use depin_core::{DeviceId, Domain, Epoch, EpochSchedule, PublicKey, Signature, Timestamp};
use serde::{Deserialize, Serialize};

use crate::bandwidth::SpeedTier;
use crate::bandwidth::{BandwidthChallenge, BandwidthState};
use crate::coverage::{
    check_location, check_witness, find_rings, BeaconEntropy, BeaconResult, CoverageOutcome,
    CoverageState, PendingBeacon, PendingWitness, RingAction, WitnessRejection,
};
use crate::deny::{DenyList, DenyState};
use crate::energy::EnergyState;
use crate::envelope::{decode_parts, DEFAULT_MAX_ENVELOPE_LEN};
use crate::error::{Error, Result};
use crate::policy::Policies;
use crate::reason::{EpochReport, Rejection};
use crate::registry::{DeviceRecord, DeviceStatus, KindSet, Registry};
use crate::replay::{ReplayKey, ReplayStore, Stream};
use crate::storage::verify_proof;
use crate::types::{Attestation, AttestationKind, StorageCommitment};

/// One item to verify: raw bytes and which wire format they are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A depin-core report frame.
    Frame(&'a [u8]),
    /// A signed [`crate::Envelope`].
    Envelope(&'a [u8]),
    /// A signed [`crate::Envelope`] that may only carry the kinds in the set, e.g. the kinds
    /// of the gossip topic it arrived on. Any other kind is rejected with
    /// [`Rejection::WrongTopic`] at decoding, before keys, signatures, replay windows or
    /// reports are touched, so a copy on the wrong topic cannot use up the sequence number
    /// of the real one.
    EnvelopeOf(&'a [u8], KindSet),
}

/// What an accepted item produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Outcome {
    /// A device report frame; the application decodes the payload.
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
}

/// An accepted item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

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
    /// Policies.
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
    kind: AttestationKind,
    claimed: Claimed,
    seq: u64,
    stream: Stream,
    timestamp: Timestamp,
    digest: [u8; 32],
    signature: Signature,
    body: Option<Attestation>,
    report_kind: u8,
}

/// An item after stage 2.
struct Resolved {
    staged: Staged,
    device: DeviceId,
    record: DeviceRecord,
    key: PublicKey,
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
    registry: &'v R,
    keys: &'v HashMap<DeviceId, Option<PublicKey>>,
    deny: &'v DenyState,
}

impl<R: Registry> Ctx<'_, R> {
    fn prepare(&self, input: &Input<'_>, now: Timestamp) -> Prepared {
        let staged = match stage1(self.config, input, now) {
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
        let device = match staged.claimed {
            Claimed::Device(d) => d,
            Claimed::Hint(hint, key_type) => {
                let d = self
                    .registry
                    .resolve_hint(&hint)
                    .ok_or(Rejection::UnknownDevice)?;
                if d.key_type() != key_type {
                    return Err(Rejection::KeyMismatch);
                }
                d
            }
        };
        let record = self
            .registry
            .device(&device)
            .ok_or(Rejection::UnknownDevice)?;
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
            Some(k) => *k,
            None => {
                // Parsed once per device: the strict parse (weak-key and canonical checks)
                // is the expensive part; the verifier caches the result after the batch.
                let k = device.public_key().ok();
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
            key,
        })
    }
}

/// The verifier: registry `R`, replay store `S`, and the state of the policies.
#[derive(Debug, Clone)]
pub struct Verifier<R, S> {
    config: VerifierConfig,
    registry: R,
    replay: S,
    keys: HashMap<DeviceId, Option<PublicKey>>,
    deny: DenyState,
    coverage: CoverageState,
    energy: EnergyState,
    bandwidth: BandwidthState,
    /// Each commitment with the storage challenge epoch open when it was recorded.
    commitments: HashMap<(DeviceId, [u8; 32]), (StorageCommitment, Option<Epoch>)>,
    commitments_of: HashMap<DeviceId, usize>,
    root_owner: HashMap<[u8; 32], DeviceId>,
    proven: HashSet<(DeviceId, [u8; 32])>,
    challenge: Option<(Epoch, [u8; 32])>,
    reports: BTreeMap<Epoch, EpochReport>,
    counters: Counters,
}

impl<R: Registry, S: ReplayStore> Verifier<R, S> {
    /// A verifier over `registry` and `replay`. Policy state starts empty; the deny list is
    /// restored from the store ([`ReplayStore::load_deny_list`]) and checked against the
    /// configured authority, so a restart can neither forget a denied key nor be rolled
    /// back to an older list.
    ///
    /// Errors: [`Error::Config`] for an invalid configuration, [`Error::DenyList`] if the
    /// stored list does not verify (or one is stored but no authority is configured), or
    /// the store's error.
    pub fn new(config: VerifierConfig, registry: R, mut replay: S) -> Result<Self> {
        if config.max_envelope_len < depin_core::SIGNATURE_LEN {
            return Err(Error::Config("max_envelope_len below the signature length"));
        }
        if config.policies.coverage.distance_resolution > 15 {
            return Err(Error::Config("H3 resolution above 15"));
        }
        if !(1..=crate::types::MAX_CHALLENGES).contains(&config.policies.storage.challenges) {
            return Err(Error::Config("storage challenges out of range"));
        }
        config.policies.energy.validate().map_err(Error::Config)?;
        config
            .policies
            .bandwidth
            .validate()
            .map_err(Error::Config)?;
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
            keys: HashMap::new(),
            deny,
            coverage: CoverageState::default(),
            energy: EnergyState::default(),
            bandwidth: BandwidthState::default(),
            commitments: HashMap::new(),
            commitments_of: HashMap::new(),
            root_owner: HashMap::new(),
            proven: HashSet::new(),
            challenge: None,
            reports: BTreeMap::new(),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The registry.
    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The replay store.
    pub fn replay_store(&self) -> &S {
        &self.replay
    }

    /// Work counters since creation.
    pub fn counters(&self) -> Counters {
        self.counters
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

    /// Add Helium-style beacon entropy (see
    /// [`crate::coverage::CoveragePolicy::require_entropy`]); at most
    /// [`crate::coverage::MAX_ENTROPIES`] are kept, the oldest dropped first.
    pub fn set_beacon_entropy(&mut self, entropy: BeaconEntropy) -> Result<()> {
        if entropy.valid_until < entropy.valid_from {
            return Err(Error::Config("beacon entropy window ends before it starts"));
        }
        self.coverage.add_entropy(entropy);
        Ok(())
    }

    /// Add a network-issued speed-test challenge (see
    /// [`crate::BandwidthPolicy::require_challenge`]); at most
    /// [`crate::bandwidth::MAX_CHALLENGES`] are kept, the oldest dropped first.
    pub fn set_bandwidth_challenge(&mut self, challenge: BandwidthChallenge) -> Result<()> {
        if challenge.valid_until < challenge.valid_from {
            return Err(Error::Config(
                "bandwidth challenge window ends before it starts",
            ));
        }
        self.bandwidth.add_challenge(challenge);
        Ok(())
    }

    /// Open the storage challenge of `epoch` with its public `randomness`. Proofs for
    /// earlier epochs become stale.
    pub fn set_storage_challenge(&mut self, epoch: Epoch, randomness: [u8; 32]) -> Result<()> {
        if self.challenge.is_some_and(|(e, _)| epoch <= e) {
            return Err(Error::Config("storage challenge epochs must increase"));
        }
        self.challenge = Some((epoch, randomness));
        // proofs of earlier challenges are stale from now on: their dedup entries can go
        self.proven.clear();
        Ok(())
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
    /// batch: `Err` means no item of the batch was accepted and no state changed but the
    /// counters and rejection counts; the batch may be retried once the store works.
    pub fn try_verify_batch(
        &mut self,
        inputs: &[Input<'_>],
        now: Timestamp,
    ) -> Result<Vec<Verdict>> {
        self.run_batch(inputs, now).map_err(|(_, e)| e)
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

        // Stages 1 and 2: size, decoding, structure, signature encoding, freshness;
        // then registry, deny list and keys (read-only, so they run in parallel too).
        let prepared = self.prepare(inputs, now);
        let mut slots: Vec<Slot> = Vec::with_capacity(prepared.len());
        for (slot, decoded, new_key) in prepared {
            self.counters.decoded += u64::from(decoded);
            if let Some((device, key)) = new_key {
                self.keys.entry(device).or_insert(key);
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
                            key: &r.key,
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
        let mut staged: Vec<core::result::Result<Box<Resolved>, Verdict>> =
            Vec::with_capacity(slots.len());
        let mut consumed = false;
        for (i, slot) in slots.into_iter().enumerate() {
            staged.push(match slot {
                Slot::Done(v) => Err(v),
                Slot::Resolved(_) if !sig_ok[i] => Err(Err(Rejection::BadSignature)),
                Slot::Resolved(r) => {
                    let rkey = ReplayKey {
                        device: r.device,
                        stream: r.staged.stream,
                    };
                    match self.replay.check_and_update(&rkey, r.staged.seq) {
                        Ok(true) => {
                            consumed = true;
                            Ok(r)
                        }
                        Ok(false) => Err(Err(Rejection::Replayed)),
                        Err(_) => Err(Err(Rejection::ReplayStoreUnavailable)),
                    }
                }
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
        let mut report = self
            .reports
            .remove(&epoch)
            .unwrap_or_else(|| EpochReport::new(epoch));
        for item in staged {
            let verdict = match item {
                Err(v) => v,
                Ok(_) if store_error.is_some() => Err(Rejection::ReplayStoreUnavailable),
                Ok(r) => self.apply(*r, now, epoch),
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

    fn apply(&mut self, r: Resolved, now: Timestamp, epoch: Epoch) -> Verdict {
        let Resolved {
            staged,
            device,
            record,
            ..
        } = r;
        let (kind, seq, timestamp) = (staged.kind, staged.seq, staged.timestamp);
        let outcome = self.policy(staged, device, record, now, epoch)?;
        Ok(Accepted {
            device,
            kind,
            seq,
            timestamp,
            outcome,
        })
    }

    fn policy(
        &mut self,
        staged: Staged,
        device: DeviceId,
        record: DeviceRecord,
        now: Timestamp,
        epoch: Epoch,
    ) -> core::result::Result<Outcome, Rejection> {
        let at = staged.timestamp;
        let policies = &self.config.policies;
        // the body moves into the coverage state: no copy of beacon or witness payloads
        let Some(body) = staged.body else {
            return Ok(Outcome::Report {
                report_kind: staged.report_kind,
            });
        };
        match body {
            Attestation::CoverageBeacon(b) => {
                self.coverage.beacon(
                    &policies.coverage,
                    PendingBeacon {
                        beaconer: device,
                        record,
                        at,
                        beacon: b,
                    },
                )?;
                Ok(Outcome::Recorded)
            }
            Attestation::CoverageWitness(w) => {
                check_location(&policies.coverage, &record, w.cell.0)?;
                let pending = self.coverage.pending_of.entry(device).or_insert(0);
                if *pending >= policies.coverage.max_pending_witnesses_per_device {
                    return Err(Rejection::TooManyWitnesses);
                }
                *pending += 1;
                self.coverage.witnesses.push(PendingWitness {
                    witness: device,
                    record,
                    at,
                    arrival: now,
                    digest: staged.digest,
                    report_epoch: epoch,
                    body: w,
                });
                Ok(Outcome::PendingSelection)
            }
            Attestation::StorageCommitment(c) => {
                if self.commitments.contains_key(&(device, c.root)) {
                    return Err(Rejection::DuplicateCommitment);
                }
                let held = self.commitments_of.get(&device).copied().unwrap_or(0);
                let bytes = u64::from(c.chunk_size).saturating_mul(c.chunk_count);
                if held >= policies.storage.max_commitments_per_device
                    || bytes > policies.storage.max_commitment_bytes
                {
                    return Err(Rejection::TooManyCommitments);
                }
                // a root belongs to the first device that proves it (leaves bind the
                // prover, so only one device can); committing someone else's root first
                // therefore locks nobody out
                if self
                    .root_owner
                    .get(&c.root)
                    .is_some_and(|owner| *owner != device)
                    && !policies.storage.allow_shared_roots
                {
                    return Err(Rejection::SharedCommitment);
                }
                let open_challenge = self.challenge.map(|(e, _)| e);
                self.commitments
                    .insert((device, c.root), (c, open_challenge));
                *self.commitments_of.entry(device).or_insert(0) += 1;
                Ok(Outcome::Recorded)
            }
            Attestation::StorageProof(p) => {
                let (commitment, committed_under) = self
                    .commitments
                    .get(&(device, p.root))
                    .ok_or(Rejection::UnknownCommitment)?;
                let (cur, randomness) = self.challenge.ok_or(Rejection::NoChallenge)?;
                // the commitment must predate the challenge it answers: one recorded while
                // that challenge (or a later one) was open could be built around it
                if committed_under.is_some_and(|e| e >= p.epoch) {
                    return Err(Rejection::CommitmentTooLate);
                }
                if p.epoch < cur {
                    return Err(Rejection::StaleChallenge);
                }
                if p.epoch > cur {
                    return Err(Rejection::NoChallenge);
                }
                if self.proven.contains(&(device, p.root)) {
                    return Err(Rejection::DuplicateProof);
                }
                verify_proof(
                    commitment,
                    &device,
                    &randomness,
                    policies.storage.challenges,
                    &p,
                )?;
                self.proven.insert((device, p.root));
                self.root_owner.entry(p.root).or_insert(device);
                Ok(Outcome::Proven {
                    root: p.root,
                    epoch: p.epoch,
                })
            }
            Attestation::EnergyReading(e) => self
                .energy
                .reading(&policies.energy, device, &record, at, &e)
                .map(|wh| Outcome::Energy { wh }),
            Attestation::ChargingSession(s) => self
                .energy
                .session(&policies.energy, device, &record, at, &s)
                .map(|wh| Outcome::Energy { wh }),
            Attestation::BandwidthTest(t) => self
                .bandwidth
                .test(&policies.bandwidth, device, at, &t)
                .map(Outcome::Tier),
        }
    }

    /// Decide on every pending witness: match it to its beacon, choose one per gateway,
    /// apply the coverage checks and the witness limit, then the collusion-ring policy
    /// over the kept edges. Rejections are moved into the epoch reports. Clears the
    /// pending beacons and witnesses (beacon intervals are remembered).
    pub fn finalize_coverage(&mut self) -> CoverageOutcome {
        let policy = &self.config.policies.coverage;
        let beacons = std::mem::take(&mut self.coverage.beacons);
        let witnesses = std::mem::take(&mut self.coverage.witnesses);
        self.coverage.pending_of.clear();
        let mut by_beacon: BTreeMap<[u8; 32], Vec<PendingWitness>> = BTreeMap::new();
        let mut rejected: Vec<(WitnessRejection, Epoch)> = Vec::new();
        for w in witnesses {
            // a witness names the beacon it heard by its id (which binds the beaconer), and
            // must echo that beacon's payload
            let id = w.body.beacon_id;
            if beacons
                .get(&id)
                .is_some_and(|b| b.beacon.payload == w.body.beacon_payload)
            {
                by_beacon.entry(id).or_default().push(w);
            } else {
                rejected.push((
                    WitnessRejection {
                        witness: w.witness,
                        beacon_id: id,
                        reason: Rejection::UnknownBeacon,
                    },
                    w.report_epoch,
                ));
            }
        }
        let mut results = Vec::new();
        // kept edges with the epoch they are reported under: (witness, beaconer)
        let mut kept: Vec<(DeviceId, DeviceId, [u8; 32], Epoch)> = Vec::new();
        for (id, b) in &beacons {
            let mut ws = by_beacon.remove(id).unwrap_or_default();
            ws.sort_by_key(|x| (x.arrival, x.digest));
            let mut seen = BTreeSet::new();
            let mut chosen = Vec::new();
            for w in ws {
                let verdict = if !seen.insert(w.witness) {
                    Err(Rejection::DuplicateWitness)
                } else if self.deny.key_denied(&w.witness) || self.deny.key_denied(&b.beaconer) {
                    // a key denied after ingest earns nothing in this round either
                    Err(Rejection::DeniedKey)
                } else {
                    check_witness(policy, &self.deny, b, &w).and(
                        if chosen.len() >= policy.max_witnesses {
                            Err(Rejection::WitnessLimit)
                        } else {
                            Ok(())
                        },
                    )
                };
                match verdict {
                    Ok(()) => {
                        chosen.push(w.witness);
                        kept.push((w.witness, b.beaconer, *id, w.report_epoch));
                    }
                    Err(reason) => rejected.push((
                        WitnessRejection {
                            witness: w.witness,
                            beacon_id: *id,
                            reason,
                        },
                        w.report_epoch,
                    )),
                }
            }
            results.push(BeaconResult {
                beacon_id: *id,
                beaconer: b.beaconer,
                witnesses: chosen,
            });
        }
        let edges: BTreeSet<(DeviceId, DeviceId)> = kept.iter().map(|k| (k.0, k.1)).collect();
        let rings = find_rings(&self.config.policies.collusion_ring, &edges);
        if self.config.policies.collusion_ring.action == RingAction::Reject && !rings.is_empty() {
            let members: BTreeSet<DeviceId> = rings.iter().flatten().copied().collect();
            for (w, b, id, ep) in &kept {
                if members.contains(w) && members.contains(b) {
                    rejected.push((
                        WitnessRejection {
                            witness: *w,
                            beacon_id: *id,
                            reason: Rejection::CollusionRing,
                        },
                        *ep,
                    ));
                }
            }
            for r in &mut results {
                if members.contains(&r.beaconer) {
                    r.witnesses.retain(|w| !members.contains(w));
                }
            }
        }
        for (rej, ep) in &rejected {
            self.reports
                .entry(*ep)
                .or_insert_with(|| EpochReport::new(*ep))
                .demote(AttestationKind::CoverageWitness, rej.reason);
            self.counters.accepted = self.counters.accepted.saturating_sub(1);
            self.counters.rejected += 1;
        }
        CoverageOutcome {
            beacons: results,
            rejected: rejected.into_iter().map(|(r, _)| r).collect(),
            rings,
        }
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

/// Stage 1: size, decoding, structure, signature encoding, freshness. No keys, no state.
fn stage1(
    config: &VerifierConfig,
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
            check_fresh(config, h.timestamp, now)?;
            Ok(Staged {
                kind: AttestationKind::DeviceReport,
                claimed: Claimed::Hint(h.key_hint, h.key_type),
                seq: u64::from(h.seq),
                stream: Stream::Frame,
                timestamp: h.timestamp,
                digest: frame.digest(&config.domain),
                signature,
                body: None,
                report_kind: h.kind,
            })
        }
        Input::Envelope(bytes) => stage1_envelope(config, bytes, KindSet::ALL, now),
        Input::EnvelopeOf(bytes, kinds) => stage1_envelope(config, bytes, kinds, now),
    }
}

/// Stage 1 of an envelope whose kind must be in `kinds`.
fn stage1_envelope(
    config: &VerifierConfig,
    bytes: &[u8],
    kinds: KindSet,
    now: Timestamp,
) -> core::result::Result<Staged, Rejection> {
    let (body, signed, sig) = decode_parts(bytes, config.max_envelope_len)?;
    let kind = body.attestation.kind();
    if !kinds.contains(kind) {
        return Err(Rejection::WrongTopic);
    }
    body.attestation.check_structure()?;
    let signature = Signature::from_bytes(body.signer.key_type(), &sig)
        .map_err(|_| Rejection::SignatureEncoding)?;
    check_fresh(config, body.timestamp, now)?;
    Ok(Staged {
        kind,
        claimed: Claimed::Device(body.signer),
        seq: body.seq,
        stream: Stream::Envelope,
        timestamp: body.timestamp,
        digest: config.domain.digest(kind.message_kind(), signed),
        signature,
        body: Some(body.attestation),
        report_kind: 0,
    })
}
