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

mod ledger {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use depin_chains::local::{LocalLedger, ORACLE_SET_DELAY_SECS};
    use depin_chains::prelude::*;
    use depin_chains::quorum::{OracleSet, Quorum, RootStatement};
    use depin_chains::{ClaimFormat, ClaimTree, EpochRoot, Error, PublishOutcome};
    use depin_core::{DeviceId, Epoch, SigningKey};

    use super::{id, oracle as oracle_key};
    use crate::common::*;

    const T0: u64 = 1_800_000_000;

    struct Net {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        ledger: LocalLedger,
        clock: Arc<AtomicU64>,
        keys: Vec<SigningKey>,
        set: OracleSet,
    }

    fn net() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.log");
        let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
        let clock = Arc::new(AtomicU64::new(T0));
        let c = Arc::clone(&clock);
        ledger.set_clock(move || c.load(Ordering::SeqCst)).unwrap();
        ledger.fund(&admin(), 1_000).unwrap();
        let keys: Vec<SigningKey> = (0..3).map(oracle_key).collect();
        let set = OracleSet::new(keys.iter().map(id), 2).unwrap();
        Net {
            _dir: dir,
            path,
            ledger,
            clock,
            keys,
            set,
        }
    }

    fn tree(amount: u128) -> ClaimTree {
        ClaimTree::new(
            ClaimFormat::OpenZeppelin,
            vec![(evm(5), amount), (evm(6), 10)],
        )
        .unwrap()
    }

    /// The root of `tree(amount)`: its total is `amount + 10`.
    fn root_of(epoch: u64, amount: u128) -> EpochRoot {
        EpochRoot {
            epoch: Epoch(epoch),
            root: tree(amount).root(),
            total: amount + 10,
        }
    }

    /// The votes of oracles `signers` for `root` on `net`'s ledger, tallied.
    fn quorum_of(
        net: &Net,
        statements: &[(usize, &RootStatement)],
    ) -> depin_chains::Result<Quorum> {
        let domain = net.ledger.domain().unwrap();
        let votes: Vec<_> = statements
            .iter()
            .map(|(i, s)| s.sign(&domain, &net.keys[*i]).unwrap())
            .collect();
        let s = statements[0].1;
        net.set.tally(&domain, &s.distributor, s.epoch, &votes)
    }

    fn published(o: PublishOutcome) {
        assert!(matches!(o, PublishOutcome::Published(_)), "{o:?}");
    }

    #[tokio::test]
    async fn once_an_oracle_set_is_in_effect_only_a_quorum_publishes() {
        let net = net();
        let (admin_h, oracle_h, relayer) = (
            net.ledger.handle(admin()),
            net.ledger.handle(oracle()),
            net.ledger.handle(evm(0x77)),
        );
        // before: the genesis oracle publishes alone; a quorum is not accepted yet
        published(oracle_h.publish_root(&root_of(1, 40)).await.unwrap());
        let statement = relayer.root_statement(&root_of(2, 50)).unwrap();
        let early = quorum_of(&net, &[(0, &statement), (1, &statement)]).unwrap();
        assert!(matches!(
            relayer.publish_quorum_root(&early).await,
            Err(Error::Unsupported(_))
        ));

        // scheduling: admin only, and not sooner than the delay
        let at = T0 + ORACLE_SET_DELAY_SECS;
        assert!(matches!(
            relayer.schedule_oracle_set(&net.set, at),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            oracle_h.schedule_oracle_set(&net.set, at),
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            admin_h.schedule_oracle_set(&net.set, at - 1),
            Err(Error::InvalidInput(_))
        ));
        admin_h.schedule_oracle_set(&net.set, at).unwrap();
        assert_eq!(
            admin_h.oracle_set().unwrap(),
            None,
            "not in effect before its time"
        );
        published(oracle_h.publish_root(&root_of(2, 50)).await.unwrap());

        // in effect: the genesis oracle alone can publish nothing
        net.clock.store(at, Ordering::SeqCst);
        assert_eq!(admin_h.oracle_set().unwrap(), Some(net.set.clone()));
        assert!(matches!(
            oracle_h.publish_root(&root_of(3, 60)).await,
            Err(Error::Unauthorized(_))
        ));

        // one of three oracles lies: the honest root is published, by anyone who relays it
        let honest = relayer.root_statement(&root_of(3, 60)).unwrap();
        let lie = relayer.root_statement(&root_of(3, 6_000)).unwrap();
        let q = quorum_of(&net, &[(0, &honest), (1, &lie), (2, &honest)]).unwrap();
        assert_eq!(q.dissent.len(), 1);
        published(relayer.publish_quorum_root(&q).await.unwrap());
        assert_eq!(
            relayer.epoch_root(Epoch(3)).await.unwrap(),
            Some(root_of(3, 60))
        );
        // the same quorum again changes nothing
        assert!(matches!(
            relayer.publish_quorum_root(&q).await.unwrap(),
            PublishOutcome::AlreadyPublished
        ));
        // claims pay against it
        let paid = relayer.claim(&tree(60).claim_for(&evm(5)).unwrap()).await;
        assert!(paid.is_ok(), "{paid:?}");
        assert_eq!(relayer.claimed(&evm(5)).await.unwrap(), 60);

        // two oracles with two different wrong roots: no quorum, nothing published, and
        // claims keep working against the latest root
        let (a, b) = (
            relayer.root_statement(&root_of(4, 7_000)).unwrap(),
            relayer.root_statement(&root_of(4, 8_000)).unwrap(),
        );
        let honest4 = relayer.root_statement(&root_of(4, 70)).unwrap();
        assert!(quorum_of(&net, &[(0, &a), (1, &b), (2, &honest4)]).is_err());
        assert_eq!(relayer.epoch_root(Epoch(4)).await.unwrap(), None);
        let paid = relayer.claim(&tree(60).claim_for(&evm(6)).unwrap()).await;
        assert!(paid.is_ok(), "{paid:?}");

        // forged quorums, each refused by the ledger's own checks
        let good = quorum_of(&net, &[(0, &honest4), (2, &honest4)]).unwrap();
        let mut one = good.clone();
        one.signers.truncate(1);
        one.signatures.truncate(1);
        assert!(matches!(
            relayer.publish_quorum_root(&one).await,
            Err(Error::Unauthorized(_))
        ));
        let mut twice = good.clone();
        twice.signers = vec![good.signers[0], good.signers[0]];
        twice.signatures = vec![good.signatures[0], good.signatures[0]];
        assert!(matches!(
            relayer.publish_quorum_root(&twice).await,
            Err(Error::Unauthorized(_))
        ));
        let mut edited = good.clone();
        edited.statement.total += 1;
        assert!(matches!(
            relayer.publish_quorum_root(&edited).await,
            Err(Error::InvalidProof)
        ));
        let mut elsewhere = good.clone();
        elsewhere.statement.distributor = vec![0; 32];
        assert!(matches!(
            relayer.publish_quorum_root(&elsewhere).await,
            Err(Error::InvalidProof)
        ));
        let outsider = oracle_key(9);
        let mut with_outsider = good.clone();
        with_outsider.signers[1] = id(&outsider);
        with_outsider.signatures[1] = honest4
            .sign(&net.ledger.domain().unwrap(), &outsider)
            .unwrap()
            .signature;
        assert!(matches!(
            relayer.publish_quorum_root(&with_outsider).await,
            Err(Error::Unauthorized(_))
        ));
        // signed for another network's domain
        let other_domain =
            depin_core::Domain::new(depin_core::NetworkId::new("other-net").unwrap());
        let mut other_net = good.clone();
        other_net.signatures[0] = honest4.sign(&other_domain, &net.keys[0]).unwrap().signature;
        assert!(matches!(
            relayer.publish_quorum_root(&other_net).await,
            Err(Error::InvalidProof)
        ));
        assert_eq!(relayer.epoch_root(Epoch(4)).await.unwrap(), None);
        // the genuine one
        published(relayer.publish_quorum_root(&good).await.unwrap());

        // all of it survives a reopen: the roots and the oracle set in effect
        let clock = Arc::clone(&net.clock);
        let path = net.path.clone();
        drop((admin_h, oracle_h, relayer));
        let Net { ledger, .. } = net;
        drop(ledger);
        let reopened = open(&path, genesis(ClaimFormat::OpenZeppelin));
        reopened
            .set_clock(move || clock.load(Ordering::SeqCst))
            .unwrap();
        let h = reopened.handle(oracle());
        assert_eq!(h.epoch_root(Epoch(4)).await.unwrap(), Some(root_of(4, 70)));
        assert!(h.oracle_set().unwrap().is_some());
        assert!(matches!(
            h.publish_root(&root_of(5, 80)).await,
            Err(Error::Unauthorized(_))
        ));
        let _: Vec<DeviceId> = h
            .oracle_set()
            .unwrap()
            .unwrap()
            .oracles()
            .copied()
            .collect();
    }
}
