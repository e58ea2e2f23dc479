//! Regressions for the security review of the local ledger: registration proofs are bound to
//! one ledger and one device state; damage before the last record is refused without touching
//! the file; every account is validated and canonical before it is written, so whatever was
//! acknowledged reopens identically.

use depin_chains::local::{log, Entry, Genesis, LocalLedger};
use depin_chains::prelude::*;
use depin_chains::{
    Account, BackendKind, Claim, ClaimFormat, ClaimTree, DeviceRegistration, EpochRoot, Error,
    RegistrationChallenge, RegistrationProof,
};
use depin_core::{DeviceId, Epoch, EvmAddress, KeyType, MessageKind, SigningKey};
use proptest::prelude::*;

use crate::common::*;

const WASM_ADDR: &str = "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq";

fn key(kt: KeyType, b: u8) -> SigningKey {
    SigningKey::from_secret_bytes(kt, &[b; 32]).unwrap()
}

fn registration(k: &SigningKey, owner: Account) -> DeviceRegistration {
    DeviceRegistration::new(
        DeviceId::from(k.public_key()),
        owner,
        b"meta".to_vec(),
        soon(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. registration proofs are bound to one ledger and one nonce

#[tokio::test]
async fn registration_proof_for_ledger_a_is_refused_by_ledger_b_with_the_same_network() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(
        &dir.path().join("a.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    let b = open(
        &dir.path().join("b.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    // same genesis, same network name: still two ledgers
    assert_eq!(a.genesis().unwrap(), b.genesis().unwrap());
    assert_ne!(a.ledger_id().unwrap(), b.ledger_id().unwrap());
    assert_ne!(a.domain().unwrap(), b.domain().unwrap());

    for (i, kt) in KeyType::ALL.iter().enumerate() {
        let k = key(*kt, 40 + i as u8);
        let device = DeviceId::from(k.public_key());
        let reg = registration(&k, evm(1));
        let owner_a = a.handle(evm(1));
        let owner_b = b.handle(evm(1));
        let challenge_a = owner_a.registration_challenge(&reg).await.unwrap();
        let challenge_b = owner_b.registration_challenge(&reg).await.unwrap();
        assert_ne!(challenge_a, challenge_b, "{kt}");
        // the message carries the chain kind and the ledger id
        let RegistrationChallenge::Domain { message, .. } = &challenge_a else {
            panic!("local challenges are domain challenges")
        };
        assert_eq!(
            *message,
            reg.ledger_signing_message(BackendKind::Local, &a.ledger_id().unwrap(), 0)
        );
        let proof_for_a = challenge_a.sign(&k).unwrap();

        // ledger B refuses A's proof with a typed error and writes nothing
        let before = std::fs::read(dir.path().join("b.log")).unwrap();
        assert!(
            matches!(
                owner_b.register_device(&reg, &proof_for_a).await,
                Err(Error::InvalidProof)
            ),
            "{kt}"
        );
        assert_eq!(std::fs::read(dir.path().join("b.log")).unwrap(), before);
        assert!(matches!(
            owner_b.device(&device).await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(b.registration_nonce(&device).unwrap(), 0);

        // ledger A accepts it, and B accepts a proof made for B
        owner_a.register_device(&reg, &proof_for_a).await.unwrap();
        owner_b
            .register_device(&reg, &challenge_b.sign(&k).unwrap())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn registration_proof_cannot_be_reused_and_the_nonce_moves_on_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let h = ledger.handle(evm(1));
    let k = key(KeyType::Secp256k1, 22);
    let device = DeviceId::from(k.public_key());
    let reg = registration(&k, evm(1));

    // a failed attempt moves nothing
    let impostor = key(KeyType::Secp256k1, 23);
    let c0 = h.registration_challenge(&reg).await.unwrap();
    assert!(matches!(
        h.register_device(&reg, &c0.sign(&impostor).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 0);
    assert_eq!(h.registration_challenge(&reg).await.unwrap(), c0);

    let proof = c0.sign(&k).unwrap();
    h.register_device(&reg, &proof).await.unwrap();
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 1);

    // the same proof again is refused (typed) and writes nothing
    let len = ledger.file_len().unwrap();
    assert!(matches!(
        h.register_device(&reg, &proof).await,
        Err(Error::AlreadyRegistered(_))
    ));
    assert_eq!(ledger.file_len().unwrap(), len);

    // the challenge has moved: the old proof does not verify against it
    let c1 = h.registration_challenge(&reg).await.unwrap();
    assert_ne!(c1, c0);
    let RegistrationChallenge::Domain { domain, message } = &c1 else {
        panic!("local challenges are domain challenges")
    };
    let RegistrationProof::Domain(sig) = proof else {
        panic!("local proofs are domain signatures")
    };
    assert!(domain
        .verify(
            &k.public_key(),
            MessageKind::DEVICE_REGISTRATION,
            message,
            &sig
        )
        .is_err());

    // revocation moves it again: no earlier proof matches the device's state any more
    h.revoke_device(&device).await.unwrap();
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 2);
    let c2 = h.registration_challenge(&reg).await.unwrap();
    assert_ne!(c2, c1);
    assert_ne!(c2, c0);
    assert!(matches!(
        h.register_device(&reg, &proof).await,
        Err(Error::AlreadyRegistered(_))
    ));

    // nonces and the ledger id are durable
    let id = ledger.ledger_id().unwrap();
    drop(h);
    drop(ledger);
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    assert_eq!(ledger.ledger_id().unwrap(), id);
    assert_eq!(ledger.registration_nonce(&device).unwrap(), 2);
    assert_eq!(
        ledger
            .handle(evm(1))
            .registration_challenge(&reg)
            .await
            .unwrap(),
        c2
    );
}

#[tokio::test]
async fn a_proof_made_for_a_replaced_ledger_is_refused_by_its_successor_at_the_same_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let g = genesis(ClaimFormat::OpenZeppelin);
    let k = key(KeyType::Ed25519, 24);
    let reg = registration(&k, evm(1));
    let old = open(&path, g.clone());
    let proof = old
        .handle(evm(1))
        .registration_challenge(&reg)
        .await
        .unwrap()
        .sign(&k)
        .unwrap();
    drop(old);
    let new = LocalLedger::replace(&path, g).unwrap();
    assert!(matches!(
        new.handle(evm(1)).register_device(&reg, &proof).await,
        Err(Error::InvalidProof)
    ));
    assert!(new.is_empty().unwrap());
}

#[test]
fn ledger_id_is_durable_and_a_replaced_ledger_gets_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let g = genesis(ClaimFormat::OpenZeppelin);
    let ledger = open(&path, g.clone());
    let id = ledger.ledger_id().unwrap();
    assert_ne!(id, [0; 32]);
    ledger.append_note(b"kept").unwrap();
    let bytes = std::fs::read(&path).unwrap();

    // replacing a ledger that is open (here: in this process) is refused and changes nothing
    let err = LocalLedger::replace(&path, g.clone()).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains(&path.display().to_string())),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    drop(ledger);

    assert_eq!(open(&path, g.clone()).ledger_id().unwrap(), id);
    let fresh = LocalLedger::replace(&path, g.clone()).unwrap();
    assert!(fresh.is_empty().unwrap());
    let new_id = fresh.ledger_id().unwrap();
    assert_ne!(new_id, id);
    drop(fresh);
    let reopened = open(&path, g.clone());
    assert!(reopened.is_empty().unwrap());
    assert_eq!(reopened.ledger_id().unwrap(), new_id);
    drop(reopened);

    // a file that is not a ledger is not replaced
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, b"somebody's notes").unwrap();
    assert!(matches!(
        LocalLedger::replace(&other, g),
        Err(Error::Config(_))
    ));
    assert_eq!(std::fs::read(&other).unwrap(), b"somebody's notes");
}

// ---------------------------------------------------------------------------------------------
// 2. damage before the last record is refused, never repaired

/// A ledger with `n` notes after genesis; returns its bytes and every record's offset.
fn ledger_with_notes(path: &std::path::Path, n: usize) -> (Vec<u8>, Vec<u64>) {
    let ledger = open(path, genesis(ClaimFormat::OpenZeppelin));
    for i in 0..n {
        ledger.append_note(&vec![i as u8 + 1; 20 + 7 * i]).unwrap();
    }
    drop(ledger);
    let (ledger, report) =
        LocalLedger::open_with_report(path, genesis(ClaimFormat::OpenZeppelin)).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.offsets.len(), n + 1);
    drop(ledger);
    (std::fs::read(path).unwrap(), report.offsets)
}

#[test]
fn single_byte_damage_is_refused_before_the_last_record_and_never_loses_a_commit() {
    const N: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let (good, offsets) = ledger_with_notes(&path, N);
    let last = offsets.len() - 1;
    let end_of = |i: usize| {
        offsets
            .get(i + 1)
            .map(|&o| o as usize)
            .unwrap_or(good.len())
    };

    // every header byte (tag, length, checksums) and the first, middle and last payload byte
    // of every record, genesis included
    let mut cases = Vec::new();
    for (i, &start) in offsets.iter().enumerate() {
        let start = start as usize;
        let end = end_of(i);
        cases.extend(start..start + log::RECORD_HEADER_LEN);
        cases.extend([
            start + log::RECORD_HEADER_LEN,
            (start + log::RECORD_HEADER_LEN + end) / 2,
            end - 1,
        ]);
    }
    let mut refused = 0;
    let mut repaired = 0;
    for &at in &cases {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut damaged = good.clone();
            damaged[at] ^= mask;
            std::fs::write(&path, &damaged).unwrap();
            let record = offsets.iter().rposition(|&o| o as usize <= at).unwrap();
            match LocalLedger::open_with_report(&path, genesis(ClaimFormat::OpenZeppelin)) {
                Err(Error::Corrupt(m)) => {
                    let needle = format!("record {record} at byte {}:", offsets[record]);
                    assert!(
                        m.contains(&needle),
                        "byte {at} ^ {mask:#x}: {m:?} lacks {needle:?}"
                    );
                    assert_eq!(
                        std::fs::read(&path).unwrap(),
                        damaged,
                        "byte {at} ^ {mask:#x}: a refused open changed the file"
                    );
                    refused += 1;
                }
                Ok((l, report)) => {
                    assert_eq!(
                        record, last,
                        "byte {at} ^ {mask:#x}: damage in record {record} (last is {last}) was repaired"
                    );
                    assert_eq!(l.len().unwrap(), (N - 1) as u64);
                    assert_eq!(
                        report.truncated_bytes as usize,
                        good.len() - offsets[last] as usize
                    );
                    drop(l);
                    assert_eq!(
                        std::fs::read(&path).unwrap(),
                        &good[..offsets[last] as usize]
                    );
                    repaired += 1;
                }
                Err(e) => panic!("byte {at} ^ {mask:#x}: unexpected error {e}"),
            }
        }
    }
    assert!(
        refused > 0 && repaired > 0,
        "{refused} refused, {repaired} repaired"
    );
    // the undamaged file still opens with every record
    std::fs::write(&path, &good).unwrap();
    assert_eq!(
        open(&path, genesis(ClaimFormat::OpenZeppelin))
            .len()
            .unwrap(),
        N as u64
    );
}

#[test]
fn middle_length_field_pointing_past_the_end_is_corrupt_and_the_file_is_untouched() {
    const N: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let (good, offsets) = ledger_with_notes(&path, N);
    for (record, &offset) in offsets.iter().enumerate().take(N).skip(1) {
        let start = offset as usize;
        for len in [
            good.len() as u32,
            (good.len() - start) as u32,
            log::MAX_RECORD_LEN as u32,
            u32::MAX,
        ] {
            let mut damaged = good.clone();
            // the length field follows the 4-byte record tag
            damaged[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
            std::fs::write(&path, &damaged).unwrap();
            match LocalLedger::open(&path, genesis(ClaimFormat::OpenZeppelin)) {
                Err(Error::Corrupt(m)) => {
                    assert!(
                        m.contains(&format!("record {record} at byte {start}:")),
                        "{m}"
                    )
                }
                other => panic!("record {record} length {len}: {other:?}"),
            }
            assert_eq!(std::fs::read(&path).unwrap(), damaged);
        }
    }
}

#[test]
fn version_1_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.log");
    let mut v1 = b"DPNLOG01".to_vec();
    v1.extend_from_slice(&[5, 0, 0, 0, 1, 2, 3, 4, 6, 0, 0, 0, 0]);
    std::fs::write(&path, &v1).unwrap();
    let err = LocalLedger::open(&path, genesis(ClaimFormat::OpenZeppelin)).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("version 1")),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), v1);
}

#[test]
fn an_entry_too_large_for_a_record_is_refused_without_poisoning_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let before = ledger.file_len().unwrap();
    assert!(matches!(
        ledger.append_note(&vec![0; log::MAX_RECORD_LEN]),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(ledger.file_len().unwrap(), before);
    // later writes still work and survive a reopen
    assert_eq!(ledger.append_note(b"fine").unwrap(), 1);
    drop(ledger);
    assert_eq!(
        open(&path, genesis(ClaimFormat::OpenZeppelin))
            .len()
            .unwrap(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// 3. accounts are validated and canonical before anything is written

#[tokio::test]
async fn invalid_and_overlong_accounts_are_refused_before_writing_and_the_ledger_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let ledger = open(&path, genesis(ClaimFormat::Cw20MerkleAirdrop));
    ledger.fund(&admin(), 1_000).unwrap();
    let alice = Account::Cosmos("alice".into());
    let long = Account::Cosmos("a".repeat(256));
    let k = key(KeyType::Ed25519, 31);
    let before = std::fs::read(&path).unwrap();
    for bad in [&alice, &long] {
        // as owner
        assert!(matches!(
            ledger
                .handle(evm(1))
                .register_with_signer(&registration(&k, bad.clone()), &k)
                .await,
            Err(Error::InvalidInput(_))
        ));
        // as the submitting account
        assert!(matches!(
            ledger
                .handle(bad.clone())
                .register_with_signer(&registration(&k, evm(1)), &k)
                .await,
            Err(Error::InvalidInput(_))
        ));
        // as the funder
        assert!(matches!(ledger.fund(bad, 5), Err(Error::InvalidInput(_))));
        // as the claimant, even with a tree that contains it
        let tree = ClaimTree::new(
            ClaimFormat::Cw20MerkleAirdrop,
            vec![(bad.clone(), 10), (Account::cosmos(WASM_ADDR).unwrap(), 5)],
        )
        .unwrap();
        assert!(matches!(
            ledger
                .handle(evm(1))
                .claim(&tree.claim_for(bad).unwrap())
                .await,
            Err(Error::InvalidInput(_))
        ));
        // as a genesis role
        let g = Genesis {
            oracle: bad.clone(),
            ..genesis(ClaimFormat::Cw20MerkleAirdrop)
        };
        let other = dir.path().join("other.log");
        assert!(matches!(
            LocalLedger::open(&other, g),
            Err(Error::Config(_))
        ));
        assert!(!other.exists());
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    drop(ledger);
    assert_eq!(
        open(&path, genesis(ClaimFormat::Cw20MerkleAirdrop))
            .len()
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn upper_case_bech32_owner_is_stored_canonically_and_keeps_its_rights_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let upper = Account::Cosmos(WASM_ADDR.to_ascii_uppercase());
    let lower = Account::cosmos(WASM_ADDR).unwrap();
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let k = key(KeyType::P256, 32);
    let device = DeviceId::from(k.public_key());
    ledger
        .handle(evm(1))
        .register_with_signer(&registration(&k, upper.clone()), &k)
        .await
        .unwrap();
    assert_eq!(
        ledger.handle(evm(9)).device(&device).await.unwrap().owner,
        lower
    );
    drop(ledger);
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    assert_eq!(
        ledger.handle(evm(9)).device(&device).await.unwrap().owner,
        lower
    );
    // the owner, in the spelling it registered with, can still revoke
    ledger
        .handle(upper.clone())
        .revoke_device(&device)
        .await
        .unwrap();
    let entries = LocalLedger::read_entries(&path).unwrap();
    assert!(
        matches!(&entries[..], [(1, Entry::Register { owner, .. }), (2, Entry::Revoke { by, .. })] if *owner == lower && *by == lower)
    );

    // an upper-case admin in the genesis is the same admin, before and after a reopen
    let gpath = dir.path().join("g.log");
    let g_upper = Genesis {
        admin: upper.clone(),
        ..genesis(ClaimFormat::OpenZeppelin)
    };
    let l = open(&gpath, g_upper.clone());
    assert_eq!(l.genesis().unwrap().admin, lower);
    l.fund(&upper, 3).unwrap();
    drop(l);
    let l = open(&gpath, g_upper);
    l.fund(&lower, 4).unwrap();
    drop(l);
    let l = open(
        &gpath,
        Genesis {
            admin: lower.clone(),
            ..genesis(ClaimFormat::OpenZeppelin)
        },
    );
    assert_eq!(l.handle(evm(9)).pool_balance().await.unwrap(), Some(7));
}

fn bech32_of(hrp: &str, data: &[u8]) -> String {
    bech32::encode::<bech32::Bech32>(bech32::Hrp::parse(hrp).unwrap(), data).unwrap()
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 20),
        proptest::collection::vec(any::<u8>(), 32),
    ]
}

fn hrp() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("wasm".to_string()),
        Just("cosmos".to_string()),
        "[a-z]{1,12}",
    ]
}

/// Accounts of every shape a caller can build: valid EVM, valid bech32 in lower and upper
/// case, bech32 with a wrong payload length or too long, and arbitrary strings.
fn any_account() -> impl Strategy<Value = Account> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(|b| Account::Evm(EvmAddress(b))),
        (hrp(), payload()).prop_map(|(h, d)| Account::Cosmos(bech32_of(&h, &d))),
        (hrp(), payload())
            .prop_map(|(h, d)| Account::Cosmos(bech32_of(&h, &d).to_ascii_uppercase())),
        (hrp(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(h, d)| Account::Cosmos(bech32_of(&h, &d))),
        ("[a-z]{40,83}", payload()).prop_map(|(h, d)| Account::Cosmos(bech32_of(&h, &d))),
        "[a-zA-Z0-9]{0,300}".prop_map(Account::Cosmos),
        (1usize..300).prop_map(|n| Account::Cosmos("a".repeat(n))),
    ]
}

/// What the ledger must store for `a`: `None` if it must refuse it.
fn expected_canonical(a: &Account) -> Option<Account> {
    match a {
        Account::Evm(_) => Some(a.clone()),
        Account::Cosmos(s) => Account::cosmos(s).ok(),
        _ => None,
    }
}

/// Register `a` as owner, fund with `a` as admin, claim for `a`, submit as `a`: each is either
/// refused with a typed error and nothing written, or accepted, and then the reopened ledger
/// shows exactly what the live one showed, and `a` (as given) keeps its rights.
async fn check_account(a: Account) {
    let dir = tempfile::tempdir().unwrap();
    let canonical = expected_canonical(&a);
    let k = key(KeyType::Ed25519, 33);
    let device = DeviceId::from(k.public_key());

    // as owner of a device
    let path = dir.path().join("register.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let before = std::fs::read(&path).unwrap();
    let result = ledger
        .handle(evm(1))
        .register_with_signer(&registration(&k, a.clone()), &k)
        .await;
    match (&canonical, result) {
        (Some(c), Ok(_)) => {
            let live = ledger.handle(evm(9)).device(&device).await.unwrap();
            assert_eq!(&live.owner, c);
            drop(ledger);
            let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
            assert_eq!(ledger.handle(evm(9)).device(&device).await.unwrap(), live);
            ledger
                .handle(a.clone())
                .revoke_device(&device)
                .await
                .unwrap();
        }
        (None, Err(Error::InvalidInput(_))) => {
            assert_eq!(std::fs::read(&path).unwrap(), before);
            drop(ledger);
            open(&path, genesis(ClaimFormat::OpenZeppelin));
        }
        (c, r) => panic!("{a:?} (canonical {c:?}) as owner: {r:?}"),
    }

    // as the genesis admin who funds the pool
    let path = dir.path().join("fund.log");
    let g = Genesis {
        admin: a.clone(),
        ..genesis(ClaimFormat::OpenZeppelin)
    };
    match (&canonical, LocalLedger::open(&path, g.clone())) {
        (Some(c), Ok(ledger)) => {
            assert_eq!(&ledger.genesis().unwrap().admin, c);
            ledger.fund(&a, 7).unwrap();
            drop(ledger);
            let ledger = open(&path, g);
            assert_eq!(&ledger.genesis().unwrap().admin, c);
            ledger.fund(&a, 1).unwrap();
            assert_eq!(ledger.handle(evm(9)).pool_balance().await.unwrap(), Some(8));
            drop(ledger);
            let entries = LocalLedger::read_entries(&path).unwrap();
            assert!(entries
                .iter()
                .all(|(_, e)| matches!(e, Entry::Fund { by, .. } if by == c)));
        }
        (None, Err(Error::Config(_))) => assert!(!path.exists()),
        (c, r) => panic!("{a:?} (canonical {c:?}) as admin: {:?}", r.map(|_| ())),
    }

    // as claimant (the tree holds the canonical account, as a distributor's would) and as
    // the account submitting the claim
    let format = match a {
        Account::Evm(_) => ClaimFormat::OpenZeppelin,
        _ => ClaimFormat::Cw20MerkleAirdrop,
    };
    let path = dir.path().join("claim.log");
    let ledger = open(&path, genesis(format));
    ledger.fund(&admin(), 1_000).unwrap();
    let before = std::fs::read(&path).unwrap();
    match &canonical {
        Some(c) => {
            let other = match format {
                ClaimFormat::OpenZeppelin => evm(0x77),
                _ => Account::cosmos(WASM_ADDR).unwrap(),
            };
            let mut entries = vec![(c.clone(), 40)];
            if other != *c {
                entries.push((other, 60));
            }
            let tree = ClaimTree::new(format, entries).unwrap();
            ledger
                .handle(oracle())
                .publish_root(&EpochRoot {
                    epoch: Epoch(1),
                    root: tree.root(),
                    total: 100,
                })
                .await
                .unwrap();
            let claim = Claim {
                account: a.clone(),
                ..tree.claim_for(c).unwrap()
            };
            ledger.handle(a.clone()).claim(&claim).await.unwrap();
            let h = ledger.handle(evm(9));
            let live = (
                h.claimed(c).await.unwrap(),
                h.claimed(&a).await.unwrap(),
                h.token_balance(c).await.unwrap(),
                h.pool_balance().await.unwrap(),
            );
            assert_eq!(live, (40, 40, Some(40), Some(960)));
            drop(h);
            drop(ledger);
            let ledger = open(&path, genesis(format));
            let h = ledger.handle(evm(9));
            let reopened = (
                h.claimed(c).await.unwrap(),
                h.claimed(&a).await.unwrap(),
                h.token_balance(c).await.unwrap(),
                h.pool_balance().await.unwrap(),
            );
            assert_eq!(reopened, live);
            assert!(matches!(
                ledger.handle(a.clone()).claim(&claim).await,
                Err(Error::AlreadyClaimed { .. })
            ));
        }
        None => {
            let claim = Claim {
                account: a.clone(),
                cumulative_amount: 40,
                proof: vec![],
            };
            assert!(matches!(
                ledger.handle(evm(1)).claim(&claim).await,
                Err(Error::InvalidInput(_))
            ));
            assert!(matches!(
                ledger
                    .handle(a.clone())
                    .publish_root(&EpochRoot {
                        epoch: Epoch(1),
                        root: [1; 32],
                        total: 1,
                    })
                    .await,
                Err(Error::InvalidInput(_))
            ));
            assert!(matches!(ledger.fund(&a, 1), Err(Error::InvalidInput(_))));
            assert_eq!(std::fs::read(&path).unwrap(), before);
            drop(ledger);
            assert_eq!(open(&path, genesis(format)).len().unwrap(), 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_account_accepted_by_register_claim_or_fund_reopens_identically(a in any_account()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(check_account(a));
    }
}

#[test]
fn account_shapes_from_the_review_reopen_identically_or_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for a in [
        Account::Cosmos("alice".into()),
        Account::Cosmos("a".repeat(256)),
        Account::Cosmos(WASM_ADDR.to_ascii_uppercase()),
        Account::Cosmos(WASM_ADDR.into()),
        Account::Cosmos(bech32_of(&"x".repeat(83), &[7; 32])),
        Account::Evm(EvmAddress([0x42; 20])),
    ] {
        rt.block_on(check_account(a));
    }
}
