//! The mapping network served by a real oracle (HTTP and MQTT ingest on loopback, each
//! capture and route declaration sent with the gossip topic it belongs to, SQLite store,
//! the oracle's own closes with tile history read from its store, claims fetched from its
//! API) pays exactly what the in-process run pays: the same verdicts (the wrong-topic
//! dashcam refused `wrong_topic` by the oracle as by the gossip verifier), the same
//! per-device earnings, the same roots and claims.

use depin_attest::Rejection;
use depin_example_common::served::check_served_matches_in_process;
use depin_example_mapping::{run, Options, NETWORK};

#[test]
fn the_served_oracle_pays_what_the_in_process_pipeline_pays(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = Options {
        epochs: 3,
        ..Options::short(dir.path(), 4)
    };
    // the later epochs pay by the tiles' history, which the oracle read from its store:
    // equal earnings prove it agrees with the simulator's own tile map
    let served = check_served_matches_in_process(dir.path(), NETWORK, &options, run)?;
    assert_eq!(served.epochs.len(), 3);
    for e in &served.epochs {
        assert!(e.paid > 0);
        // the topic rule held over HTTP and MQTT
        assert!(
            e.report
                .rejected
                .get(&Rejection::WrongTopic)
                .copied()
                .unwrap_or(0)
                > 0,
            "epoch {}: {:?}",
            e.epoch,
            e.report.rejected
        );
    }
    Ok(())
}
