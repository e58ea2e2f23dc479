//! Claim trees: OpenZeppelin golden vectors, published cw20-merkle-airdrop vectors, SDK tree.

use depin_rewards::claims::{cw20, oz, sdk};
use depin_rewards::{CumulativeLedger, Error};
use proptest::prelude::*;

use crate::read_golden;

pub(crate) fn parse_address(s: &str) -> [u8; 20] {
    let mut a = [0u8; 20];
    hex::decode_to_slice(s.trim_start_matches("0x"), &mut a).unwrap();
    a
}

pub(crate) fn hex32(h: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(h))
}

/// Roots, leaves and proofs produced by the real npm package, checked in (no node needed).
#[test]
fn oz_matches_npm_golden_vectors() {
    let g = read_golden("oz_tree.json");
    for case in g["cases"].as_array().unwrap() {
        let claims: Vec<([u8; 20], u128)> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    parse_address(v[0].as_str().unwrap()),
                    v[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let tree = oz::OzMerkleTree::new(claims.clone()).unwrap();
        assert_eq!(
            hex32(&tree.root()),
            case["root"].as_str().unwrap(),
            "n = {}",
            claims.len()
        );
        for (i, (addr, amount)) in claims.iter().enumerate() {
            assert_eq!(
                hex32(&oz::leaf_hash(addr, *amount)),
                case["leaves"][i].as_str().unwrap()
            );
            let proof: Vec<String> = tree.proof(i).unwrap().iter().map(hex32).collect();
            let want: Vec<String> = case["proofs"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            assert_eq!(proof, want, "proof {i} of {}", claims.len());
            assert!(oz::verify(
                &tree.root(),
                addr,
                *amount,
                &tree.proof(i).unwrap()
            ));
            assert_eq!(tree.index_of(addr), Some(i));
        }
    }
}

/// Vanity-style addresses that share their first 8 bytes exercise the tie-breaking path of the
/// compact-key sorts: lookups, duplicate detection and input-order independence still hold.
#[test]
fn oz_addresses_with_a_shared_prefix() {
    let claims: Vec<([u8; 20], u128)> = (0..5_000u32)
        .map(|i| {
            let mut a = [0u8; 20];
            a[16..].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            (a, u128::from(i % 7) + 1)
        })
        .collect();
    let tree = oz::OzMerkleTree::new(claims.clone()).unwrap();
    let reversed: Vec<_> = claims.iter().rev().copied().collect();
    assert_eq!(oz::OzMerkleTree::new(reversed).unwrap().root(), tree.root());
    for (i, (addr, amount)) in claims.iter().enumerate().step_by(97) {
        assert_eq!(tree.index_of(addr), Some(i));
        assert!(oz::verify(
            &tree.root(),
            addr,
            *amount,
            &tree.proof(i).unwrap()
        ));
    }
    assert_eq!(tree.index_of(&[0u8; 20]), Some(0));
    assert_eq!(tree.index_of(&[0xff; 20]), None);

    let mut dup = claims;
    dup.push((dup[1234].0, 99));
    assert!(matches!(
        oz::OzMerkleTree::new(dup),
        Err(Error::DuplicateEntry { .. })
    ));
}

#[test]
fn oz_rejects_bad_input_and_forged_claims() {
    assert_eq!(oz::OzMerkleTree::new(vec![]), Err(Error::EmptyTree));
    assert_eq!(
        oz::OzMerkleTree::new(vec![([1; 20], 5), ([2; 20], 5), ([1; 20], 6)]),
        Err(Error::DuplicateEntry { index: 1 })
    );
    let tree = oz::OzMerkleTree::new(vec![([1; 20], 5), ([2; 20], 6), ([3; 20], 7)]).unwrap();
    let p = tree.proof(1).unwrap();
    assert!(oz::verify(&tree.root(), &[2; 20], 6, &p));
    assert!(!oz::verify(&tree.root(), &[2; 20], 7, &p));
    assert!(!oz::verify(&tree.root(), &[3; 20], 6, &p));
    assert_eq!(
        tree.proof(3),
        Err(Error::IndexOutOfRange { index: 3, len: 3 })
    );
    // an inner node cannot be claimed as a leaf: its two children are not an abi-encoded claim
    // whose double hash is the node (that would need a keccak collision)
    let nodes = tree.nodes();
    let inner = nodes[1];
    assert!(!tree.nodes()[tree.len() - 1..].contains(&inner));
    assert_eq!(oz::node_hash(&nodes[3], &nodes[4]), inner);
    assert_ne!(
        oz::keccak256(&oz::keccak256(&[nodes[3], nodes[4]].concat())),
        inner,
        "the children read as an abi-encoded claim do not hash to their parent"
    );
}

/// The published cw20-merkle-airdrop vectors (CosmWasm/cw-tokens testdata): every proof
/// verifies, and rebuilding the 6-leaf stage-1 tree reproduces the root and all proofs.
#[test]
fn cw20_published_vectors() {
    let root = "b45c1ea28b26adb13e412933c9e055b01fdf7585304b00cd8f1cb220aa6c5e88";
    let accounts: [(&str, u128, &[&str]); 4] = [
        (
            "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq",
            100,
            &[
                "a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1",
                "fb57090a813128eeb953a4210dd64ee73d2632b8158231effe2f0a18b2d3b5dd",
                "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343",
            ],
        ),
        (
            "wasm1uy9ucvgerneekxpnfwyfnpxvlsx5dzdpf0mzjd",
            1010,
            &[
                "d496b14f0a6207db1c9a1be70d5f3684d3c76f27c0bc75ee979f3e2a71a97ed0",
                "e3746c7f0e1d1f60708f9e5facaaee77424a8c5f6527f1813f60e8c3755d3b5d",
                "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343",
            ],
        ),
        (
            "wasm1a4x6au55s0fusctyj2ulrxvfpmjcxa92k7ze2v",
            10220,
            &[
                "b69c5239d434753af2f6c3eab47f4e78c436f862f14e6989be5c9027c2b6dfe2",
                "e3746c7f0e1d1f60708f9e5facaaee77424a8c5f6527f1813f60e8c3755d3b5d",
                "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343",
            ],
        ),
        (
            "wasm1ylna88nach9sn5n7qe7u5l6lh7dmt6lp2y63xx",
            10333,
            &[
                "f89c4ec6a98e26fb5690e50e16e189f9942f0576a5ba711ed75fe01140ddb2af",
                "374f1a32b0a5d5dab16f8fbed8c248e183448732f897002375e0d4ca6e13ad73",
            ],
        ),
    ];
    for (addr, amount, proof) in accounts {
        assert!(
            cw20::verify_hex(root, addr, amount, proof).unwrap(),
            "{addr}"
        );
        assert!(!cw20::verify_hex(root, addr, amount + 1, proof).unwrap());
    }
    // stage 2 vector
    assert!(cw20::verify_hex(
        "a5587bd4d158618b83badf57b1a4206f86e33407e18797ef690c931d73b36232",
        "wasm1uwcjkghqlz030r989clzqs8zlaujwyphx0yumy",
        14,
        &[
            "a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1",
            "1eb08e61c40d5ba334f3c32f3f136e714f0841e5d53af6b78ec94e3b29a01e74",
            "fe570ffb0015447c01bffdcd266fe4ee21a23eb6b499461b9ced5a03c6a9b2f0",
            "fa0224da936bcebd0f018a46ba15a5a9fc2d637f72f7c14b31aeffd8964983b5",
        ],
    )
    .unwrap());

    // Rebuild the stage-1 tree: the four known leaves plus the two leaves that appear only as
    // first proof elements (a714…, f89c…) of accounts whose sibling is not in the vector.
    let mut leaves: Vec<[u8; 32]> = accounts
        .iter()
        .map(|(a, v, _)| cw20::leaf_hash(a, *v))
        .collect();
    leaves.push(cw20::parse_hash(accounts[0].2[0]).unwrap());
    leaves.push(cw20::parse_hash(accounts[3].2[0]).unwrap());
    let tree = cw20::Cw20MerkleTree::from_leaf_hashes(leaves).unwrap();
    assert_eq!(tree.root_hex(), root);
    for (i, (_, _, proof)) in accounts.iter().enumerate() {
        assert_eq!(
            tree.proof_hex(i).unwrap(),
            proof.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "account {i}"
        );
    }
}

#[test]
fn cw20_tree_roundtrip_and_duplicates() {
    let claims: Vec<(String, u128)> = (0..23)
        .map(|i| (format!("wasm1account{i:03}"), 1000 + i as u128))
        .collect();
    let tree = cw20::Cw20MerkleTree::new(claims.clone()).unwrap();
    for (i, (a, v)) in claims.iter().enumerate() {
        assert!(cw20::verify_hex(&tree.root_hex(), a, *v, &tree.proof_hex(i).unwrap()).unwrap());
        assert_eq!(tree.claim(i), Some((a.as_str(), *v)));
    }
    let mut dup = claims.clone();
    dup.push(("wasm1account005".into(), 1));
    assert!(matches!(
        cw20::Cw20MerkleTree::new(dup),
        Err(Error::DuplicateEntry { .. })
    ));
    assert_eq!(cw20::Cw20MerkleTree::new(vec![]), Err(Error::EmptyTree));
    assert_eq!(
        cw20::verify_hex("zz", "a", 1, &["00"]),
        Err(Error::InvalidHex)
    );
    // a single-leaf tree's root is the leaf and the proof is empty
    let one = cw20::Cw20MerkleTree::new(vec![("wasm1x".into(), 5)]).unwrap();
    assert_eq!(one.root(), cw20::leaf_hash("wasm1x", 5));
    assert!(one.proof(0).unwrap().is_empty());
}

#[test]
fn sdk_tree_is_domain_separated() {
    let claims: Vec<(Vec<u8>, u128)> = (0..13u8)
        .map(|i| (vec![i; 1 + i as usize], 7 * u128::from(i)))
        .collect();
    let tree = sdk::SdkMerkleTree::new(claims.clone()).unwrap();
    for (i, (a, v)) in claims.iter().enumerate() {
        let p = tree.proof(i).unwrap();
        assert!(sdk::verify(&tree.root(), a, *v, &p));
        assert!(!sdk::verify(&tree.root(), a, v + 1, &p));
        let mut wrong = p.clone();
        wrong.index ^= 1;
        assert!(!sdk::verify(&tree.root(), a, *v, &wrong));
    }
    // a leaf hash never equals an inner node over the same bytes, and an inner node cannot be
    // presented as a claim: its preimage starts with 0x01, every leaf preimage with 0x00
    let l = tree.leaves();
    let inner = sdk::node_hash(&l[0], &l[1]);
    assert_ne!(inner, sdk::leaf_hash(&[l[0], l[1]].concat(), 0).unwrap());
    assert!(!l.contains(&inner));
    // the RFC 6962 shape: for 3 leaves, root = H(H(l0, l1), l2)
    let t3 = sdk::SdkMerkleTree::new(vec![
        (b"a".to_vec(), 1),
        (b"b".to_vec(), 2),
        (b"c".to_vec(), 3),
    ])
    .unwrap();
    let l = t3.leaves();
    assert_eq!(
        t3.root(),
        sdk::node_hash(&sdk::node_hash(&l[0], &l[1]), &l[2])
    );
    // duplicates, empty and oversized accounts are rejected
    assert!(matches!(
        sdk::SdkMerkleTree::new(vec![(b"a".to_vec(), 1), (b"a".to_vec(), 2)]),
        Err(Error::DuplicateEntry { .. })
    ));
    assert_eq!(sdk::SdkMerkleTree::new(vec![]), Err(Error::EmptyTree));
    assert!(sdk::SdkMerkleTree::new(vec![(vec![0; 70_000], 1)]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every proof of every tree verifies, for any size; proofs do not verify other claims.
    #[test]
    fn all_trees_prove_every_claim(n in 1usize..70, seed in any::<u64>()) {
        let mut s = seed;
        let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); s };
        let evm: Vec<([u8; 20], u128)> = (0..n).map(|i| {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&next().to_be_bytes());
            a[12..16].copy_from_slice(&(i as u32).to_be_bytes());
            (a, u128::from(next()))
        }).collect();
        let oz_tree = oz::OzMerkleTree::new(evm.clone()).unwrap();
        let sdk_tree = sdk::SdkMerkleTree::new(evm.iter().map(|(a, v)| (a.to_vec(), *v)).collect()).unwrap();
        let cw_tree = cw20::Cw20MerkleTree::new(evm.iter().map(|(a, v)| (hex::encode(a), *v)).collect()).unwrap();
        for (i, (a, v)) in evm.iter().enumerate() {
            prop_assert!(oz::verify(&oz_tree.root(), a, *v, &oz_tree.proof(i).unwrap()));
            prop_assert!(sdk::verify(&sdk_tree.root(), a, *v, &sdk_tree.proof(i).unwrap()));
            prop_assert!(cw20::verify(&cw_tree.root(), &hex::encode(a), *v, &cw_tree.proof(i).unwrap()));
            if n > 1 {
                let j = (i + 1) % n;
                prop_assert!(!oz::verify(&oz_tree.root(), &evm[j].0, evm[j].1, &oz_tree.proof(i).unwrap()));
            }
        }
        // the OZ root does not depend on input order
        let mut rev = evm.clone();
        rev.reverse();
        prop_assert_eq!(oz::OzMerkleTree::new(rev).unwrap().root(), oz_tree.root());
    }
}

#[test]
fn cumulative_ledger_feeds_a_claim_tree() {
    let mut ledger = CumulativeLedger::new();
    ledger
        .apply(1, [([1u8; 20], 10u128), ([2u8; 20], 20)])
        .unwrap();
    ledger
        .apply(2, [([1u8; 20], 5u128), ([3u8; 20], 1)])
        .unwrap();
    let tree = oz::OzMerkleTree::new(ledger.claims()).unwrap();
    let i = tree.index_of(&[1u8; 20]).unwrap();
    assert_eq!(tree.claim(i), Some(([1u8; 20], 15)));
    assert!(oz::verify(
        &tree.root(),
        &[1u8; 20],
        15,
        &tree.proof(i).unwrap()
    ));
}
