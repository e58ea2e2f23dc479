//! The energy network served by a real oracle (HTTP ingest on loopback, SQLite store, the
//! chargers publishing to a real mosquitto broker the oracle subscribes to, the oracle's
//! own epoch closes, claims fetched from its API) pays exactly what the in-process
//! run pays: the same verdicts, the same per-device earnings, the same roots and claims.

use depin_example_common::served::check_store;
use depin_example_energy::{run, Options, NETWORK};

#[test]
fn the_served_oracle_pays_what_the_in_process_pipeline_pays(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let local = run(&Options::short(dir.path().join("in-process"), 4))?;
    let mut opts = Options::short(dir.path().join("served"), 4);
    opts.serve = Some(dir.path().join("oracle"));
    let served = run(&opts)?;

    assert_eq!(local.differences(&served), Vec::<String>::new());
    // the chargers published over MQTT (scripts/test installs mosquitto)
    assert!(
        served.chain.contains("chargers over MQTT"),
        "{} (install Debian's mosquitto package)",
        served.chain
    );
    assert_eq!(served.epochs.len(), 2);
    for e in &served.epochs {
        assert_ne!(e.settlement.root, [0u8; 32]);
        assert!(e.settlement.publish_tx.is_some());
        assert!(e.settlement.double_claim_refused);
        assert!(e.report.rejected_total() > 0, "the cheaters are refused");
    }
    // what the oracle acknowledged is in its store, every epoch closed and published
    check_store(&dir.path().join("oracle"), NETWORK, &served)?;
    Ok(())
}
