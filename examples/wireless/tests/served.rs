//! The wireless network served by a real oracle (HTTP and MQTT ingest on loopback, SQLite
//! store, witnesses chosen by the oracle's own closes from its stored items, claims
//! fetched from its API) pays exactly what the in-process run pays, whose verifier chooses
//! the witnesses itself at the end of each round: the same verdicts (the spoofers' and the
//! ring's witnesses refused, now at the close), the same per-device earnings, the same
//! roots and claims. The oracle's explanations show a spoofer why it earned nothing.

use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::OracleStore;
use depin_attest::Rejection;
use depin_core::Epoch;
use depin_example_common::served::check_served_matches_in_process;
use depin_example_wireless::{role, run, Options, NETWORK};

#[test]
fn the_served_oracle_chooses_and_pays_what_the_in_process_pipeline_does(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let served =
        check_served_matches_in_process(dir.path(), NETWORK, &Options::short(dir.path(), 9), run)?;
    assert_eq!(served.epochs.len(), 2);
    for e in &served.epochs {
        assert_eq!(e.paid, e.pool, "epoch {}", e.epoch);
    }
    assert!(served.rejected(Rejection::CollusionRing) >= 12);
    assert!(served.rejected(Rejection::ImpossibleSignal) > 0);
    assert_eq!(served.earned_by_role(role::SPOOFER), 0);

    // the store explains a spoofer's epoch: its witnesses accepted at ingest (pending
    // selection), then refused at the close
    let mut store = SqliteStore::open(
        dir.path()
            .join("oracle")
            .join(format!("{NETWORK}.oracle.sqlite")),
    )?;
    let spoofer = served
        .with_role(role::SPOOFER)
        .next()
        .ok_or("no spoofer")?
        .id;
    let record = store.device_epochs(&spoofer, Epoch(1), 1)?;
    let refused: u64 = record[0]
        .rejected
        .iter()
        .filter(|(r, _)| {
            matches!(
                r,
                Rejection::ImpossibleSignal | Rejection::TooFar | Rejection::LocationMismatch
            )
        })
        .map(|(_, n)| *n)
        .sum();
    assert!(refused > 0, "{:?}", record[0]);
    assert_eq!(record[0].receipt, None, "a spoofer has no receipt");
    let row = store.epoch(Epoch(1))?.ok_or("no epoch 1")?;
    let summary: serde_json::Value = serde_json::from_slice(&row.summary.ok_or("no summary")?)?;
    assert!(
        summary["rejected_at_close"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    Ok(())
}
