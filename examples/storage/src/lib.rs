#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet};

use depin_attest::storage::MerkleTree;
use depin_attest::types::StorageProof;
use depin_attest::{
    AttestationKind, AttestationType, DeviceRecord, EnvelopeBody, Input, KindSet, MemoryRegistry,
    MemoryReplayStore, Outcome, Verifier, VerifierConfig,
};
use std::sync::Arc;

use depin_attest::store::{ItemFormat, LoggedItem, StoredVerdict};
use depin_chains::oracle::{EpochPayouts, EpochScoring, PayoutLine};
use depin_chains::Account;
use depin_core::frame::MAX_FRAME_LEN;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey, Timestamp};
use depin_device::counter::{RamStorage, SequenceCounter};
use depin_device::Reporter;
use depin_example_common::served::Pipeline;
use depin_example_common::{
    epoch_start, hex_prefix, progress, schedule, sign_envelope, AnySigner, Chain, DeviceOutcome,
    EpochSummary, Error, SimRng, DAY_MS, GENESIS_MS, TOKEN_DECIMALS,
};
pub use depin_example_common::{Options, Result, Summary};
use depin_rewards::emission::{Constant, EmissionSchedule};
use depin_rewards::policy::uptime::UptimePolicy;
use depin_rewards::{
    verify_receipt, EpochRewards, EpochTiming, Evidence, Factor, FactorKind, FactorRule, Fixed,
    Mode, Rounding, RuleSet, ScoreBreakdown, ScoreRules,
};
use sha2::{Digest, Sha256};

/// The network id every signature is bound to.
pub const NETWORK: &str = "depin-demo-storage";
/// Honest storage nodes when [`Options::devices`] is 0.
pub const DEFAULT_NODES: usize = 20;
/// Tokens emitted per epoch, all to storage providers.
pub const EPOCH_EMISSION: u128 = 50_000 * 10u128.pow(TOKEN_DECIMALS);
/// Chunk size of every commitment, bytes.
pub const CHUNK_SIZE: u32 = 1024;
/// Report-frame kind of the hourly heartbeat.
pub const HEARTBEAT_KIND: u8 = 1;
/// One hour, milliseconds.
const HOUR_MS: u64 = 3_600_000;

/// Roles of the simulated nodes.
pub mod role {
    /// Keeps its data, answers every challenge, online around the clock.
    pub const HONEST: &str = "honest";
    /// Keeps its data but is online only 10 hours a day (below the 12-hour uptime bar).
    pub const FLAKY: &str = "flaky";
    /// Lost most chunks of one file and all of another, still answers with what it has.
    pub const LOST_DATA: &str = "lost-data";
    /// From its second epoch on, re-sends the proof of the previous challenge.
    pub const STALE: &str = "stale";
}

#[derive(Debug)]
struct StoredFile {
    /// What the node holds now (may have lost chunks).
    data: Vec<u8>,
    tree: MerkleTree,
    bytes: u64,
}

#[derive(Debug)]
struct Node {
    label: String,
    role: &'static str,
    id: DeviceId,
    owner: Account,
    key: SigningKey,
    reporter: Reporter<AnySigner, RamStorage>,
    files: Vec<StoredFile>,
    seq: u64,
    last_proofs: Vec<StorageProof>,
    earned: u128,
}

impl Node {
    fn envelope<T: AttestationType>(
        &mut self,
        domain: &Domain,
        at: Timestamp,
        a: &T,
    ) -> Result<Vec<u8>> {
        self.seq += 1;
        let body = EnvelopeBody::new(self.id, self.seq, at, a)?;
        sign_envelope(self.reporter.signer(), domain, &body)
    }
}

/// The public randomness of an epoch's challenge (a stand-in for a randomness beacon such
/// as drand): SHA-256 of a label, the seed and the epoch.
pub fn epoch_randomness(seed: u64, epoch: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"depin-demo-storage randomness");
    h.update(seed.to_le_bytes());
    h.update(epoch.to_le_bytes());
    h.finalize().into()
}

fn deploy(opts: &Options, chain: &Chain, domain: Domain, rng: &mut SimRng) -> Result<Vec<Node>> {
    let honest = opts.devices_or(DEFAULT_NODES).max(2);
    let key_type = opts.key_type.unwrap_or(KeyType::Ed25519);
    let mut roles: Vec<&'static str> = vec![role::HONEST; honest];
    if let Some(r) = roles.get_mut(2) {
        *r = role::FLAKY;
    }
    roles.extend([role::LOST_DATA, role::LOST_DATA, role::STALE, role::STALE]);
    let mut nodes = Vec::with_capacity(roles.len());
    for (i, role) in roles.into_iter().enumerate() {
        let owner_key = rng.signing_key(KeyType::Secp256k1);
        let owner = chain.owner_account(&owner_key)?;
        // The same key twice: in the device's signer, and for the chain registration.
        let secret = rng.secret(key_type);
        let key = SigningKey::from_secret_bytes(key_type, &secret)?;
        let id = DeviceId::from(key.public_key());
        let counter = SequenceCounter::new(RamStorage::new(), 16)
            .map_err(|e| Error::Check(format!("sequence counter: {e}")))?;
        let reporter = Reporter::new(
            AnySigner::new(SigningKey::from_secret_bytes(key_type, &secret)?)?,
            counter,
            domain,
        );
        let mut files = Vec::new();
        for _ in 0..rng.between(2, 4) {
            let chunks = rng.between(16, 96);
            let len = (chunks * u64::from(CHUNK_SIZE) - rng.below(u64::from(CHUNK_SIZE))) as usize;
            let mut data = vec![0u8; len];
            rng.fill(&mut data);
            let tree = MerkleTree::build(&data, CHUNK_SIZE, &id)?;
            let c = tree.commitment();
            files.push(StoredFile {
                data,
                tree,
                bytes: c.chunk_count * u64::from(c.chunk_size),
            });
        }
        nodes.push(Node {
            label: format!("node-{i:02}"),
            role,
            id,
            owner,
            key,
            reporter,
            files,
            seq: 0,
            last_proofs: Vec::new(),
            earned: 0,
        });
    }
    Ok(nodes)
}

/// What the node now holds: lost-data nodes lose 75 % of the chunks of their first file
/// and all of their second after committing.
fn lose_data(node: &mut Node, rng: &mut SimRng) {
    let size = CHUNK_SIZE as usize;
    for (f, file) in node.files.iter_mut().enumerate() {
        let chunks = file.data.len().div_ceil(size);
        for c in 0..chunks {
            if f == 1 || (f == 0 && rng.below(4) != 0) {
                let end = ((c + 1) * size).min(file.data.len());
                file.data[c * size..end].fill(0);
            }
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

/// Run the storage network: nodes commit to files, then every epoch prove the chunks the
/// epoch's public randomness selects and send hourly heartbeats; rewards follow proven
/// capacity times uptime; each epoch is settled on the chain.
pub fn run(opts: &Options) -> Result<Summary> {
    if opts.epochs == 0 {
        return Err(Error::Options("at least one epoch".into()));
    }
    let emission = Constant::new(EPOCH_EMISSION);
    let mut chain = Chain::open(
        NETWORK,
        &opts.chain,
        emission.cumulative(opts.epochs + 1)?,
        opts.seed,
    )?;
    let mut rng = SimRng::new(opts.seed, NETWORK);
    let domain = Domain::new(NetworkId::new(NETWORK)?);
    let mut nodes = deploy(opts, &chain, domain, &mut rng)?;
    progress(
        opts,
        "storage",
        &format!(
            "registering {} nodes on {}",
            nodes.len(),
            chain.description()
        ),
    );
    let mut registry = MemoryRegistry::new();
    for n in &nodes {
        let capacity: u64 = n.files.iter().map(|f| f.bytes).sum();
        let metadata = format!("{{\"kind\":\"storage-node\",\"capacity\":{capacity}}}");
        // Registration is signed with the device key; the chain checks it.
        chain.register(&n.key, &n.owner, metadata.into_bytes())?;
        if !chain.device(&n.id)?.active {
            return Err(Error::Check(format!("{} not active on the chain", n.label)));
        }
        registry.insert(
            n.id,
            DeviceRecord::active(KindSet::of(&[
                AttestationKind::DEVICE_REPORT,
                AttestationKind::STORAGE_COMMITMENT,
                AttestationKind::STORAGE_PROOF,
            ])),
        )?;
    }
    let mut config = VerifierConfig::new(domain);
    config.schedule = schedule()?;
    let challenges = config.policies.storage.challenges;
    // Every epoch's challenge is public randomness of that epoch (a beacon): the policy
    // opens it itself as the epoch's first storage item arrives, so a served oracle that
    // rebuilds its verifier by replaying its store (at start, after a store outage)
    // reaches the same state.
    let seed = opts.seed;
    let make = move || -> depin_attest::Result<_> {
        let mut v = Verifier::new(config.clone(), registry.clone(), MemoryReplayStore::new())?;
        v.set_storage_beacon(Arc::new(move |e: Epoch| {
            (e.0 >= 1).then(|| epoch_randomness(seed, e.0))
        }))?;
        Ok(v)
    };
    let uptime = UptimePolicy::HELIUM_MOBILE;
    let sizes: BTreeMap<[u8; 32], u64> = nodes
        .iter()
        .flat_map(|n| &n.files)
        .map(|f| (f.tree.root(), f.bytes))
        .collect();
    let mut served = false;
    let mut verifier = match &opts.serve {
        None => Pipeline::InProcess(make()?),
        Some(dir) => {
            let owners: BTreeMap<DeviceId, Account> =
                nodes.iter().map(|n| (n.id, n.owner.clone())).collect();
            let scoring = StorageScoring {
                emission,
                uptime,
                sizes: sizes.clone(),
            };
            // a proof answers every challenged chunk with its Merkle path: larger than the
            // endpoint's default item limit (2 KiB)
            let pipeline = Pipeline::serve(
                NETWORK,
                dir,
                &chain,
                Box::new(make.clone()),
                scoring,
                "storage-oracle",
                owners,
                None,
                |c| {
                    c.ingest.max_item_bytes = 60 * 1024;
                },
            )?;
            pipeline.announce(opts, "storage");
            served = true;
            pipeline
        }
    };
    let all_owners: BTreeSet<Account> = nodes.iter().map(|n| n.owner.clone()).collect();

    // Commitments, signed on the day before epoch 1 (a commitment can answer challenges
    // from the epoch after the one it was made in).
    let t0 = epoch_start(1).as_millis() - HOUR_MS;
    let mut commitments = Vec::new();
    for n in nodes.iter_mut() {
        for f in 0..n.files.len() {
            let c = n.files[f].tree.commitment();
            commitments.push(n.envelope(&domain, Timestamp(t0), &c)?);
        }
    }
    let inputs: Vec<Input<'_>> = commitments.iter().map(|b| Input::Envelope(b)).collect();
    let verdicts = verifier.verify(&inputs, Timestamp(t0 + 1_000))?;
    if let Some(Err(r)) = verdicts.iter().find(|v| v.is_err()) {
        return Err(Error::Check(format!("a commitment was rejected: {r}")));
    }
    let committed: u64 = nodes.iter().flat_map(|n| &n.files).map(|f| f.bytes).sum();
    for n in nodes.iter_mut().filter(|n| n.role == role::LOST_DATA) {
        lose_data(n, &mut rng);
    }

    let deferring: BTreeSet<Account> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 == 3)
        .map(|(_, n)| n.owner.clone())
        .collect();
    let rules = reward_rules(uptime);
    let mut epochs = Vec::new();
    for epoch in 1..=opts.epochs {
        let start = epoch_start(epoch).as_millis();
        let randomness = epoch_randomness(opts.seed, epoch);
        let mut seen = BTreeSet::new();

        // Proofs: each node answers the challenge of every file it committed, at 02:00
        // (sent after that hour's heartbeats: a served oracle's clock only moves on).
        let proof_at = start + 2 * HOUR_MS;
        let mut proofs: Vec<(usize, u64, Vec<u8>)> = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            let mut answers = Vec::new();
            for f in &n.files {
                let proof = StorageProof {
                    root: f.tree.root(),
                    epoch: Epoch(epoch),
                    responses: f.tree.prove(&f.data, &randomness, challenges)?,
                };
                answers.push((f.bytes, proof));
            }
            if n.role == role::STALE && !n.last_proofs.is_empty() {
                // Re-send last epoch's answers instead of reading the data again.
                let old = std::mem::take(&mut n.last_proofs);
                for (a, p) in answers.iter_mut().zip(old) {
                    a.1 = p;
                }
            }
            n.last_proofs = answers.iter().map(|a| a.1.clone()).collect();
            for (bytes, proof) in answers {
                let env = n.envelope(&domain, Timestamp(proof_at), &proof)?;
                proofs.push((i, bytes, env));
            }
        }
        let mut proven: BTreeMap<DeviceId, u64> = BTreeMap::new();
        let mut proofs_ok = 0usize;

        // Hourly heartbeats: depin-device report frames from the node's reporter.
        let mut heartbeats: BTreeMap<DeviceId, Vec<u64>> = BTreeMap::new();
        for hour in 0..24u64 {
            let at = start + hour * HOUR_MS + 5_000;
            let mut frames = Vec::new();
            for (i, n) in nodes.iter_mut().enumerate() {
                if n.role == role::FLAKY && !(8..18).contains(&hour) {
                    continue;
                }
                let free: u64 = 1 << 30;
                let mut buf = [0u8; MAX_FRAME_LEN];
                let r = n
                    .reporter
                    .report(HEARTBEAT_KIND, Timestamp(at), &free.to_le_bytes(), &mut buf)
                    .map_err(|e| Error::Check(format!("reporter: {e}")))?;
                frames.push((i, buf[..r.len].to_vec()));
            }
            let inputs: Vec<Input<'_>> = frames.iter().map(|f| Input::Frame(&f.1)).collect();
            let verdicts = verifier.verify(&inputs, Timestamp(at + 2_000))?;
            for ((i, _), v) in frames.iter().zip(verdicts) {
                if v.is_ok() {
                    seen.insert(*i);
                    heartbeats.entry(nodes[*i].id).or_default().push(at / 1000);
                }
            }
            if hour == 2 {
                let inputs: Vec<Input<'_>> = proofs.iter().map(|p| Input::Envelope(&p.2)).collect();
                let verdicts = verifier.verify(&inputs, Timestamp(proof_at + 30_000))?;
                for ((i, bytes, _), v) in proofs.iter().zip(verdicts) {
                    seen.insert(*i);
                    if let Ok(Outcome::Proven { .. }) = v {
                        proofs_ok += 1;
                        *proven.entry(nodes[*i].id).or_insert(0) += bytes;
                    }
                }
            }
        }

        let report = verifier.take_report(Epoch(epoch));

        // Rewards: proven MiB times the uptime multiplier (>= 12 distinct hours).
        let pool = emission.emission(epoch)?;
        let (distributed, up) = storage_rewards(epoch, pool, uptime, &proven, &heartbeats)?;
        let mut paid = 0u128;
        let mut receipts_verified = 0usize;
        let mut credits = Vec::new();
        let mut paid_devices = 0usize;
        if let Some(rewards) = &distributed {
            for p in rewards.distribution().payouts() {
                paid += p.amount;
                if let Some(n) = nodes.iter_mut().find(|n| n.id == p.id) {
                    n.earned += p.amount;
                    credits.push((n.owner.clone(), p.amount));
                }
                paid_devices += usize::from(p.amount > 0);
            }
            // Publish the epoch's summary (refused if it breaks the rules) and check every
            // receipt against it and the published rules.
            let published = rewards.publish(&rules)?;
            for (receipt, proof) in rewards.receipts_with_proofs()? {
                verify_receipt(&receipt, &proof, &published, &rules)?;
                receipts_verified += 1;
            }
        }
        let last = epoch == opts.epochs;
        let earned: BTreeMap<DeviceId, u128> = distributed
            .iter()
            .flat_map(|r| r.distribution().payouts())
            .map(|p| (p.id, p.amount))
            .collect();
        let settlement = verifier.settle(
            &mut chain,
            epoch,
            &report,
            credits,
            &earned,
            &all_owners,
            &deferring,
            last,
        )?;
        let proven_total: u64 = proven.values().sum();
        let notes = vec![format!(
            "storage: challenge 0x{}…, {proofs_ok} of {} proofs valid, proven {} of {} committed; uptime >= 12 h: {up} of {} proving nodes",
            hex_prefix(&randomness),
            proofs.len(),
            mib(proven_total),
            mib(committed),
            proven.len()
        )];
        progress(
            opts,
            "storage",
            &format!(
                "epoch {epoch}/{}: {} accepted, {} rejected, root 0x{} published, {} claims",
                opts.epochs,
                report.accepted_total(),
                report.rejected_total(),
                hex_prefix(&settlement.root),
                settlement.claims
            ),
        );
        epochs.push(EpochSummary {
            epoch,
            devices: seen.len(),
            report,
            pool: if distributed.is_some() { pool } else { 0 },
            paid,
            paid_devices,
            receipts_verified,
            settlement,
            notes,
        });
    }
    Ok(Summary {
        network: "storage".into(),
        title: format!(
            "{} storage nodes, {} committed in {} B chunks, rewards by proven capacity x uptime",
            nodes.len(),
            mib(committed),
            CHUNK_SIZE
        ),
        chain: format!(
            "{} ({:?} claim tree){}",
            chain.description(),
            chain.claim_format(),
            if served {
                "; served by a real oracle: heartbeat frames and proofs over HTTP"
            } else {
                ""
            }
        ),
        devices: nodes
            .iter()
            .map(|n| DeviceOutcome {
                id: n.id,
                role: n.role,
                label: n.label.clone(),
                owner: n.owner.clone(),
                earned: n.earned,
            })
            .collect(),
        epochs,
        map: None,
    })
}

/// The epoch's rewards: proven MiB times the uptime gate of `uptime` over each node's
/// heartbeat times (seconds), `pool` split exactly; `None` when no node scored. Also the
/// number of proving nodes that met the uptime bar. The same function pays in process and
/// in the served oracle's close ([`StorageScoring`]).
pub fn storage_rewards(
    epoch: u64,
    pool: u128,
    uptime: UptimePolicy,
    proven: &BTreeMap<DeviceId, u64>,
    heartbeats: &BTreeMap<DeviceId, Vec<u64>>,
) -> depin_rewards::Result<(Option<EpochRewards<DeviceId>>, usize)> {
    let epoch_start_secs = epoch_start(epoch).as_millis() / 1000;
    let mut scores = Vec::new();
    let mut up = 0usize;
    for (id, bytes) in proven {
        let beats = heartbeats.get(id).cloned().unwrap_or_default();
        let factor = Factor::from_evidence(
            "uptime",
            Evidence::Uptime {
                policy: uptime,
                epoch_start: epoch_start_secs,
                heartbeats: beats,
            },
        )?;
        if factor.value == Fixed::ONE {
            up += 1;
        }
        let base = Factor::given(
            "proven_mib",
            Fixed::from_ratio(u128::from(*bytes), 1 << 20, Rounding::Floor)?,
        );
        scores.push((*id, ScoreBreakdown::new(base).with(factor)?));
    }
    match EpochRewards::compute(epoch, "storage", pool, Mode::LargestRemainder, scores) {
        Ok(r) => Ok((Some(r), up)),
        Err(depin_rewards::Error::EmptyEpoch | depin_rewards::Error::ZeroTotalShares) => {
            Ok((None, up))
        }
        Err(e) => Err(e),
    }
}

/// The storage network's rules as the served oracle's closer runs them: accepted proofs
/// ([`Outcome::Proven`], sized by the commitment's root in `sizes`) and accepted
/// heartbeat frames per node, paid by [`storage_rewards`].
#[derive(Debug, Clone)]
pub struct StorageScoring {
    /// The emission schedule.
    pub emission: Constant,
    /// The uptime gate.
    pub uptime: UptimePolicy,
    /// Committed bytes by commitment root.
    pub sizes: BTreeMap<[u8; 32], u64>,
}

/// What [`StorageScoring`] collects from an epoch's accepted items.
#[derive(Debug, Default)]
pub struct StorageTally {
    proven: BTreeMap<DeviceId, u64>,
    heartbeats: BTreeMap<DeviceId, Vec<u64>>,
}

impl EpochScoring for StorageScoring {
    type Tally = StorageTally;

    fn tally(&self, tally: &mut StorageTally, item: &LoggedItem) {
        match &item.verdict {
            StoredVerdict::Accepted(Outcome::Proven { root, .. }) => {
                let bytes = self.sizes.get(root).copied().unwrap_or(0);
                let slot = tally.proven.entry(item.device).or_insert(0);
                *slot = slot.saturating_add(bytes);
            }
            StoredVerdict::Accepted(_) if item.format == ItemFormat::Frame => {
                tally
                    .heartbeats
                    .entry(item.device)
                    .or_default()
                    .push(item.timestamp.as_millis() / 1000);
            }
            _ => {}
        }
    }

    fn scores(&self, _epoch: Epoch, tally: StorageTally) -> Vec<(DeviceId, u128)> {
        tally
            .proven
            .into_iter()
            .map(|(d, b)| (d, u128::from(b)))
            .collect()
    }

    fn emission(&self, epoch: Epoch) -> u128 {
        self.emission.emission(epoch.0).unwrap_or(0)
    }

    fn payouts(&self, epoch: Epoch, tally: StorageTally) -> depin_rewards::Result<EpochPayouts> {
        let pool = self.emission.emission(epoch.0)?;
        let (rewards, _) =
            storage_rewards(epoch.0, pool, self.uptime, &tally.proven, &tally.heartbeats)?;
        let mut lines = Vec::new();
        if let Some(r) = &rewards {
            for p in r.distribution().payouts() {
                lines.push(PayoutLine {
                    device: p.id,
                    pool: "storage".into(),
                    score: r
                        .receipt(&p.id)
                        .map(|receipt| receipt.score.share.to_string())
                        .unwrap_or_default(),
                    amount: p.amount,
                });
            }
        }
        Ok(EpochPayouts {
            emission: pool,
            lines,
            rejected: Vec::new(),
        })
    }
}

/// The network's published reward rules: proven MiB (given by the storage verifier) times the
/// uptime gate under `uptime`, over daily epochs from the simulation's genesis.
fn reward_rules(uptime: UptimePolicy) -> RuleSet {
    RuleSet::new(NETWORK, 1, Mode::LargestRemainder)
        .with_timing(EpochTiming {
            genesis_secs: GENESIS_MS / 1000,
            epoch_secs: DAY_MS / 1000,
        })
        .with_category(
            "storage",
            ScoreRules::new(FactorRule::new(
                "proven_mib",
                FactorKind::Given { max: None },
            ))
            .with(FactorRule::new(
                "uptime",
                FactorKind::Uptime { policy: uptime },
            )),
        )
}
