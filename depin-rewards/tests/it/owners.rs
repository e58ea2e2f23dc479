//! Rolling device rewards up to owner accounts: several devices, one claimant.

use depin_rewards::claims::sdk::SdkMerkleTree;
use depin_rewards::owners::{roll_up, roll_up_distribution, OwnerTotals};
use depin_rewards::{distribute, CumulativeLedger, Error, Mode, Payout, Shares};

/// Devices 1 and 3 (and 5) are alice's, 2 is bob's, 4 has no owner.
fn owner_of(device: &u32) -> Option<&'static str> {
    match *device {
        1 | 3 | 5 => Some("alice"),
        2 => Some("bob"),
        _ => None,
    }
}

fn payouts(t: &[Payout<u32>]) -> Vec<(u32, u128)> {
    t.iter().map(|p| (p.id, p.amount)).collect()
}

#[test]
fn two_owners_three_devices_and_an_unowned_one() {
    let totals = roll_up(vec![(3u32, 30), (2, 20), (4, 4), (1, 10)], owner_of).unwrap();
    assert_eq!(totals.len(), 2);
    assert!(!totals.is_empty());
    assert_eq!(totals.claims(), vec![("alice", 40), ("bob", 20)]);
    assert_eq!(totals.total(), 60);
    assert_eq!(totals.amount_of(&"alice"), 40);
    assert_eq!(totals.amount_of(&"carol"), 0);
    assert!(totals.get(&"carol").is_none());

    // each owner sees what each of its devices earned, in device order
    let alice = totals.get(&"alice").unwrap();
    assert_eq!(alice.amount(), 40);
    assert_eq!(payouts(alice.devices()), vec![(1, 10), (3, 30)]);
    let bob = totals.get(&"bob").unwrap();
    assert_eq!(payouts(bob.devices()), vec![(2, 20)]);

    // the unowned device is kept apart, in nobody's total
    assert_eq!(payouts(totals.unowned()), vec![(4, 4)]);
    assert_eq!(totals.unowned_total(), 4);
    assert_eq!(
        totals.clone().require_owned(),
        Err(Error::UnownedDevices { count: 1 })
    );

    let owners: Vec<&str> = totals.iter().map(|(a, _)| *a).collect();
    assert_eq!(owners, ["alice", "bob"]);

    // the same result whatever the input order
    let again = roll_up(vec![(1u32, 10), (4, 4), (2, 20), (3, 30)], owner_of).unwrap();
    assert_eq!(again, totals);

    // everything owned: require_owned passes it through
    let owned = roll_up(vec![(1u32, 1), (2, 2)], owner_of)
        .unwrap()
        .require_owned()
        .unwrap();
    assert_eq!(owned.claims(), vec![("alice", 1), ("bob", 2)]);
    assert!(owned.unowned().is_empty());
}

#[test]
fn zero_amounts_and_empty_inputs() {
    let totals = roll_up(vec![(1u32, 0), (2, 5)], owner_of).unwrap();
    assert_eq!(totals.claims(), vec![("alice", 0), ("bob", 5)]);
    assert_eq!(
        payouts(totals.get(&"alice").unwrap().devices()),
        vec![(1, 0)]
    );

    let empty: OwnerTotals<u32, &str> = roll_up(Vec::<(u32, u128)>::new(), owner_of).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.total(), 0);
    assert!(empty.claims().is_empty());

    let nobody = roll_up(vec![(4u32, 9)], owner_of).unwrap();
    assert!(nobody.is_empty());
    assert_eq!(nobody.unowned_total(), 9);
}

#[test]
fn a_device_twice_is_refused() {
    assert_eq!(
        roll_up(vec![(1u32, 10), (2, 20), (1, 5)], owner_of),
        Err(Error::DuplicateEntry { index: 1 })
    );
    // even when it has no owner
    assert_eq!(
        roll_up(vec![(4u32, 1), (4, 1)], owner_of),
        Err(Error::DuplicateEntry { index: 1 })
    );
}

#[test]
fn overflow_is_an_error() {
    // one owner's total
    assert!(matches!(
        roll_up(vec![(1u32, u128::MAX), (3, 1)], owner_of),
        Err(Error::Overflow(_))
    ));
    // the sum over owners
    assert!(matches!(
        roll_up(vec![(1u32, u128::MAX), (2, 1)], owner_of),
        Err(Error::Overflow(_))
    ));
    // the unowned amounts
    assert!(matches!(
        roll_up(vec![(4u32, u128::MAX), (6, 1)], owner_of),
        Err(Error::Overflow(_))
    ));
    // an owner at the limit is fine
    let max = roll_up(vec![(1u32, u128::MAX - 1), (3, 1)], owner_of).unwrap();
    assert_eq!(max.amount_of(&"alice"), u128::MAX);
}

#[test]
fn a_distribution_rolls_up_and_feeds_claims() {
    let shares = Shares::new(vec![(1u32, 1), (2, 1), (3, 2), (4, 4), (5, 0)]).unwrap();
    let d = distribute(&shares, 1_000, Mode::LargestRemainder).unwrap();
    let totals = roll_up_distribution(&d, owner_of).unwrap();
    // 1: 125, 2: 125, 3: 250, 4: 500 (unowned), 5: 0
    assert_eq!(totals.claims(), vec![("alice", 375), ("bob", 125)]);
    assert_eq!(
        payouts(totals.get(&"alice").unwrap().devices()),
        vec![(1, 125), (3, 250), (5, 0)]
    );
    assert_eq!(totals.unowned_total(), 500);
    assert_eq!(
        totals.total() + totals.unowned_total(),
        d.allocated() + d.unallocated()
    );

    // owners' claims into a claim tree
    let claims: Vec<(Vec<u8>, u128)> = totals
        .claims()
        .into_iter()
        .map(|(a, v)| (a.as_bytes().to_vec(), v))
        .collect();
    let tree = SdkMerkleTree::new(claims).unwrap();
    assert_eq!(tree.len(), 2);

    // and into a cumulative ledger of owners, epoch after epoch
    let mut ledger: CumulativeLedger<&str> = CumulativeLedger::new();
    totals.credit(1, &mut ledger).unwrap();
    totals.credit(2, &mut ledger).unwrap();
    assert_eq!(ledger.total(&"alice"), 750);
    assert_eq!(ledger.total(&"bob"), 250);
    assert_eq!(ledger.grand_total(), 1_000);
    assert!(matches!(
        totals.credit(2, &mut ledger),
        Err(Error::EpochNotIncreasing { .. })
    ));
    // two categories of one epoch in a single update
    let other = roll_up(vec![(2u32, 7)], owner_of).unwrap();
    ledger
        .apply(3, totals.credits().chain(other.credits()))
        .unwrap();
    assert_eq!(ledger.total(&"bob"), 250 + 125 + 7);
    assert_eq!(ledger.total(&"alice"), 750 + 375);
}
