//! The distributor contract in cw-multi-test, paying a cw20-base token: roots published by
//! the oracle only, cumulative claims paid once, past epoch 255, with the proofs
//! depin-rewards builds.

mod common;

use common::*;
use cosmwasm_std::Addr;
use depin_cosmwasm_msgs::distributor::{
    ConfigResponse, ExecuteMsg, LatestRootResponse, QueryMsg, RootResponse,
    PREVIOUS_ROOT_GRACE_SECONDS,
};
use depin_cosmwasm_msgs::error::ErrorCode;
use depin_rewards::claims::cw20::Cw20MerkleTree;

fn tree(claims: &[(&Addr, u128)]) -> Cw20MerkleTree {
    Cw20MerkleTree::new(claims.iter().map(|(a, v)| (a.to_string(), *v)).collect()).unwrap()
}

fn publish(epoch: u64, t: &Cw20MerkleTree, total: u128) -> ExecuteMsg {
    ExecuteMsg::PublishRoot {
        epoch,
        merkle_root: t.root_hex(),
        total_amount: total.to_string(),
    }
}

fn claim(epoch: u64, t: &Cw20MerkleTree, i: usize) -> ExecuteMsg {
    let (account, amount) = t.claim(i).unwrap();
    ExecuteMsg::Claim {
        account: account.to_string(),
        epoch,
        amount: amount.to_string(),
        proof: t.proof_hex(i).unwrap(),
    }
}

#[test]
fn cumulative_claims_pay_the_difference_once_past_epoch_255() {
    let mut n = net(10_000);
    let oracle = n.oracle.clone();
    let [a, b, c] = ["alice", "bob", "carol"].map(|s| n.app.api().addr_make(s));

    // epoch 300: a cw20-merkle-airdrop stage (a u8) could not name it
    let t1 = tree(&[(&a, 100), (&b, 250), (&c, 1)]);
    n.dist_exec(&oracle, publish(300, &t1, 351)).unwrap();
    let r: RootResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.distributor, &QueryMsg::Root { epoch: 300 })
        .unwrap();
    assert_eq!(
        (r.merkle_root.as_str(), r.total_amount.as_str()),
        (t1.root_hex().as_str(), "351")
    );

    n.dist_exec(&a, claim(300, &t1, 0)).unwrap();
    assert_eq!((n.balance(&a), n.claimed(&a)), (100, 100));
    // the same claim again pays nothing
    let e = n.dist_exec(&a, claim(300, &t1, 0)).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::AlreadyClaimed), "{e:?}");
    // a proof is for its own account: bob's proof with carol named is refused
    let mut redirected = claim(300, &t1, 1);
    if let ExecuteMsg::Claim { account, .. } = &mut redirected {
        *account = c.to_string();
    }
    let e = n.dist_exec(&c, redirected).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidProof), "{e:?}");
    // a larger amount than the leaf's
    let mut inflated = claim(300, &t1, 1);
    if let ExecuteMsg::Claim { amount, .. } = &mut inflated {
        *amount = "251".into();
    }
    assert_eq!(
        code(&n.dist_exec(&b, inflated).unwrap_err()),
        Some(ErrorCode::InvalidProof)
    );
    // a proof with a sibling flipped
    let mut flipped = claim(300, &t1, 1);
    if let ExecuteMsg::Claim { proof, .. } = &mut flipped {
        let swap = if proof[0].starts_with("00") {
            "01"
        } else {
            "00"
        };
        proof[0].replace_range(0..2, swap);
    }
    assert_eq!(
        code(&n.dist_exec(&b, flipped).unwrap_err()),
        Some(ErrorCode::InvalidProof)
    );

    // epoch 301: cumulative amounts grew; alice is paid the difference only
    let t2 = tree(&[(&a, 160), (&b, 250), (&c, 41)]);
    n.dist_exec(&oracle, publish(301, &t2, 451)).unwrap();
    n.dist_exec(&a, claim(301, &t2, 0)).unwrap();
    assert_eq!((n.balance(&a), n.claimed(&a)), (160, 160));
    // anyone may submit a claim: carol relays bob's, and bob is paid
    n.dist_exec(&c, claim(301, &t2, 1)).unwrap();
    assert_eq!((n.balance(&b), n.balance(&c)), (250, 0));
    // within the grace period, carol may still claim against the previous root
    n.dist_exec(&c, claim(300, &t1, 2)).unwrap();
    assert_eq!(n.balance(&c), 1);
    n.app
        .update_block(|bl| bl.time = bl.time.plus_seconds(PREVIOUS_ROOT_GRACE_SECONDS));
    let e = n.dist_exec(&c, claim(300, &t1, 2)).unwrap_err();
    assert_eq!(
        code(&e),
        Some(ErrorCode::InvalidProof),
        "after the grace: {e:?}"
    );
    n.dist_exec(&c, claim(301, &t2, 2)).unwrap();
    assert_eq!(n.balance(&c), 41);

    // two publications later the first root is refused even inside a new grace period
    let t3 = tree(&[(&a, 170), (&b, 250), (&c, 41)]);
    n.dist_exec(&oracle, publish(1_000_000_000_000, &t3, 461))
        .unwrap();
    assert_eq!(
        code(&n.dist_exec(&a, claim(300, &t1, 0)).unwrap_err()),
        Some(ErrorCode::InvalidProof)
    );
    n.dist_exec(&a, claim(1_000_000_000_000, &t3, 0)).unwrap();
    assert_eq!(n.balance(&a), 170);

    let cfg: ConfigResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.distributor, &QueryMsg::Config {})
        .unwrap();
    assert_eq!(cfg.total_paid, "461");
    assert_eq!(n.balance(&n.distributor.clone()), 10_000 - 461);
}

#[test]
fn only_the_oracle_publishes_and_epochs_only_go_up() {
    let mut n = net(1_000);
    let oracle = n.oracle.clone();
    let admin = n.admin.clone();
    let a = n.app.api().addr_make("alice");
    let t = tree(&[(&a, 10)]);

    // nothing published yet
    let e = n.dist_exec(&a, claim(1, &t, 0)).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::NoRoot), "{e:?}");
    let l: LatestRootResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.distributor, &QueryMsg::LatestRoot {})
        .unwrap();
    assert_eq!(l.root, None);

    // the admin is not the oracle; nor is anyone else
    for who in [&admin, &a] {
        let e = n.dist_exec(who, publish(5, &t, 10)).unwrap_err();
        assert_eq!(code(&e), Some(ErrorCode::Unauthorized), "{e:?}");
    }
    // a zero root, a bad hex root, a bad total
    let zero = ExecuteMsg::PublishRoot {
        epoch: 5,
        merkle_root: "00".repeat(32),
        total_amount: "10".into(),
    };
    assert_eq!(
        code(&n.dist_exec(&oracle, zero).unwrap_err()),
        Some(ErrorCode::InvalidInput)
    );
    let short = ExecuteMsg::PublishRoot {
        epoch: 5,
        merkle_root: "ab".into(),
        total_amount: "10".into(),
    };
    assert_eq!(
        code(&n.dist_exec(&oracle, short).unwrap_err()),
        Some(ErrorCode::InvalidInput)
    );
    for total in [
        "",
        "-1",
        "1.5",
        "010",
        "340282366920938463463374607431768211456",
    ] {
        let m = ExecuteMsg::PublishRoot {
            epoch: 5,
            merkle_root: t.root_hex(),
            total_amount: total.into(),
        };
        assert_eq!(
            code(&n.dist_exec(&oracle, m).unwrap_err()),
            Some(ErrorCode::InvalidInput),
            "total {total:?}"
        );
    }

    n.dist_exec(&oracle, publish(5, &t, 10)).unwrap();
    assert_eq!(
        code(&n.dist_exec(&oracle, publish(5, &t, 10)).unwrap_err()),
        Some(ErrorCode::EpochAlreadyPublished)
    );
    let t2 = tree(&[(&a, 20)]);
    assert_eq!(
        code(&n.dist_exec(&oracle, publish(4, &t2, 20)).unwrap_err()),
        Some(ErrorCode::EpochNotIncreasing)
    );
    let l: LatestRootResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.distributor, &QueryMsg::LatestRoot {})
        .unwrap();
    assert_eq!(l.root.map(|r| r.epoch), Some(5));

    // the admin moves the oracle role; the old oracle is refused afterwards
    let new_oracle = n.app.api().addr_make("oracle-2");
    let set = ExecuteMsg::SetOracle {
        oracle: new_oracle.to_string(),
    };
    assert_eq!(
        code(&n.dist_exec(&oracle, set.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.dist_exec(&admin, set).unwrap();
    assert_eq!(
        code(&n.dist_exec(&oracle, publish(6, &t2, 20)).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.dist_exec(&new_oracle, publish(6, &t2, 20)).unwrap();

    // the admin hands over in two steps; the old admin is refused afterwards
    let next = n.app.api().addr_make("next-admin");
    let propose = ExecuteMsg::ProposeAdmin {
        admin: next.to_string(),
    };
    assert_eq!(
        code(&n.dist_exec(&new_oracle, propose.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.dist_exec(&admin, propose).unwrap();
    assert_eq!(
        code(&n.dist_exec(&a, ExecuteMsg::AcceptAdmin {}).unwrap_err()),
        Some(ErrorCode::NoPendingAdmin)
    );
    n.dist_exec(&next, ExecuteMsg::AcceptAdmin {}).unwrap();
    let set = ExecuteMsg::SetOracle {
        oracle: oracle.to_string(),
    };
    assert_eq!(
        code(&n.dist_exec(&admin, set.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.dist_exec(&next, set).unwrap();
    let cfg: ConfigResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.distributor, &QueryMsg::Config {})
        .unwrap();
    assert_eq!(
        (cfg.admin, cfg.pending_admin, cfg.oracle),
        (next.to_string(), None, oracle.to_string())
    );
}

#[test]
fn a_root_never_pays_more_than_its_total_nor_more_than_the_pool() {
    let mut n = net(150);
    let oracle = n.oracle.clone();
    let [a, b] = ["alice", "bob"].map(|s| n.app.api().addr_make(s));
    // a lying total: the leaves sum to 300 but the oracle declares 120
    let t = tree(&[(&a, 100), (&b, 200)]);
    n.dist_exec(&oracle, publish(1, &t, 120)).unwrap();
    n.dist_exec(&a, claim(1, &t, 0)).unwrap();
    let e = n.dist_exec(&b, claim(1, &t, 1)).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::ExceedsTotal), "{e:?}");
    assert_eq!(n.balance(&b), 0);
    // a root whose total is below what was paid is refused
    let low = tree(&[(&a, 50)]);
    assert_eq!(
        code(&n.dist_exec(&oracle, publish(2, &low, 50)).unwrap_err()),
        Some(ErrorCode::InvalidInput)
    );
    // an honest total, but the pool holds 50 only: the cw20 transfer fails and nothing is
    // recorded as paid
    n.dist_exec(&oracle, publish(3, &t, 300)).unwrap();
    let e = n.dist_exec(&b, claim(3, &t, 1)).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InsufficientPool), "{e:?}");
    assert!(
        format!("{e:?}").contains("pool holds 50, the claim pays 200"),
        "{e:?}"
    );
    assert_eq!((n.balance(&b), n.claimed(&b)), (0, 0));
}

mod quorum {
    use super::*;
    use depin_core::{DeviceId, Domain, KeyType, MessageKind, NetworkId, SigningKey};
    use depin_cosmwasm_msgs::distributor::{
        OracleSetsResponse, OracleSignature, ORACLE_SET_DELAY_SECONDS,
    };
    use depin_cosmwasm_msgs::signing;

    fn oracles() -> Vec<SigningKey> {
        // one of each key type: the contract checks each with its own host function
        [KeyType::Ed25519, KeyType::Secp256k1, KeyType::P256]
            .into_iter()
            .enumerate()
            .map(|(i, kt)| SigningKey::from_secret_bytes(kt, &[70 + i as u8; 32]).unwrap())
            .collect()
    }

    fn did(k: &SigningKey) -> String {
        DeviceId::from(&k.public_key()).to_string()
    }

    fn sign(
        n: &Net,
        domain: &Domain,
        k: &SigningKey,
        epoch: u64,
        t: &Cw20MerkleTree,
        total: u128,
    ) -> OracleSignature {
        let binding = signing::distributor_binding(CHAIN, n.distributor.as_str());
        let payload = signing::root_statement_payload(&binding, epoch, &t.root(), total);
        let sig = domain.sign(k, MessageKind::REWARD_ROOT, &payload).unwrap();
        OracleSignature {
            oracle: did(k),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    fn quorum(
        epoch: u64,
        t: &Cw20MerkleTree,
        total: u128,
        signatures: Vec<OracleSignature>,
    ) -> ExecuteMsg {
        ExecuteMsg::PublishQuorumRoot {
            epoch,
            merkle_root: t.root_hex(),
            total_amount: total.to_string(),
            signatures,
        }
    }

    #[test]
    fn once_a_set_is_in_effect_only_a_threshold_of_its_oracles_publishes() {
        let mut n = net(1_000);
        let (admin, oracle) = (n.admin.clone(), n.oracle.clone());
        let relayer = n.app.api().addr_make("relayer");
        let a = n.app.api().addr_make("alice");
        let keys = oracles();
        let domain = Domain::new(NetworkId::new(NETWORK).unwrap());
        let now = n.now();
        let schedule = |effective_at: u64, threshold: u32| ExecuteMsg::ScheduleOracleSet {
            oracles: keys.iter().map(did).collect(),
            threshold,
            effective_at,
        };
        // admin only, after the delay, a strict majority
        let at = now + ORACLE_SET_DELAY_SECONDS;
        assert_eq!(
            code(&n.dist_exec(&oracle, schedule(at, 2)).unwrap_err()),
            Some(ErrorCode::Unauthorized)
        );
        assert_eq!(
            code(&n.dist_exec(&admin, schedule(at - 1, 2)).unwrap_err()),
            Some(ErrorCode::InvalidInput)
        );
        for t in [0, 1, 4] {
            assert_eq!(
                code(&n.dist_exec(&admin, schedule(at, t)).unwrap_err()),
                Some(ErrorCode::InvalidInput),
                "threshold {t}"
            );
        }
        // an Ed25519 key of small order (anyone can sign for it under the host's rules)
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = DeviceId::new(KeyType::Ed25519, &identity)
            .unwrap()
            .to_string();
        let with_weak = ExecuteMsg::ScheduleOracleSet {
            oracles: vec![did(&keys[0]), did(&keys[1]), weak],
            threshold: 2,
            effective_at: at,
        };
        assert_eq!(
            code(&n.dist_exec(&admin, with_weak).unwrap_err()),
            Some(ErrorCode::InvalidInput)
        );
        n.dist_exec(&admin, schedule(at, 2)).unwrap();
        let sets: OracleSetsResponse = n
            .app
            .wrap()
            .query_wasm_smart(&n.distributor, &QueryMsg::OracleSets {})
            .unwrap();
        assert_eq!(sets.current, None);
        assert_eq!(
            sets.scheduled
                .as_ref()
                .map(|s| (s.threshold, s.oracles.len())),
            Some((2, 3))
        );

        // before it takes effect the single oracle still publishes, and a quorum cannot
        let t1 = tree(&[(&a, 10)]);
        let early = quorum(
            1,
            &t1,
            10,
            keys.iter()
                .map(|k| sign(&n, &domain, k, 1, &t1, 10))
                .collect(),
        );
        assert_eq!(
            code(&n.dist_exec(&relayer, early).unwrap_err()),
            Some(ErrorCode::Unauthorized)
        );
        n.dist_exec(&oracle, publish(1, &t1, 10)).unwrap();

        n.app
            .update_block(|b| b.time = b.time.plus_seconds(ORACLE_SET_DELAY_SECONDS));
        let t2 = tree(&[(&a, 30)]);
        assert_eq!(
            code(&n.dist_exec(&oracle, publish(2, &t2, 30)).unwrap_err()),
            Some(ErrorCode::Unauthorized)
        );
        let s = |i: usize, n: &Net| sign(n, &domain, &keys[i], 2, &t2, 30);
        // one signature, or one listed twice, is too few
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 30, vec![s(0, &n)]))
                    .unwrap_err()
            ),
            Some(ErrorCode::Unauthorized)
        );
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 30, vec![s(0, &n), s(0, &n)]))
                    .unwrap_err()
            ),
            Some(ErrorCode::Unauthorized)
        );
        // an outsider's valid signature does not count
        let outsider = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[90; 32]).unwrap();
        let o = sign(&n, &domain, &outsider, 2, &t2, 30);
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 30, vec![s(0, &n), o]))
                    .unwrap_err()
            ),
            Some(ErrorCode::Unauthorized)
        );
        // signed in another network's domain, for another total, or for another distributor
        let elsewhere = Domain::new(NetworkId::new("other-net").unwrap());
        let foreign = vec![
            sign(&n, &elsewhere, &keys[0], 2, &t2, 30),
            sign(&n, &elsewhere, &keys[1], 2, &t2, 30),
        ];
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 30, foreign))
                    .unwrap_err()
            ),
            Some(ErrorCode::InvalidProof)
        );
        let edited = vec![s(0, &n), s(1, &n)];
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 31, edited))
                    .unwrap_err()
            ),
            Some(ErrorCode::InvalidProof)
        );
        let other_dist = signing::distributor_binding(CHAIN, n.registry.as_str());
        let payload = signing::root_statement_payload(&other_dist, 2, &t2.root(), 30);
        let misbound: Vec<_> = keys[..2]
            .iter()
            .map(|k| OracleSignature {
                oracle: did(k),
                signature: hex::encode(
                    domain
                        .sign(k, MessageKind::REWARD_ROOT, &payload)
                        .unwrap()
                        .to_bytes(),
                ),
            })
            .collect();
        assert_eq!(
            code(
                &n.dist_exec(&relayer, quorum(2, &t2, 30, misbound))
                    .unwrap_err()
            ),
            Some(ErrorCode::InvalidProof)
        );

        // two of three, relayed by anyone: published, and claims pay against it
        n.dist_exec(&relayer, quorum(2, &t2, 30, vec![s(2, &n), s(1, &n)]))
            .unwrap();
        n.dist_exec(&relayer, claim(2, &t2, 0)).unwrap();
        assert_eq!(n.balance(&a), 30);
        // a quorum cannot re-open a published epoch, nor go back
        let t3 = tree(&[(&a, 40)]);
        let back = quorum(
            2,
            &t3,
            40,
            (0..2)
                .map(|i| sign(&n, &domain, &keys[i], 2, &t3, 40))
                .collect(),
        );
        assert_eq!(
            code(&n.dist_exec(&relayer, back).unwrap_err()),
            Some(ErrorCode::EpochAlreadyPublished)
        );
        let older = quorum(
            1,
            &t3,
            40,
            (0..2)
                .map(|i| sign(&n, &domain, &keys[i], 1, &t3, 40))
                .collect(),
        );
        assert_eq!(
            code(&n.dist_exec(&relayer, older).unwrap_err()),
            Some(ErrorCode::EpochAlreadyPublished)
        );

        // a new set scheduled now changes nothing until its time: the old one still decides
        let two = ExecuteMsg::ScheduleOracleSet {
            oracles: keys[..1].iter().map(did).collect(),
            threshold: 1,
            effective_at: n.now() + ORACLE_SET_DELAY_SECONDS,
        };
        n.dist_exec(&admin, two).unwrap();
        let alone = quorum(3, &t3, 40, vec![sign(&n, &domain, &keys[0], 3, &t3, 40)]);
        assert_eq!(
            code(&n.dist_exec(&relayer, alone.clone()).unwrap_err()),
            Some(ErrorCode::Unauthorized)
        );
        n.app
            .update_block(|b| b.time = b.time.plus_seconds(ORACLE_SET_DELAY_SECONDS));
        n.dist_exec(&relayer, alone).unwrap();
        let sets: OracleSetsResponse = n
            .app
            .wrap()
            .query_wasm_smart(&n.distributor, &QueryMsg::OracleSets {})
            .unwrap();
        assert_eq!(sets.current.map(|s| s.oracles), Some(vec![did(&keys[0])]));
        assert_eq!(sets.scheduled, None);
    }
}
