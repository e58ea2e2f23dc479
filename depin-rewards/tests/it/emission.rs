//! Emission schedules.

use depin_rewards::emission::{
    Constant, EmissionSchedule, GeometricDecay, PiecewiseTable, StepHalving, SupplyCap,
};
use depin_rewards::Error;
use proptest::prelude::*;

fn naive_cumulative(s: &dyn EmissionSchedule, epochs: u64) -> u128 {
    (0..epochs).map(|e| s.emission(e).unwrap()).sum()
}

#[test]
fn closed_form_cumulatives_match_the_sum() {
    let schedules: Vec<Box<dyn EmissionSchedule>> = vec![
        Box::new(Constant::new(1_000)),
        Box::new(StepHalving::new(1_000_003, 7).unwrap()),
        Box::new(GeometricDecay::new(10u128.pow(24), 17, 20, 5).unwrap()),
        Box::new(GeometricDecay::new(1_000, 1, 3, 2).unwrap()),
        Box::new(PiecewiseTable::new(vec![(0, 100), (3, 50), (10, 7), (11, 0)]).unwrap()),
        Box::new(SupplyCap::new(Constant::new(400), 1_000)),
        Box::new(SupplyCap::new(StepHalving::new(1_000, 3).unwrap(), 5_000)),
    ];
    for s in &schedules {
        for epochs in [0u64, 1, 2, 3, 4, 6, 7, 10, 11, 12, 40, 200] {
            assert_eq!(
                s.cumulative(epochs).unwrap(),
                naive_cumulative(s.as_ref(), epochs),
                "epochs {epochs}"
            );
        }
    }
}

#[test]
fn geometric_decay_is_exact_not_stepwise() {
    // stepwise flooring would give floor(floor(10 × 0.5) × 0.5)... on an odd value:
    // 7 × (1/2)^2 = 1.75 -> 1 either way; use 17/20 where stepwise loses units.
    let s = GeometricDecay::new(999, 17, 20, 1).unwrap();
    let mut stepwise = 999u128;
    let mut diverged = false;
    for k in 0..25u64 {
        let exact = 999u128 * 17u128.pow(k as u32) / 20u128.pow(k as u32);
        assert_eq!(s.emission(k).unwrap(), exact);
        diverged |= stepwise != exact;
        stepwise = stepwise * 17 / 20;
    }
    assert!(
        diverged,
        "the test should exercise a case where step-wise flooring differs"
    );
}

#[test]
fn invalid_parameters() {
    assert!(StepHalving::new(1, 0).is_err());
    assert_eq!(
        GeometricDecay::new(1, 21, 20, 1),
        Err(Error::InvalidParameter("decay ratio above one"))
    );
    assert!(GeometricDecay::new(1, 1, 0, 1).is_err());
    assert!(GeometricDecay::new(1, 1, 2, 0).is_err());
    assert!(PiecewiseTable::new(vec![(1, 5)]).is_err());
    assert_eq!(
        PiecewiseTable::new(vec![(0, 5), (3, 1), (3, 2)]),
        Err(Error::NotSorted { index: 2 })
    );
    assert!(PiecewiseTable::new(vec![]).is_err());
    assert_eq!(
        Constant::new(u128::MAX).cumulative(2),
        Err(Error::Overflow("cumulative emission"))
    );
}

#[test]
fn supply_cap_cuts_the_crossing_epoch_and_survives_overflow() {
    let s = SupplyCap::new(Constant::new(u128::MAX / 2), u128::MAX - 5);
    assert_eq!(s.emission(0).unwrap(), u128::MAX / 2);
    assert_eq!(s.emission(1).unwrap(), u128::MAX - 5 - u128::MAX / 2);
    assert_eq!(s.emission(2).unwrap(), 0);
    // the inner cumulative overflows u128 from epoch 3 on: still exactly the cap
    assert_eq!(s.emission(3).unwrap(), 0);
    assert_eq!(s.cumulative(1_000).unwrap(), u128::MAX - 5);
}

#[test]
fn far_epochs_are_cheap_and_zero() {
    let dimo = GeometricDecay::dimo_weekly();
    assert_eq!(dimo.emission(u64::MAX).unwrap(), 0);
    assert_eq!(
        StepHalving::new(u128::MAX, 1)
            .unwrap()
            .emission(u64::MAX)
            .unwrap(),
        0
    );
    // cumulative stops at the first zero step
    let total = dimo.cumulative(u64::MAX).unwrap();
    assert_eq!(total, dimo.cumulative(52 * 400).unwrap());
}

proptest! {
    #[test]
    fn decay_is_non_increasing(initial in any::<u128>(), num in 0u32..50, den in 1u32..50, k in 0u64..120) {
        prop_assume!(num <= den);
        let s = GeometricDecay::new(initial, num, den, 1).unwrap();
        prop_assert!(s.emission(k + 1).unwrap() <= s.emission(k).unwrap());
    }

    #[test]
    fn capped_cumulative_never_exceeds_cap(per in 0u128..1_000_000, cap in 0u128..10_000_000, epochs in 0u64..100) {
        let s = SupplyCap::new(Constant::new(per), cap);
        let c = s.cumulative(epochs).unwrap();
        prop_assert!(c <= cap);
        prop_assert_eq!(c, (per * u128::from(epochs)).min(cap));
    }
}
