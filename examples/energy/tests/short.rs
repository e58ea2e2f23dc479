//! The energy network in short mode: signed readings, energy policy, rewards and chain.

use depin_attest::Rejection;
use depin_example_energy::{role, run, Options};

#[test]
fn short_run_refuses_rollbacks_and_impossible_power_and_pays_exactly(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = run(&Options::short(dir.path(), 4))?;
    assert_eq!(s.epochs.len(), 2);

    // The overclaiming meter (23 readings a day after its baseline) and the overcharging
    // charger are refused for impossible power; the rollback meter for its rollback.
    assert!(s.rejected(Rejection::ImpossiblePower) >= 30);
    assert!(s.rejected(Rejection::CounterRollback) >= 2);
    assert_eq!(s.earned_by_role(role::OVERCLAIM), 0);
    assert_eq!(s.earned_by_role(role::OVERCHARGE), 0);
    // The rollback meter keeps what it really produced before and after its rollbacks.
    assert!(s.earned_by_role(role::ROLLBACK) > 0);
    for d in s
        .devices
        .iter()
        .filter(|d| [role::SOLAR, role::CHARGER].contains(&d.role))
    {
        assert!(d.earned > 0, "{} earned nothing", d.label);
    }
    // No other kind of rejection (the overclaimer's long silences show up as gaps).
    for e in &s.epochs {
        let known = [
            Rejection::ImpossiblePower,
            Rejection::CounterRollback,
            Rejection::EnergyGap,
        ];
        let sum: u64 = known.iter().map(|r| e.report.rejected_for(*r)).sum();
        assert_eq!(sum, e.report.rejected_total());
    }

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
