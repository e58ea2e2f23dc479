//! `mul_div` and rounding against an independent schoolbook big-integer implementation.

use depin_rewards::math::{div_round, mul_div, mul_div_rem, mul_wide, Divisor, Rounding};
use depin_rewards::{Error, Fixed};
use proptest::prelude::*;

/// Little-endian base-2^32 big integer, deliberately naive (independent of the crate's code).
fn to_limbs(mut v: u128) -> Vec<u64> {
    let mut out = Vec::new();
    while v != 0 {
        out.push((v & 0xffff_ffff) as u64);
        v >>= 32;
    }
    out
}

fn mul(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; a.len() + b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        let mut carry = 0u64;
        for (j, y) in b.iter().enumerate() {
            let t = out[i + j] + x * y + carry;
            out[i + j] = t & 0xffff_ffff;
            carry = t >> 32;
        }
        let mut k = i + b.len();
        while carry != 0 {
            let t = out[k] + carry;
            out[k] = t & 0xffff_ffff;
            carry = t >> 32;
            k += 1;
        }
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let la = a.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    let lb = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    la.cmp(&lb)
        .then_with(|| a[..la].iter().rev().cmp(b[..lb].iter().rev()))
}

fn sub(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = a.to_vec();
    let mut borrow = 0i64;
    for (i, limb) in out.iter_mut().enumerate() {
        let bi = *b.get(i).unwrap_or(&0) as i64;
        let mut t = *limb as i64 - bi - borrow;
        if t < 0 {
            t += 1 << 32;
            borrow = 1;
        } else {
            borrow = 0;
        }
        *limb = t as u64;
    }
    assert_eq!(borrow, 0);
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// Checks q·d + r == a·b and r < d with the naive arithmetic.
fn check_div(a: u128, b: u128, d: u128, q: u128, r: u128) {
    assert!(r < d);
    let lhs = mul(&to_limbs(a), &to_limbs(b));
    let qd = mul(&to_limbs(q), &to_limbs(d));
    let diff = sub(&lhs, &qd);
    assert_eq!(
        cmp(&diff, &to_limbs(r)),
        std::cmp::Ordering::Equal,
        "a={a} b={b} d={d}"
    );
}

fn wide() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        any::<u64>().prop_map(u128::from),
        (0u32..128).prop_flat_map(|s| any::<u128>().prop_map(move |v| v >> s)),
        Just(u128::MAX),
        Just(1u128 << 64),
        Just((1u128 << 64) - 1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mul_div_rem_matches_schoolbook(a in wide(), b in wide(), d in wide()) {
        prop_assume!(d != 0);
        match mul_div_rem(a, b, d) {
            Ok((q, r)) => check_div(a, b, d, q, r),
            Err(e) => {
                prop_assert_eq!(e, Error::Overflow("mul_div"));
                // overflow only if a·b >= d·2^128
                let (hi, _) = mul_wide(a, b);
                prop_assert!(hi >= d);
            }
        }
    }

    /// The precomputed-reciprocal divisor agrees with the schoolbook reference.
    #[test]
    fn divisor_matches_schoolbook(a in wide(), b in wide(), d in wide()) {
        prop_assume!(d != 0);
        let div = Divisor::new(d).unwrap();
        match div.mul_div_rem(a, b) {
            Ok((q, r)) => {
                check_div(a, b, d, q, r);
                prop_assert_eq!(Ok((q, r)), mul_div_rem(a, b, d));
            }
            Err(_) => prop_assert!(mul_div_rem(a, b, d).is_err()),
        }
        // remainders right below the divisor and exact multiples
        let (hi, lo) = mul_wide(d, a >> 1);
        if let Ok((q, r)) = div.div_rem_wide(hi, lo) {
            prop_assert_eq!((q, r), (a >> 1, 0));
        }
        if let Ok((q, r)) = div.div_rem_wide(0, d - 1) {
            prop_assert_eq!((q, r), (0, d - 1));
        }
    }

    #[test]
    fn mul_wide_matches_schoolbook(a in wide(), b in wide()) {
        let (hi, lo) = mul_wide(a, b);
        let mut limbs = to_limbs(lo);
        limbs.resize(4, 0);
        limbs.extend(to_limbs(hi));
        prop_assert_eq!(cmp(&limbs, &mul(&to_limbs(a), &to_limbs(b))), std::cmp::Ordering::Equal);
    }

    #[test]
    fn rounding_modes_bracket_the_quotient(a in any::<u64>(), b in any::<u32>(), d in 1u64..) {
        let (a, b, d) = (u128::from(a), u128::from(b), u128::from(d));
        let exact_num = a * b;
        let floor = mul_div(a, b, d, Rounding::Floor).unwrap();
        let ceil = mul_div(a, b, d, Rounding::Ceil).unwrap();
        let he = mul_div(a, b, d, Rounding::HalfEven).unwrap();
        let hu = mul_div(a, b, d, Rounding::HalfUp).unwrap();
        prop_assert_eq!(floor, exact_num / d);
        prop_assert_eq!(ceil, exact_num.div_ceil(d));
        // nearest: |2·x·d − 2·a·b| <= d
        for x in [he, hu] {
            let twice = 2 * exact_num;
            let dist = (2 * x * d).abs_diff(twice);
            prop_assert!(dist <= d);
        }
        let r = exact_num % d;
        if 2 * r == d {
            prop_assert_eq!(he % 2, 0);
            prop_assert_eq!(hu, floor + 1);
        }
    }
}

#[test]
fn divisor_edge_cases() {
    for d in [
        1u128,
        2,
        3,
        u64::MAX as u128,
        1 << 64,
        (1 << 64) + 1,
        1 << 127,
        (1 << 127) + 1,
        u128::MAX - 1,
        u128::MAX,
    ] {
        let div = Divisor::new(d).unwrap();
        for (a, b) in [
            (u128::MAX, 1),
            (u128::MAX, u128::MAX),
            (d - 1, d - 1),
            (d, u128::MAX),
            (12345, 67890),
        ] {
            match (div.mul_div_rem(a, b), mul_div_rem(a, b, d)) {
                (Ok(x), Ok(y)) => {
                    assert_eq!(x, y, "a={a} b={b} d={d}");
                    check_div(a, b, d, x.0, x.1);
                }
                (Err(_), Err(_)) => {}
                (x, y) => panic!("a={a} b={b} d={d}: {x:?} vs {y:?}"),
            }
        }
    }
    assert!(Divisor::new(0).is_err());
}

#[test]
fn rounding_named_examples() {
    // 2.5 -> 2 (even), 3.5 -> 4 (even), 2.5 -> 3 (half up)
    assert_eq!(div_round(5, 2, Rounding::HalfEven).unwrap(), 2);
    assert_eq!(div_round(7, 2, Rounding::HalfEven).unwrap(), 4);
    assert_eq!(div_round(5, 2, Rounding::HalfUp).unwrap(), 3);
    assert_eq!(div_round(5, 2, Rounding::Floor).unwrap(), 2);
    assert_eq!(div_round(5, 2, Rounding::Ceil).unwrap(), 3);
    assert_eq!(
        div_round(1, 0, Rounding::Floor),
        Err(Error::DivisionByZero("div_round"))
    );
    assert_eq!(
        mul_div(u128::MAX, u128::MAX, u128::MAX, Rounding::Floor).unwrap(),
        u128::MAX
    );
    assert_eq!(
        mul_div(u128::MAX, 2, 1, Rounding::Floor),
        Err(Error::Overflow("mul_div"))
    );
    assert_eq!(mul_div(u128::MAX, 1, 1, Rounding::Ceil).unwrap(), u128::MAX);
}

proptest! {
    #[test]
    fn fixed_display_parse_roundtrip(raw in any::<u128>()) {
        let f = Fixed::from_raw(raw);
        let back: Fixed = f.to_string().parse().unwrap();
        prop_assert_eq!(back, f);
        let json = serde_json::to_string(&f).unwrap();
        prop_assert_eq!(serde_json::from_str::<Fixed>(&json).unwrap(), f);
    }

    #[test]
    fn fixed_mul_div_are_inverse_within_one_ulp(a in 0u128..(1u128 << 100), b in 1u128..(1u128 << 80)) {
        let (a, b) = (Fixed::from_raw(a), Fixed::from_raw(b));
        if let Ok(p) = a.mul(b, Rounding::Floor) {
            let back = p.div(b, Rounding::Floor).unwrap();
            prop_assert!(back <= a);
        }
    }
}

#[test]
fn fixed_examples() {
    let x: Fixed = "0.1".parse().unwrap();
    let three = Fixed::from_int(3).unwrap();
    assert_eq!(x.mul(three, Rounding::Floor).unwrap().to_string(), "0.3");
    let third = Fixed::ONE.div(three, Rounding::Floor).unwrap();
    assert_eq!(third.to_string(), "0.333333333333333333");
    assert_eq!(
        Fixed::ONE.div(three, Rounding::Ceil).unwrap().to_string(),
        "0.333333333333333334"
    );
    assert_eq!(
        third.round_to(4, Rounding::HalfEven).unwrap().to_string(),
        "0.3333"
    );
    assert_eq!(
        "0.00005"
            .parse::<Fixed>()
            .unwrap()
            .round_to(4, Rounding::HalfEven)
            .unwrap()
            .to_string(),
        "0"
    );
    assert_eq!(
        "0.00015"
            .parse::<Fixed>()
            .unwrap()
            .round_to(4, Rounding::HalfEven)
            .unwrap()
            .to_string(),
        "0.0002"
    );
    assert_eq!(Fixed::from_units(7600, 4).unwrap().to_string(), "0.76");
    assert!(Fixed::from_units(1, 19).is_err());
    assert_eq!(
        Fixed::ONE.div(Fixed::ZERO, Rounding::Floor),
        Err(Error::DivisionByZero("mul_div"))
    );
    assert_eq!(
        Fixed::from_int(u128::MAX),
        Err(Error::Overflow("Fixed::from_int"))
    );
    assert_eq!(three.apply_to(7, Rounding::Floor).unwrap(), 21);
    // human-readable formats carry the exact decimal, binary formats the raw value
    assert_eq!(
        serde_json::to_string(&third).unwrap(),
        "\"0.333333333333333333\""
    );
    let bytes = postcard::to_allocvec(&third).unwrap();
    assert_eq!(postcard::from_bytes::<u128>(&bytes).unwrap(), third.raw());
    assert_eq!(postcard::from_bytes::<Fixed>(&bytes).unwrap(), third);
}
