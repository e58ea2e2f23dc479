//! Local ledger: persistence across reopen, torn-tail repair, corruption detection, locking,
//! roles, and the failure paths the conformance suite cannot reach.

use depin_chains::prelude::*;
use std::fs::OpenOptions;
use std::io::Write;

use depin_chains::local::{log, Entry, LocalLedger};
use depin_chains::{
    Account, BackendKind, ClaimFormat, ClaimTree, DeviceRegistration, EpochRoot, Error,
    PublishOutcome, RegistrationProof, TxHandle,
};
use depin_core::{DeviceId, Epoch, KeyType, SigningKey};

use crate::common::*;

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

/// Fill a ledger with one of everything; returns the handles' tx list.
async fn populate(ledger: &LocalLedger) -> Vec<TxHandle> {
    let admin_h = ledger.handle(admin());
    let oracle_h = ledger.handle(oracle());
    let owner_h = ledger.handle(evm(1));
    let mut txs = vec![admin_h.fund(1_000).unwrap()];
    let k = key(KeyType::Ed25519, 7);
    txs.push(
        owner_h
            .register_with_signer(&registration(&k, evm(1)), &k)
            .await
            .unwrap(),
    );
    let tree = ClaimTree::new(ClaimFormat::OpenZeppelin, vec![(evm(5), 40), (evm(6), 60)]).unwrap();
    match oracle_h
        .publish_root(&EpochRoot {
            epoch: Epoch(3),
            root: tree.root(),
            total: 100,
        })
        .await
        .unwrap()
    {
        PublishOutcome::Published(tx) => txs.push(tx),
        other => panic!("{other:?}"),
    }
    txs.push(
        owner_h
            .claim(&tree.claim_for(&evm(5)).unwrap())
            .await
            .unwrap(),
    );
    txs.push(
        owner_h
            .revoke_device(&DeviceId::from(k.public_key()))
            .await
            .unwrap(),
    );
    txs
}

#[tokio::test]
async fn state_and_receipts_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let txs = populate(&ledger).await;
    let len = ledger.file_len().unwrap();
    assert_eq!(ledger.len().unwrap(), 5);
    drop(ledger);

    let (ledger, report) =
        LocalLedger::open_with_report(&path, genesis(ClaimFormat::OpenZeppelin)).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.records.len(), 6); // genesis + 5
    assert_eq!(ledger.file_len().unwrap(), len);
    let h = ledger.handle(evm(9));
    for (i, tx) in txs.iter().enumerate() {
        let r = h.wait_for_receipt(tx).await.unwrap();
        assert_eq!(r.block, i as u64 + 1);
    }
    let dev = DeviceId::from(key(KeyType::Ed25519, 7).public_key());
    let rec = h.device(&dev).await.unwrap();
    assert!(!rec.active);
    assert_eq!(rec.owner, evm(1));
    assert_eq!(h.claimed(&evm(5)).await.unwrap(), 40);
    assert_eq!(h.token_balance(&evm(5)).await.unwrap(), Some(40));
    assert_eq!(h.pool_balance().await.unwrap(), Some(960));
    assert_eq!(
        h.epoch_root(Epoch(3)).await.unwrap().map(|r| r.total),
        Some(100)
    );
    // and the log reads back independently of the in-memory state
    let entries = LocalLedger::read_entries(&path).unwrap();
    assert_eq!(entries.len(), 5);
    assert!(matches!(entries[0], (1, Entry::Fund { amount: 1_000, .. })));
    assert!(matches!(entries[4], (5, Entry::Revoke { .. })));
}

#[tokio::test]
async fn torn_tail_is_truncated_at_every_cut_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    populate(&ledger).await;
    let before_last = {
        let entries = LocalLedger::read_entries(&path).unwrap();
        assert_eq!(entries.len(), 5);
        drop(ledger);
        std::fs::read(&path).unwrap()
    };
    // size of the last record: re-encode it
    let last = LocalLedger::read_entries(&path).unwrap().pop().unwrap().1;
    let last_len = log::RECORD_HEADER_LEN + last.encode().len();
    let full = before_last.len();
    for cut in (full - last_len)..full {
        std::fs::write(&path, &before_last[..cut]).unwrap();
        let (l, report) =
            LocalLedger::open_with_report(&path, genesis(ClaimFormat::OpenZeppelin)).unwrap();
        assert_eq!(l.len().unwrap(), 4, "cut at {cut}");
        assert_eq!(report.truncated_bytes as usize, cut - (full - last_len));
        assert_eq!(l.file_len().unwrap() as usize, full - last_len);
        // the device is still active: the revocation was the torn record
        let dev = DeviceId::from(key(KeyType::Ed25519, 7).public_key());
        assert!(l.handle(admin()).device(&dev).await.unwrap().active);
        // and the repaired ledger accepts new writes that survive another reopen
        l.append_note(b"after repair").unwrap();
        drop(l);
        let l = open(&path, genesis(ClaimFormat::OpenZeppelin));
        assert_eq!(l.len().unwrap(), 5);
    }
}

#[tokio::test]
async fn garbage_and_zero_tails_are_repaired_but_middle_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    for i in 0..10u8 {
        ledger.append_note(&[i; 40]).unwrap();
    }
    drop(ledger);
    let good = std::fs::read(&path).unwrap();

    // a half-written record header
    let next = log::frame(&Entry::Note(vec![9; 40]).encode()).unwrap();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&next[..10]).unwrap();
    drop(f);
    let (l, report) =
        LocalLedger::open_with_report(&path, genesis(ClaimFormat::OpenZeppelin)).unwrap();
    assert_eq!(report.truncated_bytes, 10);
    assert_eq!(l.len().unwrap(), 10);
    drop(l);
    assert_eq!(std::fs::read(&path).unwrap(), good);

    // zero-filled tail (file extended but data never written)
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    drop(f);
    let (l, report) =
        LocalLedger::open_with_report(&path, genesis(ClaimFormat::OpenZeppelin)).unwrap();
    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(l.len().unwrap(), 10);
    drop(l);

    // a flipped bit inside a committed record followed by more records: refuse to open
    let mut damaged = good.clone();
    damaged[log::MAGIC.len() + 60] ^= 0x10;
    std::fs::write(&path, &damaged).unwrap();
    assert!(matches!(
        LocalLedger::open(&path, genesis(ClaimFormat::OpenZeppelin)),
        Err(Error::Corrupt(_))
    ));
    // the file was not modified by the failed open
    assert_eq!(std::fs::read(&path).unwrap(), damaged);

    // not a ledger at all
    std::fs::write(&path, b"hello world, not a ledger").unwrap();
    assert!(matches!(
        LocalLedger::open(&path, genesis(ClaimFormat::OpenZeppelin)),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn genesis_mismatch_and_second_opener_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    // locked while open
    assert!(matches!(
        LocalLedger::open(&path, genesis(ClaimFormat::OpenZeppelin)),
        Err(Error::Config(_))
    ));
    drop(ledger);
    assert!(matches!(
        LocalLedger::open(&path, genesis(ClaimFormat::Cw20MerkleAirdrop)),
        Err(Error::Config(_))
    ));
    let mut other_admin = genesis(ClaimFormat::OpenZeppelin);
    other_admin.admin = evm(0x77);
    assert!(matches!(
        LocalLedger::open(&path, other_admin),
        Err(Error::Config(_))
    ));
    let mut bad_net = genesis(ClaimFormat::OpenZeppelin);
    bad_net.network = "Not Valid".into();
    let other = dir.path().join("other.log");
    assert!(matches!(
        LocalLedger::open(&other, bad_net),
        Err(Error::Config(_))
    ));
    assert!(open(&path, genesis(ClaimFormat::OpenZeppelin))
        .is_empty()
        .unwrap());
}

#[tokio::test]
async fn roles_are_separate_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("l.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    let root = EpochRoot {
        epoch: Epoch(1),
        root: [1; 32],
        total: 5,
    };
    // the admin is not the oracle here
    assert!(matches!(
        ledger.handle(admin()).publish_root(&root).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(ledger.handle(oracle()).publish_root(&root).await.is_ok());
    // only the admin funds
    assert!(matches!(
        ledger.fund(&oracle(), 10),
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        ledger.fund(&admin(), 0),
        Err(Error::InvalidInput(_))
    ));
    ledger.fund(&admin(), u128::MAX).unwrap();
    assert!(matches!(
        ledger.fund(&admin(), 1),
        Err(Error::InvalidInput(_))
    ));
    // the oracle cannot revoke someone else's device
    let k = key(KeyType::P256, 3);
    let owner = ledger.handle(evm(1));
    owner
        .register_with_signer(&registration(&k, evm(1)), &k)
        .await
        .unwrap();
    assert!(matches!(
        ledger
            .handle(oracle())
            .revoke_device(&DeviceId::from(k.public_key()))
            .await,
        Err(Error::Unauthorized(_))
    ));
}

#[tokio::test]
async fn registration_and_claim_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("l.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    let h = ledger.handle(evm(1));
    let k = key(KeyType::Secp256k1, 4);
    let reg = registration(&k, evm(1));
    // an EIP-712 proof means nothing to the local ledger
    assert!(matches!(
        h.register_device(&reg, &RegistrationProof::Eip712([0; 65]))
            .await,
        Err(Error::InvalidProof)
    ));
    let ledger_id = ledger.ledger_id().unwrap();
    let message = reg.ledger_signing_message(BackendKind::Local, &ledger_id, 0);
    // a signature made under another network's domain
    let other_domain = depin_core::Domain::new(depin_core::NetworkId::new("other-net").unwrap())
        .with_chain_id(ledger.domain().unwrap().chain_id.unwrap());
    let sig = other_domain
        .sign(&k, depin_core::MessageKind::DEVICE_REGISTRATION, &message)
        .unwrap();
    assert!(matches!(
        h.register_device(&reg, &RegistrationProof::Domain(sig))
            .await,
        Err(Error::InvalidProof)
    ));
    // a signature by the right key under the right domain but another message kind
    let domain = ledger.domain().unwrap();
    let sig = domain
        .sign(&k, depin_core::MessageKind::REPORT_FRAME, &message)
        .unwrap();
    assert!(matches!(
        h.register_device(&reg, &RegistrationProof::Domain(sig))
            .await,
        Err(Error::InvalidProof)
    ));
    // the unbound (Cosmos-registry) message is not what the local ledger verifies
    let sig = domain
        .sign(
            &k,
            depin_core::MessageKind::DEVICE_REGISTRATION,
            &reg.signing_message(0),
        )
        .unwrap();
    assert!(matches!(
        h.register_device(&reg, &RegistrationProof::Domain(sig))
            .await,
        Err(Error::InvalidProof)
    ));
    // the challenge is exactly the domain signature over ledger_signing_message(Local, id, 0)
    assert_eq!(
        h.registration_challenge(&reg).await.unwrap(),
        depin_chains::RegistrationChallenge::Domain {
            domain,
            message: message.clone()
        }
    );
    let sig = domain
        .sign(&k, depin_core::MessageKind::DEVICE_REGISTRATION, &message)
        .unwrap();
    h.register_device(&reg, &RegistrationProof::Domain(sig))
        .await
        .unwrap();

    // revoking an unregistered device, unknown receipts
    let other = DeviceId::from(key(KeyType::Ed25519, 9).public_key());
    assert!(matches!(
        h.revoke_device(&other).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        h.wait_for_receipt(&TxHandle([7; 32])).await,
        Err(Error::NotFound(_))
    ));

    // a cosmos account cannot be in an OpenZeppelin tree: its claim cannot verify
    ledger
        .handle(oracle())
        .publish_root(&EpochRoot {
            epoch: Epoch(0),
            root: [1; 32],
            total: 0,
        })
        .await
        .unwrap();
    let claim = depin_chains::Claim {
        account: Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq").unwrap(),
        cumulative_amount: 1,
        proof: vec![],
    };
    assert!(matches!(h.claim(&claim).await, Err(Error::InvalidProof)));
}
