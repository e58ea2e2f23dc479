//! The energy network served by a real oracle (HTTP ingest on loopback, SQLite store, the
//! oracle's own epoch closes, claims fetched from its API) pays exactly what the in-process
//! run pays: the same verdicts, the same per-device earnings, the same roots and claims.

use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::{EpochStatus, OracleStore};
use depin_core::Epoch;
use depin_example_energy::{run, Options, NETWORK};

#[test]
fn the_served_oracle_pays_what_the_in_process_pipeline_pays(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let local = run(&Options::short(dir.path().join("in-process"), 4))?;
    let mut opts = Options::short(dir.path().join("served"), 4);
    opts.serve = Some(dir.path().join("oracle"));
    let served = run(&opts)?;

    assert_eq!(local.epochs.len(), served.epochs.len());
    for (a, b) in local.epochs.iter().zip(&served.epochs) {
        assert_eq!(a.report.accepted, b.report.accepted, "epoch {}", a.epoch);
        assert_eq!(a.report.rejected, b.report.rejected, "epoch {}", a.epoch);
        assert_eq!(a.devices, b.devices);
        assert_eq!(
            (a.pool, a.paid, a.paid_devices),
            (b.pool, b.paid, b.paid_devices)
        );
        assert_eq!(a.receipts_verified, b.receipts_verified);
        let (x, y) = (&a.settlement, &b.settlement);
        assert_eq!(x.root, y.root, "epoch {}", a.epoch);
        assert_ne!(y.root, [0u8; 32]);
        assert_eq!(
            (x.epoch_total, x.cumulative_total, x.claims, x.claimed_now),
            (y.epoch_total, y.cumulative_total, y.claims, y.claimed_now)
        );
        assert_eq!((x.claimed_total, x.deferred), (y.claimed_total, y.deferred));
        assert!(y.double_claim_refused);
        assert!(y.publish_tx.is_some());
    }
    let earned = |s: &depin_example_energy::Summary| {
        s.devices
            .iter()
            .map(|d| (d.id, d.earned))
            .collect::<Vec<_>>()
    };
    assert_eq!(earned(&local), earned(&served));

    // what the oracle acknowledged is in its store, every epoch closed and published
    let mut store = SqliteStore::open(
        dir.path()
            .join("oracle")
            .join(format!("{NETWORK}.oracle.sqlite")),
    )?;
    for e in &served.epochs {
        let row = store.epoch(Epoch(e.epoch))?.ok_or("epoch row missing")?;
        assert_eq!(row.status, EpochStatus::Published);
        assert_eq!(row.root, Some(e.settlement.root));
        assert_eq!(row.accepted, Some(e.report.accepted_total()));
    }
    Ok(())
}
