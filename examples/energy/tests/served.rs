//! The energy network served by a real oracle (HTTP ingest on loopback, SQLite store, the
//! chargers publishing to a real mosquitto broker the oracle subscribes to, the oracle's
//! own epoch closes, claims fetched from its API) pays exactly what the in-process
//! run pays: the same verdicts, the same per-device earnings, the same roots and claims.

use depin_example_common::served::check_served_matches_in_process;
use depin_example_energy::{run, Options, NETWORK};

#[test]
fn the_served_oracle_pays_what_the_in_process_pipeline_pays(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let served =
        check_served_matches_in_process(dir.path(), NETWORK, &Options::short(dir.path(), 4), run)?;
    // the chargers published over MQTT (scripts/test installs mosquitto)
    assert!(
        served.chain.contains("chargers over MQTT"),
        "{} (install Debian's mosquitto package)",
        served.chain
    );
    assert_eq!(served.epochs.len(), 2);
    for e in &served.epochs {
        assert!(e.report.rejected_total() > 0, "the cheaters are refused");
    }
    Ok(())
}
