//! The mapping network in short mode: network-defined kinds and policies, tile-freshness
//! rewards verified with the network's evidence rule, settlement on the chain.

use std::collections::BTreeMap;
use std::error::Error;

use depin_attest::{
    AttestationType, DeviceRecord, Envelope, Input, KindSet, Label, MemoryRegistry,
    MemoryReplayStore, Outcome, Rejection, VerifierBuilder, VerifierConfig,
};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use depin_example_common::{SimRng, GENESIS_MS};
use depin_example_mapping::freshness::{
    evidence_rules, TileFreshness, TileRefresh, CAP_DAYS, NEVER_REFRESHED,
};
use depin_example_mapping::kinds::{capture_cell, route_cell};
use depin_example_mapping::policy::{reason, CAPTURE_RATE, MAPPING};
use depin_example_mapping::{
    role, simulate, CaptureRate, ImageCapture, MappingParams, MappingRules, MappingRun, Options,
    RouteDeclaration, CHEATER_CAPTURES,
};
use depin_rewards::{roll_up, verify_receipt, verify_receipt_with, Evidence, EvidenceRule, Fixed};

type TestResult = Result<(), Box<dyn Error>>;

const HOUR_MS: u64 = 3_600_000;

fn short_run() -> Result<(tempfile::TempDir, MappingRun), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let run = simulate(&Options::short(dir.path(), 4))?;
    Ok((dir, run))
}

#[test]
fn short_run_catches_every_cheat_by_reason_and_pays_exactly() -> TestResult {
    let (_dir, run) = short_run()?;
    let s = &run.summary;
    assert_eq!(s.epochs.len(), 2);
    let n = CHEATER_CAPTURES as u64;
    let epochs = s.epochs.len() as u64;

    for e in &s.epochs {
        let r = &e.report;
        assert_eq!(
            r.rejected_for(reason::IMPOSSIBLE_SPEED),
            n / 2,
            "epoch {}",
            e.epoch
        );
        assert_eq!(r.rejected_for(reason::OFF_ROUTE), n, "epoch {}", e.epoch);
        assert_eq!(
            r.rejected_for(reason::DUPLICATE_IMAGE),
            n,
            "epoch {}",
            e.epoch
        );
        assert_eq!(r.rejected_for(reason::NO_ROUTE), n, "epoch {}", e.epoch);
        assert_eq!(
            r.rejected_for(Rejection::WrongTopic),
            n,
            "epoch {}",
            e.epoch
        );
        // nothing else was refused: no honest capture, no route declaration, no rate limit
        assert_eq!(r.rejected_total(), 4 * n + n / 2, "epoch {}", e.epoch);
        assert_eq!(r.rejected_for(reason::TOO_MANY_CAPTURES), 0);
        // every dashcam but the unrouted one declared a route
        assert_eq!(
            r.accepted_for(RouteDeclaration::KIND),
            (s.devices.len() - 1) as u64
        );
        assert!(r.accepted_for(ImageCapture::KIND) > 0);
    }
    // the printed summary names the reasons
    let text = s.to_string();
    for code in [
        "mapping/off_route",
        "mapping/impossible_speed",
        "mapping/duplicate_image",
        "mapping/no_route",
        "wrong_topic",
    ] {
        assert!(text.contains(code), "{code} missing from:\n{text}");
    }

    // Each dashcam was refused exactly for its cheat, and earned only for what was accepted.
    for d in &run.drivers {
        let expected: BTreeMap<Rejection, u64> = match d.role {
            role::HONEST => BTreeMap::new(),
            role::TELEPORTER => BTreeMap::from([(reason::IMPOSSIBLE_SPEED, n / 2 * epochs)]),
            role::OFF_ROUTE => BTreeMap::from([(reason::OFF_ROUTE, n * epochs)]),
            role::COPYCAT => BTreeMap::from([(reason::DUPLICATE_IMAGE, n * epochs)]),
            role::UNROUTED => BTreeMap::from([(reason::NO_ROUTE, n * epochs)]),
            role::WRONG_TOPIC => BTreeMap::from([(Rejection::WrongTopic, n * epochs)]),
            other => return Err(format!("unexpected role {other}").into()),
        };
        assert_eq!(d.captures_rejected, expected, "{} ({})", d.label, d.role);
        let rejected: u64 = d.captures_rejected.values().sum();
        assert_eq!(
            d.captures_accepted + rejected,
            d.captures_sent,
            "{}",
            d.label
        );
        match d.role {
            role::HONEST => {
                assert!(
                    d.captures_accepted > 0 && d.tiles_refreshed > 0,
                    "{}",
                    d.label
                );
                assert!(d.earned > 0, "{} earned nothing", d.label);
            }
            // the teleporter's plausible half is accepted and paid, its jumps are not
            role::TELEPORTER => {
                assert_eq!(d.captures_accepted, n / 2 * epochs);
                assert_eq!(d.captures_sent, n * epochs);
                assert!(d.earned > 0);
            }
            _ => {
                assert_eq!(d.captures_accepted, 0, "{}", d.label);
                assert_eq!(d.tiles_refreshed, 0, "{}", d.label);
                assert_eq!(d.earned, 0, "{} earned for rejected captures", d.label);
            }
        }
    }
    for r in [
        role::OFF_ROUTE,
        role::COPYCAT,
        role::UNROUTED,
        role::WRONG_TOPIC,
    ] {
        assert_eq!(s.earned_by_role(r), 0, "{r}");
    }

    // Exact pools, settled on the chain.
    for e in &s.epochs {
        assert!(e.pool > 0);
        assert_eq!(e.paid, e.pool, "exact payout in epoch {}", e.epoch);
        assert_eq!(e.receipts_verified, e.paid_devices, "epoch {}", e.epoch);
        assert!(e.settlement.publish_tx.is_some());
        assert!(e.settlement.double_claim_refused);
    }
    let honest: u128 = s.earned_by_role(role::HONEST);
    let cheaters: u128 = role::CHEATERS.iter().map(|r| s.earned_by_role(r)).sum();
    assert_eq!(honest + cheaters, s.paid_total());
    let last = s.last_settlement().ok_or("no epoch")?;
    assert_eq!(last.claimed_total, s.paid_total());
    assert_eq!(last.cumulative_total, s.paid_total());
    Ok(())
}

#[test]
fn policy_rejections_are_first_class() -> TestResult {
    let (_dir, run) = short_run()?;
    let n = CHEATER_CAPTURES as u64;
    let mut by_policy = 0;
    for e in &run.summary.epochs {
        let r = &e.report;
        // the network's own policies are listed with their versions, like built-in ones
        assert_eq!(r.policies.get(&MAPPING), Some(&1));
        assert_eq!(r.policies.get(&CAPTURE_RATE), Some(&2));
        // teleporter, off-route, copycat, unrouted: every one of their refused captures
        let mapping = r.rejected_by_policy(Label::new("mapping"));
        assert_eq!(mapping, n / 2 + 3 * n, "epoch {}", e.epoch);
        by_policy += mapping;
        assert_eq!(r.rejected_by_policy(CAPTURE_RATE), 0);
        for why in r.rejected.keys() {
            // one gossip verdict rule for every reason: the cheaters are penalised
            assert!(why.penalises_sender(), "{why}");
            if why.policy() == Some(MAPPING) {
                assert!(matches!(why, Rejection::Policy(p) if p.policy == MAPPING && p.penalise));
            }
        }
    }
    let cheaters: u64 = run
        .drivers
        .iter()
        .filter(|d| d.role != role::HONEST)
        .flat_map(|d| d.captures_rejected.iter())
        .filter(|(r, _)| r.policy() == Some(MAPPING))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(by_policy, cheaters);
    Ok(())
}

#[test]
fn receipts_verify_with_the_network_rule_and_forgeries_are_refused() -> TestResult {
    let (_dir, run) = short_run()?;
    let last = run.last_receipts.as_ref().ok_or("no receipts")?;
    let evidence = evidence_rules()?;
    for (receipt, proof) in &last.receipts {
        verify_receipt_with(receipt, proof, &last.published, &run.rules, &evidence)?;
    }
    let (receipt, proof) = last.receipts.first().ok_or("no receipt")?;
    // without the network's rule, custom evidence cannot be checked
    assert_eq!(
        verify_receipt(receipt, proof, &last.published, &run.rules),
        Err(depin_rewards::Error::UnknownEvidenceRule)
    );

    // one more never-mapped tile added to the recorded evidence: the value no longer
    // recomputes from it under the published cap
    let mut forged = receipt.clone();
    let Evidence::Custom { data, .. } = &mut forged.score.base.evidence else {
        return Err("the tile factor does not carry custom evidence".into());
    };
    data.extend_from_slice(
        &TileRefresh {
            days: NEVER_REFRESHED,
            refreshers: 1,
        }
        .encode(),
    );
    let tampered = data.clone();
    assert_eq!(
        verify_receipt_with(&forged, proof, &last.published, &run.rules, &evidence),
        Err(depin_rewards::Error::ReceiptMismatch("factor value"))
    );
    // ... and with the value and share made to match: not a receipt the epoch published
    let value = TileFreshness.evaluate(&TileFreshness::params(CAP_DAYS), &tampered, None)?;
    assert!(value > receipt.score.share);
    forged.score.base.value = value;
    forged.score.share = value;
    assert_eq!(
        verify_receipt_with(&forged, proof, &last.published, &run.rules, &evidence),
        Err(depin_rewards::Error::NotInEpoch)
    );
    // the same receipt against rules with a more generous cap: not the published rule set
    let mut lenient = run.rules.clone();
    let category = lenient.categories.first_mut().ok_or("no category")?;
    category.score.base.kind =
        depin_rewards::FactorKind::custom(&TileFreshness, TileFreshness::params(2 * CAP_DAYS));
    assert_eq!(
        verify_receipt_with(receipt, proof, &last.published, &lenient, &evidence),
        Err(depin_rewards::Error::RuleSetMismatch)
    );
    Ok(())
}

#[test]
fn payouts_roll_up_to_fleet_owners() -> TestResult {
    let (_dir, run) = short_run()?;
    let owner_of = |id: &DeviceId| {
        run.drivers
            .iter()
            .find(|d| d.id == *id)
            .map(|d| d.owner.clone())
    };
    let totals =
        roll_up(run.drivers.iter().map(|d| (d.id, d.earned)), owner_of)?.require_owned()?;
    assert_eq!(totals.total(), run.summary.paid_total());
    // honest dashcams come in pairs: a fleet owner with two devices claims once
    let fleets = totals
        .iter()
        .filter(|(_, t)| t.devices().len() == 2)
        .count();
    assert_eq!(fleets, 2);
    let last = run.summary.last_settlement().ok_or("no epoch")?;
    assert_eq!(last.cumulative_total, totals.total());
    Ok(())
}

#[test]
fn tile_freshness_formula() -> TestResult {
    fn value(tiles: &[TileRefresh]) -> depin_rewards::Result<Fixed> {
        TileFreshness.evaluate(
            &TileFreshness::params(CAP_DAYS),
            &TileRefresh::encode_all(tiles),
            None,
        )
    }
    let tile = |days, refreshers| TileRefresh { days, refreshers };
    let tiles = [
        tile(NEVER_REFRESHED, 1),
        tile(1, 1),
        tile(10, 2),
        tile(45, 3),
    ];
    assert_eq!(value(&tiles)?.to_string(), "46");
    // a tile refreshed yesterday earns a thirtieth of a month-old one
    let fresh = value(&[tile(1, 1)])?;
    let stale = value(&[tile(30, 1)])?;
    assert_eq!(fresh.mul_int(30)?, stale);
    assert_eq!(value(&[tile(300, 1)])?, stale);
    // split three ways, each share rounded down
    assert_eq!(value(&[tile(1, 3)])?.to_string(), "0.333333333333333333");
    // malformed parameters and evidence are errors, not panics
    let cap = TileFreshness::params(CAP_DAYS);
    assert!(TileFreshness.evaluate(&[1, 2, 3], &[], None).is_err());
    assert!(TileFreshness
        .evaluate(&TileFreshness::params(0), &[], None)
        .is_err());
    assert!(TileFreshness.evaluate(&cap, &[0; 7], None).is_err());
    assert!(value(&[tile(3, 0)]).is_err());
    assert_eq!(
        TileRefresh::decode_all(&TileRefresh::encode_all(&tiles))?,
        tiles.to_vec()
    );
    Ok(())
}

#[test]
fn kinds_check_their_structure() -> TestResult {
    let cell = capture_cell(37.7793, -122.4193).ok_or("no cell")?;
    let capture = ImageCapture {
        cell,
        heading_ddeg: 900,
        image_hash: [7; 32],
    };
    assert_eq!(capture.check(), Ok(()));
    let bad_heading = ImageCapture {
        heading_ddeg: 3_600,
        ..capture.clone()
    };
    assert_eq!(bad_heading.check(), Err(Rejection::InvalidStructure));
    let route = route_cell(cell).ok_or("no route cell")?;
    let wrong_resolution = ImageCapture {
        cell: route,
        ..capture.clone()
    };
    assert_eq!(wrong_resolution.check(), Err(Rejection::InvalidStructure));
    let not_a_cell = ImageCapture { cell: 1, ..capture };
    assert_eq!(not_a_cell.check(), Err(Rejection::Malformed));

    let declaration = RouteDeclaration {
        route_id: 1,
        cells: vec![route],
        valid_until_ms: 0,
    };
    assert_eq!(declaration.check(), Ok(()));
    assert!(declaration.covers(route));
    let empty = RouteDeclaration {
        cells: Vec::new(),
        ..declaration.clone()
    };
    assert_eq!(empty.check(), Err(Rejection::InvalidStructure));
    let repeated = RouteDeclaration {
        cells: vec![route, route],
        ..declaration.clone()
    };
    assert_eq!(repeated.check(), Err(Rejection::InvalidStructure));
    let fine_cells = RouteDeclaration {
        cells: vec![cell],
        ..declaration
    };
    assert_eq!(fine_cells.check(), Err(Rejection::InvalidStructure));
    Ok(())
}

/// Sign `attestation` and verify it alone, one second after it was made.
fn send<T: AttestationType>(
    verifier: &mut depin_attest::Verifier<MemoryRegistry, MemoryReplayStore>,
    domain: &Domain,
    key: &SigningKey,
    seq: u64,
    at: u64,
    attestation: &T,
) -> Result<depin_attest::Verdict, Box<dyn Error>> {
    let bytes = Envelope::sign_attestation(domain, key, seq, Timestamp(at), attestation)?;
    Ok(verifier.verify_one(Input::Envelope(&bytes), Timestamp(at + 1_000)))
}

#[test]
fn policies_compose_and_a_rate_limited_capture_leaves_no_state() -> TestResult {
    let domain = Domain::new(NetworkId::new("mapping-test")?);
    let key = SimRng::new(1, "policies").signing_key(KeyType::Ed25519);
    let id = DeviceId::from(key.public_key());
    let mut registry = MemoryRegistry::new();
    registry.insert(
        id,
        DeviceRecord::active(KindSet::of(&[ImageCapture::KIND, RouteDeclaration::KIND])),
    )?;
    let mut verifier = VerifierBuilder::new(VerifierConfig::new(domain))
        .without_builtins()
        .kind_type::<ImageCapture>()
        .kind_type::<RouteDeclaration>()
        .policy(MappingRules::new(MappingParams::default()))
        .policy(CaptureRate::new(2))
        .build(registry, MemoryReplayStore::new())?;
    assert_eq!(
        verifier.policy_versions(),
        vec![(MAPPING, 1), (CAPTURE_RATE, 2)]
    );

    let cell = capture_cell(37.7793, -122.4193).ok_or("no cell")?;
    let t0 = GENESIS_MS + 8 * HOUR_MS;
    let capture = |image: u8| ImageCapture {
        cell,
        heading_ddeg: 0,
        image_hash: [image; 32],
    };

    // a capture before any route
    let v = send(&mut verifier, &domain, &key, 1, t0, &capture(9))?;
    assert_eq!(v.err(), Some(reason::NO_ROUTE));

    let route = RouteDeclaration {
        route_id: 1,
        cells: vec![route_cell(cell).ok_or("no route cell")?],
        valid_until_ms: t0 + 3 * HOUR_MS,
    };
    let a =
        send(&mut verifier, &domain, &key, 2, t0 + 1_000, &route)?.map_err(|r| r.to_string())?;
    assert_eq!(a.outcome, Outcome::Recorded);

    for (seq, image) in [(3, 1u8), (4, 2)] {
        let at = t0 + u64::from(image) * 60_000;
        let a = send(&mut verifier, &domain, &key, seq, at, &capture(image))?
            .map_err(|r| r.to_string())?;
        assert_eq!(
            a.outcome,
            Outcome::Credited {
                policy: MAPPING,
                units: 1
            }
        );
        // the application reads the capture the verifier decoded
        assert_eq!(a.payload.get::<ImageCapture>(), Some(&capture(image)));
    }
    // the third capture of the hour: refused by the rate limit, without penalty ...
    let v = send(&mut verifier, &domain, &key, 5, t0 + 180_000, &capture(3))?;
    assert_eq!(v.err(), Some(reason::TOO_MANY_CAPTURES));
    assert!(!reason::TOO_MANY_CAPTURES.penalises_sender());
    // ... and MappingRules never recorded it (its apply did not run)
    let rules = verifier
        .policy::<MappingRules>()
        .ok_or("no mapping policy")?;
    assert!(!rules.knows_image(&[3; 32]));
    assert_eq!(rules.remembered_images(), 2);
    // so in the next hour the same image is accepted, while a reused one is not
    let a = send(
        &mut verifier,
        &domain,
        &key,
        6,
        t0 + HOUR_MS + 60_000,
        &capture(3),
    )?
    .map_err(|r| r.to_string())?;
    assert!(matches!(a.outcome, Outcome::Credited { .. }));
    let v = send(
        &mut verifier,
        &domain,
        &key,
        7,
        t0 + HOUR_MS + 120_000,
        &capture(1),
    )?;
    assert_eq!(v.err(), Some(reason::DUPLICATE_IMAGE));
    assert!(reason::DUPLICATE_IMAGE.penalises_sender());

    // a capture 50 km away, a minute and twenty seconds after the last accepted one:
    // on the (new) route, but impossible
    let here = route_cell(cell).ok_or("no route cell")?;
    let far = capture_cell(38.2293, -122.4193).ok_or("no cell")?;
    let mut cells = vec![here, route_cell(far).ok_or("no route cell")?];
    cells.sort_unstable();
    let far_route = RouteDeclaration {
        route_id: 2,
        cells,
        valid_until_ms: t0 + 3 * HOUR_MS,
    };
    let a = send(
        &mut verifier,
        &domain,
        &key,
        8,
        t0 + HOUR_MS + 130_000,
        &far_route,
    )?
    .map_err(|r| r.to_string())?;
    assert_eq!(a.outcome, Outcome::Recorded);
    let jump = ImageCapture {
        cell: far,
        heading_ddeg: 0,
        image_hash: [4; 32],
    };
    let v = send(
        &mut verifier,
        &domain,
        &key,
        9,
        t0 + HOUR_MS + 140_000,
        &jump,
    )?;
    assert_eq!(v.err(), Some(reason::IMPOSSIBLE_SPEED));
    // and a capture in a cell the route does not list
    let south = ImageCapture {
        cell: capture_cell(37.3793, -122.4193).ok_or("no cell")?,
        heading_ddeg: 0,
        image_hash: [5; 32],
    };
    let v = send(
        &mut verifier,
        &domain,
        &key,
        10,
        t0 + HOUR_MS + 150_000,
        &south,
    )?;
    assert_eq!(v.err(), Some(reason::OFF_ROUTE));
    Ok(())
}
