//! Cumulative ledger: totals never decrease, replays are rejected, updates are atomic.

use depin_rewards::{distribute, CumulativeLedger, Error, Mode, Shares};
use proptest::prelude::*;

proptest! {
    #[test]
    fn cumulative_totals_never_decrease(
        epochs in prop::collection::vec(
            (prop::collection::btree_map(0u16..50, 1u128..1_000_000, 1..20), 0u128..10_000_000, 1u64..5),
            1..15,
        )
    ) {
        let mut ledger = CumulativeLedger::new();
        let mut epoch = 0u64;
        let mut expected_grand = 0u128;
        for (shares, pool, gap) in epochs {
            epoch += gap;
            let before: Vec<(u16, u128)> = ledger.claims();
            let d = distribute(&Shares::new(shares.into_iter().collect()).unwrap(), pool, Mode::LargestRemainder).unwrap();
            ledger.apply_distribution(epoch, &d).unwrap();
            for (id, total) in before {
                prop_assert!(ledger.total(&id) >= total);
                prop_assert_eq!(ledger.total(&id), total + d.amount_of(&id).unwrap_or(0));
            }
            expected_grand += pool;
            prop_assert_eq!(ledger.grand_total(), expected_grand);
            prop_assert_eq!(ledger.claims().iter().map(|c| c.1).sum::<u128>(), expected_grand);
            // a replay of this or an older epoch is rejected and changes nothing
            let snapshot = ledger.clone();
            prop_assert!(ledger.apply_distribution(epoch, &d).is_err());
            prop_assert_eq!(&ledger, &snapshot);
        }
    }
}

#[test]
fn replay_overflow_and_claimable() {
    let mut l = CumulativeLedger::new();
    l.apply(5, [("a", 10u128), ("b", 5), ("a", 1)]).unwrap();
    assert_eq!(l.total(&"a"), 11);
    assert_eq!(
        l.apply(5, [("a", 1)]),
        Err(Error::EpochNotIncreasing { epoch: 5, last: 5 })
    );
    assert_eq!(
        l.apply(4, [("a", 1)]),
        Err(Error::EpochNotIncreasing { epoch: 4, last: 5 })
    );
    let snapshot = l.clone();
    assert_eq!(
        l.apply(6, [("b", 1), ("a", u128::MAX)]),
        Err(Error::Overflow("ledger"))
    );
    assert_eq!(l, snapshot, "failed update is atomic");
    assert_eq!(l.last_epoch(), Some(5));
    assert_eq!(l.claimable(&"a", 4), 7);
    assert_eq!(l.claimable(&"a", 40), 0);
    assert_eq!(l.claimable(&"zz", 0), 0);
    let json = serde_json::to_string(&l).unwrap();
    assert_eq!(
        serde_json::from_str::<CumulativeLedger<String>>(&json)
            .unwrap()
            .total(&"a".to_string()),
        11
    );
}
