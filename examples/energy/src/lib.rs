#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet};

use depin_attest::store::{LoggedItem, StoredVerdict};
use depin_attest::types::{ChargingSession, EnergyDirection, EnergyReading};
use depin_attest::{
    AttestationKind, AttestationType, DeviceRecord, EnvelopeBody, Input, KindSet, MemoryRegistry,
    MemoryReplayStore, Outcome, Verifier, VerifierConfig,
};
use depin_chains::oracle::{EpochPayouts, EpochScoring, PayoutLine};
use depin_chains::Account;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey, Timestamp};
use depin_example_common::served::Pipeline;
use depin_example_common::{
    epoch_start, hex_prefix, progress, schedule, sign_envelope, AnySigner, Chain, DeviceOutcome,
    EpochSummary, Error, SimRng, TOKEN_DECIMALS,
};
pub use depin_example_common::{Options, Result, Summary};
use depin_rewards::emission::{Constant, EmissionSchedule};
use depin_rewards::pools::{PoolPlan, PoolSplit, Pools};
use depin_rewards::{
    verify_receipt, EpochRewards, Factor, FactorKind, FactorRule, Fixed, Mode, RuleSet,
    ScoreBreakdown, ScoreRules,
};

/// The network id every signature is bound to.
pub const NETWORK: &str = "depin-demo-energy";
/// Honest devices when [`Options::devices`] is 0 (two thirds solar meters, one third
/// EV chargers).
pub const DEFAULT_DEVICES: usize = 18;
/// Tokens emitted per epoch: 60 % to verified solar production, 40 % to verified charging.
pub const EPOCH_EMISSION: u128 = 60_000 * 10u128.pow(TOKEN_DECIMALS);
/// Basis points of the solar pool.
pub const SOLAR_BPS: u16 = 6_000;
/// Basis points of the charging pool.
pub const CHARGING_BPS: u16 = 4_000;
/// One hour, milliseconds.
const HOUR_MS: u64 = 3_600_000;
/// Verification windows: every message is verified at the end of its 10-minute window
/// (inside the pipeline's 15-minute freshness bound).
const WINDOW_MS: u64 = 600_000;
/// EV charger ratings, watts (single-phase 7.4 kW, three-phase 11 and 22 kW).
pub const CHARGER_RATINGS_W: [u64; 3] = [7_400, 11_000, 22_000];

/// Roles of the simulated devices.
pub mod role {
    /// An honest solar meter: hourly cumulative production readings.
    pub const SOLAR: &str = "solar";
    /// An honest EV charger: one signed record per charging session.
    pub const CHARGER: &str = "charger";
    /// A solar meter that rolls its counter back 5 kWh every afternoon, hoping to be paid
    /// twice for the same energy.
    pub const ROLLBACK: &str = "rollback";
    /// A 4 kW solar installation that reports 6.4 kW around the clock.
    pub const OVERCLAIM: &str = "overclaim";
    /// A 7.4 kW charger that reports 1.5 times what it could have delivered.
    pub const OVERCHARGE: &str = "overcharge";
}

#[derive(Debug)]
struct Device {
    label: String,
    role: &'static str,
    id: DeviceId,
    key: SigningKey,
    signer: AnySigner,
    owner: Account,
    rated_w: u64,
    /// Counter the meter reports (cheaters' may differ from the truth).
    counter_wh: u64,
    /// Energy really produced so far.
    true_wh: u64,
    seq: u64,
    next_session: u64,
    earned: u128,
    verified_wh: u64,
}

impl Device {
    fn is_meter(&self) -> bool {
        matches!(self.role, role::SOLAR | role::ROLLBACK | role::OVERCLAIM)
    }

    fn envelope<T: AttestationType>(&mut self, domain: &Domain, at: u64, a: &T) -> Result<Vec<u8>> {
        self.seq += 1;
        let body = EnvelopeBody::new(self.id, self.seq, Timestamp(at), a)?;
        // Signed through the depin-device signer, as a meter's secure element would.
        sign_envelope(&mut self.signer, domain, &body)
    }
}

/// Clear-sky production profile at hour `h` (0..24), as a fraction of the rating x 1000.
fn clear_sky_permille(h: u64) -> u64 {
    if !(6..20).contains(&h) {
        return 0;
    }
    let x = (h as f64 + 0.5 - 6.0) / 14.0 * std::f64::consts::PI;
    (x.sin().max(0.0) * 1000.0) as u64
}

fn deploy(opts: &Options, chain: &Chain, rng: &mut SimRng) -> Result<Vec<Device>> {
    let honest = opts.devices_or(DEFAULT_DEVICES).max(3);
    let key_type = opts.key_type.unwrap_or(KeyType::P256);
    let chargers = (honest / 3).max(1);
    let mut specs: Vec<(&'static str, u64)> = Vec::new();
    for _ in 0..honest - chargers {
        specs.push((role::SOLAR, 1_000 * rng.between(3, 9)));
    }
    for _ in 0..chargers {
        let r = CHARGER_RATINGS_W[rng.below(CHARGER_RATINGS_W.len() as u64) as usize];
        specs.push((role::CHARGER, r));
    }
    specs.push((role::ROLLBACK, 6_000));
    specs.push((role::OVERCLAIM, 4_000));
    specs.push((role::OVERCHARGE, 7_400));
    let mut devices = Vec::new();
    for (i, (role, rated_w)) in specs.into_iter().enumerate() {
        let owner = chain.owner_account(&rng.signing_key(KeyType::Secp256k1))?;
        let secret = rng.secret(key_type);
        let key = SigningKey::from_secret_bytes(key_type, &secret)?;
        let signer = AnySigner::new(SigningKey::from_secret_bytes(key_type, &secret)?)?;
        let prefix = match role {
            role::CHARGER | role::OVERCHARGE => "charger",
            _ => "meter",
        };
        devices.push(Device {
            label: format!("{prefix}-{i:02}"),
            role,
            id: DeviceId::from(key.public_key()),
            key,
            signer,
            owner,
            rated_w,
            counter_wh: rng.between(100_000, 9_000_000),
            true_wh: 0,
            seq: 0,
            next_session: 1,
            earned: 0,
            verified_wh: 0,
        });
    }
    Ok(devices)
}

/// One epoch's signed messages, in time order: `(timestamp, device index, bytes)`.
fn epoch_messages(
    epoch: u64,
    devices: &mut [Device],
    domain: &Domain,
    rng: &mut SimRng,
) -> Result<Vec<(u64, usize, Vec<u8>)>> {
    let start = epoch_start(epoch).as_millis();
    let mut out = Vec::new();
    for (i, d) in devices.iter_mut().enumerate() {
        if d.is_meter() {
            let cloud = rng.range(0.35, 1.0);
            for h in 0..24u64 {
                // production during hour h-1, read at the start of hour h
                let produced = if h == 0 {
                    0
                } else {
                    let f = clear_sky_permille(h - 1) as f64 / 1000.0;
                    (d.rated_w as f64 * f * cloud * rng.range(0.9, 1.0)) as u64
                };
                d.true_wh += produced;
                d.counter_wh += match d.role {
                    role::OVERCLAIM => d.rated_w * 16 / 10,
                    _ => produced,
                };
                if d.role == role::ROLLBACK && h == 15 {
                    d.counter_wh = d.counter_wh.saturating_sub(5_000);
                }
                let at = start + h * HOUR_MS + rng.below(90_000);
                let reading = EnergyReading {
                    direction: EnergyDirection::Production,
                    cumulative_wh: d.counter_wh,
                };
                let bytes = d.envelope(domain, at, &reading)?;
                out.push((at, i, bytes));
            }
        } else {
            let mut t = start + rng.between(6, 9) * HOUR_MS;
            for _ in 0..rng.between(1, 3) {
                let minutes = rng.between(30, 180);
                let ended = t + minutes * 60_000;
                if ended + 60_000 >= start + 24 * HOUR_MS {
                    break;
                }
                let delivered =
                    (d.rated_w as f64 * minutes as f64 / 60.0 * rng.range(0.6, 0.95)) as u64;
                let claimed = if d.role == role::OVERCHARGE {
                    delivered * 3 / 2 + d.rated_w * minutes / 60 / 2
                } else {
                    delivered
                };
                d.true_wh += delivered;
                let session = ChargingSession {
                    session_id: d.next_session,
                    started_at: Timestamp(t),
                    ended_at: Timestamp(ended),
                    energy_wh: claimed,
                };
                d.next_session += 1;
                let at = ended + 60_000;
                let bytes = d.envelope(domain, at, &session)?;
                out.push((at, i, bytes));
                t = ended + rng.between(1, 5) * HOUR_MS;
            }
        }
    }
    out.sort_by_key(|m| (m.0, m.1));
    Ok(out)
}

fn kwh(wh: u64) -> String {
    format!("{}.{:03} kWh", wh / 1000, wh % 1000)
}

/// Run the energy network: meters and chargers register (with their rated power), send
/// signed readings and sessions every epoch, the pipeline credits only plausible energy,
/// pools pay per verified kWh, and each epoch is settled on the chain.
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
    let mut devices = deploy(opts, &chain, &mut rng)?;
    progress(
        opts,
        "energy",
        &format!(
            "registering {} devices on {}",
            devices.len(),
            chain.description()
        ),
    );
    let mut registry = MemoryRegistry::new();
    for d in &devices {
        let kind = if d.is_meter() {
            "solar-meter"
        } else {
            "ev-charger"
        };
        let metadata = format!("{{\"kind\":\"{kind}\",\"rated_w\":{}}}", d.rated_w);
        chain.register(&d.key, &d.owner, metadata.into_bytes())?;
        if !chain.device(&d.id)?.active {
            return Err(Error::Check(format!("{} not active on the chain", d.label)));
        }
        let allowed = if d.is_meter() {
            AttestationKind::ENERGY_READING
        } else {
            AttestationKind::CHARGING_SESSION
        };
        let mut record = DeviceRecord::active(KindSet::of(&[allowed]));
        record.rated_power_w = Some(d.rated_w);
        registry.insert(d.id, record)?;
    }
    let mut config = VerifierConfig::new(domain);
    config.schedule = schedule()?;
    let make = move || Verifier::new(config.clone(), registry.clone(), MemoryReplayStore::new());
    let split = PoolSplit::new([("solar", SOLAR_BPS), ("charging", CHARGING_BPS)])?;
    let rules = reward_rules(&split);
    let meters: BTreeSet<DeviceId> = devices
        .iter()
        .filter(|d| d.is_meter())
        .map(|d| d.id)
        .collect();
    let mut served: Option<String> = None;
    let mut verifier = match &opts.serve {
        None => Pipeline::InProcess(make()?),
        Some(dir) => {
            let owners: BTreeMap<DeviceId, Account> =
                devices.iter().map(|d| (d.id, d.owner.clone())).collect();
            let scoring = EnergyScoring {
                emission,
                split: split.clone(),
                meters: meters.clone(),
            };
            // meters send over HTTP; chargers publish to an MQTT broker the oracle
            // subscribes to (when mosquitto is installed; over HTTP otherwise)
            let chargers = devices
                .iter()
                .filter(|d| !d.is_meter())
                .map(|d| d.id)
                .collect();
            let pipeline = Pipeline::serve(
                NETWORK,
                dir,
                &chain,
                Box::new(make.clone()),
                scoring,
                "energy-oracle",
                owners,
                Some(chargers),
                |_| {},
            )?;
            if let Some(oracle) = pipeline.oracle() {
                let transport = match oracle.mqtt_port() {
                    Some(port) => {
                        format!("meters over HTTP, chargers over MQTT (mosquitto on port {port})")
                    }
                    None => "all over HTTP (no mosquitto installed for the chargers' MQTT)".into(),
                };
                progress(
                    opts,
                    "energy",
                    &format!(
                        "served by an oracle at {}, {transport}, store {}",
                        oracle.base_url(),
                        oracle.store_path().display()
                    ),
                );
                served = Some(transport);
            }
            pipeline
        }
    };
    let all_owners: BTreeSet<Account> = devices.iter().map(|d| d.owner.clone()).collect();
    let deferring: BTreeSet<Account> = devices
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 == 1)
        .map(|(_, d)| d.owner.clone())
        .collect();

    let mut epochs = Vec::new();
    for epoch in 1..=opts.epochs {
        let messages = epoch_messages(epoch, &mut devices, &domain, &mut rng)?;
        let mut verified: BTreeMap<usize, u64> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut i = 0;
        while i < messages.len() {
            let window = messages[i].0 / WINDOW_MS;
            let mut j = i;
            while j < messages.len() && messages[j].0 / WINDOW_MS == window {
                j += 1;
            }
            let group = &messages[i..j];
            let inputs: Vec<Input<'_>> = group.iter().map(|m| Input::Envelope(&m.2)).collect();
            let now = Timestamp((window + 1) * WINDOW_MS);
            for (m, v) in group.iter().zip(verifier.verify(&inputs, now)?) {
                seen.insert(m.1);
                if let Ok(Outcome::Energy { wh }) = v {
                    *verified.entry(m.1).or_insert(0) += wh;
                }
            }
            i = j;
        }
        let report = verifier.take_report(Epoch(epoch));

        // Rewards per verified kWh, in two pools.
        let mut by_device: BTreeMap<DeviceId, u64> = BTreeMap::new();
        for (&d, &wh) in &verified {
            devices[d].verified_wh += wh;
            by_device.insert(devices[d].id, wh);
        }
        let (pools, rewards) = pool_rewards(epoch, &emission, &split, &meters, &by_device)?;
        let (mut pool, mut paid, mut receipts_verified, mut paid_devices) = (0, 0, 0, 0);
        let mut credits = Vec::new();
        let mut earned: BTreeMap<DeviceId, u128> = BTreeMap::new();
        for rewards in &rewards {
            pool += pools.get(rewards.category()).unwrap_or(0);
            for p in rewards.distribution().payouts() {
                paid += p.amount;
                paid_devices += usize::from(p.amount > 0);
                *earned.entry(p.id).or_insert(0) += p.amount;
                if let Some(d) = devices.iter_mut().find(|d| d.id == p.id) {
                    d.earned += p.amount;
                    credits.push((d.owner.clone(), p.amount));
                }
            }
            // Publish the epoch's summary (refused if it breaks the rules) and check every
            // receipt against it and the published rules.
            let published = rewards.publish(&rules)?;
            for (r, proof) in rewards.receipts_with_proofs()? {
                verify_receipt(&r, &proof, &published, &rules)?;
                receipts_verified += 1;
            }
        }
        let last = epoch == opts.epochs;
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
        let solar: u64 = verified
            .iter()
            .filter(|(d, _)| devices[**d].is_meter())
            .map(|(_, wh)| wh)
            .sum();
        let charged: u64 = verified
            .iter()
            .filter(|(d, _)| !devices[**d].is_meter())
            .map(|(_, wh)| wh)
            .sum();
        let rate = |pool: Option<u128>, wh: u64| match pool {
            Some(p) if wh > 0 => depin_example_common::format_amount(p * 1000 / u128::from(wh)),
            _ => "-".into(),
        };
        let notes = vec![format!(
            "energy: verified {} produced ({} per kWh), {} charged ({} per kWh)",
            kwh(solar),
            rate(pools.get("solar"), solar),
            kwh(charged),
            rate(pools.get("charging"), charged),
        )];
        progress(
            opts,
            "energy",
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
            pool,
            paid,
            paid_devices,
            receipts_verified,
            settlement,
            notes,
        });
    }
    let meters = devices.iter().filter(|d| d.is_meter()).count();
    Ok(Summary {
        network: "energy".into(),
        title: format!(
            "{meters} solar meters and {} EV chargers, signed cumulative readings and sessions, rewards per verified kWh",
            devices.len() - meters
        ),
        chain: match &served {
            None => format!("{} ({:?} claim tree)", chain.description(), chain.claim_format()),
            Some(t) => format!(
                "{} ({:?} claim tree); served by a real oracle: {t}",
                chain.description(),
                chain.claim_format()
            ),
        },
        devices: devices
            .iter()
            .map(|d| DeviceOutcome {
                id: d.id,
                role: d.role,
                label: d.label.clone(),
                owner: d.owner.clone(),
                earned: d.earned,
            })
            .collect(),
        epochs,
        map: None,
    })
}

/// The epoch's rewards per verified Wh, in the solar pool (meters in `meters`) and the
/// charging pool (every other device), each split exactly
/// ([`Mode::LargestRemainder`]); devices with 0 Wh earn nothing. The same function pays in
/// process and in the served oracle's close ([`EnergyScoring`]), so both pay the same.
pub fn pool_rewards(
    epoch: u64,
    emission: &Constant,
    split: &PoolSplit,
    meters: &BTreeSet<DeviceId>,
    verified: &BTreeMap<DeviceId, u64>,
) -> depin_rewards::Result<(Pools, Vec<EpochRewards<DeviceId>>)> {
    let plan = PoolPlan {
        emission: emission.emission(epoch)?,
        split: split.clone(),
        mode: Mode::LargestRemainder,
        redistributions: Vec::new(),
    };
    let pools = plan.compute()?;
    let mut by_pool: [(&str, Vec<(DeviceId, ScoreBreakdown)>); 2] =
        [("solar", Vec::new()), ("charging", Vec::new())];
    for (&id, &wh) in verified {
        if wh == 0 {
            continue;
        }
        let slot = usize::from(!meters.contains(&id));
        let score = ScoreBreakdown::new(Factor::given(
            "verified_wh",
            Fixed::from_int(u128::from(wh))?,
        ));
        by_pool[slot].1.push((id, score));
    }
    let mut out = Vec::new();
    for (category, scores) in by_pool {
        if scores.is_empty() {
            continue;
        }
        let amount = pools.get(category).unwrap_or(0);
        out.push(
            EpochRewards::compute(epoch, category, amount, Mode::LargestRemainder, scores)?
                .with_pool_plan(plan.clone())?,
        );
    }
    Ok((pools, out))
}

/// The energy network's rules as the served oracle's closer runs them: the accepted
/// items' verified Wh per device ([`Outcome::Energy`]), paid by [`pool_rewards`].
#[derive(Debug, Clone)]
pub struct EnergyScoring {
    /// The emission schedule.
    pub emission: Constant,
    /// The solar / charging split.
    pub split: PoolSplit,
    /// The solar meters (every other device is a charger).
    pub meters: BTreeSet<DeviceId>,
}

impl EpochScoring for EnergyScoring {
    type Tally = BTreeMap<DeviceId, u64>;

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        if let StoredVerdict::Accepted(Outcome::Energy { wh }) = &item.verdict {
            let slot = tally.entry(item.device).or_insert(0);
            *slot = slot.saturating_add(*wh);
        }
    }

    fn scores(&self, _epoch: Epoch, tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        tally
            .into_iter()
            .map(|(d, wh)| (d, u128::from(wh)))
            .collect()
    }

    fn emission(&self, epoch: Epoch) -> u128 {
        self.emission.emission(epoch.0).unwrap_or(0)
    }

    fn payouts(&self, epoch: Epoch, tally: Self::Tally) -> depin_rewards::Result<EpochPayouts> {
        let (_, rewards) =
            pool_rewards(epoch.0, &self.emission, &self.split, &self.meters, &tally)?;
        let mut lines = Vec::new();
        for r in &rewards {
            for p in r.distribution().payouts() {
                lines.push(PayoutLine {
                    device: p.id,
                    pool: r.category().to_string(),
                    score: tally.get(&p.id).copied().unwrap_or(0).to_string(),
                    amount: p.amount,
                });
            }
        }
        Ok(EpochPayouts {
            emission: self.emission.emission(epoch.0)?,
            lines,
            rejected: Vec::new(),
        })
    }
}

/// The network's published reward rules: rewards per verified Wh (given by the energy
/// verifier), in the solar and charging pools of `split`.
fn reward_rules(split: &PoolSplit) -> RuleSet {
    let per_wh = || {
        ScoreRules::new(FactorRule::new(
            "verified_wh",
            FactorKind::Given { max: None },
        ))
    };
    RuleSet::new(NETWORK, 1, Mode::LargestRemainder)
        .with_split(split.clone())
        .with_category("solar", per_wh())
        .with_category("charging", per_wh())
}
