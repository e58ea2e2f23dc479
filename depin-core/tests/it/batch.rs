//! Batch verification: isolation of bad items, same verdicts as single verification.

use depin_core::batch::{verify_batch, BatchItem};
use depin_core::{Domain, KeyType, MessageKind, NetworkId, PublicKey, Signature};

use crate::test_key;

struct Fixture {
    keys: Vec<PublicKey>,
    digests: Vec<[u8; 32]>,
    sigs: Vec<Signature>,
}

fn fixture(n: usize, kt_of: impl Fn(usize) -> KeyType) -> Fixture {
    let domain = Domain::new(NetworkId::new("batch").unwrap());
    let mut f = Fixture {
        keys: vec![],
        digests: vec![],
        sigs: vec![],
    };
    for i in 0..n {
        let k = test_key(kt_of(i), (i % 250) as u8 + 1);
        let d = domain.digest(MessageKind::REPORT_FRAME, &(i as u64).to_le_bytes());
        f.sigs.push(k.sign_prehash(&d).unwrap());
        f.keys.push(k.public_key());
        f.digests.push(d);
    }
    f
}

fn items(f: &Fixture) -> Vec<BatchItem<'_>> {
    (0..f.keys.len())
        .map(|i| BatchItem {
            key: &f.keys[i],
            digest: &f.digests[i],
            signature: &f.sigs[i],
        })
        .collect()
}

#[test]
fn all_good_pass() {
    let f = fixture(100, |_| KeyType::Ed25519);
    assert!(verify_batch(&items(&f)).iter().all(|v| *v));
}

#[test]
fn bad_items_isolated_and_verdicts_match_single() {
    let mut f = fixture(200, |i| KeyType::ALL[i % 7 % 3]);
    let bad = [0usize, 17, 18, 99, 150, 199];
    for &i in &bad {
        f.digests[i][0] ^= 1; // signature no longer matches
    }
    let verdicts = verify_batch(&items(&f));
    for i in 0..200 {
        let single = f.keys[i].verify_prehash(&f.digests[i], &f.sigs[i]).is_ok();
        assert_eq!(verdicts[i], single, "item {i}");
        assert_eq!(verdicts[i], !bad.contains(&i), "item {i}");
    }
}

#[test]
fn swapped_signatures_in_batch_fail_only_themselves() {
    let mut f = fixture(64, |_| KeyType::Ed25519);
    f.sigs.swap(10, 11);
    let v = verify_batch(&items(&f));
    assert!(!v[10] && !v[11]);
    assert_eq!(v.iter().filter(|x| **x).count(), 62);
}

#[test]
fn empty_batch() {
    assert!(verify_batch(&[]).is_empty());
}
