//! Epoch roots by a quorum of oracles: the honest root wins over one liar, nothing wins
//! without a majority, and every way a vote can be wrong is refused and reported.

use depin_chains::quorum::{OracleSet, RootStatement, RootVote, VoteRefusal};
use depin_chains::Error;
use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey};
use proptest::prelude::*;

const DISTRIBUTOR: [u8; 20] = [0xd1; 20];

fn domain() -> Domain {
    Domain::new(NetworkId::new("quorum-net").unwrap()).with_chain_id(31337)
}

/// Oracle `i`, cycling through the three key types.
fn oracle(i: u8) -> SigningKey {
    let kt = KeyType::ALL[usize::from(i) % 3];
    SigningKey::from_secret_bytes(kt, &[i.wrapping_add(1); 32]).unwrap()
}

fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(k.public_key())
}

fn set(n: u8, t: usize) -> (Vec<SigningKey>, OracleSet) {
    let keys: Vec<SigningKey> = (0..n).map(oracle).collect();
    let set = OracleSet::new(keys.iter().map(id), t).unwrap();
    (keys, set)
}

fn statement(root: u8) -> RootStatement {
    RootStatement::new(DISTRIBUTOR.to_vec(), Epoch(7), [root; 32], 1_000)
}

fn vote(k: &SigningKey, s: &RootStatement) -> RootVote {
    s.sign(&domain(), k).unwrap()
}

fn tally(
    set: &OracleSet,
    votes: &[RootVote],
) -> depin_chains::Result<depin_chains::quorum::Quorum> {
    set.tally(&domain(), &DISTRIBUTOR, Epoch(7), votes)
}

#[test]
fn one_lying_oracle_of_three_is_outvoted_and_its_dissent_kept() {
    let (keys, set) = set(3, 2);
    let (honest, lie) = (statement(0xaa), statement(0xbb));
    let votes = [
        vote(&keys[2], &lie),
        vote(&keys[0], &honest),
        vote(&keys[1], &honest),
    ];
    let q = tally(&set, &votes).unwrap();
    assert_eq!(q.statement, honest);
    let mut expected = vec![id(&keys[0]), id(&keys[1])];
    expected.sort();
    assert_eq!(q.signers, expected);
    assert_eq!(q.signatures.len(), 2);
    assert_eq!(q.dissent, vec![votes[0].clone()]);
    assert!(q.refused.is_empty());
    // each signature is the signer's over the agreed statement
    for (signer, signature) in q.signers.iter().zip(&q.signatures) {
        let v = RootVote {
            oracle: *signer,
            statement: honest.clone(),
            signature: *signature,
        };
        v.verify(&domain()).unwrap();
    }
}

#[test]
fn without_a_majority_nothing_is_agreed() {
    let (keys, set) = set(3, 2);
    // two dishonest oracles with different wrong roots, one honest
    let votes = [
        vote(&keys[0], &statement(0xaa)),
        vote(&keys[1], &statement(0xbb)),
        vote(&keys[2], &statement(0xcc)),
    ];
    match tally(&set, &votes) {
        Err(Error::InvalidInput(m)) => assert!(m.contains("1 of the 2"), "{m}"),
        other => panic!("{other:?}"),
    }
    // one vote, repeated, is one vote
    let honest = vote(&keys[0], &statement(0xaa));
    assert!(tally(&set, &[honest.clone(), honest.clone(), honest]).is_err());
    assert!(tally(&set, &[]).is_err());
}

#[test]
fn every_wrong_vote_is_refused_with_its_reason() {
    let (keys, set) = set(3, 2);
    let honest = statement(0xaa);
    let outsider = oracle(9);
    let other_domain = Domain::new(NetworkId::new("quorum-net").unwrap()).with_chain_id(1);
    let other_network = Domain::new(NetworkId::new("other-net").unwrap()).with_chain_id(31337);
    let mut for_other_chain = honest.sign(&other_domain, &keys[1]).unwrap();
    let for_other_network = honest.sign(&other_network, &keys[1]).unwrap();
    let other_distributor = RootStatement {
        distributor: vec![0xd2; 20],
        ..honest.clone()
    };
    let other_epoch = RootStatement {
        epoch: Epoch(8),
        ..honest.clone()
    };
    // a vote whose statement was edited after signing
    let mut edited = vote(&keys[1], &honest);
    edited.statement.total += 1;
    let votes = vec![
        vote(&keys[0], &honest),
        vote(&outsider, &honest),
        for_other_chain.clone(),
        for_other_network,
        vote(&keys[1], &other_distributor),
        vote(&keys[1], &other_epoch),
        edited,
    ];
    match tally(&set, &votes) {
        Err(Error::InvalidInput(_)) => {}
        other => panic!("only one valid vote: {other:?}"),
    }
    // with the second honest vote the epoch is agreed, and each wrong vote is reported
    let mut all = votes.clone();
    all.push(vote(&keys[1], &honest));
    let q = tally(&set, &all).unwrap();
    assert_eq!(q.statement, honest);
    let reasons: Vec<VoteRefusal> = q.refused.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            VoteRefusal::NotAnOracle,
            VoteRefusal::BadSignature,
            VoteRefusal::BadSignature,
            VoteRefusal::OtherEpochOrDistributor,
            VoteRefusal::OtherEpochOrDistributor,
            VoteRefusal::BadSignature,
        ]
    );
    // a signature moved to another oracle's name
    for_other_chain.oracle = id(&keys[2]);
    let q = tally(
        &set,
        &[
            vote(&keys[0], &honest),
            vote(&keys[1], &honest),
            for_other_chain,
        ],
    )
    .unwrap();
    assert_eq!(q.refused.len(), 1);
}

#[test]
fn an_oracle_that_signs_two_roots_counts_for_neither() {
    let (keys, set) = set(3, 2);
    let (a, b) = (statement(0xaa), statement(0xbb));
    let votes = [vote(&keys[0], &a), vote(&keys[0], &b), vote(&keys[1], &a)];
    assert!(
        tally(&set, &votes).is_err(),
        "the equivocator's vote for a must not count"
    );
    let mut with_third = votes.to_vec();
    with_third.push(vote(&keys[2], &a));
    let q = tally(&set, &with_third).unwrap();
    assert_eq!(q.statement, a);
    assert!(!q.signers.contains(&id(&keys[0])));
    let equivocations = q
        .refused
        .iter()
        .filter(|(v, r)| *r == VoteRefusal::Equivocation && v.oracle == id(&keys[0]))
        .count();
    assert_eq!(equivocations, 2);
}

#[test]
fn thresholds_must_be_strict_majorities() {
    let ids: Vec<DeviceId> = (0..7).map(|i| id(&oracle(i))).collect();
    for (n, t, ok) in [
        (1, 1, true),
        (2, 1, false),
        (2, 2, true),
        (3, 1, false),
        (3, 2, true),
        (3, 4, false),
        (4, 2, false),
        (4, 3, true),
        (7, 4, true),
        (7, 3, false),
        (0, 0, false),
    ] {
        let r = OracleSet::new(ids[..n].iter().copied(), t);
        assert_eq!(r.is_ok(), ok, "{t} of {n}");
    }
    assert!(OracleSet::new([ids[0], ids[0]], 2).is_err());
    for n in 1..=7 {
        let s = OracleSet::majority(ids[..n].iter().copied()).unwrap();
        assert_eq!(s.threshold(), n / 2 + 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// With `h` honest votes among `n` oracles and the rest voting for random roots, the
    /// honest root is agreed exactly when `h >= t`, and nothing else is ever agreed unless
    /// at least `t` oracles signed it.
    #[test]
    fn the_agreed_root_is_the_one_a_majority_signed(
        n in 1u8..=7,
        honest_mask in any::<u8>(),
        lies in prop::collection::vec(0u8..3, 7),
    ) {
        let t = usize::from(n) / 2 + 1;
        let (keys, set) = set(n, t);
        let honest = statement(0xaa);
        let mut votes = Vec::new();
        let mut honest_count = 0;
        for (i, k) in keys.iter().enumerate() {
            if honest_mask & (1 << i) != 0 {
                votes.push(vote(k, &honest));
                honest_count += 1;
            } else {
                votes.push(vote(k, &statement(0xb0 + lies[i])));
            }
        }
        match tally(&set, &votes) {
            Ok(q) => {
                let support = votes.iter().filter(|v| v.statement == q.statement).count();
                prop_assert!(support >= t);
                prop_assert_eq!(q.signers.len(), support);
                if honest_count >= t {
                    prop_assert_eq!(q.statement, honest);
                }
            }
            Err(_) => prop_assert!(honest_count < t),
        }
    }
}
