//! The shared conformance suite against the local ledger, in both claim formats.

use depin_chains::conformance::{default_claimants, run_conformance, Fixtures, MIN_POOL};
use depin_chains::{connect, BackendConfig, ClaimFormat, LocalConfig};
use depin_core::{Epoch, KeyType};
use std::sync::Arc;

use crate::common::*;

async fn run(
    format: ClaimFormat,
    fund: u128,
    first_epoch: u64,
) -> depin_chains::conformance::Report {
    let dir = tempfile::tempdir().unwrap();
    // the admin and the oracle are different accounts: each is refused the other's actions
    let ledger = open(&dir.path().join("ledger.log"), genesis(format));
    let other = open(&dir.path().join("other.log"), genesis(format));
    // a third ledger whose oracle set is in effect, for the quorum section
    let (_quorum_ledger, quorum) = quorum_ledger(&dir.path().join("quorum.log"), format);
    let admin_handle = ledger.handle(admin());
    if fund > 0 {
        admin_handle.fund(fund).unwrap();
    }
    let fixtures = Fixtures {
        owner: dynb(ledger.handle(evm(0x01))),
        outsider: dynb(ledger.handle(evm(0x02))),
        key_types: KeyType::ALL.to_vec(),
        claimants: default_claimants(format, "wasm", [3; 32]).unwrap(),
        first_epoch: Epoch(first_epoch),
        seed: [9; 32],
        latest_root_only: true,
        fresh: true,
        oracle: Some(dynb(ledger.handle(oracle()))),
        // a second ledger of the same network, for the proofs signed for another registry
        other_registry: Some(Arc::new(other.handle(evm(0x01)))),
        quorum: Some(quorum),
    };
    match run_conformance(dynb(admin_handle), fixtures).await {
        Ok(report) => report,
        Err(f) => panic!("{f}"),
    }
}

#[tokio::test]
async fn local_ledger_passes_conformance_openzeppelin_format() {
    let report = run(ClaimFormat::OpenZeppelin, 10_000, 0).await;
    assert!(report.skipped.is_empty(), "{report:?}");
    assert!(report.checks.len() >= 25, "{report:?}");
    // the quorum section ran in full
    let quorum_checks = report
        .checks
        .iter()
        .filter(|c| c.starts_with("quorum: "))
        .count();
    assert_eq!(quorum_checks, 12, "{:?}", report.checks);
    // every key type passed every registration check, each named for its key type
    let kinds: Vec<KeyType> = report.by_key_type.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, KeyType::ALL.to_vec());
    for (kt, checks) in &report.by_key_type {
        assert_eq!(checks.len(), 10, "{kt:?}: {checks:?}");
        assert!(
            checks.contains(&"registration signed for another registry is InvalidProof"),
            "{kt:?}: {checks:?}"
        );
    }
}

#[tokio::test]
async fn local_ledger_passes_conformance_cw20_format() {
    // a later first epoch, within the distributor's first-root bound (MAX_EPOCH_GAP = 366)
    let report = run(ClaimFormat::Cw20MerkleAirdrop, MIN_POOL, 300).await;
    assert!(report.skipped.is_empty(), "{report:?}");
}

#[tokio::test]
async fn suite_detects_an_underfunded_pool() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("l.log"),
        admin_oracle_genesis(ClaimFormat::OpenZeppelin),
    );
    let fixtures = Fixtures {
        owner: dynb(ledger.handle(evm(1))),
        outsider: dynb(ledger.handle(evm(2))),
        key_types: vec![KeyType::Ed25519],
        claimants: default_claimants(ClaimFormat::OpenZeppelin, "wasm", [3; 32]).unwrap(),
        first_epoch: Epoch(0),
        seed: [1; 32],
        latest_root_only: true,
        fresh: true,
        oracle: None,
        other_registry: None,
        quorum: None,
    };
    let err = run_conformance(dynb(ledger.handle(admin())), fixtures)
        .await
        .unwrap_err();
    assert_eq!(err.check, "pool holds at least MIN_POOL");
}

#[tokio::test]
async fn suite_runs_through_connect_and_dyn_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let cfg = |caller| {
        BackendConfig::Local(LocalConfig {
            path: path.clone(),
            network: "conformance-net".into(),
            caller,
            admin: admin(),
            oracle: admin(),
            claim_format: ClaimFormat::OpenZeppelin,
        })
    };
    // connect() opens the file; the process lock means one LocalLedger per file, so the other
    // handles come from the same ledger.
    let admin_backend = connect(&cfg(admin())).await.unwrap();
    assert_eq!(admin_backend.account(), Some(admin()));
    drop(admin_backend);
    let ledger = depin_chains::local::LocalLedger::open_config(match &cfg(admin()) {
        BackendConfig::Local(c) => c,
        _ => unreachable!(),
    })
    .unwrap();
    ledger.fund(&admin(), 5_000).unwrap();
    let fixtures = Fixtures {
        owner: dynb(ledger.handle(evm(1))),
        outsider: dynb(ledger.handle(evm(2))),
        key_types: vec![KeyType::Secp256k1],
        claimants: default_claimants(ClaimFormat::OpenZeppelin, "wasm", [4; 32]).unwrap(),
        first_epoch: Epoch(5),
        seed: [2; 32],
        latest_root_only: true,
        fresh: true,
        oracle: None,
        other_registry: None,
        quorum: None,
    };
    run_conformance(dynb(ledger.handle(admin())), fixtures)
        .await
        .unwrap();
}
