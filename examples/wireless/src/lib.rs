#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use depin_attest::coverage::{CoverageOutcome, PendingBeacon, PendingWitness};
use depin_attest::store::LoggedItem;
use depin_attest::types::{beacon_id, CoverageBeacon, CoverageWitness, H3Cell, Region};
use depin_attest::{
    AttestationKind, AttestationType, CollusionRingPolicy, CoveragePolicy, CoverageRules,
    DenyState, DeviceRecord, Envelope, EnvelopeBody, Input, KindSet, MemoryRegistry,
    MemoryReplayStore, Verifier, VerifierConfig,
};
use depin_chains::oracle::{EpochPayouts, EpochScoring, PayoutLine};
use depin_chains::Account;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey, Timestamp};
use depin_example_common::served::{Checked, Pipeline};
use depin_example_common::{
    epoch_start, hex_prefix, progress, schedule, Chain, DeviceOutcome, EpochSummary, Error,
    MapData, MapHotspot, MapLink, SimRng, TOKEN_DECIMALS,
};
pub use depin_example_common::{Options, Result, Summary};
use depin_rewards::emission::{Constant, EmissionSchedule};
use depin_rewards::policy::hex_density::{DensityConfig, HexDensityMap};
use depin_rewards::policy::hip15;
use depin_rewards::pools::{PoolPlan, PoolSplit, Redistribution};
use depin_rewards::{
    verify_receipt, EpochRewards, Evidence, Factor, FactorKind, FactorRule, Fixed, Mode, RuleSet,
    ScoreBreakdown, ScoreRules,
};
use h3o::{CellIndex, LatLng, Resolution};
use sha2::{Digest, Sha256};

/// The network id every signature is bound to.
pub const NETWORK: &str = "depin-demo-wireless";
/// Honest hotspots when [`Options::devices`] is 0.
pub const DEFAULT_HOTSPOTS: usize = 40;
/// Tokens emitted per epoch (Helium IoT split: 6 % beacons, 24 % witnesses, 50 % data (unused
/// here, so moved to proof of coverage), 7 % operations, 7 % oracles).
pub const EPOCH_EMISSION: u128 = 100_000 * 10u128.pow(TOKEN_DECIMALS);

/// Centre of the simulated city: Lisbon, Praça do Comércio.
pub const CITY: (f64, f64) = (38.7077, -9.1365);
/// Resolution of asserted locations.
pub const ASSERT_RESOLUTION: Resolution = Resolution::Twelve;
/// Grid spacing of the honest deployment, metres.
pub const SPACING_M: f64 = 1_200.0;
/// Beacon transmit power, tenths of dBm (14 dBm EIRP, within the EU868 limit of 16 dBm).
pub const TX_POWER_DDBM: i32 = 140;
/// Path-loss exponent of the log-distance model (urban).
pub const PATH_LOSS_EXPONENT: f64 = 3.0;
/// Lowest signal a gateway decodes a beacon at, dBm (SF9 sensitivity minus fade margin).
pub const DECODE_THRESHOLD_DBM: f64 = -115.0;
/// Shadowing: a fixed per-link offset, uniform in +-this many dB.
pub const SHADOWING_DB: f64 = 3.0;
/// How far from their real position spoofers assert, metres.
pub const SPOOF_DISTANCE_M: f64 = 93_000.0;
/// EU868 uplink channels, Hz.
pub const CHANNELS_HZ: [u64; 8] = [
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
    868_100_000,
    868_300_000,
    868_500_000,
];

/// Roles of the simulated hotspots.
pub mod role {
    /// Behaves.
    pub const HONEST: &str = "honest";
    /// Behaves, but shares a building with three others (hex density scales it down).
    pub const DENSE: &str = "dense";
    /// Behaves, and also re-sends its own reports (replays are refused).
    pub const REPLAYER: &str = "replayer";
    /// Asserts a location 93 km from where it really is.
    pub const SPOOFER: &str = "spoofer";
    /// One of four devices that only witness each other.
    pub const RING: &str = "ring";
}

#[derive(Debug)]
struct Hotspot {
    label: String,
    role: &'static str,
    key: SigningKey,
    id: DeviceId,
    owner: Account,
    real: LatLng,
    cell: CellIndex,
    seq: u64,
    earned: u128,
}

/// Move `m_north`, `m_east` metres from `p` (flat-earth offset, fine at city scale).
fn offset(p: (f64, f64), m_north: f64, m_east: f64) -> (f64, f64) {
    let lat = p.0 + m_north / 111_320.0;
    let lng = p.1 + m_east / (111_320.0 * p.0.to_radians().cos());
    (lat, lng)
}

/// The point `distance_m` from `p` on the initial bearing `bearing_deg` (great circle).
fn destination(p: (f64, f64), bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let r = 6_371_007.2;
    let (lat1, lng1) = (p.0.to_radians(), p.1.to_radians());
    let (b, d) = (bearing_deg.to_radians(), distance_m / r);
    let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
    let lng2 = lng1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
    (lat2.to_degrees(), lng2.to_degrees())
}

fn latlng(p: (f64, f64)) -> Result<LatLng> {
    LatLng::new(p.0, p.1).map_err(|e| Error::Options(format!("bad coordinate {p:?}: {e}")))
}

/// Received power in dBm over `d` metres: log-distance path loss with the free-space loss at
/// 1 m as reference, plus the link's shadowing.
fn received_dbm(distance_m: f64, frequency_hz: u64, shadowing_db: f64) -> f64 {
    let c = 299_792_458.0;
    let fspl_1m = 20.0 * (4.0 * std::f64::consts::PI * frequency_hz as f64 / c).log10();
    let path_loss = fspl_1m + 10.0 * PATH_LOSS_EXPONENT * distance_m.max(1.0).log10();
    f64::from(TX_POWER_DDBM) / 10.0 - path_loss - shadowing_db
}

/// A symmetric, fixed shadowing value per pair of hotspots.
fn shadowing(seed: u64, a: usize, b: usize) -> f64 {
    let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
    let mut rng = SimRng::new(seed, &format!("shadow-{lo}-{hi}"));
    rng.range(-SHADOWING_DB, SHADOWING_DB)
}

/// A hotspot to place: role, real position, asserted position (latitude, longitude).
type Place = (&'static str, (f64, f64), (f64, f64));

struct Deployment {
    hotspots: Vec<Hotspot>,
}

fn deploy(opts: &Options, chain: &Chain, rng: &mut SimRng) -> Result<Deployment> {
    let honest = opts.devices_or(DEFAULT_HOTSPOTS).max(4);
    let key_type = opts.key_type.unwrap_or(KeyType::Ed25519);
    let mut places: Vec<Place> = Vec::new();
    // Honest hotspots on a jittered hexagonal grid around the city centre.
    let cols = (honest as f64).sqrt().ceil() as usize;
    let rows = honest.div_ceil(cols);
    for i in 0..honest {
        let (r, c) = (i / cols, i % cols);
        let east = (c as f64 - (cols as f64 - 1.0) / 2.0) * SPACING_M
            + if r % 2 == 1 { SPACING_M / 2.0 } else { 0.0 }
            + rng.range(-200.0, 200.0);
        let north =
            (r as f64 - (rows as f64 - 1.0) / 2.0) * SPACING_M * 0.866 + rng.range(-200.0, 200.0);
        let p = offset(CITY, north, east);
        let role = if i == 1 { role::REPLAYER } else { role::HONEST };
        places.push((role, p, p));
    }
    // Three more in the building of hotspot 0 (a "dense" rooftop).
    if honest >= 6 {
        let base = places[0].1;
        for k in 0..3 {
            let p = offset(base, 12.0 * k as f64 + 8.0, -10.0 * k as f64 + 5.0);
            places.push((role::DENSE, p, p));
        }
        places[0].0 = role::DENSE;
    }
    // Two spoofers: really in town, asserting 93 km away (one towards Caldas da Rainha,
    // one towards Evora, so they are also 86 km from each other).
    for (k, bearing) in [(0, 20.0), (1, 75.0)] {
        let real = offset(
            CITY,
            SPACING_M * 0.43 * if k == 0 { 1.0 } else { -1.0 },
            SPACING_M * (0.5 + k as f64 * 0.7),
        );
        let asserted = destination(real, bearing, SPOOF_DISTANCE_M);
        places.push((role::SPOOFER, real, asserted));
    }
    // A ring of four on the far bank of the Tagus, 14 km east: out of everyone's range.
    let ring_centre = offset(CITY, -1_000.0, 14_000.0);
    for (n, e) in [(0.0, 0.0), (0.0, 700.0), (700.0, 0.0), (700.0, 700.0)] {
        let p = offset(ring_centre, n, e);
        places.push((role::RING, p, p));
    }

    // Owners: honest operators own two hotspots each; the spoofers share one owner, the
    // ring another.
    let mut owner_keys: BTreeMap<String, SigningKey> = BTreeMap::new();
    let mut hotspots = Vec::with_capacity(places.len());
    for (i, (role, real, asserted)) in places.into_iter().enumerate() {
        let owner_name = match role {
            role::SPOOFER | role::RING => role.to_string(),
            _ => format!("operator-{}", i / 2),
        };
        let owner_key = owner_keys
            .entry(owner_name)
            .or_insert_with(|| rng.signing_key(KeyType::Secp256k1));
        let owner = chain.owner_account(owner_key)?;
        let key = rng.signing_key(key_type);
        let id = DeviceId::from(key.public_key());
        let cell = latlng(asserted)?.to_cell(ASSERT_RESOLUTION);
        hotspots.push(Hotspot {
            label: format!("hotspot-{i:02}"),
            role,
            key,
            id,
            owner,
            real: latlng(real)?,
            cell,
            seq: 0,
            earned: 0,
        });
    }
    Ok(Deployment { hotspots })
}

/// Sign an attestation as hotspot `h`: the envelope's bytes and its signing digest.
fn sign<T: AttestationType>(
    domain: &Domain,
    h: &mut Hotspot,
    at: Timestamp,
    attestation: &T,
) -> Result<(Vec<u8>, [u8; 32])> {
    h.seq += 1;
    let body = EnvelopeBody::new(h.id, h.seq, at, attestation)?;
    let (_, digest) = body.encode_for_signing(domain)?;
    Ok((Envelope::sign(domain, &h.key, &body)?, digest))
}

/// One report sent in a round, as the simulator keeps it to follow the served oracle's
/// selection at close.
#[derive(Debug, Clone)]
struct Sent {
    bytes: Vec<u8>,
    device: DeviceId,
    digest: [u8; 32],
    at: Timestamp,
    what: Coverage,
}

/// What a sent report carries.
#[derive(Debug, Clone)]
enum Coverage {
    Beacon(Arc<CoverageBeacon>),
    Witness(Arc<CoverageWitness>),
}

/// The coverage round as the served oracle's closer chooses it, followed by the simulator
/// from the oracle's answers: each accepted beacon and witness restored with its batch's
/// processing time, as the closer restores them from the store.
struct Round {
    rules: CoverageRules,
    records: Arc<HashMap<DeviceId, DeviceRecord>>,
}

impl Round {
    fn new(
        policies: &depin_attest::policy::Policies,
        records: Arc<HashMap<DeviceId, DeviceRecord>>,
    ) -> Self {
        Round {
            rules: CoverageRules::new(policies.coverage.clone(), policies.collusion_ring.clone()),
            records,
        }
    }

    /// Add the reports of one batch verified at `now` that the oracle accepted.
    fn add(
        &mut self,
        sent: &[Sent],
        verdicts: &[Checked],
        now: Timestamp,
        epoch: Epoch,
    ) -> Result<()> {
        for (item, verdict) in sent.iter().zip(verdicts) {
            if verdict.is_err() {
                continue;
            }
            let record = *self.records.get(&item.device).ok_or_else(|| {
                Error::Check(format!("{} accepted but not registered", item.device))
            })?;
            match &item.what {
                Coverage::Beacon(b) => self.rules.restore_beacon(PendingBeacon {
                    beaconer: item.device,
                    record,
                    at: item.at,
                    beacon: Arc::clone(b),
                }),
                Coverage::Witness(w) => self.rules.restore_witness(PendingWitness {
                    witness: item.device,
                    record,
                    at: item.at,
                    arrival: now,
                    digest: item.digest,
                    report_epoch: epoch,
                    body: Arc::clone(w),
                }),
            }
        }
        Ok(())
    }
}

/// Run the wireless network: deploy and register hotspots, then for each epoch let every
/// hotspot beacon once, collect witnesses, verify everything, reward with HIP-15 units
/// scaled by HIP-17 hex density, and settle on the chain.
pub fn run(opts: &Options) -> Result<Summary> {
    if opts.epochs == 0 {
        return Err(Error::Options("at least one epoch".into()));
    }
    let emission = Constant::new(EPOCH_EMISSION);
    let funding = emission.cumulative(opts.epochs + 1)?;
    let mut chain = Chain::open(NETWORK, &opts.chain, funding, opts.seed)?;
    let mut rng = SimRng::new(opts.seed, NETWORK);
    let Deployment { mut hotspots } = deploy(opts, &chain, &mut rng)?;
    progress(
        opts,
        "wireless",
        &format!(
            "registering {} hotspots on {}",
            hotspots.len(),
            chain.description()
        ),
    );

    // Register every hotspot on the chain (the device key signs the chain's challenge),
    // then build the verifier's registry from what the chain recorded.
    let mut registry = MemoryRegistry::new();
    let mut records: HashMap<DeviceId, DeviceRecord> = HashMap::new();
    for h in &hotspots {
        let metadata = format!("{{\"kind\":\"lorawan-hotspot\",\"cell\":\"{}\"}}", h.cell);
        chain.register(&h.key, &h.owner, metadata.into_bytes())?;
        let on_chain = chain.device(&h.id)?;
        if !on_chain.active || on_chain.owner != h.owner {
            return Err(Error::Check(format!(
                "{} not recorded on the chain",
                h.label
            )));
        }
        let mut record = DeviceRecord::active(KindSet::of(&[
            AttestationKind::COVERAGE_BEACON,
            AttestationKind::COVERAGE_WITNESS,
        ]));
        record.location = Some(H3Cell(h.cell));
        registry.insert(h.id, record)?;
        records.insert(h.id, record);
    }
    let by_id: HashMap<DeviceId, usize> = hotspots
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id, i))
        .collect();

    // HIP-17 hex density over every asserted location.
    let cells: Vec<u64> = hotspots.iter().map(|h| u64::from(h.cell)).collect();
    let density = HexDensityMap::build(&cells, &DensityConfig::HIP104)?;

    let domain = Domain::new(NetworkId::new(NETWORK)?);
    let mut config = VerifierConfig::new(domain);
    config.schedule = schedule()?;
    // The verifier, from a factory so that a served oracle can rebuild it by replaying its
    // store; served, it selects witnesses at close (the oracle's closer chooses them from
    // the stored items, exactly as the in-process verifier does at the end of each round).
    let records = Arc::new(records);
    let policies = config.policies.clone();
    let make = move |at_close: bool| {
        let mut config = config.clone();
        config.policies.coverage.select_at_close = at_close;
        Verifier::new(config, registry.clone(), MemoryReplayStore::new())
    };

    let deferring: BTreeSet<Account> = hotspots
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 6 == 4)
        .map(|(_, h)| h.owner.clone())
        .collect();
    let all_owners: BTreeSet<Account> = hotspots.iter().map(|h| h.owner.clone()).collect();
    let cells: Arc<HashMap<DeviceId, u64>> =
        Arc::new(hotspots.iter().map(|h| (h.id, u64::from(h.cell))).collect());
    let mut served = None;
    let mut verifier = match &opts.serve {
        None => Pipeline::InProcess(make(false)?),
        Some(dir) => {
            let owners: BTreeMap<DeviceId, Account> =
                hotspots.iter().map(|h| (h.id, h.owner.clone())).collect();
            let names = make(true)?;
            let scoring = WirelessScoring {
                emission,
                coverage: names.config().policies.coverage.clone(),
                rings: names.config().policies.collusion_ring.clone(),
                records: Arc::clone(&records),
                cells: Arc::clone(&cells),
                density: density.clone(),
            };
            // every other honest hotspot reports over MQTT, the rest over HTTP
            let mqtt = hotspots
                .iter()
                .filter(|h| h.role == role::HONEST)
                .step_by(2)
                .map(|h| h.id)
                .collect();
            let make_served = make.clone();
            let pipeline = Pipeline::serve(
                NETWORK,
                dir,
                &chain,
                Box::new(move || make_served(true)),
                scoring,
                "wireless-oracle",
                owners,
                Some(mqtt),
                |_| {},
            )?;
            if let Some(oracle) = pipeline.announce(opts, "wireless") {
                served = Some(if oracle.mqtt_port().is_some() {
                    "; served by a real oracle: beacons and witnesses over HTTP and MQTT, witnesses chosen at its epoch close"
                } else {
                    "; served by a real oracle: beacons and witnesses over HTTP (no mosquitto for MQTT), witnesses chosen at its epoch close"
                });
            }
            pipeline
        }
    };

    let n = hotspots.len();
    let mut epochs = Vec::new();
    let mut last_links = Vec::new();
    let mut previous_beacon: Option<Vec<u8>> = None;
    for epoch in 1..=opts.epochs {
        let start = epoch_start(epoch).as_millis();
        let mut devices_seen = BTreeSet::new();
        let mut beaconer_of: HashMap<[u8; 32], usize> = HashMap::new();
        let mut replays: Vec<Sent> = Vec::new();
        let mut stats_witness_reports = 0u64;
        // served, the round the oracle's closer will choose, followed from its answers
        let mut round = verifier
            .oracle()
            .map(|_| Round::new(&policies, Arc::clone(&records)));
        // The replayer re-sends yesterday's beacon first thing (stale).
        if let Some(old) = previous_beacon.take() {
            let now = Timestamp(start + 60_000);
            verifier.verify(&[Input::Envelope(&old)], now)?;
        }
        for b in 0..n {
            let t_beacon = start + 3_600_000 + b as u64 * 120_000;
            let frequency = CHANNELS_HZ[rng.below(CHANNELS_HZ.len() as u64) as usize];
            let mut payload = [0u8; 51];
            let mut h = Sha256::new();
            h.update(opts.seed.to_le_bytes());
            h.update(epoch.to_le_bytes());
            h.update((b as u64).to_le_bytes());
            payload[..32].copy_from_slice(&h.finalize());
            rng.fill(&mut payload[32..]);
            let beacon = CoverageBeacon {
                payload: payload.to_vec(),
                cell: H3Cell(hotspots[b].cell),
                frequency_hz: frequency,
                tx_power_ddbm: TX_POWER_DDBM,
                region: Region::Eu868,
            };
            // the beacon's id binds its beaconer (the over-the-air beacon identifies it)
            let id_of_beacon = beacon_id(&hotspots[b].id, &payload);
            beaconer_of.insert(id_of_beacon, b);
            let mut batch: Vec<Sent> = Vec::new();
            let (bytes, digest) = sign(&domain, &mut hotspots[b], Timestamp(t_beacon), &beacon)?;
            if hotspots[b].role == role::REPLAYER {
                previous_beacon = Some(bytes.clone());
            }
            batch.push(Sent {
                bytes,
                device: hotspots[b].id,
                digest,
                at: Timestamp(t_beacon),
                what: Coverage::Beacon(Arc::new(beacon)),
            });
            devices_seen.insert(b);
            // Everyone who physically hears it reports a witness (at its asserted cell).
            let mut replayed_now = Vec::new();
            for w in 0..n {
                if w == b {
                    continue;
                }
                let d = hotspots[b].real.distance_m(hotspots[w].real);
                let rssi = received_dbm(d, frequency, shadowing(opts.seed, b, w));
                if rssi < DECODE_THRESHOLD_DBM {
                    continue;
                }
                let snr = rssi + 120.0 + rng.range(-2.0, 2.0);
                let witness = CoverageWitness {
                    beacon_id: id_of_beacon,
                    beacon_payload: payload.to_vec(),
                    cell: H3Cell(hotspots[w].cell),
                    frequency_hz: frequency + rng.below(4_000) - 2_000,
                    rssi_ddbm: (rssi * 10.0).round() as i32,
                    snr_ddb: (snr * 10.0).round().clamp(-1000.0, 1000.0) as i32,
                    region: Region::Eu868,
                };
                let at = Timestamp(t_beacon + rng.between(200, 2_500));
                let (bytes, digest) = sign(&domain, &mut hotspots[w], at, &witness)?;
                let sent = Sent {
                    bytes,
                    device: hotspots[w].id,
                    digest,
                    at,
                    what: Coverage::Witness(Arc::new(witness)),
                };
                if hotspots[w].role == role::REPLAYER {
                    replayed_now.push(sent.clone());
                }
                batch.push(sent);
                devices_seen.insert(w);
                stats_witness_reports += 1;
            }
            // The replayer's witnesses of the previous beacon, sent again.
            batch.append(&mut replays);
            replays = replayed_now;
            let now = Timestamp(t_beacon + 3_000);
            let inputs: Vec<Input<'_>> = batch.iter().map(|s| Input::Envelope(&s.bytes)).collect();
            // a report's verdict at ingest depends only on its device's own earlier reports
            // (replay window, beacon interval, pending witnesses): each transport's share of
            // the round goes at once
            let verdicts = verifier.verify_per_device(&inputs, now)?;
            if let Some(round) = round.as_mut() {
                round.add(&batch, &verdicts, now, Epoch(epoch))?;
            }
        }
        let (outcome, report) = match (verifier.in_process_mut(), round) {
            (Some(v), _) => {
                let outcome = v.finalize_coverage();
                (outcome, verifier.take_report(Epoch(epoch)))
            }
            (None, Some(mut round)) => {
                // the oracle's closer refuses these at close; its report counts them so
                let (outcome, refused) = round.rules.finalize(&DenyState::default());
                let mut report = verifier.take_report(Epoch(epoch));
                for (r, _) in &refused {
                    report.demote(AttestationKind::COVERAGE_WITNESS, r.reason);
                }
                (outcome, report)
            }
            (None, None) => return Err(Error::Check("a served run without its round".into())),
        };

        // Rewards.
        let rewards = coverage_rewards(epoch, &outcome, &cells, &density, &emission)?;
        let rules = reward_rules();
        let mut pool = 0u128;
        let mut paid = 0u128;
        let mut receipts_verified = 0usize;
        let mut per_device: BTreeMap<DeviceId, u128> = BTreeMap::new();
        for r in &rewards {
            pool += r.distribution().pool();
            for p in r.distribution().payouts() {
                paid += p.amount;
                *per_device.entry(p.id).or_insert(0) += p.amount;
            }
            // Publish the epoch's summary (refused if it breaks the rules) and check every
            // receipt against it and the published rules.
            let published = r.publish(&rules)?;
            for (receipt, proof) in r.receipts_with_proofs()? {
                verify_receipt(&receipt, &proof, &published, &rules)?;
                receipts_verified += 1;
            }
        }
        let mut credits = Vec::new();
        for (id, amount) in &per_device {
            if let Some(&i) = by_id.get(id) {
                hotspots[i].earned += amount;
                credits.push((hotspots[i].owner.clone(), *amount));
            }
        }
        let settlement = verifier.settle(
            &mut chain,
            epoch,
            &report,
            credits,
            &per_device,
            &all_owners,
            &deferring,
            epoch == opts.epochs,
        )?;

        let valid: usize = outcome.beacons.iter().map(|b| b.witnesses.len()).sum();
        let scaled = hotspots
            .iter()
            .filter(|h| {
                density
                    .scale(u64::from(h.cell))
                    .is_ok_and(|s| s < Fixed::ONE)
            })
            .count();
        let ring_members: usize = outcome.rings.iter().map(Vec::len).sum();
        let notes = vec![
            format!(
                "coverage: {} beacons, {stats_witness_reports} witness reports, {valid} valid witnesses kept; {} collusion ring(s) with {ring_members} members; {scaled} hotspots scaled by hex density",
                outcome.beacons.len(),
                outcome.rings.len(),
            ),
        ];
        last_links = map_links(&outcome, &beaconer_of, &by_id);
        progress(
            opts,
            "wireless",
            &format!(
                "epoch {epoch}/{}: {} accepted, {} rejected, root 0x{} published, {} claims",
                opts.epochs,
                report.accepted_total(),
                report.rejected_total(),
                &hex_prefix(&settlement.root),
                settlement.claims
            ),
        );
        epochs.push(EpochSummary {
            epoch,
            devices: devices_seen.len(),
            report,
            pool,
            paid,
            paid_devices: per_device.values().filter(|a| **a > 0).count(),
            receipts_verified,
            settlement,
            notes,
        });
    }

    let map = MapData {
        title: format!(
            "{} LoRaWAN hotspots around Lisbon, epoch {}",
            hotspots.len(),
            opts.epochs
        ),
        hotspots: hotspots
            .iter()
            .map(|h| {
                let c = LatLng::from(h.cell);
                MapHotspot {
                    label: h.label.clone(),
                    role: h.role,
                    asserted: (c.lat(), c.lng()),
                    real: (h.real.lat(), h.real.lng()),
                    earned: h.earned,
                }
            })
            .collect(),
        links: last_links,
    };
    Ok(Summary {
        network: "wireless".into(),
        title: format!(
            "LoRaWAN proof of coverage, {} hotspots around Lisbon, HIP-15 rewards with HIP-17 hex density",
            hotspots.len()
        ),
        chain: format!(
            "{} ({:?} claim tree){}",
            chain.description(),
            chain.claim_format(),
            served.unwrap_or_default()
        ),
        devices: hotspots
            .iter()
            .map(|h| DeviceOutcome {
                id: h.id,
                role: h.role,
                label: h.label.clone(),
                owner: h.owner.clone(),
                earned: h.earned,
            })
            .collect(),
        epochs,
        map: Some(map),
    })
}

/// The network's published reward rules: HIP-15 beaconer units (re-run from the witness
/// count) and per-witness units (summed over the beacons witnessed, given), each times the
/// HIP-17 / HIP-104 hex density; pools from the Helium IoT split.
fn reward_rules() -> RuleSet {
    let density = || {
        FactorRule::new(
            "hex_density",
            FactorKind::HexDensity {
                config: DensityConfig::HIP104,
            },
        )
    };
    RuleSet::new(NETWORK, 1, Mode::LargestRemainder)
        .with_split(PoolSplit::helium_iot())
        .with_category(
            "beacons",
            ScoreRules::new(FactorRule::new("hip15_beacon", FactorKind::Hip15Beacon))
                .with(density()),
        )
        .with_category(
            "witnesses",
            ScoreRules::new(FactorRule::new(
                "hip15_witness_units",
                FactorKind::Given { max: None },
            ))
            .with(density()),
        )
}

/// The epoch's pools: the Helium IoT split of the emission, the unused data pool moved to
/// proof of coverage.
fn pool_plan(epoch: u64, emission: &Constant) -> depin_rewards::Result<PoolPlan> {
    Ok(PoolPlan {
        emission: emission.emission(epoch)?,
        split: PoolSplit::helium_iot(),
        mode: Mode::LargestRemainder,
        redistributions: vec![Redistribution {
            from: "data".into(),
            used: 0,
            to: PoolSplit::helium_iot_unused_data(),
            mode: Mode::LargestRemainder,
        }],
    })
}

/// HIP-15 beacon and witness rewards of a coverage round, each scaled by the device's
/// HIP-17 hex density (`cells`: each device's asserted cell). The same function pays in
/// process and in the served oracle's close ([`WirelessScoring`]).
pub fn coverage_rewards(
    epoch: u64,
    outcome: &CoverageOutcome,
    cells: &HashMap<DeviceId, u64>,
    density: &HexDensityMap,
    emission: &Constant,
) -> depin_rewards::Result<Vec<EpochRewards<DeviceId>>> {
    let plan = pool_plan(epoch, emission)?;
    let pools = plan.compute()?;
    let hex_factor = |id: &DeviceId| -> depin_rewards::Result<Factor> {
        let cell = cells
            .get(id)
            .copied()
            .ok_or(depin_rewards::Error::InvalidParameter(
                "a rewarded device has no cell",
            ))?;
        Factor::from_evidence(
            "hex_density",
            Evidence::HexDensity {
                steps: density.steps(cell)?,
            },
        )
    };
    let mut beacons = Vec::new();
    let mut witness_units: BTreeMap<DeviceId, Fixed> = BTreeMap::new();
    for b in &outcome.beacons {
        let n = u32::try_from(b.witnesses.len()).unwrap_or(u32::MAX);
        if n == 0 {
            continue;
        }
        let score = ScoreBreakdown::new(Factor::from_evidence(
            "hip15_beacon",
            Evidence::Hip15Beacon { witnesses: n },
        )?)
        .with(hex_factor(&b.beaconer)?)?;
        beacons.push((b.beaconer, score));
        let units = hip15::witness_reward_units(n);
        for w in &b.witnesses {
            let e = witness_units.entry(*w).or_insert(Fixed::ZERO);
            *e = e.checked_add(units)?;
        }
    }
    let mut witnesses = Vec::new();
    for (id, units) in witness_units {
        // The sum of HIP-15 witness units over the beacons it witnessed.
        let score = ScoreBreakdown::new(Factor::given("hip15_witness_units", units))
            .with(hex_factor(&id)?)?;
        witnesses.push((id, score));
    }
    let mut out = Vec::new();
    for (category, scores) in [("beacons", beacons), ("witnesses", witnesses)] {
        let pool = pools.get(category).unwrap_or(0);
        if scores.is_empty() || pool == 0 {
            continue;
        }
        let rewards = EpochRewards::compute(epoch, category, pool, Mode::LargestRemainder, scores)?
            .with_pool_plan(plan.clone())?;
        out.push(rewards);
    }
    Ok(out)
}

/// The wireless network's rules as the served oracle's closer runs them: the epoch's
/// accepted beacons and witnesses restored from the store into a coverage round
/// ([`CoverageRules::restore_item`]) and chosen there ([`CoverageRules::finalize`], the
/// witnesses it refuses reported as the close's rejections), then paid by
/// [`coverage_rewards`]. A function of the stored items, so a recomputation from the store
/// gives the same root.
#[derive(Debug, Clone)]
pub struct WirelessScoring {
    /// The emission schedule.
    pub emission: Constant,
    /// The coverage parameters (the verifier's).
    pub coverage: CoveragePolicy,
    /// The collusion-ring parameters (the verifier's).
    pub rings: CollusionRingPolicy,
    /// Each hotspot's registry record (its asserted location), as the verifier has it.
    pub records: Arc<HashMap<DeviceId, DeviceRecord>>,
    /// Each hotspot's asserted cell, for hex density.
    pub cells: Arc<HashMap<DeviceId, u64>>,
    /// HIP-17 hex density over every asserted location.
    pub density: HexDensityMap,
}

/// What [`WirelessScoring`] collects while the items stream by.
#[derive(Debug, Default)]
pub struct WirelessTally {
    round: Option<CoverageRules>,
    /// Stored coverage items that did not decode, or of no known device.
    damaged: u64,
}

impl EpochScoring for WirelessScoring {
    type Tally = WirelessTally;

    fn tally(&self, tally: &mut WirelessTally, item: &LoggedItem) {
        let round = tally
            .round
            .get_or_insert_with(|| CoverageRules::new(self.coverage.clone(), self.rings.clone()));
        let Some(record) = self.records.get(&item.device) else {
            tally.damaged += 1;
            return;
        };
        if round.restore_item(item, *record).is_err() {
            tally.damaged += 1;
        }
    }

    fn scores(&self, _epoch: Epoch, _tally: WirelessTally) -> Vec<(DeviceId, u128)> {
        // (the closer calls payouts)
        Vec::new()
    }

    fn emission(&self, epoch: Epoch) -> u128 {
        self.emission.emission(epoch.0).unwrap_or(0)
    }

    fn payouts(&self, epoch: Epoch, tally: WirelessTally) -> depin_rewards::Result<EpochPayouts> {
        if tally.damaged > 0 {
            return Err(depin_rewards::Error::InvalidParameter(
                "stored coverage items that do not decode, or of unknown hotspots",
            ));
        }
        let (outcome, refused) = match tally.round {
            Some(mut round) => round.finalize(&DenyState::default()),
            None => Default::default(),
        };
        let mut lines = Vec::new();
        for r in coverage_rewards(
            epoch.0,
            &outcome,
            &self.cells,
            &self.density,
            &self.emission,
        )? {
            for p in r.distribution().payouts() {
                lines.push(PayoutLine {
                    device: p.id,
                    pool: r.category().to_string(),
                    score: r
                        .receipt(&p.id)
                        .map(|receipt| receipt.score.share.to_string())
                        .unwrap_or_default(),
                    amount: p.amount,
                });
            }
        }
        Ok(EpochPayouts {
            emission: self.emission.emission(epoch.0)?,
            lines,
            rejected: refused
                .into_iter()
                .map(|(r, _)| (r.witness, r.reason))
                .collect(),
        })
    }
}

fn map_links(
    outcome: &CoverageOutcome,
    beaconer_of: &HashMap<[u8; 32], usize>,
    by_id: &HashMap<DeviceId, usize>,
) -> Vec<MapLink> {
    let mut links = Vec::new();
    for b in &outcome.beacons {
        let Some(&bi) = beaconer_of.get(&b.beacon_id) else {
            continue;
        };
        for w in &b.witnesses {
            if let Some(&wi) = by_id.get(w) {
                links.push(MapLink {
                    beaconer: bi,
                    witness: wi,
                    rejected: None,
                });
            }
        }
    }
    for r in &outcome.rejected {
        if let (Some(&bi), Some(&wi)) = (beaconer_of.get(&r.beacon_id), by_id.get(&r.witness)) {
            links.push(MapLink {
                beaconer: bi,
                witness: wi,
                rejected: Some(r.reason),
            });
        }
    }
    links
}
