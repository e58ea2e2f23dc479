//! The wireless network in short mode: real keys, verification, rewards and chain.

use depin_attest::Rejection;
use depin_chains::local::{Entry, LocalLedger};
use depin_example_wireless::{role, run, Options, NETWORK};

#[test]
fn short_run_catches_every_cheat_and_pays_the_pool_exactly(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let opts = Options::short(dir.path(), 9);
    let s = run(&opts)?;
    assert_eq!(s.epochs.len(), 2);

    // Cheaters rejected, each with its reason.
    assert!(s.rejected(Rejection::ImpossibleSignal) > 0, "spoofers");
    assert!(
        s.rejected(Rejection::CollusionRing) >= 12,
        "ring of 4: 12 edges"
    );
    assert!(s.rejected(Rejection::Replayed) > 0, "replayed witnesses");
    assert_eq!(
        s.epochs[1].report.rejected_for(Rejection::Stale),
        1,
        "old beacon"
    );
    assert!(s.rejected(Rejection::TooClose) > 0, "rooftop cluster");
    assert_eq!(s.earned_by_role(role::SPOOFER), 0);
    assert_eq!(s.earned_by_role(role::RING), 0);
    assert_eq!(s.with_role(role::SPOOFER).count(), 2);
    assert_eq!(s.with_role(role::RING).count(), 4);

    // Honest devices (and the replayer, for its genuine reports) are paid.
    for d in s
        .devices
        .iter()
        .filter(|d| [role::HONEST, role::DENSE, role::REPLAYER].contains(&d.role))
    {
        assert!(d.earned > 0, "{} ({}) earned nothing", d.label, d.role);
    }
    // The rooftop hotspots share their hexes: scaled below the typical honest hotspot.
    let dense_max = s
        .with_role(role::DENSE)
        .map(|d| d.earned)
        .max()
        .unwrap_or(0);
    let honest_max = s
        .with_role(role::HONEST)
        .map(|d| d.earned)
        .max()
        .unwrap_or(0);
    assert!(dense_max < honest_max);

    // Exact pools, published roots, settled claims.
    for e in &s.epochs {
        assert!(e.pool > 0);
        assert_eq!(e.paid, e.pool, "epoch {}", e.epoch);
        assert!(e.receipts_verified > 0);
        assert!(e.settlement.publish_tx.is_some());
        assert_ne!(e.settlement.root, [0; 32]);
        assert!(e.settlement.double_claim_refused);
    }
    let last = s.last_settlement().ok_or("no epoch")?;
    assert_eq!(last.cumulative_total, s.paid_total());
    assert_eq!(
        last.claimed_total, last.cumulative_total,
        "every owner claimed everything"
    );
    let earned: u128 = s.devices.iter().map(|d| d.earned).sum();
    assert_eq!(earned, s.paid_total());

    // The ledger file, read back independently: two roots, and claims paying the total.
    let entries = LocalLedger::read_entries(dir.path().join(format!("{NETWORK}.ledger")))?;
    let paid: u128 = entries
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Claim { paid, .. } => Some(*paid),
            _ => None,
        })
        .sum();
    let roots = entries
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Publish { .. }))
        .count();
    assert_eq!(paid, s.paid_total());
    assert_eq!(roots, 2);
    Ok(())
}

#[test]
fn same_seed_same_network() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut opts = Options::short(a.path(), 6);
    opts.epochs = 1;
    let first = run(&opts)?;
    opts.chain = depin_example_common::ChainOptions::Local {
        dir: b.path().into(),
    };
    let second = run(&opts)?;
    assert_eq!(
        first.epochs[0].settlement.root,
        second.epochs[0].settlement.root
    );
    opts.seed += 1;
    let third = run(&opts)?;
    assert_ne!(
        first.epochs[0].settlement.root,
        third.epochs[0].settlement.root
    );
    Ok(())
}
