//! The local ledger mirrors the contracts' rules, check order included: the epoch gap bound,
//! enforced totals (never below what was claimed, claims capped by the latest total), the
//! claim grace period for the previous root, the registration deadline cap, device-signed
//! nonce cancellation, and the device's consent kept in every register entry.

use depin_chains::local::{
    log, nonce_cancellation_message, Entry, LocalLedger, CLAIM_GRACE_PERIOD_SECS, MAX_EPOCH_GAP,
    MAX_PERMIT_LIFETIME_SECS,
};
use depin_chains::prelude::*;
use depin_chains::{
    Account, BackendKind, ClaimFormat, ClaimTree, DeviceRegistration, EpochRoot, Error,
    PublishOutcome, RegistrationChallenge, RegistrationProof,
};
use depin_core::{DeviceId, Epoch, KeyType, MessageKind, SigningKey};

use crate::common::*;

/// A fixed start time for hand-moved clocks (2027-01-15).
const T0: u64 = 1_800_000_000;

const OZ: ClaimFormat = ClaimFormat::OpenZeppelin;

fn key(kt: KeyType, b: u8) -> SigningKey {
    SigningKey::from_secret_bytes(kt, &[b; 32]).unwrap()
}

fn registration(k: &SigningKey, owner: Account, deadline: u64) -> DeviceRegistration {
    DeviceRegistration::new(
        DeviceId::from(k.public_key()),
        owner,
        b"meta".to_vec(),
        deadline,
    )
}

/// A tree over `entries` and the root for `epoch` with the tree's true total.
fn tree_root(epoch: u64, entries: &[(Account, u128)]) -> (ClaimTree, EpochRoot) {
    let tree = ClaimTree::new(OZ, entries.to_vec()).unwrap();
    let root = EpochRoot {
        epoch: Epoch(epoch),
        root: tree.root(),
        total: entries.iter().map(|(_, v)| *v).sum(),
    };
    (tree, root)
}

fn root(epoch: u64, total: u128) -> EpochRoot {
    EpochRoot {
        epoch: Epoch(epoch),
        root: [1; 32],
        total,
    }
}

fn published(r: depin_chains::Result<PublishOutcome>) {
    assert!(matches!(r, Ok(PublishOutcome::Published(_))), "{r:?}");
}

/// Append `entries` to the ledger file at `path` as an earlier build (or a tool) would have.
fn append_entries(path: &std::path::Path, entries: &[Entry]) {
    let mut bytes = std::fs::read(path).unwrap();
    for e in entries {
        bytes.extend_from_slice(&log::frame(&e.encode()).unwrap());
    }
    std::fs::write(path, bytes).unwrap();
}

// ---------------------------------------------------------------------------------------------
// publish_root

#[tokio::test]
async fn publish_refuses_an_epoch_more_than_366_above_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    let o = ledger.handle(oracle());
    assert_eq!(MAX_EPOCH_GAP, 366);

    // the first root: at most 366
    let before = std::fs::read(&path).unwrap();
    for epoch in [MAX_EPOCH_GAP + 1, 19_723, u64::MAX] {
        let r = o.publish_root(&root(epoch, 1)).await;
        assert!(
            matches!(r, Err(Error::EpochGapTooLarge { epoch: e, max: Epoch(366) }) if e == Epoch(epoch)),
            "{epoch}: {r:?}"
        );
        assert_eq!(o.epoch_root(Epoch(epoch)).await.unwrap(), None);
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    published(o.publish_root(&root(MAX_EPOCH_GAP, 1)).await);

    // from there the bound moves with the latest epoch
    let r = o.publish_root(&root(2 * MAX_EPOCH_GAP + 1, 1)).await;
    assert!(
        matches!(
            r,
            Err(Error::EpochGapTooLarge {
                max: Epoch(732),
                ..
            })
        ),
        "{r:?}"
    );
    published(o.publish_root(&root(2 * MAX_EPOCH_GAP, 1)).await);

    // check order: an unpublished epoch below the latest is EpochNotIncreasing, a published
    // one with another total EpochAlreadyPublished, whatever the gap
    assert!(matches!(
        o.publish_root(&root(5, 1)).await,
        Err(Error::EpochNotIncreasing { .. })
    ));
    assert!(matches!(
        o.publish_root(&root(MAX_EPOCH_GAP, 2)).await,
        Err(Error::EpochAlreadyPublished { .. })
    ));

    // the bound holds after a reopen (the latest epoch is replayed)
    drop(o);
    drop(ledger);
    let ledger = open(&path, genesis(OZ));
    let o = ledger.handle(oracle());
    assert!(matches!(
        o.publish_root(&root(3 * MAX_EPOCH_GAP + 1, 1)).await,
        Err(Error::EpochGapTooLarge { .. })
    ));
    published(o.publish_root(&root(3 * MAX_EPOCH_GAP, 1)).await);
}

#[tokio::test]
async fn a_total_may_go_down_but_never_below_what_was_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    ledger.fund(&admin(), 1_000).unwrap();
    let o = ledger.handle(oracle());
    let h = ledger.handle(evm(1));
    let (tree, r1) = tree_root(1, &[(evm(5), 60), (evm(6), 40)]);
    published(o.publish_root(&r1).await);
    h.claim(&tree.claim_for(&evm(5)).unwrap()).await.unwrap();
    assert_eq!(ledger.total_claimed().unwrap(), 60);

    // below the 60 already paid: refused, nothing written
    let before = std::fs::read(&path).unwrap();
    let r = o
        .publish_root(&EpochRoot {
            total: 59,
            ..tree_root(2, &[(evm(5), 60), (evm(6), 40)]).1
        })
        .await;
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.contains("below the total already claimed 60")),
        "{r:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // check order: the gap is checked before the total
    let r = o.publish_root(&root(1 + MAX_EPOCH_GAP + 1, 0)).await;
    assert!(matches!(r, Err(Error::EpochGapTooLarge { .. })), "{r:?}");

    // an inflated total can be corrected downwards, to what was paid: the cap then holds
    published(
        o.publish_root(&EpochRoot {
            epoch: Epoch(2),
            root: tree.root(),
            total: 60,
        })
        .await,
    );
    let r = h.claim(&tree.claim_for(&evm(6)).unwrap()).await;
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.contains("above the published total 60")),
        "{r:?}"
    );
    assert_eq!(h.claimed(&evm(6)).await.unwrap(), 0);
}

#[tokio::test]
async fn publish_refuses_a_total_below_what_was_already_claimed() {
    // Builds before totals were enforced did not cap claims: such a ledger can hold more
    // claimed than its latest total. A new root must still cover what was paid out.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    ledger.fund(&admin(), 1_000).unwrap();
    drop(ledger);
    let (tree, _) = tree_root(1, &[(evm(5), 500)]);
    append_entries(
        &path,
        &[
            Entry::Publish {
                epoch: 1,
                root: tree.root(),
                total: 10,
                published_at: None,
                by: oracle(),
            },
            Entry::Claim {
                account: evm(5),
                cumulative: 500,
                paid: 500,
                by: evm(1),
            },
        ],
    );
    let ledger = open(&path, genesis(OZ));
    assert_eq!(ledger.total_claimed().unwrap(), 500);
    let o = ledger.handle(oracle());
    let before = std::fs::read(&path).unwrap();
    // 20 is not below the latest total (10), but below the 500 already claimed
    let r = o.publish_root(&root(2, 20)).await;
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.contains("below the total already claimed 500")),
        "{r:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    published(o.publish_root(&root(2, 500)).await);
}

// ---------------------------------------------------------------------------------------------
// claim

#[tokio::test]
async fn a_claim_may_not_bring_the_total_claimed_above_the_latest_total() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    ledger.fund(&admin(), 70).unwrap();
    let o = ledger.handle(oracle());
    let h = ledger.handle(evm(1));
    // an oracle total (100) below the tree's sum (110)
    let (tree, _) = tree_root(1, &[(evm(5), 60), (evm(6), 50)]);
    published(
        o.publish_root(&EpochRoot {
            epoch: Epoch(1),
            root: tree.root(),
            total: 100,
        })
        .await,
    );
    h.claim(&tree.claim_for(&evm(5)).unwrap()).await.unwrap();
    assert_eq!(ledger.total_claimed().unwrap(), 60);

    // 60 + 50 > 100: refused, and before the funds check (the pool holds only 10)
    let before = std::fs::read(&path).unwrap();
    let r = h.claim(&tree.claim_for(&evm(6)).unwrap()).await;
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.contains("110") && m.contains("above the published total 100")),
        "{r:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(h.claimed(&evm(6)).await.unwrap(), 0);
    assert_eq!(h.pool_balance().await.unwrap(), Some(10));
    assert_eq!(ledger.total_claimed().unwrap(), 60);
    // a double claim is AlreadyClaimed first
    assert!(matches!(
        h.claim(&tree.claim_for(&evm(5)).unwrap()).await,
        Err(Error::AlreadyClaimed { .. })
    ));

    // a root with the true total lets the claim through to the funds check, then pays
    published(
        o.publish_root(&EpochRoot {
            epoch: Epoch(2),
            root: tree.root(),
            total: 110,
        })
        .await,
    );
    assert!(matches!(
        h.claim(&tree.claim_for(&evm(6)).unwrap()).await,
        Err(Error::InsufficientFunds {
            available: 10,
            required: 50
        })
    ));
    ledger.fund(&admin(), 40).unwrap();
    h.claim(&tree.claim_for(&evm(6)).unwrap()).await.unwrap();
    assert_eq!(ledger.total_claimed().unwrap(), 110);
    drop(o);
    drop(h);
    drop(ledger);
    assert_eq!(open(&path, genesis(OZ)).total_claimed().unwrap(), 110);
}

#[tokio::test]
async fn the_previous_root_is_claimable_for_a_day_and_never_pays_more_than_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    let clock = manual_clock(&ledger, T0);
    ledger.fund(&admin(), 10_000).unwrap();
    let (a, b, c, d) = (evm(0x21), evm(0x22), evm(0x23), evm(0x24));
    let (t1, r1) = tree_root(
        1,
        &[
            (a.clone(), 100),
            (b.clone(), 200),
            (c.clone(), 30),
            (d.clone(), 40),
        ],
    );
    let (t2, r2) = tree_root(
        2,
        &[
            (a.clone(), 150),
            (b.clone(), 250),
            (c.clone(), 30),
            (d.clone(), 40),
        ],
    );
    let (t3, r3) = tree_root(
        3,
        &[
            (a.clone(), 160),
            (b.clone(), 250),
            (c.clone(), 30),
            (d.clone(), 40),
        ],
    );
    let o = ledger.handle(oracle());
    let anyone = ledger.handle(evm(1));
    assert_eq!(CLAIM_GRACE_PERIOD_SECS, 86_400);

    published(o.publish_root(&r1).await);
    assert_eq!(ledger.previous_root_claimable_until().unwrap(), None);
    anyone.claim(&t1.claim_for(&a).unwrap()).await.unwrap();

    set_time(&clock, T0 + 10);
    published(o.publish_root(&r2).await);
    let until = T0 + 10 + CLAIM_GRACE_PERIOD_SECS;
    assert_eq!(ledger.previous_root_claimable_until().unwrap(), Some(until));

    // within the grace period a proof against the previous root pays ...
    anyone.claim(&t1.claim_for(&b).unwrap()).await.unwrap();
    assert_eq!(anyone.claimed(&b).await.unwrap(), 200);
    // ... never more than cumulative - claimed: a's old proof has nothing left
    assert!(matches!(
        anyone.claim(&t1.claim_for(&a).unwrap()).await,
        Err(Error::AlreadyClaimed {
            cumulative: 100,
            claimed: 100,
            ..
        })
    ));
    // and the latest proof then pays only the difference
    anyone.claim(&t2.claim_for(&b).unwrap()).await.unwrap();
    assert_eq!(anyone.token_balance(&b).await.unwrap(), Some(250));

    // the last second of the grace period still counts
    set_time(&clock, until);
    anyone.claim(&t1.claim_for(&c).unwrap()).await.unwrap();
    assert_eq!(anyone.claimed(&c).await.unwrap(), 30);

    // one second later the previous root is refused (nothing written); the latest still pays
    set_time(&clock, until + 1);
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(
        anyone.claim(&t1.claim_for(&d).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    anyone.claim(&t2.claim_for(&d).unwrap()).await.unwrap();

    // a root two publications back is never claimable, grace period or not
    published(o.publish_root(&r3).await);
    let until3 = until + 1 + CLAIM_GRACE_PERIOD_SECS;
    assert_eq!(
        ledger.previous_root_claimable_until().unwrap(),
        Some(until3)
    );
    assert!(matches!(
        anyone.claim(&t1.claim_for(&a).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    // the previous one (t2) pays a's difference, the latest the rest
    anyone.claim(&t2.claim_for(&a).unwrap()).await.unwrap();
    assert_eq!(anyone.claimed(&a).await.unwrap(), 150);
    anyone.claim(&t3.claim_for(&a).unwrap()).await.unwrap();
    assert_eq!(anyone.token_balance(&a).await.unwrap(), Some(160));
    assert_eq!(ledger.total_claimed().unwrap(), 480);
    assert_eq!(anyone.pool_balance().await.unwrap(), Some(10_000 - 480));

    // the publication time is durable: after a reopen the grace period ends where it did
    drop(o);
    drop(anyone);
    drop(ledger);
    let ledger = open(&path, genesis(OZ));
    assert_eq!(
        ledger.previous_root_claimable_until().unwrap(),
        Some(until3)
    );
    let clock = manual_clock(&ledger, until3);
    let anyone = ledger.handle(evm(1));
    // within: b's t2 proof verifies (and has nothing left); after: it does not verify
    assert!(matches!(
        anyone.claim(&t2.claim_for(&b).unwrap()).await,
        Err(Error::AlreadyClaimed { .. })
    ));
    set_time(&clock, until3 + 1);
    assert!(matches!(
        anyone.claim(&t2.claim_for(&b).unwrap()).await,
        Err(Error::InvalidProof)
    ));
}

// ---------------------------------------------------------------------------------------------
// register: deadline cap

#[tokio::test]
async fn a_registration_deadline_more_than_30_days_ahead_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    let clock = manual_clock(&ledger, T0);
    assert_eq!(ledger.now().unwrap(), T0);
    let h = ledger.handle(evm(1));
    let k = key(KeyType::Ed25519, 50);
    let device = DeviceId::from(k.public_key());
    assert_eq!(MAX_PERMIT_LIFETIME_SECS, 30 * 86_400);
    let max = T0 + MAX_PERMIT_LIFETIME_SECS;

    let before = std::fs::read(&path).unwrap();
    // one second too far: typed, and checked before the signature
    let far = registration(&k, evm(1), max + 1);
    let r = h.register_with_signer(&far, &k).await;
    assert!(
        matches!(r, Err(Error::DeadlineTooFar { deadline, max: m }) if deadline == max + 1 && m == max),
        "{r:?}"
    );
    let impostor = h
        .registration_challenge(&far)
        .await
        .unwrap()
        .sign(&key(KeyType::Ed25519, 51))
        .unwrap();
    assert!(matches!(
        h.register_device(&far, &impostor).await,
        Err(Error::DeadlineTooFar { .. })
    ));
    // passed: Expired
    let old = registration(&k, evm(1), T0 - 1);
    assert!(matches!(
        h.register_with_signer(&old, &k).await,
        Err(Error::Expired { deadline }) if deadline == T0 - 1
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 0);

    // exactly 30 days ahead, and now itself, are accepted
    h.register_with_signer(&registration(&k, evm(1), max), &k)
        .await
        .unwrap();
    let k2 = key(KeyType::P256, 52);
    h.register_with_signer(&registration(&k2, evm(1), T0), &k2)
        .await
        .unwrap();
    // the bound moves with the clock
    set_time(&clock, T0 + 86_400);
    let k3 = key(KeyType::Secp256k1, 53);
    h.register_with_signer(&registration(&k3, evm(1), max + 1), &k3)
        .await
        .unwrap();
    // check order: too far comes before AlreadyRegistered
    let again = registration(&k, evm(1), T0 + 86_400 + MAX_PERMIT_LIFETIME_SECS + 1);
    assert!(matches!(
        h.register_with_signer(&again, &k).await,
        Err(Error::DeadlineTooFar { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// nonce cancellation

#[tokio::test]
async fn a_device_signed_cancellation_moves_the_nonce_and_voids_outstanding_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    let other = open(&dir.path().join("other.log"), genesis(OZ));
    let h = ledger.handle(evm(1));
    let relayer = ledger.handle(evm(2));
    let k = key(KeyType::Secp256k1, 60);
    let device = DeviceId::from(k.public_key());
    let reg = registration(&k, evm(1), soon());
    // a registration proof handed out (to a relayer, say) and no longer wanted
    let outstanding = h
        .registration_challenge(&reg)
        .await
        .unwrap()
        .sign(&k)
        .unwrap();

    let deadline = soon();
    let id = ledger.ledger_id().unwrap();
    let domain = ledger.domain().unwrap();
    let challenge = ledger
        .nonce_cancellation_challenge(&device, deadline)
        .unwrap();
    assert_eq!(
        challenge,
        RegistrationChallenge::Domain {
            domain,
            message: nonce_cancellation_message(&id, &device, 0, deadline),
        }
    );
    let proof = challenge.sign(&k).unwrap();

    // every refusal is typed and writes nothing
    let before = std::fs::read(&path).unwrap();
    let r = relayer.cancel_registration_nonce(&device, 1, deadline, &proof);
    assert!(
        matches!(&r, Err(Error::InvalidInput(m)) if m.contains("nonce 1 is not the current registration nonce 0")),
        "{r:?}"
    );
    let impostor = challenge.sign(&key(KeyType::Secp256k1, 61)).unwrap();
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, deadline, &impostor),
        Err(Error::InvalidProof)
    ));
    // signed over another deadline
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, deadline + 1, &proof),
        Err(Error::InvalidProof)
    ));
    // a registration proof is not a cancellation
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, reg.deadline, &outstanding),
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        relayer.cancel_registration_nonce(
            &device,
            0,
            deadline,
            &RegistrationProof::Eip712([0; 65])
        ),
        Err(Error::InvalidProof)
    ));
    // the right bytes under another message kind
    let wrong_kind = RegistrationProof::Domain(
        domain
            .sign(
                &k,
                MessageKind::REPORT_FRAME,
                &nonce_cancellation_message(&id, &device, 0, deadline),
            )
            .unwrap(),
    );
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, deadline, &wrong_kind),
        Err(Error::InvalidProof)
    ));
    // the deadline rules of registrations
    let now = ledger.now().unwrap();
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, now - 1, &proof),
        Err(Error::Expired { .. })
    ));
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, now + MAX_PERMIT_LIFETIME_SECS + 60, &proof),
        Err(Error::DeadlineTooFar { .. })
    ));
    // a cancellation made for this ledger means nothing on another one with the same genesis
    assert!(matches!(
        other
            .handle(evm(2))
            .cancel_registration_nonce(&device, 0, deadline, &proof),
        Err(Error::InvalidProof)
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 0);

    // the device's cancellation, submitted by anyone
    let tx = relayer
        .cancel_registration_nonce(&device, 0, deadline, &proof)
        .unwrap();
    relayer
        .wait_for_receipt(&tx)
        .await
        .unwrap()
        .ensure_success()
        .unwrap();
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 1);
    // the outstanding registration proof is void; the cancellation cannot be replayed
    assert!(matches!(
        h.register_device(&reg, &outstanding).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        relayer.cancel_registration_nonce(&device, 0, deadline, &proof),
        Err(Error::InvalidInput(_))
    ));
    // a proof for the new nonce registers
    h.register_with_signer(&reg, &k).await.unwrap();
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 2);
    // registered devices can cancel too
    relayer
        .cancel_registration_nonce_with_signer(&k, soon())
        .unwrap();
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 3);
    assert!(h.device(&device).await.unwrap().active);

    // durable: the entries read back with the device's signatures, and the nonce survives
    drop(h);
    drop(relayer);
    drop(ledger);
    let cancels: Vec<(DeviceId, u64, u64, depin_core::Signature, Account)> =
        LocalLedger::read_entries(&path)
            .unwrap()
            .into_iter()
            .filter_map(|(_, e)| match e {
                Entry::CancelNonce {
                    device: dev,
                    nonce: n,
                    deadline: dl,
                    signature: sig,
                    by,
                } => Some((dev, n, dl, sig, by)),
                _ => None,
            })
            .collect();
    assert_eq!(cancels.len(), 2);
    assert_eq!(
        (
            cancels[0].0,
            cancels[0].1,
            cancels[0].2,
            cancels[0].4.clone()
        ),
        (device, 0, deadline, evm(2))
    );
    assert_eq!(cancels[1].1, 2);
    let ledger = open(&path, genesis(OZ));
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 3);
    // the recorded signature verifies over the documented bytes
    ledger
        .domain()
        .unwrap()
        .verify(
            &k.public_key(),
            MessageKind::DEVICE_REGISTRATION,
            &nonce_cancellation_message(&id, &device, 0, deadline),
            &cancels[0].3,
        )
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// register entries keep the device's consent

#[tokio::test]
async fn register_entries_keep_the_device_consent_and_it_verifies_from_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    let h = ledger.handle(evm(1));
    let mut expected = Vec::new();
    for (i, kt) in KeyType::ALL.iter().enumerate() {
        let k = key(*kt, 70 + i as u8);
        // the first device cancels a nonce first, so it registers with nonce 1
        let nonce = if i == 0 {
            h.cancel_registration_nonce_with_signer(&k, soon()).unwrap();
            1
        } else {
            0
        };
        let reg = registration(&k, evm(1), soon());
        h.register_with_signer(&reg, &k).await.unwrap();
        expected.push((k.public_key(), reg, nonce));
    }
    let id = ledger.ledger_id().unwrap();
    let domain = ledger.domain().unwrap();
    drop(h);
    drop(ledger);

    // an auditor with the file only
    let registers: Vec<(
        u64,
        DeviceRegistration,
        Option<depin_chains::local::DeviceConsent>,
    )> = LocalLedger::read_entries(&path)
        .unwrap()
        .into_iter()
        .filter_map(|(seq, e)| match e {
            Entry::Register {
                device,
                owner,
                metadata,
                deadline,
                consent,
                ..
            } => Some((
                seq,
                DeviceRegistration::new(device, owner, metadata, deadline),
                consent,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(registers.len(), expected.len());
    for ((_, reg, consent), (pk, want, nonce)) in registers.iter().zip(&expected) {
        assert_eq!(reg, want);
        let consent = consent.expect("every registration records the device's consent");
        assert_eq!(consent.nonce, *nonce);
        domain
            .verify(
                pk,
                MessageKind::DEVICE_REGISTRATION,
                &reg.ledger_signing_message(BackendKind::Local, &id, consent.nonce),
                &consent.signature,
            )
            .unwrap();
        assert!(domain
            .verify(
                pk,
                MessageKind::DEVICE_REGISTRATION,
                &reg.ledger_signing_message(BackendKind::Local, &id, consent.nonce + 1),
                &consent.signature,
            )
            .is_err());
    }

    // a register entry whose recorded nonce does not match the log is Corrupt on open
    let (l, report) = LocalLedger::open_with_report(&path, genesis(OZ)).unwrap();
    drop(l);
    let bytes = std::fs::read(&path).unwrap();
    let i = registers[1].0 as usize;
    let start = report.offsets[i] as usize;
    let end = report
        .offsets
        .get(i + 1)
        .map(|&o| o as usize)
        .unwrap_or(bytes.len());
    let mut entry = Entry::decode(&report.records[i]).unwrap();
    match &mut entry {
        Entry::Register {
            consent: Some(c), ..
        } => c.nonce = 5,
        other => panic!("record {i} is {other:?}"),
    }
    let forged = [
        &bytes[..start],
        &log::frame(&entry.encode()).unwrap()[..],
        &bytes[end..],
    ]
    .concat();
    std::fs::write(&path, &forged).unwrap();
    let err = LocalLedger::open(&path, genesis(OZ)).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt(m) if m.contains(&format!("record {i} at byte {start}")) && m.contains("nonce 5")),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), forged);
}

#[tokio::test]
async fn copying_a_ledger_file_clones_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let a = open(&pa, genesis(OZ));
    let k = key(KeyType::Ed25519, 80);
    let reg = registration(&k, evm(1), soon());
    let proof = a
        .handle(evm(1))
        .registration_challenge(&reg)
        .await
        .unwrap()
        .sign(&k)
        .unwrap();
    drop(a);
    std::fs::copy(&pa, &pb).unwrap();
    let (a, b) = (open(&pa, genesis(OZ)), open(&pb, genesis(OZ)));
    assert_eq!(a.ledger_id().unwrap(), b.ledger_id().unwrap());
    assert_eq!(a.domain().unwrap(), b.domain().unwrap());
    // the copy is the same ledger to every device: one proof registers on both
    a.handle(evm(1))
        .register_device(&reg, &proof)
        .await
        .unwrap();
    b.handle(evm(1))
        .register_device(&reg, &proof)
        .await
        .unwrap();
}

#[tokio::test]
async fn entries_of_earlier_builds_replay_and_their_roots_have_no_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(OZ));
    ledger.fund(&admin(), 1_000).unwrap();
    drop(ledger);
    let k = key(KeyType::Ed25519, 90);
    let device = DeviceId::from(k.public_key());
    let (t1, r1) = tree_root(1, &[(evm(5), 10), (evm(6), 20)]);
    let (t2, r2) = tree_root(2, &[(evm(5), 15), (evm(6), 25)]);
    // tag 1 (register without consent) and tag 3 (publish without a time)
    append_entries(
        &path,
        &[
            Entry::Register {
                device,
                owner: evm(1),
                metadata: b"old".to_vec(),
                deadline: 1,
                consent: None,
                by: evm(1),
            },
            Entry::Publish {
                epoch: 1,
                root: r1.root,
                total: r1.total,
                published_at: None,
                by: oracle(),
            },
            Entry::Publish {
                epoch: 2,
                root: r2.root,
                total: r2.total,
                published_at: None,
                by: oracle(),
            },
        ],
    );
    let ledger = open(&path, genesis(OZ));
    let h = ledger.handle(evm(1));
    assert!(h.device(&device).await.unwrap().active);
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 1);
    // no publication time recorded: the previous root is not claimable
    assert_eq!(ledger.previous_root_claimable_until().unwrap(), None);
    assert!(matches!(
        h.claim(&t1.claim_for(&evm(5)).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    h.claim(&t2.claim_for(&evm(5)).unwrap()).await.unwrap();
    // roots published from now on record their time
    manual_clock(&ledger, T0);
    published(ledger.handle(oracle()).publish_root(&root(3, 40)).await);
    assert_eq!(
        ledger.previous_root_claimable_until().unwrap(),
        Some(T0 + CLAIM_GRACE_PERIOD_SECS)
    );
    drop(h);
    drop(ledger);
    let entries = LocalLedger::read_entries(&path).unwrap();
    assert!(entries.iter().any(|(_, e)| matches!(
        e,
        Entry::Register { consent: None, device: d, .. } if *d == device
    )));
    assert!(matches!(
        entries.last(),
        Some((_, Entry::Publish { epoch: 3, published_at: Some(t), .. })) if *t == T0
    ));
}
