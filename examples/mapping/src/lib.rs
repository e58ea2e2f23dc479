#![doc = include_str!("../README.md")]

pub mod freshness;
pub mod kinds;
pub mod policy;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use depin_attest::store::{LoggedItem, StoredVerdict};
use depin_attest::{
    AttestationType, DeviceRecord, Envelope, EnvelopeBody, Input, KindSet, MemoryRegistry,
    MemoryReplayStore, Outcome, Rejection, VerifierBuilder, VerifierConfig,
};
use depin_chains::oracle::{EpochPayouts, EpochScoring, PayoutLine};
use depin_chains::Account;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey, Timestamp};
use depin_example_common::served::Pipeline;
use depin_example_common::{
    epoch_start, format_amount, hex_prefix, progress, schedule, sign_envelope, AnySigner, Chain,
    DeviceOutcome, EpochSummary, Error, SimRng, TOKEN_DECIMALS,
};
pub use depin_example_common::{Options, Result, Summary};
use depin_rewards::emission::{Constant, EmissionSchedule};
use depin_rewards::pools::{PoolPlan, PoolSplit};
use depin_rewards::{
    roll_up, verify_receipt_with, EpochRewards, Mode, PublishedEpoch, ReceiptProof, RewardReceipt,
    RuleSet,
};
use h3o::{CellIndex, LatLng};

pub use freshness::{TileFreshness, TileMap, TileRefresh};
pub use kinds::{ImageCapture, RouteDeclaration};
pub use policy::{CaptureRate, MappingParams, MappingRules};

/// The network id every signature is bound to.
pub const NETWORK: &str = "depin-demo-mapping";
/// Honest dashcams when [`Options::devices`] is 0 (driving in pairs from shared depots).
pub const DEFAULT_DRIVERS: usize = 8;
/// Tokens emitted per epoch, all to the map-tile pool.
pub const EPOCH_EMISSION: u128 = 40_000 * 10u128.pow(TOKEN_DECIMALS);
/// Centre of the simulated city: San Francisco City Hall.
pub const CITY: (f64, f64) = (37.7793, -122.4193);
/// Captures each cheating dashcam sends per epoch (fixed, so the rejections are exact).
pub const CHEATER_CAPTURES: usize = 40;
/// The [`CaptureRate`] limit of the network: captures per device and clock hour.
pub const CAPTURES_PER_HOUR: u32 = 600;
/// How far the teleporting dashcam jumps on every other capture, metres.
pub const TELEPORT_M: f64 = 15_000.0;
/// How far from its declared route the off-route dashcam really drives, metres.
pub const OFF_ROUTE_M: f64 = 20_000.0;
/// Radius, in tiles, of the map that exists before the first epoch around [`CITY`] (each
/// tile last refreshed 1 to 60 days before epoch 1).
pub const HISTORY_RADIUS: u32 = 12;
/// Verification windows: every message is verified at the end of its 10-minute window
/// (inside the pipeline's 15-minute freshness bound).
const WINDOW_MS: u64 = 600_000;
/// One hour, milliseconds.
const HOUR_MS: u64 = 3_600_000;
/// How long a route stays valid after the drive's last planned capture, ms.
const ROUTE_SLACK_MS: u64 = 30 * 60_000;
/// How far behind its victim the copycat submits the victim's images, ms.
const COPY_DELAY_MS: u64 = 20_000;

/// Roles of the simulated dashcams.
pub mod role {
    /// Declares its route, drives it at street speeds, uploads its own images.
    pub const HONEST: &str = "honest";
    /// Declares a route over two areas 15 km apart and alternates captures between them,
    /// every few seconds (`mapping/impossible_speed` for every other capture).
    pub const TELEPORTER: &str = "teleporter";
    /// Declares one route and drives 20 km away from it (`mapping/off_route`).
    pub const OFF_ROUTE: &str = "off-route";
    /// Follows an honest dashcam 20 s behind and submits that dashcam's image hashes as its
    /// own (`mapping/duplicate_image`).
    pub const COPYCAT: &str = "copycat";
    /// Captures without ever declaring a route (`mapping/no_route`).
    pub const UNROUTED: &str = "unrouted";
    /// Publishes valid captures on the route-declaration gossip topic (`wrong_topic`,
    /// refused before any key or signature work).
    pub const WRONG_TOPIC: &str = "wrong-topic";
    /// Every cheating role, in the order the dashcams are deployed.
    pub const CHEATERS: [&str; 5] = [TELEPORTER, OFF_ROUTE, COPYCAT, UNROUTED, WRONG_TOPIC];
}

/// One dashcam over the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverStats {
    /// Label (`dashcam-03`).
    pub label: String,
    /// Role ([`role`]).
    pub role: &'static str,
    /// The device.
    pub id: DeviceId,
    /// The owner account its rewards are rolled up to.
    pub owner: Account,
    /// Image captures it sent.
    pub captures_sent: u64,
    /// Captures accepted (credited by [`MappingRules`]).
    pub captures_accepted: u64,
    /// Captures rejected, by reason.
    pub captures_rejected: BTreeMap<Rejection, u64>,
    /// Tile refreshes credited to it (one per tile and epoch).
    pub tiles_refreshed: u64,
    /// Earned over all epochs, base units.
    pub earned: u128,
}

/// One epoch's published tile rewards and every receipt with its inclusion proof.
#[derive(Debug, Clone)]
pub struct EpochReceipts {
    /// The epoch.
    pub epoch: u64,
    /// The published summary the receipts verify against.
    pub published: PublishedEpoch<DeviceId>,
    /// Every device's receipt, in device order, with its proof.
    pub receipts: Vec<(RewardReceipt<DeviceId>, ReceiptProof)>,
}

/// A mapping run with what the printable [`Summary`] leaves out.
#[derive(Debug, Clone)]
pub struct MappingRun {
    /// The summary (as [`run`] returns it).
    pub summary: Summary,
    /// Every dashcam, in deployment order.
    pub drivers: Vec<DriverStats>,
    /// The published reward rules.
    pub rules: RuleSet,
    /// The receipts of the last epoch that paid anything.
    pub last_receipts: Option<EpochReceipts>,
}

#[derive(Debug)]
struct Driver {
    label: String,
    role: &'static str,
    id: DeviceId,
    key: SigningKey,
    signer: AnySigner,
    owner: Account,
    home: (f64, f64),
    seq: u64,
    route_id: u64,
    sent: u64,
    accepted: u64,
    rejected: BTreeMap<Rejection, u64>,
    tiles_refreshed: u64,
    earned: u128,
}

impl Driver {
    fn sign<T: AttestationType>(&mut self, domain: &Domain, at: u64, a: &T) -> Result<Vec<u8>> {
        self.seq += 1;
        let body = EnvelopeBody::new(self.id, self.seq, Timestamp(at), a)?;
        // Signed through the depin-device signer, as a dashcam's secure element would.
        sign_envelope(&mut self.signer, domain, &body)
    }
}

/// One signed message on its way to the verifier.
struct Message {
    at: u64,
    driver: usize,
    /// The kinds of the gossip topic it was published on.
    topic: KindSet,
    capture: bool,
    bytes: Vec<u8>,
}

/// Signs and collects an epoch's messages.
struct Outbox {
    domain: Domain,
    captures: KindSet,
    routes: KindSet,
    messages: Vec<Message>,
}

impl Outbox {
    fn route(
        &mut self,
        i: usize,
        d: &mut Driver,
        at: u64,
        cells: Vec<u64>,
        valid_until_ms: u64,
    ) -> Result<()> {
        d.route_id += 1;
        let route = RouteDeclaration {
            route_id: d.route_id,
            cells,
            valid_until_ms,
        };
        let bytes = d.sign(&self.domain, at, &route)?;
        self.messages.push(Message {
            at,
            driver: i,
            topic: self.routes,
            capture: false,
            bytes,
        });
        Ok(())
    }

    fn capture(
        &mut self,
        i: usize,
        d: &mut Driver,
        at: u64,
        capture: &ImageCapture,
        topic: KindSet,
    ) -> Result<()> {
        d.sent += 1;
        let bytes = d.sign(&self.domain, at, capture)?;
        self.messages.push(Message {
            at,
            driver: i,
            topic,
            capture: true,
            bytes,
        });
        Ok(())
    }
}

/// Move `m_north`, `m_east` metres from `p` (flat-earth offset, fine at city scale).
fn offset(p: (f64, f64), m_north: f64, m_east: f64) -> (f64, f64) {
    let lat = p.0 + m_north / 111_320.0;
    let lng = p.1 + m_east / (111_320.0 * p.0.to_radians().cos());
    (lat, lng)
}

/// A bearing in degrees as a heading in tenths of a degree, `0..3600`.
fn heading_ddeg(bearing_deg: f64) -> u16 {
    ((bearing_deg.rem_euclid(360.0) * 10.0) as u16) % kinds::HEADING_LIMIT_DDEG
}

/// A planned capture: when, where, which way.
#[derive(Debug, Clone, Copy)]
struct Shot {
    at: u64,
    pos: (f64, f64),
    heading_ddeg: u16,
}

/// A drive from `start` leaving at `depart`: straight legs of 0.6 to 1.8 km along the street
/// grid at 25 to 55 km/h, turning left or right between legs, one capture every 3 to 6 s.
fn plan_drive(rng: &mut SimRng, start: (f64, f64), depart: u64, captures: usize) -> Vec<Shot> {
    let mut out = Vec::with_capacity(captures);
    let mut pos = start;
    let mut bearing = 90.0 * rng.below(4) as f64 + rng.range(-8.0, 8.0);
    let mut speed_m_s = rng.range(25.0, 55.0) / 3.6;
    let mut leg_m = rng.range(600.0, 1_800.0);
    let mut t = depart;
    for _ in 0..captures {
        let dt = rng.between(3_000, 6_000);
        t += dt;
        let step = speed_m_s * dt as f64 / 1_000.0;
        let b = f64::to_radians(bearing);
        pos = offset(pos, step * b.cos(), step * b.sin());
        out.push(Shot {
            at: t,
            pos,
            heading_ddeg: heading_ddeg(bearing),
        });
        leg_m -= step;
        if leg_m <= 0.0 {
            bearing += if rng.chance(0.5) { 90.0 } else { -90.0 };
            speed_m_s = rng.range(25.0, 55.0) / 3.6;
            leg_m = rng.range(600.0, 1_800.0);
        }
    }
    out
}

/// The capture a camera makes at `pos` (a fresh image: a random hash stands for the
/// SHA-256 of its pixels).
fn capture_at(rng: &mut SimRng, pos: (f64, f64), heading: u16) -> Result<ImageCapture> {
    let cell = kinds::capture_cell(pos.0, pos.1)
        .ok_or_else(|| Error::Check(format!("position {pos:?} is not a coordinate")))?;
    let mut image_hash = [0u8; 32];
    rng.fill(&mut image_hash);
    Ok(ImageCapture {
        cell,
        heading_ddeg: heading,
        image_hash,
    })
}

/// The route a drive needs: the resolution-7 parents of its capture cells, ascending.
fn route_cells<'a>(captures: impl IntoIterator<Item = &'a ImageCapture>) -> Result<Vec<u64>> {
    let cells = captures
        .into_iter()
        .map(|c| {
            kinds::route_cell(c.cell).ok_or_else(|| {
                Error::Check(format!("capture cell {:#x} has no route cell", c.cell))
            })
        })
        .collect::<Result<BTreeSet<u64>>>()?;
    if cells.len() > kinds::MAX_ROUTE_CELLS {
        return Err(Error::Check(format!(
            "a drive over {} route cells (at most {})",
            cells.len(),
            kinds::MAX_ROUTE_CELLS
        )));
    }
    Ok(cells.into_iter().collect())
}

fn deploy(opts: &Options, chain: &Chain, rng: &mut SimRng) -> Result<Vec<Driver>> {
    let honest = opts.devices_or(DEFAULT_DRIVERS).max(2);
    let key_type = opts.key_type.unwrap_or(KeyType::Ed25519);
    // Honest dashcams drive in pairs from a shared depot and belong to the same fleet (an
    // owner with two devices); each cheater has an owner of its own.
    let mut specs: Vec<(&'static str, String, (f64, f64))> = Vec::new();
    let mut depot = CITY;
    for i in 0..honest {
        if i % 2 == 0 {
            depot = offset(
                CITY,
                rng.range(-2_000.0, 2_000.0),
                rng.range(-2_000.0, 2_000.0),
            );
        }
        specs.push((role::HONEST, format!("fleet-{}", i / 2), depot));
    }
    for r in role::CHEATERS {
        let home = offset(
            CITY,
            rng.range(-2_500.0, 2_500.0),
            rng.range(-2_500.0, 2_500.0),
        );
        specs.push((r, format!("owner-{r}"), home));
    }
    let mut owners: BTreeMap<String, Account> = BTreeMap::new();
    let mut drivers = Vec::with_capacity(specs.len());
    for (i, (role, owner_name, home)) in specs.into_iter().enumerate() {
        let owner = match owners.get(&owner_name) {
            Some(a) => a.clone(),
            None => {
                let a = chain.owner_account(&rng.signing_key(KeyType::Secp256k1))?;
                owners.insert(owner_name, a.clone());
                a
            }
        };
        let secret = rng.secret(key_type);
        let key = SigningKey::from_secret_bytes(key_type, &secret)?;
        let signer = AnySigner::new(SigningKey::from_secret_bytes(key_type, &secret)?)?;
        drivers.push(Driver {
            label: format!("dashcam-{i:02}"),
            role,
            id: DeviceId::from(key.public_key()),
            key,
            signer,
            owner,
            home,
            seq: 0,
            route_id: 0,
            sent: 0,
            accepted: 0,
            rejected: BTreeMap::new(),
            tiles_refreshed: 0,
            earned: 0,
        });
    }
    Ok(drivers)
}

/// The map before the first epoch: the tiles around the city centre, each last refreshed
/// 1 to 60 days before epoch 1.
fn seed_history(map: &mut TileMap, rng: &mut SimRng) -> Result<()> {
    let centre = LatLng::new(CITY.0, CITY.1)
        .map_err(|e| Error::Options(format!("bad city centre {CITY:?}: {e}")))?
        .to_cell(freshness::TILE_RES);
    let mut tiles: Vec<CellIndex> = centre.grid_disk::<Vec<CellIndex>>(HISTORY_RADIUS);
    tiles.sort_unstable();
    for tile in tiles {
        let age = i64::try_from(rng.between(1, 60)).unwrap_or(1);
        map.mark_refreshed(u64::from(tile), 1 - age);
    }
    Ok(())
}

/// A drive: (route declared at, route cells, captures with their times).
type Drive = (u64, Vec<u64>, Vec<(u64, ImageCapture)>);

/// The signed messages of one epoch, in time order: every dashcam's route declaration and
/// captures (see [`role`] for what each cheater does).
fn epoch_messages(
    epoch: u64,
    drivers: &mut [Driver],
    outbox: &mut Outbox,
    rng: &mut SimRng,
) -> Result<()> {
    let start = epoch_start(epoch).as_millis();
    // the first honest dashcam's drive, which the copycat shadows:
    // (declared at, route cells, captures with their times)
    let mut victim: Option<Drive> = None;
    let captures_topic = outbox.captures;
    let routes_topic = outbox.routes;
    for (i, d) in drivers.iter_mut().enumerate() {
        let depart = start + rng.between(7, 15) * HOUR_MS + rng.below(HOUR_MS);
        let n = if d.role == role::HONEST {
            usize::try_from(rng.between(50, 90)).unwrap_or(50)
        } else {
            CHEATER_CAPTURES
        };
        let shots = plan_drive(rng, d.home, depart, n);
        let last_at = shots.last().map_or(depart, |s| s.at);
        let valid_until = last_at + ROUTE_SLACK_MS;
        match d.role {
            role::HONEST | role::WRONG_TOPIC => {
                let captures = shots
                    .iter()
                    .map(|s| -> Result<(u64, ImageCapture)> {
                        Ok((s.at, capture_at(rng, s.pos, s.heading_ddeg)?))
                    })
                    .collect::<Result<Vec<(u64, ImageCapture)>>>()?;
                let cells = route_cells(captures.iter().map(|c| &c.1))?;
                outbox.route(i, d, depart, cells.clone(), valid_until)?;
                // the wrong-topic dashcam publishes its captures where routes travel
                let topic = if d.role == role::HONEST {
                    captures_topic
                } else {
                    routes_topic
                };
                for (at, c) in &captures {
                    outbox.capture(i, d, *at, c, topic)?;
                }
                if d.role == role::HONEST && victim.is_none() {
                    victim = Some((depart, cells, captures));
                }
            }
            role::TELEPORTER => {
                let captures = shots
                    .iter()
                    .enumerate()
                    .map(|(k, s)| -> Result<(u64, ImageCapture)> {
                        let pos = if k % 2 == 1 {
                            offset(s.pos, 0.0, TELEPORT_M)
                        } else {
                            s.pos
                        };
                        Ok((s.at, capture_at(rng, pos, s.heading_ddeg)?))
                    })
                    .collect::<Result<Vec<(u64, ImageCapture)>>>()?;
                // the route covers both areas: only the speed gives it away
                let cells = route_cells(captures.iter().map(|c| &c.1))?;
                outbox.route(i, d, depart, cells, valid_until)?;
                for (at, c) in &captures {
                    outbox.capture(i, d, *at, c, captures_topic)?;
                }
            }
            role::OFF_ROUTE => {
                // declares the drive it planned at home ...
                let planned = shots
                    .iter()
                    .map(|s| capture_at(rng, s.pos, s.heading_ddeg))
                    .collect::<Result<Vec<ImageCapture>>>()?;
                outbox.route(i, d, depart, route_cells(&planned)?, valid_until)?;
                // ... and drives 20 km south of it
                let elsewhere = offset(d.home, -OFF_ROUTE_M, 0.0);
                for s in plan_drive(rng, elsewhere, depart, n) {
                    let c = capture_at(rng, s.pos, s.heading_ddeg)?;
                    outbox.capture(i, d, s.at, &c, captures_topic)?;
                }
            }
            role::COPYCAT => {
                let (declared, cells, captures) = victim.as_ref().ok_or_else(|| {
                    Error::Check("the copycat has no honest dashcam to copy".into())
                })?;
                outbox.route(
                    i,
                    d,
                    declared + COPY_DELAY_MS,
                    cells.clone(),
                    declared + COPY_DELAY_MS + copied_route_validity(captures),
                )?;
                for (at, c) in captures.iter().take(CHEATER_CAPTURES) {
                    outbox.capture(i, d, at + COPY_DELAY_MS, c, captures_topic)?;
                }
            }
            role::UNROUTED => {
                for s in &shots {
                    let c = capture_at(rng, s.pos, s.heading_ddeg)?;
                    outbox.capture(i, d, s.at, &c, captures_topic)?;
                }
            }
            other => return Err(Error::Check(format!("unknown role {other}"))),
        }
    }
    outbox.messages.sort_by_key(|m| (m.at, m.driver));
    Ok(())
}

/// How long the copycat's copy of its victim's route stays valid after its declaration:
/// as long as the victim's.
fn copied_route_validity(captures: &[(u64, ImageCapture)]) -> u64 {
    let first = captures.first().map_or(0, |c| c.0);
    let last = captures.last().map_or(0, |c| c.0);
    last.saturating_sub(first) + ROUTE_SLACK_MS
}

/// Run the mapping network and return the printable summary (see [`simulate`]).
pub fn run(opts: &Options) -> Result<Summary> {
    simulate(opts).map(|r| r.summary)
}

/// Run the mapping network: dashcams register on the chain, declare their routes and send
/// signed image captures every epoch; a verifier with only the network's own kinds and
/// policies ([`MappingRules`], [`CaptureRate`]) accepts the plausible ones; the epoch's pool
/// is paid by tile freshness ([`TileFreshness`]), every receipt is verified against the
/// published rules, payouts are rolled up to the owners and settled on the chain.
pub fn simulate(opts: &Options) -> Result<MappingRun> {
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
    let mut drivers = deploy(opts, &chain, &mut rng)?;
    progress(
        opts,
        "mapping",
        &format!(
            "registering {} dashcams on {}",
            drivers.len(),
            chain.description()
        ),
    );

    // Register every dashcam on the chain (the device key signs the chain's challenge), then
    // allow it the network's two kinds in the verifier's registry.
    let allowed = KindSet::of(&[ImageCapture::KIND, RouteDeclaration::KIND]);
    let mut registry = MemoryRegistry::new();
    for d in &drivers {
        let metadata = format!("{{\"kind\":\"dashcam\",\"label\":\"{}\"}}", d.label);
        chain.register(&d.key, &d.owner, metadata.into_bytes())?;
        let on_chain = chain.device(&d.id)?;
        if !on_chain.active || on_chain.owner != d.owner {
            return Err(Error::Check(format!(
                "{} not recorded on the chain",
                d.label
            )));
        }
        registry.insert(d.id, DeviceRecord::active(allowed))?;
    }
    let by_id: HashMap<DeviceId, usize> =
        drivers.iter().enumerate().map(|(i, d)| (d.id, i)).collect();

    // The verifier: no built-in kind or policy, only the network's own, in this order. A
    // factory, so that a served oracle can rebuild it by replaying its store.
    let mut config = VerifierConfig::new(domain);
    config.schedule = schedule()?;
    let expected = drivers.len();
    let make = move || {
        VerifierBuilder::new(config.clone())
            .without_builtins()
            .kind_type::<ImageCapture>()
            .kind_type::<RouteDeclaration>()
            .policy(MappingRules::new(MappingParams::default()))
            .policy(CaptureRate::new(CAPTURES_PER_HOUR))
            .expected_devices(expected)
            .build(registry.clone(), MemoryReplayStore::new())
    };
    let names = make()?;
    let mut outbox = Outbox {
        domain,
        captures: names.topic_kinds(ImageCapture::TOPIC),
        routes: names.topic_kinds(RouteDeclaration::TOPIC),
        messages: Vec::new(),
    };

    // Rewards: the whole emission to the map-tile pool, paid by tile freshness.
    let split = PoolSplit::new([(freshness::CATEGORY, 10_000)])?;
    let rules = freshness::reward_rules(&split);
    let evidence = freshness::evidence_rules()?;
    let mut map = TileMap::new();
    seed_history(&mut map, &mut rng)?;
    let deferring: BTreeSet<Account> = drivers
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 == 2)
        .map(|(_, d)| d.owner.clone())
        .collect();
    let all_owners: BTreeSet<Account> = drivers.iter().map(|d| d.owner.clone()).collect();

    let mut served = None;
    let mut verifier = match &opts.serve {
        None => Pipeline::InProcess(make()?),
        Some(dir) => {
            let owners: BTreeMap<DeviceId, Account> =
                drivers.iter().map(|d| (d.id, d.owner.clone())).collect();
            let scoring = MappingScoring {
                emission,
                split: split.clone(),
                rules: rules.clone(),
                seed: map.clone(),
            };
            // every other honest dashcam uploads over MQTT, the rest over HTTP; each
            // message with the gossip topic it belongs to
            let mqtt = drivers
                .iter()
                .filter(|d| d.role == role::HONEST)
                .step_by(2)
                .map(|d| d.id)
                .collect();
            let pipeline = Pipeline::serve(
                NETWORK,
                dir,
                &chain,
                Box::new(make.clone()),
                scoring,
                "mapping-oracle",
                owners,
                Some(mqtt),
                |_| {},
            )?;
            if let Some(oracle) = pipeline.announce(opts, "mapping") {
                served = Some(if oracle.mqtt_port().is_some() {
                    "; served by a real oracle: captures and routes over HTTP and MQTT, each with its gossip topic"
                } else {
                    "; served by a real oracle: captures and routes over HTTP (no mosquitto for MQTT), each with its gossip topic"
                });
            }
            pipeline
        }
    };

    let mut epochs = Vec::new();
    let mut last_receipts = None;
    for epoch in 1..=opts.epochs {
        outbox.messages.clear();
        epoch_messages(epoch, &mut drivers, &mut outbox, &mut rng)?;
        let messages = &outbox.messages;
        let mut seen = BTreeSet::new();
        // accepted captures: (device, tile)
        let mut visits: Vec<(DeviceId, u64)> = Vec::new();
        let mut i = 0;
        while i < messages.len() {
            let window = messages[i].at / WINDOW_MS;
            let mut j = i;
            while j < messages.len() && messages[j].at / WINDOW_MS == window {
                j += 1;
            }
            let group = &messages[i..j];
            // each message is verified as coming from the gossip topic it was published on
            let inputs: Vec<Input<'_>> = group
                .iter()
                .map(|m| Input::EnvelopeOf(&m.bytes, m.topic))
                .collect();
            let now = Timestamp((window + 1) * WINDOW_MS);
            for (m, verdict) in group.iter().zip(verifier.verify(&inputs, now)?) {
                seen.insert(m.driver);
                let d = &mut drivers[m.driver];
                match verdict {
                    Ok(Outcome::Credited { .. }) if m.capture => {
                        // the capture this dashcam signed (its own message)
                        let tile = capture_tile(&m.bytes).ok_or_else(|| {
                            Error::Check(format!("{}'s credited capture has no tile", d.label))
                        })?;
                        d.accepted += 1;
                        visits.push((d.id, tile));
                    }
                    Ok(_) => {}
                    Err(reason) if m.capture => *d.rejected.entry(reason).or_insert(0) += 1,
                    Err(reason) => {
                        return Err(Error::Check(format!(
                            "{}'s route declaration was refused: {reason}",
                            d.label
                        )))
                    }
                }
            }
            i = j;
        }
        let report = verifier.take_report(Epoch(epoch));

        // Tile freshness, before this epoch's refreshes are recorded.
        let mut by_tile: BTreeMap<u64, BTreeSet<DeviceId>> = BTreeMap::new();
        for (device, tile) in &visits {
            by_tile.entry(*tile).or_default().insert(*device);
        }
        let (mut never, mut stale, mut recent) = (0usize, 0usize, 0usize);
        for tile in by_tile.keys() {
            match map.days_since(*tile, epoch) {
                freshness::NEVER_REFRESHED => never += 1,
                d if d >= 7 => stale += 1,
                _ => recent += 1,
            }
        }
        let shared = by_tile.values().filter(|s| s.len() > 1).count();
        let refreshes = map.refresh(epoch, visits.iter().copied());
        for (id, tiles) in &refreshes {
            if let Some(&k) = by_id.get(id) {
                drivers[k].tiles_refreshed += tiles.len() as u64;
            }
        }

        // Rewards: scores by the published evidence rule, the pool distributed exactly,
        // every receipt verified against the published rules with the rule registered.
        let (amount, rewards) = mapping_rewards(epoch, &emission, &split, &rules, &refreshes)?;
        let (mut pool, mut paid, mut paid_devices, mut receipts_verified) = (0u128, 0u128, 0, 0);
        let mut credits = Vec::new();
        let mut earned: BTreeMap<DeviceId, u128> = BTreeMap::new();
        if let Some(rewards) = rewards {
            let published = rewards.publish_with(&rules, &evidence)?;
            let receipts = rewards.receipts_with_proofs()?;
            for (receipt, proof) in &receipts {
                verify_receipt_with(receipt, proof, &published, &rules, &evidence)?;
                receipts_verified += 1;
            }
            pool = amount;
            let payouts: Vec<(DeviceId, u128)> = rewards
                .distribution()
                .payouts()
                .iter()
                .map(|p| (p.id, p.amount))
                .collect();
            for &(id, amount) in &payouts {
                earned.insert(id, amount);
                paid += amount;
                paid_devices += usize::from(amount > 0);
                if let Some(&k) = by_id.get(&id) {
                    drivers[k].earned += amount;
                }
            }
            // Several dashcams per owner: one claim per owner.
            let owners = roll_up(payouts, |id| {
                by_id.get(id).map(|&k| drivers[k].owner.clone())
            })?
            .require_owned()?;
            if owners.total() != paid {
                return Err(Error::Check(format!(
                    "owners' totals {} differ from the payouts {paid}",
                    owners.total()
                )));
            }
            credits = owners.claims();
            last_receipts = Some(EpochReceipts {
                epoch,
                published,
                receipts,
            });
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

        let mapping = verifier
            .in_process()
            .and_then(|v| v.policy::<MappingRules>());
        let notes = vec![
            format!(
                "map: {} captures credited in {} tiles ({never} never mapped, {stale} last refreshed a week or more ago, {recent} within the week), {shared} tiles shared by several dashcams; {}",
                visits.len(),
                by_tile.len(),
                match by_tile.len() {
                    0 => "no tile refreshed".to_string(),
                    n => format!("{} per tile on average", format_amount(pool / n as u128)),
                }
            ),
            format!(
                "policies: mapping rejected {} captures, capture_rate {}; {}",
                report.rejected_by_policy(policy::MAPPING),
                report.rejected_by_policy(policy::CAPTURE_RATE),
                match mapping {
                    Some(m) => format!(
                        "{} routes declared, {} image hashes remembered",
                        m.declared_routes(),
                        m.remembered_images()
                    ),
                    None => "routes and image hashes kept by the oracle".into(),
                }
            ),
        ];
        progress(
            opts,
            "mapping",
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

    let honest = drivers.iter().filter(|d| d.role == role::HONEST).count();
    let summary = Summary {
        network: "mapping".into(),
        title: format!(
            "{honest} dashcams and {} cheaters mapping San Francisco, signed captures on declared routes, rewards by tile freshness",
            drivers.len() - honest
        ),
        chain: format!(
            "{} ({:?} claim tree){}",
            chain.description(),
            chain.claim_format(),
            served.unwrap_or_default()
        ),
        devices: drivers
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
    };
    let drivers = drivers
        .into_iter()
        .map(|d| DriverStats {
            label: d.label,
            role: d.role,
            id: d.id,
            owner: d.owner,
            captures_sent: d.sent,
            captures_accepted: d.accepted,
            captures_rejected: d.rejected,
            tiles_refreshed: d.tiles_refreshed,
            earned: d.earned,
        })
        .collect();
    Ok(MappingRun {
        summary,
        drivers,
        rules,
        last_receipts,
    })
}

/// The tile of the capture in an envelope (the simulator's own message, or a stored item):
/// `None` if it is not a capture or its cell has no tile.
pub fn capture_tile(envelope: &[u8]) -> Option<u64> {
    let envelope = Envelope::decode(envelope, envelope.len()).ok()?;
    let capture = envelope.body.decode::<ImageCapture>().ok()?;
    freshness::tile_of(capture.cell)
}

/// The epoch's tile rewards from its refresh records: the map-tile pool's amount, and the
/// exact split of it over the devices' [`TileFreshness`] scores (`None` when nothing
/// scored or the pool is empty). The same function pays in process and in the served
/// oracle's close ([`MappingScoring`]).
pub fn mapping_rewards(
    epoch: u64,
    emission: &Constant,
    split: &PoolSplit,
    rules: &RuleSet,
    refreshes: &BTreeMap<DeviceId, Vec<TileRefresh>>,
) -> depin_rewards::Result<(u128, Option<EpochRewards<DeviceId>>)> {
    let plan = PoolPlan {
        emission: emission.emission(epoch)?,
        split: split.clone(),
        mode: Mode::LargestRemainder,
        redistributions: Vec::new(),
    };
    let amount = plan.compute()?.get(freshness::CATEGORY).unwrap_or(0);
    let scores = freshness::tile_scores(refreshes, freshness::CAP_DAYS, rules.window(epoch)?)?;
    if scores.is_empty() || amount == 0 {
        return Ok((amount, None));
    }
    let rewards = EpochRewards::compute(
        epoch,
        freshness::CATEGORY,
        amount,
        Mode::LargestRemainder,
        scores,
    )?
    .with_pool_plan(plan)?;
    Ok((amount, Some(rewards)))
}

/// How many closed epochs [`MappingScoring`] looks back at: a year. A tile's days since
/// its last refresh are exact while the network is younger than that (the simulations
/// run a few days); an older network would checkpoint its tile map instead of streaming
/// a year of captures at every close.
pub const HISTORY_EPOCHS: u64 = 366;

/// The mapping network's rules as the served oracle's closer runs them: the tile map
/// before the oracle's first epoch (`seed`), the credited captures of the closed epochs
/// before this one (their tiles refreshed on those days), and this epoch's credited
/// captures, paid by [`mapping_rewards`]. A function of the stored items, so a
/// recomputation from the store gives the same root.
#[derive(Debug, Clone)]
pub struct MappingScoring {
    /// The emission schedule.
    pub emission: Constant,
    /// The pool split (the map-tile pool).
    pub split: PoolSplit,
    /// The published reward rules.
    pub rules: RuleSet,
    /// The map before the oracle's first epoch.
    pub seed: TileMap,
}

/// What [`MappingScoring`] collects while the items stream by.
#[derive(Debug, Default)]
pub struct MappingTally {
    /// Tiles refreshed in the earlier epochs.
    history: TileMap,
    /// This epoch's `(device, tile)` visits.
    visits: Vec<(DeviceId, u64)>,
}

/// The tile of a credited capture in the store.
fn credited_tile(item: &LoggedItem) -> Option<u64> {
    match &item.verdict {
        StoredVerdict::Accepted(Outcome::Credited { .. }) if item.kind == ImageCapture::KIND => {
            capture_tile(&item.bytes)
        }
        _ => None,
    }
}

impl EpochScoring for MappingScoring {
    type Tally = MappingTally;

    fn tally(&self, tally: &mut MappingTally, item: &LoggedItem) {
        if let Some(tile) = credited_tile(item) {
            tally.visits.push((item.device, tile));
        }
    }

    fn history_epochs(&self) -> u64 {
        HISTORY_EPOCHS
    }

    fn tally_history(&self, tally: &mut MappingTally, item: &LoggedItem) {
        if let Some(tile) = credited_tile(item) {
            let day = i64::try_from(item.epoch.0).unwrap_or(i64::MAX);
            tally.history.mark_refreshed(tile, day);
        }
    }

    fn scores(&self, _epoch: Epoch, tally: MappingTally) -> Vec<(DeviceId, u128)> {
        // (what payouts pays; the closer calls payouts)
        let mut visits: BTreeMap<DeviceId, u128> = BTreeMap::new();
        for (device, _) in tally.visits {
            *visits.entry(device).or_insert(0) += 1;
        }
        visits.into_iter().collect()
    }

    fn emission(&self, epoch: Epoch) -> u128 {
        self.emission.emission(epoch.0).unwrap_or(0)
    }

    fn payouts(&self, epoch: Epoch, tally: MappingTally) -> depin_rewards::Result<EpochPayouts> {
        let mut map = self.seed.clone();
        map.merge(&tally.history);
        let refreshes = map.refresh(epoch.0, tally.visits);
        let (_, rewards) = mapping_rewards(
            epoch.0,
            &self.emission,
            &self.split,
            &self.rules,
            &refreshes,
        )?;
        let mut lines = Vec::new();
        if let Some(r) = &rewards {
            for p in r.distribution().payouts() {
                lines.push(PayoutLine {
                    device: p.id,
                    pool: freshness::CATEGORY.into(),
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
            rejected: Vec::new(),
        })
    }
}

/// The code blocks of `docs/guide-startup.md`, compiled and run as doc tests so the guide
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide-startup.md")]
pub struct GuideStartup;
