//! The storage network in short mode: real keys, Merkle proofs, rewards and chain.

use depin_attest::Rejection;
use depin_example_storage::{role, run, Options};

#[test]
fn short_run_refuses_lost_data_and_stale_proofs_and_pays_exactly(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = run(&Options::short(dir.path(), 4))?;
    assert_eq!(s.epochs.len(), 2);

    // Lost data: every epoch, one invalid proof per damaged file (2 nodes x 2 files).
    for e in &s.epochs {
        assert_eq!(
            e.report.rejected_for(Rejection::StorageProofInvalid),
            4,
            "epoch {}",
            e.epoch
        );
    }
    // Stale answers: none in the first epoch (nothing to re-send), all in the second.
    assert_eq!(
        s.epochs[0].report.rejected_for(Rejection::StaleChallenge),
        0
    );
    assert!(s.epochs[1].report.rejected_for(Rejection::StaleChallenge) >= 4);
    // Nothing else was rejected.
    for e in &s.epochs {
        let expected = e.report.rejected_for(Rejection::StorageProofInvalid)
            + e.report.rejected_for(Rejection::StaleChallenge);
        assert_eq!(e.report.rejected_total(), expected);
    }

    // The flaky node proves its data but misses the uptime bar: nothing.
    assert_eq!(s.earned_by_role(role::FLAKY), 0);
    for d in s.with_role(role::HONEST) {
        assert!(d.earned > 0, "{} earned nothing", d.label);
    }
    // Stale nodes earn in epoch 1 only; honest nodes earn in both.
    let honest_min = s
        .with_role(role::HONEST)
        .map(|d| d.earned)
        .min()
        .unwrap_or(0);
    assert!(s.with_role(role::STALE).all(|d| d.earned < honest_min * 2));

    for e in &s.epochs {
        assert_eq!(e.paid, e.pool, "exact payout in epoch {}", e.epoch);
        assert!(e.settlement.publish_tx.is_some());
        assert!(e.settlement.double_claim_refused);
    }
    let last = s.last_settlement().ok_or("no epoch")?;
    assert_eq!(last.claimed_total, s.paid_total());
    assert_eq!(last.cumulative_total, s.paid_total());
    Ok(())
}
