//! The conformance suite has teeth: backends that break one rule fail it at the right check,
//! and the local ledger stays exact under concurrent use.

use depin_chains::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use depin_chains::conformance::{
    default_claimants, run_conformance, run_conformance_all, Fixtures,
};
use depin_chains::local::{LocalBackend, LocalLedger};
use depin_chains::makers::{
    HardwareEvidence, Maker, MakerAttestation, MakerRecord, OnMakerRevoked, Onboarding,
    OnboardingChallenge,
};
use depin_chains::{
    async_trait, connect, Account, BackendConfig, BackendKind, ChainBackend, Claim, ClaimFormat,
    ClaimTree, CustomConfig, DeviceRegistration, EpochRoot, Error, PublishOutcome, Receipt,
    RegisteredDevice, RegistrationChallenge, RegistrationProof, Result, TxHandle, TxStatus,
};
use depin_core::{DeviceId, Epoch, KeyType};

use crate::common::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mutation {
    /// double claims "succeed" without paying
    SwallowDoubleClaim,
    /// a conflicting root for a published epoch is silently ignored
    IgnoreRootConflict,
    /// revoked devices still look active
    RevocationInvisible,
    /// any registration proof is accepted
    SkipProofCheck,
    /// a claim is checked against what was claimed, then paid after a pause: copies that
    /// arrive together all pass the check and are all paid
    RacyClaims,
    /// `wait_for_receipt` reports success for any handle, even one it never issued
    ReceiptForAnyHandle,
    /// the registration proof does not bind the owner: a device's proof for one owner,
    /// relayed with another owner, registers the device under that other owner
    OwnerNotBound,
    /// the admin may publish roots too (one key that can pay anyone)
    AdminPublishes,
    /// every P-256 registration is refused as InvalidProof (the other key types work)
    RefusesP256,
    /// funding "succeeds" and adds nothing to the pool
    FundingLost,
    /// no mutation: an honest backend written outside the SDK (it reports itself as
    /// `BackendKind::Custom("outside-ledger")`)
    Honest,
    /// two independent rules broken: P-256 registrations refused, double claims swallowed
    TwoRules,
    /// anyone may approve makers (the approval is carried out with the admin's authority)
    AnyoneApprovesMakers,
    /// revoking a maker never suspends its devices, whatever the admin asked
    SuspensionIgnored,
    /// a claim is paid against any root ever published, not only the latest (run with
    /// `latest_root_only: false`: the suite must catch it anyway)
    AnyPublishedRoot,
    /// the device's signature is checked without the ledger's own binding: a proof the device
    /// made for another ledger of the same network is accepted
    ForeignRegistry,
    /// the single oracle is refused, but a quorum's statement is published without checking
    /// its signatures (through the oracle's authority)
    QuorumSignaturesUnchecked,
}

/// What the racy mutant paid beyond the ledger, and the handles it made up for it.
#[derive(Default)]
struct Racy {
    extra: HashMap<Account, u128>,
    made_up: HashSet<[u8; 32]>,
    /// Owners named in registration challenges (the unbound mutant tries them).
    owners: Vec<Account>,
    /// Devices the unbound mutant says belong to another owner.
    hijacked: HashMap<DeviceId, Account>,
}

struct Mutant {
    inner: LocalBackend,
    m: Mutation,
    racy: Arc<Mutex<Racy>>,
    /// The oracle's handle, for the mutant that lets the admin publish.
    oracle: LocalBackend,
    /// The admin's handle, for the mutant that lets anyone approve makers.
    admin: LocalBackend,
    /// Another ledger of the same network, whose proofs the foreign-registry mutant accepts.
    other: Option<LocalBackend>,
    /// A handle on the quorum section's distributor (the unchecked-quorum mutant refuses its
    /// single oracle there).
    quorum_only: bool,
}

/// The quorum section's distributor for mutant `m`: a ledger whose oracle set is in effect,
/// its relayer and single oracle behind the mutant (the unchecked-quorum mutant gets a
/// ledger without a set, and pretends).
fn mutant_quorum(
    dir: &std::path::Path,
    m: Mutation,
    racy: &Arc<Mutex<Racy>>,
) -> (LocalLedger, depin_chains::conformance::QuorumFixture) {
    let (ledger, mut fixture) = quorum_ledger_with(
        &dir.join("quorum.log"),
        ClaimFormat::OpenZeppelin,
        m != Mutation::QuorumSignaturesUnchecked,
    );
    let wrap = |a: Account| -> Arc<dyn ChainBackend> {
        Arc::new(Mutant {
            inner: ledger.handle(a),
            m,
            racy: Arc::clone(racy),
            oracle: ledger.handle(oracle()),
            admin: ledger.handle(admin()),
            other: None,
            quorum_only: true,
        })
    };
    fixture.relayer = wrap(evm(0x0d));
    fixture.single_oracle = wrap(oracle());
    (ledger, fixture)
}

#[async_trait]
impl depin_chains::ChainHandle for Mutant {
    fn kind(&self) -> BackendKind {
        match self.m {
            Mutation::Honest => BackendKind::Custom("outside-ledger"),
            _ => self.inner.kind(),
        }
    }

    fn account(&self) -> Option<Account> {
        self.inner.account()
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        let made_up = self.racy.lock().unwrap().made_up.contains(&tx.0)
            || (self.m == Mutation::FundingLost && tx.0 == [0x77; 32]);
        match self.inner.wait_for_receipt(tx).await {
            Err(Error::NotFound(_)) if made_up || self.m == Mutation::ReceiptForAnyHandle => {
                Ok(Receipt {
                    tx: *tx,
                    block: 0,
                    status: TxStatus::Success,
                })
            }
            other => other,
        }
    }
}

#[async_trait]
impl depin_chains::RegistryBackend for Mutant {
    async fn registration_challenge(
        &self,
        r: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        {
            let mut racy = self.racy.lock().unwrap();
            if !racy.owners.contains(&r.owner) {
                racy.owners.push(r.owner.clone());
            }
        }
        self.inner.registration_challenge(r).await
    }

    async fn register_device(
        &self,
        r: &DeviceRegistration,
        p: &RegistrationProof,
    ) -> Result<TxHandle> {
        if matches!(self.m, Mutation::RefusesP256 | Mutation::TwoRules)
            && r.device.key_type() == KeyType::P256
        {
            return Err(Error::InvalidProof);
        }
        match self.inner.register_device(r, p).await {
            Err(Error::InvalidProof) if self.m == Mutation::SkipProofCheck => Ok(TxHandle([0; 32])),
            Err(Error::InvalidProof) if self.m == Mutation::ForeignRegistry => {
                let other = self
                    .other
                    .as_ref()
                    .expect("the mutant runs with another ledger");
                let theirs = other.registration_challenge(r).await?;
                let (
                    RegistrationChallenge::Domain { domain, message },
                    RegistrationProof::Domain(sig),
                ) = (&theirs, p)
                else {
                    return Err(Error::InvalidProof);
                };
                let key = r.device.public_key().map_err(|_| Error::InvalidProof)?;
                domain
                    .verify(
                        &key,
                        depin_core::MessageKind::DEVICE_REGISTRATION,
                        message,
                        sig,
                    )
                    .map_err(|_| Error::InvalidProof)?;
                let tx = TxHandle([0x5f; 32]);
                self.racy.lock().unwrap().made_up.insert(tx.0);
                Ok(tx)
            }
            Err(Error::InvalidProof) if self.m == Mutation::OwnerNotBound => {
                // accept the proof whichever owner it was made for
                let owners = self.racy.lock().unwrap().owners.clone();
                for owner in owners {
                    let mut made_for = r.clone();
                    made_for.owner = owner;
                    if let Ok(tx) = self.inner.register_device(&made_for, p).await {
                        self.racy
                            .lock()
                            .unwrap()
                            .hijacked
                            .insert(r.device, r.owner.clone());
                        return Ok(tx);
                    }
                }
                Err(Error::InvalidProof)
            }
            other => other,
        }
    }

    async fn revoke_device(&self, d: &DeviceId) -> Result<TxHandle> {
        self.inner.revoke_device(d).await
    }

    async fn device(&self, d: &DeviceId) -> Result<RegisteredDevice> {
        let mut rec = self.inner.device(d).await?;
        if self.m == Mutation::RevocationInvisible {
            rec.active = true;
        }
        let hijacked = self.racy.lock().unwrap().hijacked.get(d).cloned();
        if let Some(owner) = hijacked {
            rec.owner = owner;
        }
        Ok(rec)
    }

    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        if self.m == Mutation::AnyoneApprovesMakers {
            return self.admin.approve_maker(maker).await;
        }
        self.inner.approve_maker(maker).await
    }

    async fn revoke_maker(&self, maker: &DeviceId, on: OnMakerRevoked) -> Result<TxHandle> {
        if self.m == Mutation::SuspensionIgnored {
            return self
                .inner
                .revoke_maker(maker, OnMakerRevoked::KeepDevices)
                .await;
        }
        self.inner.revoke_maker(maker, on).await
    }

    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        let mut r = self.inner.maker(maker).await?;
        if self.m == Mutation::SuspensionIgnored && !r.active {
            // it claims to have done what it was asked
            r.devices_suspended = true;
        }
        Ok(r)
    }

    async fn set_onboarding(&self, o: Onboarding) -> Result<TxHandle> {
        self.inner.set_onboarding(o).await
    }

    async fn onboarding_challenge(
        &self,
        r: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        self.inner.onboarding_challenge(r, maker).await
    }

    async fn onboard_device(
        &self,
        r: &DeviceRegistration,
        a: &MakerAttestation,
        p: Option<&RegistrationProof>,
        e: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        self.inner.onboard_device(r, a, p, e).await
    }
}

#[async_trait]
impl depin_chains::DistributorBackend for Mutant {
    fn claim_format(&self) -> ClaimFormat {
        self.inner.claim_format()
    }

    async fn publish_root(&self, r: &EpochRoot) -> Result<PublishOutcome> {
        if self.m == Mutation::QuorumSignaturesUnchecked && self.quorum_only {
            return Err(Error::Unauthorized("a quorum is required".into()));
        }
        match self.inner.publish_root(r).await {
            Err(Error::Unauthorized(_))
                if self.m == Mutation::AdminPublishes && self.inner.account() == Some(admin()) =>
            {
                self.oracle.publish_root(r).await
            }
            Err(Error::EpochAlreadyPublished { .. }) if self.m == Mutation::IgnoreRootConflict => {
                Ok(PublishOutcome::AlreadyPublished)
            }
            other => other,
        }
    }

    async fn publish_quorum_root(
        &self,
        q: &depin_chains::quorum::Quorum,
    ) -> Result<PublishOutcome> {
        if self.m == Mutation::QuorumSignaturesUnchecked {
            let root = EpochRoot {
                epoch: q.statement.epoch,
                root: q.statement.root,
                total: q.statement.total,
            };
            return self.oracle.publish_root(&root).await;
        }
        self.inner.publish_quorum_root(q).await
    }

    async fn epoch_root(&self, e: Epoch) -> Result<Option<EpochRoot>> {
        self.inner.epoch_root(e).await
    }

    async fn claim(&self, c: &Claim) -> Result<TxHandle> {
        if self.m == Mutation::RacyClaims {
            let already = self.claimed(&c.account).await?;
            if c.cumulative_amount <= already {
                return self.inner.claim(c).await;
            }
            // the check above, then the payment: another copy runs in between
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            return match self.inner.claim(c).await {
                Err(Error::AlreadyClaimed { .. }) => {
                    let mut racy = self.racy.lock().unwrap();
                    *racy.extra.entry(c.account.clone()).or_insert(0) +=
                        c.cumulative_amount - already;
                    let handle = [racy.made_up.len() as u8 + 1; 32];
                    racy.made_up.insert(handle);
                    Ok(TxHandle(handle))
                }
                other => other,
            };
        }
        match self.inner.claim(c).await {
            Err(Error::AlreadyClaimed { .. })
                if matches!(self.m, Mutation::SwallowDoubleClaim | Mutation::TwoRules) =>
            {
                Ok(TxHandle([0; 32]))
            }
            Err(Error::InvalidProof) if self.m == Mutation::AnyPublishedRoot => {
                // look for any published root the proof verifies against, and pay from it
                let format = self.inner.claim_format();
                for e in 0..16 {
                    let Some(root) = self.inner.epoch_root(Epoch(e)).await? else {
                        continue;
                    };
                    if depin_chains::verify_claim(format, &root.root, c)? {
                        let already = self.claimed(&c.account).await?;
                        let mut racy = self.racy.lock().unwrap();
                        *racy.extra.entry(c.account.clone()).or_insert(0) +=
                            c.cumulative_amount.saturating_sub(already);
                        let handle = [0xa0 + racy.made_up.len() as u8; 32];
                        racy.made_up.insert(handle);
                        return Ok(TxHandle(handle));
                    }
                }
                Err(Error::InvalidProof)
            }
            other => other,
        }
    }

    async fn claimed(&self, a: &Account) -> Result<u128> {
        let extra = self.racy.lock().unwrap().extra.get(a).copied().unwrap_or(0);
        Ok(self.inner.claimed(a).await? + extra)
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        self.inner.pool_balance().await
    }

    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        if self.m == Mutation::FundingLost {
            return Ok(TxHandle([0x77; 32]));
        }
        self.inner.fund_pool(amount).await
    }

    async fn token_balance(&self, a: &Account) -> Result<Option<u128>> {
        self.inner.token_balance(a).await
    }
}

/// An outside backend is picked by `connect` like a built-in one (`BackendConfig::Custom`),
/// funded through the trait, and passes the suite; a constructor whose backend reports
/// another kind is a configuration error.
#[tokio::test]
async fn an_outside_backend_is_connected_like_a_built_in_one_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("l.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    // a second ledger of the same network: proofs made for it must not register here
    let other_ledger = Some(open(
        &dir.path().join("other.log"),
        genesis(ClaimFormat::OpenZeppelin),
    ));
    let racy = Arc::new(Mutex::new(Racy::default()));
    let (_quorum_ledger, quorum) = mutant_quorum(dir.path(), Mutation::Honest, &racy);
    let wrap = |a: Account| -> Arc<dyn ChainBackend> {
        Arc::new(Mutant {
            inner: ledger.handle(a),
            m: Mutation::Honest,
            racy: Arc::clone(&racy),
            oracle: ledger.handle(oracle()),
            admin: ledger.handle(admin()),
            other: other_ledger.as_ref().map(|l| l.handle(evm(1))),
            quorum_only: false,
        })
    };
    let admin_handle = wrap(admin());
    let config = BackendConfig::Custom(CustomConfig::new("outside-ledger", move || {
        let backend = Arc::clone(&admin_handle);
        async move { Ok(backend) }
    }));
    let admin_backend = connect(&config).await.unwrap();
    assert_eq!(admin_backend.kind(), BackendKind::Custom("outside-ledger"));
    // funded through the trait, as a program holding `Arc<dyn ChainBackend>` would
    let tx = admin_backend.fund_pool(10_000).await.unwrap();
    admin_backend.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(admin_backend.pool_balance().await.unwrap(), Some(10_000));
    let fixtures = Fixtures {
        owner: wrap(evm(1)),
        outsider: wrap(evm(2)),
        key_types: KeyType::ALL.to_vec(),
        claimants: default_claimants(ClaimFormat::OpenZeppelin, "wasm", [1; 32]).unwrap(),
        first_epoch: Epoch(0),
        seed: [1; 32],
        latest_root_only: true,
        fresh: true,
        oracle: Some(wrap(oracle())),
        other_registry: other_ledger
            .as_ref()
            .map(|l| Arc::new(l.handle(evm(1))) as Arc<dyn RegistryBackend>),
        quorum: Some(quorum),
    };
    let report = run_conformance(admin_backend, fixtures).await.unwrap();
    assert!(report.skipped.is_empty(), "{report:?}");

    let honest = wrap(admin());
    let lying = BackendConfig::Custom(CustomConfig::new("another-name", move || {
        let backend = Arc::clone(&honest);
        async move { Ok(backend) }
    }));
    match connect(&lying).await {
        Err(Error::Config(m)) => assert!(m.contains("another-name"), "{m}"),
        other => panic!("{:?}", other.map(|b| b.kind())),
    }
}

async fn run_mutant(m: Mutation) -> depin_chains::conformance::Failure {
    run_mutant_with(m, vec![KeyType::Ed25519]).await
}

async fn run_mutant_with(
    m: Mutation,
    key_types: Vec<KeyType>,
) -> depin_chains::conformance::Failure {
    let mut report = run_mutant_all(m, key_types).await;
    assert!(!report.failures.is_empty(), "{m:?} passed the suite");
    report.failures.remove(0)
}

/// Every failure the suite reports for a backend breaking two independent rules: the
/// P-256 registrations (the other key types still checked, revocation skipped) and the
/// double claim (the rewards section still run).
#[tokio::test]
async fn every_broken_rule_is_reported_not_only_the_first() {
    let report = run_mutant_all(Mutation::TwoRules, KeyType::ALL.to_vec()).await;
    let failed: Vec<(&str, Option<KeyType>)> = report
        .failures
        .iter()
        .map(|f| (f.check, f.key_type))
        .collect();
    assert_eq!(
        failed,
        vec![
            (
                "registration past its deadline is Expired",
                Some(KeyType::P256)
            ),
            ("double claim is AlreadyClaimed", None),
        ],
        "{report:?}"
    );
    // the other key types passed their registration checks
    let passed: Vec<KeyType> = report.by_key_type.iter().map(|(k, _)| *k).collect();
    assert_eq!(passed, vec![KeyType::Ed25519, KeyType::Secp256k1]);
    assert!(report
        .skipped
        .contains(&"revocation (a registration failed)"));
}

async fn run_mutant_all(m: Mutation, key_types: Vec<KeyType>) -> depin_chains::conformance::Report {
    let dir = tempfile::tempdir().unwrap();
    // separate admin and oracle accounts, as the suite checks the roles apart
    let ledger = open(
        &dir.path().join("l.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    // a second ledger of the same network: proofs made for it must not register here
    let other_ledger = Some(open(
        &dir.path().join("other.log"),
        genesis(ClaimFormat::OpenZeppelin),
    ));
    ledger.fund(&admin(), 10_000).unwrap();
    let racy = Arc::new(Mutex::new(Racy::default()));
    let (_quorum_ledger, quorum) = mutant_quorum(dir.path(), m, &racy);
    let wrap = |a: Account| -> Arc<dyn ChainBackend> {
        Arc::new(Mutant {
            inner: ledger.handle(a),
            m,
            racy: Arc::clone(&racy),
            oracle: ledger.handle(oracle()),
            admin: ledger.handle(admin()),
            other: other_ledger.as_ref().map(|l| l.handle(evm(1))),
            quorum_only: false,
        })
    };
    let fixtures = Fixtures {
        owner: wrap(evm(1)),
        outsider: wrap(evm(2)),
        key_types,
        claimants: default_claimants(ClaimFormat::OpenZeppelin, "wasm", [1; 32]).unwrap(),
        first_epoch: Epoch(0),
        seed: [1; 32],
        // the option must not matter for a cumulative distributor: the any-root mutant is caught
        latest_root_only: m != Mutation::AnyPublishedRoot,
        fresh: true,
        oracle: Some(wrap(oracle())),
        other_registry: other_ledger
            .as_ref()
            .map(|l| Arc::new(l.handle(evm(1))) as Arc<dyn RegistryBackend>),
        quorum: Some(quorum),
    };
    run_conformance_all(wrap(admin()), fixtures).await
}

#[tokio::test]
async fn suite_catches_each_broken_rule_at_its_check() {
    for (m, check) in [
        (
            Mutation::SwallowDoubleClaim,
            "double claim is AlreadyClaimed",
        ),
        (
            Mutation::IgnoreRootConflict,
            "a different root or total for a published epoch is EpochAlreadyPublished",
        ),
        (
            Mutation::RevocationInvisible,
            "owner revokes; lookup shows the device inactive",
        ),
        (
            Mutation::SkipProofCheck,
            "registration signed by another key is InvalidProof",
        ),
        (
            Mutation::RacyClaims,
            "concurrent copies of one claim pay it once",
        ),
        (
            Mutation::ReceiptForAnyHandle,
            "the receipt of a transaction never sent is NotFound",
        ),
        (
            Mutation::OwnerNotBound,
            "a device's proof for its owner does not register it under another account",
        ),
        (
            Mutation::AdminPublishes,
            "the admin (without the oracle role) publishing a root is Unauthorized",
        ),
        (
            Mutation::FundingLost,
            "funding the pool through the trait adds exactly the amount",
        ),
        (
            Mutation::AnyoneApprovesMakers,
            "a maker approved or revoked by a non-admin is Unauthorized",
        ),
        (
            Mutation::SuspensionIgnored,
            "a revoked maker onboards nothing, and suspension stops its devices",
        ),
        (
            Mutation::AnyPublishedRoot,
            "a proof against a root two publications back is InvalidProof",
        ),
        (
            Mutation::ForeignRegistry,
            "registration signed for another registry is InvalidProof",
        ),
        (
            Mutation::QuorumSignaturesUnchecked,
            "quorum: fewer signatures than the threshold are Unauthorized",
        ),
    ] {
        let failure = run_mutant(m).await;
        assert_eq!(failure.check, check, "{m:?}: {failure}");
    }
}

/// A failure of a per-key-type check names the key type: here P-256, after Ed25519 and
/// secp256k1 passed.
#[tokio::test]
async fn a_failure_names_its_key_type() {
    let failure = run_mutant_with(Mutation::RefusesP256, KeyType::ALL.to_vec()).await;
    assert_eq!(failure.key_type, Some(KeyType::P256), "{failure}");
    // the first P-256 check where refusing everything shows: an expired registration
    // must be Expired, not InvalidProof
    assert_eq!(failure.check, "registration past its deadline is Expired");
    assert!(failure.to_string().contains("P256"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_pay_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("l.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    ledger.fund(&admin(), 1_000).unwrap();
    let tree = ClaimTree::new(
        ClaimFormat::OpenZeppelin,
        vec![(evm(5), 300), (evm(6), 400)],
    )
    .unwrap();
    ledger
        .handle(oracle())
        .publish_root(&EpochRoot {
            epoch: Epoch(1),
            root: tree.root(),
            total: 700,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..32u8 {
        let h: Arc<dyn ChainBackend> = Arc::new(ledger.handle(evm(100 + i)));
        let claim = tree.claim_for(&evm(5 + i % 2)).unwrap();
        tasks.push(tokio::spawn(async move { h.claim(&claim).await }));
    }
    let mut paid = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => paid += 1,
            Err(Error::AlreadyClaimed { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((paid, refused), (2, 30));
    let h = ledger.handle(admin());
    assert_eq!(h.pool_balance().await.unwrap(), Some(300));
    assert_eq!(h.token_balance(&evm(5)).await.unwrap(), Some(300));
    assert_eq!(h.token_balance(&evm(6)).await.unwrap(), Some(400));
    assert_eq!(ledger.len().unwrap(), 4); // fund, publish, two claims
}
