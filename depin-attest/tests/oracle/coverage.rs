//! Witness selection at close: an oracle whose verifier runs with
//! `CoveragePolicy::select_at_close` stores beacons and witnesses as they arrive, and the
//! round chosen from its store ([`CoverageRules::restore_item`], then `finalize`) is the
//! round an in-process verifier chooses when it finalizes itself, on the same batches at the
//! same times: the same kept witnesses, the same rejections, the same rings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use depin_attest::ingest::{Channel, Engine, EngineConfig, ItemBytes, ItemResult, Source};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::OracleStore;
use depin_attest::types::{beacon_id, CoverageBeacon, CoverageWitness, H3Cell, Region};
use depin_attest::{
    CoverageRules, DenyState, DeviceRecord, Envelope, EnvelopeBody, Input, KindSet, MemoryRegistry,
    MemoryReplayStore, Outcome, Registry, Rejection, Verifier, VerifierConfig,
};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use h3o::{LatLng, Resolution};

const NOW: Timestamp = crate::NOW;
const FREQ: u64 = 904_600_000;

fn key(i: u8) -> SigningKey {
    SigningKey::from_secret_bytes(KeyType::Ed25519, &[i + 40; 32]).unwrap()
}

fn id(i: u8) -> DeviceId {
    DeviceId::from(&key(i).public_key())
}

/// A res-12 cell `north_m` metres north of a point in Paris.
fn cell(north_m: f64) -> H3Cell {
    let ll = LatLng::new(48.8566 + north_m / 111_195.0, 2.3522).unwrap();
    H3Cell(ll.to_cell(Resolution::Twelve))
}

fn domain() -> Domain {
    Domain::new(NetworkId::new("coverage-at-close").unwrap())
}

/// Devices 0..8, each located where its reports say: device `i` at `north(i)` metres.
fn north(i: u8) -> f64 {
    match i {
        0 => 0.0,
        1 => 2_000.0,
        2 => 3_000.0,
        3 => 100.0,     // too close to 0
        4 => 150_000.0, // too far from 0
        5 => 4_000.0,
        6 => 5_000.0,
        _ => 20_000.0,
    }
}

fn registry() -> MemoryRegistry {
    let mut r = MemoryRegistry::new();
    for i in 0..8 {
        let mut rec = DeviceRecord::active(KindSet::ALL);
        rec.location = Some(cell(north(i)));
        r.insert(id(i), rec).unwrap();
    }
    r
}

fn config(at_close: bool) -> VerifierConfig {
    let mut config = VerifierConfig::new(domain());
    config.policies.coverage.max_witnesses = 3;
    config.policies.coverage.select_at_close = at_close;
    config
}

fn verifier(at_close: bool) -> Verifier<MemoryRegistry, MemoryReplayStore> {
    Verifier::new(config(at_close), registry(), MemoryReplayStore::new()).unwrap()
}

fn sign<T: depin_attest::AttestationType>(i: u8, seq: u64, at: Timestamp, a: &T) -> Vec<u8> {
    let body = EnvelopeBody::new(id(i), seq, at, a).unwrap();
    Envelope::sign(&domain(), &key(i), &body).unwrap()
}

fn beacon(i: u8, payload: &[u8]) -> CoverageBeacon {
    CoverageBeacon {
        payload: payload.to_vec(),
        cell: cell(north(i)),
        frequency_hz: FREQ,
        tx_power_ddbm: 270,
        region: Region::Us915,
    }
}

fn witness(i: u8, beaconer: u8, payload: &[u8], rssi_ddbm: i32) -> CoverageWitness {
    CoverageWitness {
        beacon_id: beacon_id(&id(beaconer), payload),
        beacon_payload: payload.to_vec(),
        cell: cell(north(i)),
        frequency_hz: FREQ,
        rssi_ddbm,
        snr_ddb: 55,
        region: Region::Us915,
    }
}

fn at(ms: u64) -> Timestamp {
    Timestamp(NOW.0 + ms)
}

/// Four batches at four processing times: two beacons, then witnesses of every kind of
/// fate (kept, too close, too far, a second copy from the same gateway that arrives later
/// with an earlier timestamp, beyond the limit of 3, of an unknown beacon), some arriving
/// before their beacon's batch.
fn batches() -> Vec<(Timestamp, Vec<Vec<u8>>)> {
    let (p0, p7) = (b"payload-of-0".as_slice(), b"payload-of-7".as_slice());
    vec![
        (
            at(1_000),
            vec![
                // a witness of 7's beacon, before that beacon is in
                sign(6, 1, at(2_300), &witness(6, 7, p7, -1_100)),
                sign(0, 1, at(0), &beacon(0, p0)),
            ],
        ),
        (
            at(3_000),
            vec![
                sign(7, 1, at(2_000), &beacon(7, p7)),
                sign(1, 1, at(500), &witness(1, 0, p0, -1_000)),
                sign(2, 1, at(600), &witness(2, 0, p0, -1_050)),
                sign(3, 1, at(700), &witness(3, 0, p0, -900)),
                sign(4, 1, at(800), &witness(4, 0, p0, -1_300)),
            ],
        ),
        (
            at(4_000),
            vec![
                // 1 again, stamped earlier but arriving later: the first copy stays
                sign(1, 2, at(400), &witness(1, 0, p0, -1_000)),
                sign(5, 1, at(900), &witness(5, 0, p0, -1_100)),
                sign(6, 2, at(950), &witness(6, 0, p0, -1_150)),
                sign(5, 2, at(2_400), &witness(5, 7, p7, -1_150)),
            ],
        ),
        (
            at(5_000),
            vec![
                // a fourth valid witness of 0's beacon (limit 3), one of a beacon nobody sent
                sign(7, 2, at(1_000), &witness(7, 0, p0, -1_200)),
                sign(2, 2, at(2_500), &witness(2, 3, b"no-such-beacon", -1_000)),
            ],
        ),
    ]
}

#[test]
fn witnesses_chosen_at_close_from_the_store_are_the_ones_chosen_in_process() {
    // in process: the verifier keeps the round and finalizes it itself
    let mut in_process = verifier(false);
    let mut expected: Vec<Result<Outcome, Rejection>> = Vec::new();
    for (now, items) in batches() {
        let inputs: Vec<Input<'_>> = items.iter().map(|b| Input::Envelope(b)).collect();
        for v in in_process.verify_batch(&inputs, now) {
            expected.push(v.map(|a| a.outcome));
        }
    }
    let want = in_process.finalize_coverage();
    assert_eq!(want.beacons.len(), 2);
    let reasons: Vec<Rejection> = want.rejected.iter().map(|r| r.reason).collect();
    for r in [
        Rejection::TooClose,
        Rejection::TooFar,
        Rejection::DuplicateWitness,
        Rejection::WitnessLimit,
        Rejection::UnknownBeacon,
    ] {
        assert!(reasons.contains(&r), "{r:?} in {reasons:?}");
    }

    // served: the engine's verifier selects nothing, the store keeps every item with its
    // batch's time
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let clock = Arc::new(AtomicU64::new(NOW.0));
    let read = Arc::clone(&clock);
    let engine = Engine::start(
        EngineConfig::new("coverage"),
        Box::new(|| Ok(verifier(true))),
        Box::new(SqliteStore::open(&path).unwrap()),
        Arc::new(move || Timestamp(read.load(Ordering::SeqCst))),
    )
    .unwrap();
    let handle = engine.handle();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut answered: Vec<Result<Outcome, Rejection>> = Vec::new();
    for (now, items) in batches() {
        clock.store(now.0, Ordering::SeqCst);
        let items = items.into_iter().map(ItemBytes::Envelope).collect();
        let source = Source::new(Channel::Http, "sim");
        for r in rt.block_on(handle.submit(source, items)).unwrap() {
            answered.push(match r {
                ItemResult::Accepted { outcome, .. } => Ok(outcome),
                ItemResult::Rejected { reason } => Err(reason),
            });
        }
    }
    engine.join();
    assert_eq!(answered, expected, "the same verdicts at ingest");

    // the close: a fresh round restored from the store, finalized
    let mut store = SqliteStore::open(&path).unwrap();
    let registry = registry();
    let config = config(true);
    let mut round = CoverageRules::new(
        config.policies.coverage.clone(),
        config.policies.collusion_ring.clone(),
    );
    let epoch = config.schedule.epoch_of(NOW).unwrap();
    let mut restored = 0;
    store
        .for_each_accepted(epoch, &mut |item| {
            let depin_attest::registry::Lookup::Found(record) = registry.device(&item.device)
            else {
                panic!("{} is registered", item.device)
            };
            if round.restore_item(&item, record).unwrap() {
                restored += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        restored,
        expected.iter().filter(|v| v.is_ok()).count(),
        "every accepted coverage item"
    );
    let (got, rejected) = round.finalize(&DenyState::default());
    assert_eq!(got, want, "the same round");
    assert_eq!(rejected.len(), want.rejected.len());
}

#[test]
fn a_verifier_selecting_at_close_keeps_no_witnesses_and_drops_the_round_each_epoch() {
    let mut v = verifier(true);
    for (now, items) in batches() {
        let inputs: Vec<Input<'_>> = items.iter().map(|b| Input::Envelope(b)).collect();
        v.verify_batch(&inputs, now);
    }
    let rules = v.policy::<CoverageRules>().unwrap();
    assert_eq!(
        rules.pending(),
        (2, 0),
        "beacons for the duplicate check only"
    );
    assert_eq!(
        v.finalize_coverage(),
        Default::default(),
        "nothing is decided here"
    );
    assert_eq!(v.policy::<CoverageRules>().unwrap().pending(), (2, 0));
    // a beacon in the next epoch: the round of the last one is gone, this one is in
    let day = 86_400_000;
    let next = sign(0, 9, at(day + 7 * 3_600_000), &beacon(0, b"next-day"));
    let r = v.verify_batch(&[Input::Envelope(&next)], at(day + 7 * 3_600_000 + 500));
    assert_eq!(r[0].as_ref().unwrap().outcome, Outcome::Recorded);
    assert_eq!(v.policy::<CoverageRules>().unwrap().pending(), (1, 0));
    // the same payload again in the new epoch is still a duplicate
    let copy = sign(0, 10, at(day + 14 * 3_600_000), &beacon(0, b"next-day"));
    let r = v.verify_batch(&[Input::Envelope(&copy)], at(day + 14 * 3_600_000 + 500));
    assert_eq!(r[0].as_ref().unwrap_err(), &Rejection::DuplicateBeacon);
}
