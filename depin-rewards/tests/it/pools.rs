//! Basis-point pool splits and redistribution of unused pools.

use depin_rewards::pools::{PoolPlan, PoolSplit, Redistribution};
use depin_rewards::{Error, Mode};
use proptest::prelude::*;

#[test]
fn helium_iot_split_with_unused_data() {
    // 1,000,003 bones: 6/24/50/7/7 % and 6 % unassigned
    let split = PoolSplit::helium_iot();
    assert_eq!(split.total_bps(), 9_400);
    let mut pools = split.split(1_000_003, Mode::LargestRemainder).unwrap();
    // exact shares: 60000.18, 240000.72, 500001.5, 70000.21, 70000.21, unassigned 60000.18
    // floors sum to 1,000,001: two extra units, to witnesses (.72) and data (.5)
    assert_eq!(pools.get("beacons"), Some(60_000));
    assert_eq!(pools.get("witnesses"), Some(240_001));
    assert_eq!(pools.get("data"), Some(500_002));
    assert_eq!(pools.get("operations"), Some(70_000));
    assert_eq!(pools.get("oracles"), Some(70_000));
    assert_eq!(pools.unassigned(), 60_000);
    assert_eq!(pools.total().unwrap(), 1_000_003);

    // data used 123,457 of 500,002: 376,545 moves 20/80 to beacons/witnesses
    let moved = pools
        .redistribute_unused(
            "data",
            123_457,
            &PoolSplit::helium_iot_unused_data(),
            Mode::LargestRemainder,
        )
        .unwrap();
    assert_eq!(moved, 376_545);
    assert_eq!(pools.get("data"), Some(123_457));
    assert_eq!(pools.get("beacons"), Some(60_000 + 75_309)); // 75,309.0
    assert_eq!(pools.get("witnesses"), Some(240_001 + 301_236)); // 301,236.0
    assert_eq!(pools.total().unwrap(), 1_000_003);
}

#[test]
fn floor_mode_reports_dust_as_unassigned() {
    let split = PoolSplit::new([("a", 3_333), ("b", 3_333), ("c", 3_334)]).unwrap();
    let pools = split.split(10, Mode::Floor).unwrap();
    assert_eq!(
        (pools.get("a"), pools.get("b"), pools.get("c")),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(pools.unassigned(), 1);
    let pools = split.split(10, Mode::LargestRemainder).unwrap();
    assert_eq!(pools.get("c"), Some(4)); // .334 is the largest remainder
    assert_eq!(pools.unassigned(), 0);
}

#[test]
fn invalid_splits_and_moves() {
    assert_eq!(
        PoolSplit::new([("a", 9_000), ("b", 1_001)]),
        Err(Error::InvalidParameter("basis points sum above 10000"))
    );
    assert_eq!(
        PoolSplit::new([("a", 1), ("a", 2)]),
        Err(Error::DuplicateEntry { index: 1 })
    );
    assert!(PoolSplit::new(Vec::<(&str, u16)>::new()).is_err());
    let mut pools = PoolSplit::new([("a", 10_000)])
        .unwrap()
        .split(100, Mode::Floor)
        .unwrap();
    let to = PoolSplit::new([("b", 10_000)]).unwrap();
    assert_eq!(
        pools.redistribute("x", 1, &to, Mode::Floor),
        Err(Error::UnknownCategory)
    );
    let before = pools.clone();
    assert!(pools.redistribute("a", 101, &to, Mode::Floor).is_err());
    assert_eq!(pools, before, "a failed move changes nothing");
    pools.redistribute("a", 40, &to, Mode::Floor).unwrap();
    assert_eq!((pools.get("a"), pools.get("b")), (Some(60), Some(40)));
    // used above the pool: nothing moves
    assert_eq!(
        pools
            .redistribute_unused("a", 1_000, &to, Mode::Floor)
            .unwrap(),
        0
    );
}

#[test]
fn pool_plan_replays_and_serialises() {
    let plan = PoolPlan {
        emission: 1_000_003,
        split: PoolSplit::helium_iot(),
        mode: Mode::LargestRemainder,
        redistributions: vec![Redistribution {
            from: "data".into(),
            used: 123_457,
            to: PoolSplit::helium_iot_unused_data(),
            mode: Mode::LargestRemainder,
        }],
    };
    let pools = plan.compute().unwrap();
    assert_eq!(pools.get("witnesses"), Some(541_237));
    let json = serde_json::to_string(&plan).unwrap();
    let back: PoolPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    let pools_json = serde_json::to_value(&pools).unwrap();
    assert_eq!(pools_json["amounts"]["witnesses"], "541237");
}

proptest! {
    /// Σ pools + unassigned == emission through any split and redistribution.
    #[test]
    fn conservation(
        bps in prop::collection::vec(0u16..3_000, 1..6),
        emission in any::<u128>(),
        used in any::<u128>(),
        to_a in 0u16..=10_000,
        floor in any::<bool>(),
    ) {
        let total: u32 = bps.iter().map(|b| u32::from(*b)).sum();
        prop_assume!(total <= 10_000);
        let mode = if floor { Mode::Floor } else { Mode::LargestRemainder };
        let split = PoolSplit::new(bps.iter().enumerate().map(|(i, b)| (format!("c{i}"), *b))).unwrap();
        let mut pools = split.split(emission, mode).unwrap();
        prop_assert_eq!(pools.total().unwrap(), emission);
        let to = PoolSplit::new([("c0", to_a), ("new", 10_000 - to_a)]).unwrap();
        pools.redistribute_unused("c0", used, &to, mode).unwrap();
        prop_assert_eq!(pools.total().unwrap(), emission);
    }
}
