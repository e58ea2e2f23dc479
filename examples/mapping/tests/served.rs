//! The mapping network served by a real oracle (HTTP and MQTT ingest on loopback, each
//! capture and route declaration sent with the gossip topic it belongs to, SQLite store,
//! the oracle's own closes with tile history read from its store, claims fetched from its
//! API) pays exactly what the in-process run pays: the same verdicts (the wrong-topic
//! dashcam refused `wrong_topic` by the oracle as by the gossip verifier), the same
//! per-device earnings, the same roots and claims.

use depin_attest::Rejection;
use depin_example_common::served::check_store;
use depin_example_mapping::{run, Options, NETWORK};

#[test]
fn the_served_oracle_pays_what_the_in_process_pipeline_pays(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = |name: &str| Options {
        epochs: 3,
        ..Options::short(dir.path().join(name), 4)
    };
    let local = run(&options("in-process"))?;
    let mut opts = options("served");
    opts.serve = Some(dir.path().join("oracle"));
    let served = run(&opts)?;

    assert_eq!(local.differences(&served), Vec::<String>::new());
    assert_eq!(served.epochs.len(), 3);
    assert!(
        served.chain.contains("served by a real oracle"),
        "{}",
        served.chain
    );
    for e in &served.epochs {
        assert_ne!(e.settlement.root, [0u8; 32]);
        assert!(e.settlement.publish_tx.is_some());
        assert!(e.settlement.double_claim_refused);
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
    // the later epochs pay by the tiles' history, which the oracle read from its store:
    // equal earnings above prove it agrees with the simulator's own tile map
    check_store(&dir.path().join("oracle"), NETWORK, &served)?;
    Ok(())
}
