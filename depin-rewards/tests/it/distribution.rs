//! Distribution modes: exactness, bounds, order independence, explicit errors.

use depin_rewards::math::mul_div_rem;
use depin_rewards::{distribute, Distribution, Error, Mode, Shares};
use proptest::prelude::*;

fn shares_strategy() -> impl Strategy<Value = Vec<(u32, u128)>> {
    // unique ids, share sizes from tiny to 18-decimal fixed point and huge
    prop::collection::btree_map(
        any::<u32>(),
        prop_oneof![
            0u128..10,
            0u128..1_000_000,
            0u128..(3 * 10u128.pow(18)),
            any::<u64>().prop_map(u128::from),
            0u128..(1u128 << 100)
        ],
        1..60,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn pool_strategy() -> impl Strategy<Value = u128> {
    prop_oneof![
        0u128..100,
        0u128..10u128.pow(12),
        0u128..10u128.pow(30),
        any::<u128>()
    ]
}

fn sum(d: &Distribution<u32>) -> u128 {
    d.payouts().iter().map(|p| p.amount).sum()
}

/// floor(pool × s / S), computed independently of the crate's split (via mul_div_rem).
fn exact_floor(pool: u128, s: u128, total: u128) -> (u128, u128) {
    mul_div_rem(pool, s, total).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Mode (a): payouts sum to the pool exactly.
    #[test]
    fn largest_remainder_sums_to_pool(entries in shares_strategy(), pool in pool_strategy()) {
        let shares = match Shares::new(entries) { Ok(s) => s, Err(_) => return Ok(()) }; // total overflow
        prop_assume!(shares.total() > 0);
        let d = distribute(&shares, pool, Mode::LargestRemainder).unwrap();
        prop_assert_eq!(sum(&d), pool);
        prop_assert_eq!(d.unallocated(), 0);
    }

    /// Mode (b): payouts sum to pool − reported leftover, and the leftover is below the device count.
    #[test]
    fn floor_sums_to_pool_minus_leftover(entries in shares_strategy(), pool in pool_strategy()) {
        let shares = match Shares::new(entries) { Ok(s) => s, Err(_) => return Ok(()) };
        prop_assume!(shares.total() > 0);
        let d = distribute(&shares, pool, Mode::Floor).unwrap();
        prop_assert_eq!(sum(&d) + d.unallocated(), pool);
        prop_assert!(d.unallocated() < shares.len() as u128);
        prop_assert_eq!(d.allocated(), sum(&d));
    }

    /// No device gets more than its exact share + 1 unit (nor less than its floor).
    #[test]
    fn payout_within_one_unit_of_exact_share(entries in shares_strategy(), pool in pool_strategy()) {
        let shares = match Shares::new(entries) { Ok(s) => s, Err(_) => return Ok(()) };
        prop_assume!(shares.total() > 0);
        for mode in [Mode::LargestRemainder, Mode::Floor] {
            let d = distribute(&shares, pool, mode).unwrap();
            for p in d.payouts() {
                let (floor, rem) = exact_floor(pool, shares.get(&p.id).unwrap(), shares.total());
                prop_assert!(p.amount >= floor);
                prop_assert!(p.amount <= floor + 1);
                // an extra unit only where the exact share is fractional
                if rem == 0 { prop_assert_eq!(p.amount, floor); }
                if mode == Mode::Floor { prop_assert_eq!(p.amount, floor); }
            }
        }
    }

    /// The result depends only on the set of (id, shares), never on input order.
    #[test]
    fn order_independent(entries in shares_strategy(), pool in pool_strategy(), seed in any::<u64>()) {
        let Ok(a) = Shares::new(entries.clone()) else { return Ok(()) };
        prop_assume!(a.total() > 0);
        let mut shuffled = entries;
        // deterministic Fisher-Yates with an LCG
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (s >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        let b = Shares::new(shuffled).unwrap();
        for mode in [Mode::LargestRemainder, Mode::Floor] {
            prop_assert_eq!(distribute(&a, pool, mode).unwrap(), distribute(&b, pool, mode).unwrap());
        }
    }

    /// Largest remainder is the best integer apportionment: whoever got the extra unit has a
    /// remainder at least as large as anyone who did not (ties: smaller id first).
    #[test]
    fn extra_units_go_to_largest_remainders(entries in shares_strategy(), pool in pool_strategy()) {
        let shares = match Shares::new(entries) { Ok(s) => s, Err(_) => return Ok(()) };
        prop_assume!(shares.total() > 0);
        let d = distribute(&shares, pool, Mode::LargestRemainder).unwrap();
        let mut got = vec![];
        let mut not = vec![];
        for p in d.payouts() {
            let (floor, rem) = exact_floor(pool, shares.get(&p.id).unwrap(), shares.total());
            if p.amount > floor { got.push((rem, p.id)); } else { not.push((rem, p.id)); }
            if let Some(c) = d.cutoff() {
                prop_assert_eq!(c.includes(rem, &p.id) && rem != 0, p.amount > floor);
            }
        }
        for g in &got {
            for n in &not {
                prop_assert!(g.0 > n.0 || (g.0 == n.0 && g.1 < n.1));
            }
        }
        prop_assert_eq!(got.len() as u128, d.extra_units());
    }
}

#[test]
fn explicit_errors() {
    let empty: Shares<u32> = Shares::new(vec![]).unwrap();
    assert_eq!(
        distribute(&empty, 100, Mode::LargestRemainder),
        Err(Error::EmptyEpoch)
    );
    assert_eq!(distribute(&empty, 100, Mode::Floor), Err(Error::EmptyEpoch));
    let zeros = Shares::new(vec![(1u32, 0), (2, 0)]).unwrap();
    assert_eq!(
        distribute(&zeros, 100, Mode::LargestRemainder),
        Err(Error::ZeroTotalShares)
    );
    assert_eq!(
        distribute(&zeros, 100, Mode::Floor),
        Err(Error::ZeroTotalShares)
    );
    assert_eq!(
        Shares::new(vec![(1u32, 5), (2, 1), (1, 5)]),
        Err(Error::DuplicateEntry { index: 1 })
    );
    assert_eq!(
        Shares::from_sorted(vec![(1u32, 5), (1, 5)]),
        Err(Error::DuplicateEntry { index: 1 })
    );
    assert_eq!(
        Shares::from_sorted(vec![(2u32, 5), (1, 5)]),
        Err(Error::NotSorted { index: 1 })
    );
    assert_eq!(
        Shares::new(vec![(1u32, u128::MAX), (2, 1)]),
        Err(Error::Overflow("total shares"))
    );
    // explicit opt-in to summing repeated ids
    let summed = Shares::summed(vec![(1u32, 5), (2, 1), (1, 5)]).unwrap();
    assert_eq!(summed.get(&1), Some(10));
    assert_eq!(summed.total(), 11);
    assert_eq!(
        Shares::summed(vec![(1u32, u128::MAX), (1, 1)]),
        Err(Error::Overflow("summed shares"))
    );
}

#[test]
fn pool_zero_and_single_device() {
    let s = Shares::new(vec![("x", 3u128), ("y", 0)]).unwrap();
    let d = distribute(&s, 0, Mode::LargestRemainder).unwrap();
    assert!(d.payouts().iter().all(|p| p.amount == 0));
    let d = distribute(&s, u128::MAX, Mode::LargestRemainder).unwrap();
    assert_eq!(d.amount_of(&"x"), Some(u128::MAX));
    assert_eq!(d.amount_of(&"y"), Some(0));
    assert_eq!(d.amount_of(&"z"), None);
}

#[test]
fn ties_broken_by_smaller_id() {
    // 10 units over 4 equal devices: 2 each + 2 extra units to the two smallest ids
    let s = Shares::new(vec![(40u32, 1), (10, 1), (30, 1), (20, 1)]).unwrap();
    let d = distribute(&s, 10, Mode::LargestRemainder).unwrap();
    let amounts: Vec<(u32, u128)> = d.payouts().iter().map(|p| (p.id, p.amount)).collect();
    assert_eq!(amounts, [(10, 3), (20, 3), (30, 2), (40, 2)]);
    let c = d.cutoff().unwrap();
    assert_eq!((c.remainder, c.id), (2, 20));
}

#[test]
fn one_million_devices_sum_exactly() {
    // the benchmark's workload, checked once for exactness
    let entries: Vec<(u64, u128)> = (0..1_000_000u64)
        .map(|i| {
            (
                i,
                u128::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4) * 1_000,
            )
        })
        .collect();
    let shares = Shares::from_sorted(entries).unwrap();
    let pool = 88_797_814_207_650_273_224u128;
    let d = distribute(&shares, pool, Mode::LargestRemainder).unwrap();
    assert_eq!(d.payouts().iter().map(|p| p.amount).sum::<u128>(), pool);
    assert!(d.extra_units() > 0);
    let f = distribute(&shares, pool, Mode::Floor).unwrap();
    assert_eq!(
        f.payouts().iter().map(|p| p.amount).sum::<u128>() + f.unallocated(),
        pool
    );
    assert_eq!(f.unallocated(), d.extra_units());
}

#[test]
fn distribution_serialises() {
    let s = Shares::new(vec![(3u64, 5u128), (1, 7), (2, 11)]).unwrap();
    let d = distribute(&s, 1_000_003, Mode::LargestRemainder).unwrap();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["pool"], "1000003");
    assert_eq!(json["payouts"][0]["amount"], "304349"); // remainder 17 of 23: extra unit
    let back: Distribution<u64> = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
    let bin = postcard::to_allocvec(&d).unwrap();
    assert_eq!(postcard::from_bytes::<Distribution<u64>>(&bin).unwrap(), d);
}
