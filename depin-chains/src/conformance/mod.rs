//! The conformance suite: one set of behavioural checks every [`ChainBackend`] must pass,
//! run unchanged against the local ledger, EVM (anvil) and Cosmos.
//!
//! ```no_run
//! # async fn demo(admin: std::sync::Arc<dyn depin_chains::ChainBackend>,
//! #               owner: std::sync::Arc<dyn depin_chains::ChainBackend>,
//! #               outsider: std::sync::Arc<dyn depin_chains::ChainBackend>) {
//! use depin_chains::conformance::{default_claimants, run_conformance, Fixtures};
//! use depin_core::{Epoch, KeyType};
//! let fixtures = Fixtures {
//!     owner,
//!     outsider,
//!     key_types: vec![KeyType::Secp256k1],
//!     claimants: default_claimants(admin.claim_format(), "wasm", [7; 32]).unwrap(),
//!     first_epoch: Epoch(1),
//!     seed: [7; 32],
//!     latest_root_only: true,
//!     fresh: true,
//!     oracle: None,
//!     other_registry: None,
//!     quorum: None,
//! };
//! let report = run_conformance(admin, fixtures).await.unwrap();
//! println!("{} checks passed", report.checks.len());
//! # }
//! ```
//!
//! The `backend` argument must hold the network admin role (revokes any device) and, unless
//! [`Fixtures::oracle`] gives a separate handle for it, the oracle role (publishes roots);
//! if it models a funded pool, the pool must hold at least [`MIN_POOL`] base units. The suite uses epochs `first_epoch ..= first_epoch + 3`.
//!
//! Claim trees are built in the backend's own [`crate::DistributorBackend::claim_format`] (for EVM, bound
//! to its chain id and distributor), and every published `total` is the true sum of the tree's
//! cumulative amounts. The suite never lowers an account, so that sum is also the sum over the
//! tree of `max(cumulative, claimed)`, the total the EVM distributor requires (never below what
//! was already paid).
//!
//! Registrations are signed with a deadline [`REGISTRATION_LIFETIME`] (7 days) after the local
//! clock ([`registration_deadline`]): well inside the EVM registry's 30-day cap on permit
//! deadlines, and valid on every backend.
//!
//! Older roots: whether a proof against the root *just before* the latest one still pays
//! depends on the backend's grace period (the EVM distributor accepts it for one day after the
//! latest publication, unless the grace period was closed), so the suite does not check that
//! case. With [`Fixtures::latest_root_only`] it
//! checks what holds everywhere: a proof against a root two publications back is
//! [`Error::InvalidProof`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use depin_core::{DeviceId, Epoch, EvmAddress, KeyType, NetworkId, SigningKey};
use sha2::{Digest, Sha256};

mod quorum;

pub use quorum::QuorumFixture;

use crate::backend::{ChainBackend, RegistryBackend};
use crate::claims::ClaimTree;
use crate::error::Error;
use crate::makers::{Maker, MakerAttestation, OnMakerRevoked, TrustLevel};
use crate::types::{
    Account, Claim, ClaimFormat, DeviceRegistration, EpochRoot, PublishOutcome, Receipt,
    RegistrationChallenge, RegistrationProof, TxHandle, TxStatus,
};

/// Smallest pool (base units) the suite needs when the backend models one.
pub const MIN_POOL: u128 = 1_000;
/// How long after the local clock the suite's registration deadlines lie (7 days, in seconds):
/// inside the EVM registry's 30-day `MAX_PERMIT_LIFETIME` with a wide margin for clock skew.
pub const REGISTRATION_LIFETIME: u64 = 7 * 24 * 3600;

/// The deadline (unix seconds) the suite signs registrations with: the local clock plus
/// [`REGISTRATION_LIFETIME`]. (A clock before 1970 counts as 1970.)
pub fn registration_deadline() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_add(REGISTRATION_LIFETIME)
}

/// What the suite needs besides the admin/oracle handle.
pub struct Fixtures {
    /// A handle on the same chain acting as an account with no roles; it owns the devices the
    /// suite registers.
    pub owner: Arc<dyn ChainBackend>,
    /// A handle on the same chain acting as an account with no roles and no devices.
    pub outsider: Arc<dyn ChainBackend>,
    /// Key types the backend can register (the suite registers one device of each, plus a
    /// second of the first type). Must not be empty.
    pub key_types: Vec<KeyType>,
    /// At least four distinct accounts in the backend's [`ClaimFormat`] that have claimed
    /// nothing yet.
    pub claimants: Vec<Account>,
    /// First epoch the suite publishes; must be above any epoch already published.
    pub first_epoch: Epoch,
    /// Seed for the device keys (change it to run the suite twice on one chain).
    pub seed: [u8; 32],
    /// The distributor verifies claims only against its latest root, or also the previous one
    /// for a grace period, never anything older (the EVM distributor accepts the previous root
    /// for one day after a publication). Then a proof against a root two publications back is
    /// checked to be refused with [`Error::InvalidProof`]. For the cumulative OpenZeppelin
    /// formats that check runs whatever this says (an old root may pay a total a later root
    /// corrected); `false` only spares cw20-merkle-airdrop distributors, whose stages stay
    /// claimable.
    pub latest_root_only: bool,
    /// Nothing was published before the suite runs: checks that a claim gives `NoRoot`.
    pub fresh: bool,
    /// A handle holding the oracle role only, when the backend gives it to another account
    /// than the admin's: the suite then publishes with it and checks that each role is
    /// refused the other's actions (the admin publishing a root, the oracle revoking
    /// another owner's device: both `Unauthorized`). `None`: the main handle holds both
    /// roles and those checks are skipped.
    pub oracle: Option<Arc<dyn ChainBackend>>,
    /// A handle, as the same account as [`Fixtures::owner`], on a second registry of the same
    /// kind on the same chain and network (another ledger, another deployment of the
    /// contract), when one can be had: the suite then signs each registration for that
    /// registry and checks that the backend under test refuses it. `None`: that check is
    /// skipped (proofs for another network, chain, verifying contract and format are checked
    /// either way).
    pub other_registry: Option<Arc<dyn RegistryBackend>>,
    /// A second distributor of the backend with an oracle set in effect, when the backend
    /// takes roots from oracle quorums: the suite then checks that only a threshold of the
    /// set's signatures publishes and that every forged quorum is refused with the same
    /// error on every backend ([`QuorumFixture`]). `None`: that section is skipped.
    pub quorum: Option<QuorumFixture>,
}

/// The checks that passed, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Names of the passed checks (the registration checks once, as they ran for the first
    /// key type).
    pub checks: Vec<&'static str>,
    /// The registration checks each key type passed, per key type (in
    /// [`Fixtures::key_types`] order).
    pub by_key_type: Vec<(KeyType, Vec<&'static str>)>,
    /// Features the backend does not model, so their checks were skipped (and sections
    /// not run because an earlier one they build on failed).
    pub skipped: Vec<&'static str>,
    /// Every failure, in the order the checks ran ([`run_conformance_all`]): at most one
    /// per key type's registration and one per later section (revocation, funding,
    /// rewards, roles), as each section stops at its first failure.
    pub failures: Vec<Failure>,
}

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "conformance check `{check}`{} failed: {detail}",
    key_type.map(|k| format!(" for {k:?} keys")).unwrap_or_default()
)]
pub struct Failure {
    /// The check's name.
    pub check: &'static str,
    /// The key type it failed for, for the checks run per key type.
    pub key_type: Option<KeyType>,
    /// What happened instead.
    pub detail: String,
}

type Outcome<T> = core::result::Result<T, Failure>;

fn fail<T>(check: &'static str, detail: impl Into<String>) -> Outcome<T> {
    Err(Failure {
        check,
        key_type: None,
        detail: detail.into(),
    })
}

/// Unwrap a result that must succeed.
fn ok<T>(check: &'static str, r: crate::Result<T>) -> Outcome<T> {
    r.map_err(|e| Failure {
        check,
        key_type: None,
        detail: format!("unexpected error: {e}"),
    })
}

/// Check that a result is an error matching `pred`.
fn expect_err<T: core::fmt::Debug>(
    check: &'static str,
    r: crate::Result<T>,
    what: &str,
    pred: impl Fn(&Error) -> bool,
) -> Outcome<()> {
    match r {
        Err(e) if pred(&e) => Ok(()),
        Err(e) => fail(check, format!("expected {what}, got error {e:?}")),
        Ok(v) => fail(check, format!("expected {what}, got success {v:?}")),
    }
}

/// Deterministic device key number `index` of type `key_type` for `seed`.
pub fn device_key(seed: &[u8; 32], key_type: KeyType, index: u32) -> crate::Result<SigningKey> {
    let mut counter = 0u32;
    loop {
        let mut h = Sha256::new();
        h.update(b"depin-chains conformance device");
        h.update(seed);
        h.update([key_type.tag()]);
        h.update(index.to_be_bytes());
        h.update(counter.to_be_bytes());
        let secret: [u8; 32] = h.finalize().into();
        match SigningKey::from_secret_bytes(key_type, &secret) {
            Ok(k) => return Ok(k),
            // a scalar out of range has probability ~2^-128; try the next counter
            Err(_) if counter < 8 => counter += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Four deterministic claimant accounts for `format` (cw20 accounts use bech32 `prefix`).
pub fn default_claimants(
    format: ClaimFormat,
    prefix: &str,
    seed: [u8; 32],
) -> crate::Result<Vec<Account>> {
    (0u8..4)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(b"depin-chains conformance claimant");
            h.update(seed);
            h.update([i]);
            let d: [u8; 32] = h.finalize().into();
            let mut id = [0u8; 20];
            id.copy_from_slice(&d[..20]);
            match format {
                ClaimFormat::OpenZeppelin | ClaimFormat::OpenZeppelinBound { .. } => {
                    Ok(Account::Evm(EvmAddress(id)))
                }
                ClaimFormat::Cw20MerkleAirdrop => {
                    let hrp = bech32::Hrp::parse(prefix)
                        .map_err(|_| Error::InvalidInput(format!("bad prefix {prefix}")))?;
                    let s = bech32::encode::<bech32::Bech32>(hrp, &id)
                        .map_err(|e| Error::InvalidInput(e.to_string()))?;
                    Account::cosmos(&s)
                }
            }
        })
        .collect()
}

async fn receipt_ok(
    check: &'static str,
    backend: &Arc<dyn ChainBackend>,
    tx: TxHandle,
) -> Outcome<u64> {
    let receipt = ok(check, backend.wait_for_receipt(&tx).await)?;
    if receipt.tx != tx {
        return fail(check, format!("receipt for {} not {tx}", receipt.tx));
    }
    match receipt.status {
        TxStatus::Success => Ok(receipt.block),
        other => fail(check, format!("transaction status {other:?}")),
    }
}

/// Run every check against `backend` (which holds the admin and oracle roles).
pub async fn run_conformance(backend: Arc<dyn ChainBackend>, fx: Fixtures) -> Outcome<Report> {
    let mut report = run_conformance_all(backend, fx).await;
    if report.failures.is_empty() {
        Ok(report)
    } else {
        Err(report.failures.remove(0))
    }
}

/// [`run_conformance`], going on after a failure: each key type's registration checks,
/// and then each later section (revocation, funding, rewards, roles), run whatever failed
/// before them (a section that builds on a failed one is listed in [`Report::skipped`]),
/// and every failure is in [`Report::failures`], in order. A section stops at its first
/// failure (its later checks depend on the state the failed one should have left).
pub async fn run_conformance_all(backend: Arc<dyn ChainBackend>, fx: Fixtures) -> Report {
    let mut report = Report::default();
    if let Err(f) = setup_checks(&backend, &fx) {
        report.failures.push(f);
        return report;
    }
    if let Err(f) = registration(&backend, &fx, &mut report).await {
        report.failures.push(f);
    }
    let oracle = match &fx.oracle {
        Some(o) => Arc::clone(o),
        None => {
            report.skipped.push("separate admin and oracle roles");
            Arc::clone(&backend)
        }
    };
    if let Err(f) = makers(&backend, &fx, &mut report).await {
        report.failures.push(f);
    }
    if let Err(f) = funding(&backend, &mut report).await {
        report.failures.push(f);
    }
    if let Err(f) = rewards(&oracle, &fx, &mut report).await {
        report.failures.push(f);
    }
    if fx.oracle.is_some() {
        if let Err(f) = roles(&backend, &oracle, &fx, &mut report).await {
            report.failures.push(f);
        }
    }
    match &fx.quorum {
        Some(q) => {
            if let Err(f) = quorum::quorum(q, &mut report).await {
                report.failures.push(f);
            }
        }
        None => report.skipped.push("oracle quorums"),
    }
    report
}

/// Funding through the trait ([`crate::DistributorBackend::fund_pool`], by the admin handle): the pool
/// grows by the amount. Skipped where the backend models no pool or funds it otherwise.
async fn funding(admin: &Arc<dyn ChainBackend>, report: &mut Report) -> Outcome<()> {
    const FUND: &str = "funding the pool through the trait adds exactly the amount";
    let Some(before) = ok(FUND, admin.pool_balance().await)? else {
        report.skipped.push("funding the pool through the trait");
        return Ok(());
    };
    match admin.fund_pool(7).await {
        Ok(tx) => {
            receipt_ok(FUND, admin, tx).await?;
        }
        Err(Error::Unsupported(_)) => {
            report.skipped.push("funding the pool through the trait");
            return Ok(());
        }
        Err(e) => return fail(FUND, format!("unexpected error: {e}")),
    }
    let after = ok(FUND, admin.pool_balance().await)?;
    if after != before.checked_add(7) {
        return fail(
            FUND,
            format!("pool went {before} -> {after:?}, expected +7"),
        );
    }
    report.checks.push(FUND);
    Ok(())
}

/// With separate roles: the admin may not publish, the oracle may not revoke another
/// owner's device.
async fn roles(
    admin: &Arc<dyn ChainBackend>,
    oracle: &Arc<dyn ChainBackend>,
    fx: &Fixtures,
    report: &mut Report,
) -> Outcome<()> {
    const ADMIN_PUBLISH: &str =
        "the admin (without the oracle role) publishing a root is Unauthorized";
    let format = oracle.claim_format();
    let [a, ..] = match fx.claimants.get(..1) {
        Some([a]) => [a],
        _ => return fail("fixtures", "need claimants"),
    };
    let e = Epoch(fx.first_epoch.0 + 3);
    let later = Epoch(e.0.saturating_add(1));
    let t = tree(ADMIN_PUBLISH, format, &[(a, 1_000_000)])?;
    let root = epoch_root(ADMIN_PUBLISH, later, &t)?;
    expect_err(
        ADMIN_PUBLISH,
        admin.publish_root(&root).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    if ok(ADMIN_PUBLISH, oracle.epoch_root(later).await)?.is_some() {
        return fail(ADMIN_PUBLISH, "the root was stored despite the refusal");
    }
    report.checks.push(ADMIN_PUBLISH);

    const ORACLE_REVOKE: &str =
        "the oracle (without the admin role) revoking another owner's device is Unauthorized";
    let key = ok(ORACLE_REVOKE, device_key(&fx.seed, fx.key_types[0], 7000))?;
    let device = DeviceId::from(key.public_key());
    let owner = fx
        .owner
        .account()
        .unwrap_or(Account::Evm(EvmAddress([0; 20])));
    let reg = DeviceRegistration::new(device, owner, b"roles".to_vec(), registration_deadline());
    let tx = ok(
        ORACLE_REVOKE,
        fx.owner.register_with_signer(&reg, &key).await,
    )?;
    receipt_ok(ORACLE_REVOKE, &fx.owner, tx).await?;
    expect_err(
        ORACLE_REVOKE,
        oracle.revoke_device(&device).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    if !ok(ORACLE_REVOKE, admin.device(&device).await)?.active {
        return fail(ORACLE_REVOKE, "the device was revoked despite the refusal");
    }
    report.checks.push(ORACLE_REVOKE);
    Ok(())
}

/// Makers ([`crate::makers`]), where the backend has them (the section is skipped when
/// [`crate::RegistryBackend::approve_maker`] is [`Error::Unsupported`]). Maker keys are secp256k1 (every
/// chain that has makers can check them); devices are one of each key type (all three, also
/// those the backend cannot register by themselves: a backend with makers must onboard every
/// key type), onboarded by the owner handle.
async fn makers(admin: &Arc<dyn ChainBackend>, fx: &Fixtures, report: &mut Report) -> Outcome<()> {
    const APPROVE: &str = "the admin approves a maker, and its record reads back";
    let key = |i: u32| ok(APPROVE, device_key(&fx.seed, KeyType::Secp256k1, 9000 + i));
    let (maker, small, impostor) = (key(0)?, key(1)?, key(2)?);
    let maker_id = DeviceId::from(maker.public_key());
    let approved = Maker::new(maker_id, "conformance maker", 100);
    let tx = match admin.approve_maker(&approved).await {
        Err(Error::Unsupported(_)) => {
            report.skipped.push("makers");
            return Ok(());
        }
        r => ok(APPROVE, r)?,
    };
    receipt_ok(APPROVE, admin, tx).await?;
    let record = ok(APPROVE, admin.maker(&maker_id).await)?;
    if record.maker != approved || record.onboarded != 0 || !record.active {
        return fail(APPROVE, format!("read back {record:?}"));
    }
    report.checks.push(APPROVE);

    const NOT_ADMIN: &str = "a maker approved or revoked by a non-admin is Unauthorized";
    let other = Maker::new(DeviceId::from(impostor.public_key()), "self-approved", 100);
    for who in [&fx.owner, &fx.outsider] {
        expect_err(
            NOT_ADMIN,
            who.approve_maker(&other).await,
            "Unauthorized",
            |e| matches!(e, Error::Unauthorized(_)),
        )?;
        expect_err(
            NOT_ADMIN,
            who.revoke_maker(&maker_id, OnMakerRevoked::SuspendDevices)
                .await,
            "Unauthorized",
            |e| matches!(e, Error::Unauthorized(_)),
        )?;
    }
    report.checks.push(NOT_ADMIN);

    let owner = fx
        .owner
        .account()
        .unwrap_or(Account::Evm(EvmAddress([0; 20])));
    let deadline = registration_deadline();
    let mut onboarded = Vec::new();
    const ONBOARD: &str =
        "a device of each key type onboarded through its maker records the maker and trust";
    const FORGED: &str =
        "an attestation forged, moved to another owner, or by an unapproved maker is refused";
    // every key type: onboarding is how a chain takes devices whose keys it cannot check
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let device = ok(ONBOARD, device_key(&fx.seed, kt, 9100 + i as u32))?;
        let id = DeviceId::from(device.public_key());
        let reg = DeviceRegistration::new(id, owner.clone(), b"made".to_vec(), deadline);
        let c = ok(
            ONBOARD,
            fx.owner.onboarding_challenge(&reg, &maker_id).await,
        )?;
        let (att, proof) = (
            ok(ONBOARD, c.attest(&maker))?,
            ok(ONBOARD, c.device_proof(&device))?,
        );
        // forged: an unapproved key signing for the maker's id; moved: another owner
        let forged = MakerAttestation {
            maker: maker_id,
            signature: ok(FORGED, c.attest(&impostor))?.signature,
        };
        expect_err(
            FORGED,
            fx.owner
                .onboard_device(&reg, &forged, proof.as_ref(), None)
                .await,
            "InvalidProof",
            |e| matches!(e, Error::InvalidProof),
        )?;
        let mut moved = reg.clone();
        moved.owner = fx
            .outsider
            .account()
            .unwrap_or(Account::Evm(EvmAddress([1; 20])));
        expect_err(
            FORGED,
            fx.outsider
                .onboard_device(&moved, &att, proof.as_ref(), None)
                .await,
            "InvalidProof",
            |e| matches!(e, Error::InvalidProof),
        )?;
        let unapproved = ok(FORGED, c.attest(&impostor))?;
        expect_err(
            FORGED,
            fx.owner
                .onboard_device(&reg, &unapproved, proof.as_ref(), None)
                .await,
            "NotFound or Unauthorized",
            |e| matches!(e, Error::NotFound(_) | Error::Unauthorized(_)),
        )?;
        let tx = ok(
            ONBOARD,
            fx.owner
                .onboard_device(&reg, &att, proof.as_ref(), None)
                .await,
        )?;
        receipt_ok(ONBOARD, &fx.owner, tx).await?;
        let r = ok(ONBOARD, admin.device(&id).await)?;
        if !r.active
            || r.owner != owner
            || r.trust.maker != Some(maker_id)
            || r.trust.level != TrustLevel::Maker
        {
            return fail(ONBOARD, format!("{kt:?} device recorded as {r:?}"));
        }
        expect_err(
            ONBOARD,
            fx.owner
                .onboard_device(&reg, &att, proof.as_ref(), None)
                .await,
            "AlreadyRegistered",
            |e| matches!(e, Error::AlreadyRegistered(_)),
        )?;
        onboarded.push(id);
    }
    let count = ok(ONBOARD, admin.maker(&maker_id).await)?.onboarded;
    if count != onboarded.len() as u64 {
        return fail(
            ONBOARD,
            format!("maker counts {count} devices, not {}", onboarded.len()),
        );
    }
    report.checks.push(ONBOARD);
    report.checks.push(FORGED);

    const QUOTA: &str = "a maker over its quota onboards nothing";
    let small_id = DeviceId::from(small.public_key());
    let tx = ok(
        QUOTA,
        admin
            .approve_maker(&Maker::new(small_id, "one only", 1))
            .await,
    )?;
    receipt_ok(QUOTA, admin, tx).await?;
    let kt = fx.key_types[0];
    for n in 0..2u32 {
        let device = ok(QUOTA, device_key(&fx.seed, kt, 9200 + n))?;
        let reg = DeviceRegistration::new(
            DeviceId::from(device.public_key()),
            owner.clone(),
            b"q".to_vec(),
            deadline,
        );
        let c = ok(QUOTA, fx.owner.onboarding_challenge(&reg, &small_id).await)?;
        let r = fx
            .owner
            .onboard_device(
                &reg,
                &ok(QUOTA, c.attest(&small))?,
                ok(QUOTA, c.device_proof(&device))?.as_ref(),
                None,
            )
            .await;
        if n == 0 {
            receipt_ok(QUOTA, &fx.owner, ok(QUOTA, r)?).await?;
        } else {
            expect_err(QUOTA, r, "QuotaExceeded", |e| {
                matches!(e, Error::QuotaExceeded { quota: 1, .. })
            })?;
        }
    }
    report.checks.push(QUOTA);

    const REVOKED: &str = "a revoked maker onboards nothing, and suspension stops its devices";
    let tx = ok(
        REVOKED,
        admin
            .revoke_maker(&maker_id, OnMakerRevoked::SuspendDevices)
            .await,
    )?;
    receipt_ok(REVOKED, admin, tx).await?;
    let r = ok(REVOKED, admin.maker(&maker_id).await)?;
    if r.active || !r.devices_suspended {
        return fail(REVOKED, format!("revoked maker reads {r:?}"));
    }
    for id in &onboarded {
        if ok(REVOKED, admin.device(id).await)?.active {
            return fail(
                REVOKED,
                format!("device {id} of a suspended maker is still active"),
            );
        }
    }
    let device = ok(REVOKED, device_key(&fx.seed, kt, 9300))?;
    let reg = DeviceRegistration::new(
        DeviceId::from(device.public_key()),
        owner.clone(),
        b"late".to_vec(),
        deadline,
    );
    let c = ok(
        REVOKED,
        fx.owner.onboarding_challenge(&reg, &maker_id).await,
    )?;
    expect_err(
        REVOKED,
        fx.owner
            .onboard_device(
                &reg,
                &ok(REVOKED, c.attest(&maker))?,
                ok(REVOKED, c.device_proof(&device))?.as_ref(),
                None,
            )
            .await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    expect_err(
        REVOKED,
        admin
            .revoke_maker(&maker_id, OnMakerRevoked::KeepDevices)
            .await,
        "AlreadyRevoked",
        |e| matches!(e, Error::AlreadyRevoked(_)),
    )?;
    report.checks.push(REVOKED);
    Ok(())
}

fn setup_checks(backend: &Arc<dyn ChainBackend>, fx: &Fixtures) -> Outcome<()> {
    const C: &str = "fixtures";
    if fx.key_types.is_empty() {
        return fail(C, "key_types is empty");
    }
    if fx.claimants.len() < 4 {
        return fail(C, "need at least four claimants");
    }
    let (Some(admin), Some(owner), Some(outsider)) =
        (backend.account(), fx.owner.account(), fx.outsider.account())
    else {
        return fail(C, "every handle must act as an account");
    };
    if admin == owner || admin == outsider || owner == outsider {
        return fail(C, "admin, owner and outsider must be different accounts");
    }
    if fx.first_epoch.0.checked_add(3).is_none() {
        return fail(C, "first_epoch too large");
    }
    Ok(())
}

async fn registration(
    admin: &Arc<dyn ChainBackend>,
    fx: &Fixtures,
    report: &mut Report,
) -> Outcome<()> {
    let owner_account = fx
        .owner
        .account()
        .unwrap_or(Account::Evm(EvmAddress([0; 20])));
    let outsider_account = fx
        .outsider
        .account()
        .unwrap_or(Account::Evm(EvmAddress([0; 20])));
    // one device per key type, plus a second one of the first type
    let mut keys = Vec::new();
    for (i, kt) in fx.key_types.iter().enumerate() {
        keys.push(ok(
            "derive device keys",
            device_key(&fx.seed, *kt, i as u32),
        )?);
    }
    let first = fx.key_types[0];
    keys.push(ok("derive device keys", device_key(&fx.seed, first, 1000))?);

    if fx.other_registry.is_none() {
        report
            .skipped
            .push("registration signed for another registry (no other registry given)");
    }
    let deadline = registration_deadline();
    let mut registered: Vec<DeviceId> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let kt = key.key_type();
        let (device, names) = match register_one(
            admin,
            fx,
            key,
            i,
            &owner_account,
            &outsider_account,
            deadline,
        )
        .await
        {
            Ok(done) => done,
            Err(mut f) => {
                // the other key types are still checked
                f.key_type = Some(kt);
                report.failures.push(f);
                continue;
            }
        };
        registered.push(device);
        if i == 0 {
            report.checks.extend(names.iter().copied());
        }
        match report.by_key_type.iter_mut().find(|(k, _)| *k == kt) {
            Some((_, done)) => {
                for n in names {
                    if !done.contains(&n) {
                        done.push(n);
                    }
                }
            }
            None => report.by_key_type.push((kt, names)),
        }
    }

    // revocation, on the devices registered above: only if they all were
    if registered.len() != keys.len() {
        report.skipped.push("revocation (a registration failed)");
        return Ok(());
    }
    let (Some(by_owner), Some(by_admin)) = (registered.first(), registered.last()) else {
        return fail("revocation", "no device registered");
    };
    const OUTSIDER_REVOKE: &str = "revocation by an outsider is Unauthorized";
    expect_err(
        OUTSIDER_REVOKE,
        fx.outsider.revoke_device(by_owner).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    const OWNER_REVOKE: &str = "owner revokes; lookup shows the device inactive";
    let tx = ok(OWNER_REVOKE, fx.owner.revoke_device(by_owner).await)?;
    receipt_ok(OWNER_REVOKE, &fx.owner, tx).await?;
    let rec = ok(OWNER_REVOKE, admin.device(by_owner).await)?;
    if rec.active {
        return fail(OWNER_REVOKE, "device still active after revocation");
    }
    const REVOKE_TWICE: &str = "second revocation is AlreadyRevoked";
    expect_err(
        REVOKE_TWICE,
        fx.owner.revoke_device(by_owner).await,
        "AlreadyRevoked",
        |e| matches!(e, Error::AlreadyRevoked(_)),
    )?;
    const REREGISTER: &str = "re-registering a revoked device is AlreadyRegistered";
    let key0 = &keys[0];
    let reg0 = DeviceRegistration::new(
        *by_owner,
        owner_account.clone(),
        b"again".to_vec(),
        deadline,
    );
    expect_err(
        REREGISTER,
        fx.owner.register_with_signer(&reg0, key0).await,
        "AlreadyRegistered",
        |e| matches!(e, Error::AlreadyRegistered(_)),
    )?;
    const ADMIN_REVOKE: &str = "admin revokes another owner's device";
    let tx = ok(ADMIN_REVOKE, admin.revoke_device(by_admin).await)?;
    receipt_ok(ADMIN_REVOKE, admin, tx).await?;
    if ok(ADMIN_REVOKE, admin.device(by_admin).await)?.active {
        return fail(ADMIN_REVOKE, "device still active after admin revocation");
    }
    const REVOKE_UNKNOWN: &str = "revoking an unknown device is NotFound";
    let unknown =
        DeviceId::from(ok(REVOKE_UNKNOWN, device_key(&fx.seed, first, 9999))?.public_key());
    expect_err(
        REVOKE_UNKNOWN,
        admin.revoke_device(&unknown).await,
        "NotFound",
        |e| matches!(e, Error::NotFound(_)),
    )?;
    report.checks.extend([
        OUTSIDER_REVOKE,
        OWNER_REVOKE,
        REVOKE_TWICE,
        REREGISTER,
        ADMIN_REVOKE,
        REVOKE_UNKNOWN,
    ]);
    Ok(())
}

fn tree(
    check: &'static str,
    format: ClaimFormat,
    entries: &[(&Account, u128)],
) -> Outcome<ClaimTree> {
    ok(
        check,
        ClaimTree::new(
            format,
            entries.iter().map(|(a, v)| ((*a).clone(), *v)).collect(),
        ),
    )
}

/// The root of `t` for `epoch`, with the true total: the sum of the tree's cumulative amounts.
/// Distributors may enforce it (the EVM distributor caps claims at it and refuses a total below
/// what was paid); the suite never lowers an account, so this equals the sum over the tree of
/// `max(cumulative, claimed)`.
fn epoch_root(check: &'static str, epoch: Epoch, t: &ClaimTree) -> Outcome<EpochRoot> {
    let total = t
        .entries()
        .iter()
        .try_fold(0u128, |sum, (_, v)| sum.checked_add(*v));
    match total {
        Some(total) => Ok(EpochRoot {
            epoch,
            root: t.root(),
            total,
        }),
        None => fail(check, "the tree's total overflows u128"),
    }
}

fn claim_of(check: &'static str, t: &ClaimTree, account: &Account) -> Outcome<Claim> {
    ok(check, t.claim_for(account))
}

async fn balances(
    check: &'static str,
    b: &Arc<dyn ChainBackend>,
    account: &Account,
) -> Outcome<(Option<u128>, Option<u128>)> {
    Ok((
        ok(check, b.pool_balance().await)?,
        ok(check, b.token_balance(account).await)?,
    ))
}

/// Claim and check that exactly `expected_paid` moved from the pool to the account.
async fn claim_pays(
    check: &'static str,
    submitter: &Arc<dyn ChainBackend>,
    claim: &Claim,
    expected_paid: u128,
) -> Outcome<()> {
    let before_claimed = ok(check, submitter.claimed(&claim.account).await)?;
    let (pool0, bal0) = balances(check, submitter, &claim.account).await?;
    let tx = ok(check, submitter.claim(claim).await)?;
    receipt_ok(check, submitter, tx).await?;
    let after_claimed = ok(check, submitter.claimed(&claim.account).await)?;
    if after_claimed != claim.cumulative_amount
        || after_claimed.checked_sub(before_claimed) != Some(expected_paid)
    {
        return fail(
            check,
            format!(
                "claimed went {before_claimed} -> {after_claimed}, expected +{expected_paid} to {}",
                claim.cumulative_amount
            ),
        );
    }
    let (pool1, bal1) = balances(check, submitter, &claim.account).await?;
    if let (Some(p0), Some(p1)) = (pool0, pool1) {
        if p0.checked_sub(p1) != Some(expected_paid) {
            return fail(
                check,
                format!("pool went {p0} -> {p1}, expected -{expected_paid}"),
            );
        }
    }
    if let (Some(b0), Some(b1)) = (bal0, bal1) {
        if b1.checked_sub(b0) != Some(expected_paid) {
            return fail(
                check,
                format!("balance went {b0} -> {b1}, expected +{expected_paid}"),
            );
        }
    }
    Ok(())
}

/// The registration checks of one device key (the `i`th), in order; the device and the
/// checks' names.
async fn register_one(
    admin: &Arc<dyn ChainBackend>,
    fx: &Fixtures,
    key: &SigningKey,
    i: usize,
    owner_account: &Account,
    outsider_account: &Account,
    deadline: u64,
) -> Outcome<(DeviceId, Vec<&'static str>)> {
    let device = DeviceId::from(key.public_key());
    let reg = DeviceRegistration::new(
        device,
        owner_account.clone(),
        format!("conformance device {i}").into_bytes(),
        deadline,
    );

    const LOOKUP_MISSING: &str = "lookup of an unregistered device is NotFound";
    expect_err(
        LOOKUP_MISSING,
        admin.device(&device).await,
        "NotFound",
        |e| matches!(e, Error::NotFound(_)),
    )?;

    // a proof by another key of the same type
    const WRONG_KEY: &str = "registration signed by another key is InvalidProof";
    let impostor = ok(
        WRONG_KEY,
        device_key(&fx.seed, key.key_type(), 5000 + i as u32),
    )?;
    let challenge = ok(WRONG_KEY, fx.owner.registration_challenge(&reg).await)?;
    let bad = ok(WRONG_KEY, challenge.sign(&impostor))?;
    expect_err(
        WRONG_KEY,
        fx.owner.register_device(&reg, &bad).await,
        "InvalidProof or Unauthorized",
        |e| matches!(e, Error::InvalidProof | Error::Unauthorized(_)),
    )?;

    // a proof by the right key over other data (different metadata)
    const OTHER_DATA: &str = "registration signed over other metadata is InvalidProof";
    let mut other = reg.clone();
    other.metadata = b"something else".to_vec();
    let other_challenge = ok(OTHER_DATA, fx.owner.registration_challenge(&other).await)?;
    let other_proof = ok(OTHER_DATA, other_challenge.sign(key))?;
    expect_err(
        OTHER_DATA,
        fx.owner.register_device(&reg, &other_proof).await,
        "InvalidProof",
        |e| matches!(e, Error::InvalidProof | Error::Unauthorized(_)),
    )?;

    // a registration whose deadline has passed
    const EXPIRED: &str = "registration past its deadline is Expired";
    let mut old = reg.clone();
    old.deadline = 1;
    let old_proof = ok(
        EXPIRED,
        ok(EXPIRED, fx.owner.registration_challenge(&old).await)?.sign(key),
    )?;
    expect_err(
        EXPIRED,
        fx.owner.register_device(&old, &old_proof).await,
        "Expired",
        |e| matches!(e, Error::Expired { .. }),
    )?;

    // the same registration signed for another network, for another chain, and in the
    // other proof format: each refused (domain separation)
    const FOREIGN: &str =
        "registration signed for another network or chain, or in another format, is InvalidProof";
    let challenge = ok(FOREIGN, fx.owner.registration_challenge(&reg).await)?;
    for foreign in foreign_proofs(FOREIGN, &challenge, key)? {
        expect_err(
            FOREIGN,
            fx.owner.register_device(&reg, &foreign).await,
            "InvalidProof (or the format Unsupported)",
            |e| {
                matches!(
                    e,
                    Error::InvalidProof
                        | Error::Unauthorized(_)
                        | Error::InvalidInput(_)
                        | Error::Unsupported(_)
                )
            },
        )?;
    }

    // the same registration signed for a second registry of the same network and chain
    const OTHER_REGISTRY: &str = "registration signed for another registry is InvalidProof";
    let mut other_registry_checked = false;
    if let Some(other) = &fx.other_registry {
        let theirs = ok(OTHER_REGISTRY, other.registration_challenge(&reg).await)?;
        if theirs == challenge {
            return fail(
                OTHER_REGISTRY,
                "the other registry gives the same challenge: nothing binds the registry",
            );
        }
        let proof = ok(OTHER_REGISTRY, theirs.sign(key))?;
        expect_err(
            OTHER_REGISTRY,
            fx.owner.register_device(&reg, &proof).await,
            "InvalidProof",
            |e| matches!(e, Error::InvalidProof | Error::Unauthorized(_)),
        )?;
        other_registry_checked = true;
    }

    // the device's proof for its owner, submitted by a relayer (the outsider) as a
    // registration under the relayer: the proof must bind the owner
    const OWNER_BOUND: &str =
        "a device's proof for its owner does not register it under another account";
    let for_owner = ok(
        OWNER_BOUND,
        ok(OWNER_BOUND, fx.owner.registration_challenge(&reg).await)?.sign(key),
    )?;
    let mut hijack = reg.clone();
    hijack.owner = outsider_account.clone();
    expect_err(
        OWNER_BOUND,
        fx.outsider.register_device(&hijack, &for_owner).await,
        "InvalidProof, Unauthorized or InvalidInput",
        |e| {
            matches!(
                e,
                Error::InvalidProof | Error::Unauthorized(_) | Error::InvalidInput(_)
            )
        },
    )?;
    expect_err(
        OWNER_BOUND,
        admin.device(&device).await,
        "NotFound (nothing registered)",
        |e| matches!(e, Error::NotFound(_)),
    )?;

    // the real registration
    const REGISTER: &str = "register with a valid device signature";
    let tx = ok(REGISTER, fx.owner.register_with_signer(&reg, key).await)?;
    receipt_ok(REGISTER, &fx.owner, tx).await?;

    const LOOKUP: &str = "lookup returns the registered device";
    let rec = ok(LOOKUP, admin.device(&device).await)?;
    if rec.device != device
        || rec.owner != *owner_account
        || rec.key_type != key.key_type()
        || rec.metadata_hash != reg.metadata_hash()
        || !rec.active
    {
        return fail(LOOKUP, format!("record {rec:?} does not match {reg:?}"));
    }

    const DOUBLE: &str = "double registration is AlreadyRegistered";
    expect_err(
        DOUBLE,
        fx.owner.register_with_signer(&reg, key).await,
        "AlreadyRegistered",
        |e| matches!(e, Error::AlreadyRegistered(_)),
    )?;
    let mut names = vec![LOOKUP_MISSING, WRONG_KEY, OTHER_DATA, EXPIRED, FOREIGN];
    if other_registry_checked {
        names.push(OTHER_REGISTRY);
    }
    names.extend([OWNER_BOUND, REGISTER, LOOKUP, DOUBLE]);
    Ok((device, names))
}

async fn rewards(
    oracle: &Arc<dyn ChainBackend>,
    fx: &Fixtures,
    report: &mut Report,
) -> Outcome<()> {
    let [a, b, c, d] = match fx.claimants.get(..4) {
        Some([a, b, c, d]) => [a, b, c, d],
        _ => return fail("fixtures", "need four claimants"),
    };
    let e0 = fx.first_epoch;
    let run = RewardsRun {
        oracle,
        fx,
        format: oracle.claim_format(),
        a,
        b,
        c,
        d,
        e0,
        e1: Epoch(e0.0 + 1),
        e2: Epoch(e0.0 + 2),
        e3: Epoch(e0.0 + 3),
    };
    run.pool(report).await?;
    let t0 = run.publication(report).await?;
    run.first_claims(&t0, report).await?;
    run.cumulative(report).await?;
    let (t3, pool_now, d_total) = run.gap(report).await?;
    run.old_roots_and_funds(&t0, &t3, pool_now, d_total, report)
        .await?;
    run.concurrency_and_receipts(&t3, report).await
}

/// What the rewards section works with: the oracle's handle, the fixtures, the claim format,
/// four claimants and the epochs `e0` (the fixtures' first) to `e0 + 3`.
#[derive(Clone, Copy)]
struct RewardsRun<'a> {
    oracle: &'a Arc<dyn ChainBackend>,
    fx: &'a Fixtures,
    format: ClaimFormat,
    a: &'a Account,
    b: &'a Account,
    c: &'a Account,
    d: &'a Account,
    e0: Epoch,
    e1: Epoch,
    e2: Epoch,
    e3: Epoch,
}

impl RewardsRun<'_> {
    /// The pool holds at least [`MIN_POOL`] (where the backend models one).
    async fn pool(&self, report: &mut Report) -> Outcome<()> {
        let RewardsRun { oracle, .. } = *self;
        const POOL: &str = "pool holds at least MIN_POOL";
        let pool = ok(POOL, oracle.pool_balance().await)?;
        match pool {
            Some(p) if p < MIN_POOL => return fail(POOL, format!("pool holds {p} < {MIN_POOL}")),
            Some(_) => report.checks.push(POOL),
            None => report.skipped.push("funded pool"),
        }
        Ok(())
    }

    /// Tree 0 (`a` 100, `b` 200, `c` 300): no root yet, publication refused to others, a zero
    /// root, then published once, idempotent, conflicting versions refused.
    async fn publication(&self, report: &mut Report) -> Outcome<ClaimTree> {
        let RewardsRun {
            oracle,
            fx,
            format,
            a,
            b,
            c,
            e0,
            ..
        } = *self;
        let t0 = tree("build tree 0", format, &[(a, 100), (b, 200), (c, 300)])?;

        if fx.fresh {
            const NO_ROOT: &str = "claim before any root is NoRoot";
            let claim = claim_of(NO_ROOT, &t0, a)?;
            expect_err(NO_ROOT, fx.outsider.claim(&claim).await, "NoRoot", |e| {
                matches!(e, Error::NoRoot)
            })?;
            report.checks.push(NO_ROOT);
        }

        let root0 = epoch_root("build tree 0", e0, &t0)?;
        const UNAUTH_PUBLISH: &str = "root publication by a non-oracle is Unauthorized";
        for who in [&fx.outsider, &fx.owner] {
            expect_err(
                UNAUTH_PUBLISH,
                who.publish_root(&root0).await,
                "Unauthorized",
                |e| matches!(e, Error::Unauthorized(_)),
            )?;
        }
        if ok(UNAUTH_PUBLISH, oracle.epoch_root(e0).await)?.is_some() {
            return fail(UNAUTH_PUBLISH, "root stored despite the refusal");
        }
        const ZERO_ROOT: &str = "publishing a zero root is InvalidInput";
        expect_err(
            ZERO_ROOT,
            oracle
                .publish_root(&EpochRoot {
                    root: [0; 32],
                    ..root0
                })
                .await,
            "InvalidInput",
            |e| matches!(e, Error::InvalidInput(_)),
        )?;

        const PUBLISH: &str = "oracle publishes a root; epoch_root returns it";
        match ok(PUBLISH, oracle.publish_root(&root0).await)? {
            PublishOutcome::Published(tx) => {
                receipt_ok(PUBLISH, oracle, tx).await?;
            }
            other => return fail(PUBLISH, format!("first publication returned {other:?}")),
        }
        if ok(PUBLISH, oracle.epoch_root(e0).await)? != Some(root0) {
            return fail(PUBLISH, "epoch_root does not return the published root");
        }
        const IDEMPOTENT: &str = "publishing the same root again is a no-op";
        ok(IDEMPOTENT, oracle.publish_root(&root0).await)?;
        if ok(IDEMPOTENT, oracle.epoch_root(e0).await)? != Some(root0) {
            return fail(IDEMPOTENT, "root changed");
        }
        const CONFLICT: &str =
            "a different root or total for a published epoch is EpochAlreadyPublished";
        let t_other = tree(CONFLICT, format, &[(a, 1), (b, 2)])?;
        for conflicting in [
            EpochRoot {
                root: t_other.root(),
                ..root0
            },
            EpochRoot {
                total: root0.total.saturating_add(1),
                ..root0
            },
        ] {
            expect_err(
                CONFLICT,
                oracle.publish_root(&conflicting).await,
                "EpochAlreadyPublished",
                |e| matches!(e, Error::EpochAlreadyPublished { epoch } if *epoch == e0),
            )?;
        }
        report
            .checks
            .extend([UNAUTH_PUBLISH, ZERO_ROOT, PUBLISH, IDEMPOTENT, CONFLICT]);
        Ok(t0)
    }

    /// Claims against epoch 0: paid (relayed), paid once, forged proofs refused.
    async fn first_claims(&self, t0: &ClaimTree, report: &mut Report) -> Outcome<()> {
        let RewardsRun {
            oracle,
            fx,
            a,
            b,
            d,
            ..
        } = *self;
        // claims against epoch 0
        const CLAIM: &str = "claim with a valid proof pays the account (submitted by anyone)";
        let claim_a0 = claim_of(CLAIM, t0, a)?;
        claim_pays(CLAIM, &fx.outsider, &claim_a0, 100).await?;
        const DOUBLE_CLAIM: &str = "double claim is AlreadyClaimed";
        expect_err(
            DOUBLE_CLAIM,
            fx.outsider.claim(&claim_a0).await,
            "AlreadyClaimed",
            |e| {
                matches!(
                    e,
                    Error::AlreadyClaimed {
                        cumulative: 100,
                        claimed: 100,
                        ..
                    }
                )
            },
        )?;

        const FORGED: &str = "forged proofs are InvalidProof";
        let claim_b0 = claim_of(FORGED, t0, b)?;
        let mut inflated = claim_b0.clone();
        inflated.cumulative_amount = 2_000;
        let mut flipped = claim_b0.clone();
        match flipped.proof.first_mut() {
            Some(h) => h[31] ^= 1,
            None => return fail(FORGED, "proof unexpectedly empty"),
        }
        let mut stolen = claim_b0.clone();
        stolen.account = d.clone();
        let mut empty = claim_b0.clone();
        empty.proof.clear();
        for forged in [&inflated, &flipped, &stolen, &empty] {
            expect_err(FORGED, oracle.claim(forged).await, "InvalidProof", |e| {
                matches!(e, Error::InvalidProof)
            })?;
        }
        for acct in [b, d] {
            if ok(FORGED, oracle.claimed(acct).await)? != 0 {
                return fail(FORGED, format!("{acct} was credited by a forged claim"));
            }
        }
        report.checks.extend([CLAIM, DOUBLE_CLAIM, FORGED]);
        Ok(())
    }

    /// Epoch 1 (`a` 250, `d` 50 more): cumulative payouts pay only the difference.
    async fn cumulative(&self, report: &mut Report) -> Outcome<()> {
        let RewardsRun {
            oracle,
            fx,
            format,
            a,
            b,
            c,
            d,
            e1,
            ..
        } = *self;
        // epoch 1: cumulative totals
        const CUMULATIVE: &str = "cumulative claim over two epochs pays only the difference";
        let t1 = tree(CUMULATIVE, format, &[(a, 250), (b, 200), (c, 300), (d, 50)])?;
        let root1 = epoch_root(CUMULATIVE, e1, &t1)?;
        match ok(CUMULATIVE, oracle.publish_root(&root1).await)? {
            PublishOutcome::Published(tx) => {
                receipt_ok(CUMULATIVE, oracle, tx).await?;
            }
            other => return fail(CUMULATIVE, format!("publication returned {other:?}")),
        }
        let claim_a1 = claim_of(CUMULATIVE, &t1, a)?;
        claim_pays(CUMULATIVE, &fx.owner, &claim_a1, 150).await?;
        const CLAIMED: &str = "claimed() reports cumulative totals per account";
        for (acct, want) in [(a, 250u128), (b, 0), (c, 0), (d, 0)] {
            let got = ok(CLAIMED, oracle.claimed(acct).await)?;
            if got != want {
                return fail(CLAIMED, format!("claimed({acct}) = {got}, expected {want}"));
            }
        }
        report.checks.extend([CUMULATIVE, CLAIMED]);

        // (A proof against the previous root, t0, may or may not pay depending on the backend's
        // grace period: not checked here. Two publications back is checked after epoch 3.)
        const FIRST_CLAIM_LATER: &str = "an account's first claim in a later epoch pays its total";
        let claim_b1 = claim_of(FIRST_CLAIM_LATER, &t1, b)?;
        claim_pays(FIRST_CLAIM_LATER, oracle, &claim_b1, 200).await?;
        report.checks.push(FIRST_CLAIM_LATER);
        Ok(())
    }

    /// Epoch 3 after 1 (a gap), with `d` owed more than the pool; then 2 is too late. Returns
    /// tree 3, the pool balance before it and `d`'s total.
    async fn gap(&self, report: &mut Report) -> Outcome<(ClaimTree, Option<u128>, u128)> {
        let RewardsRun {
            oracle,
            format,
            a,
            b,
            c,
            d,
            e2,
            e3,
            ..
        } = *self;
        // epoch 3 (a gap), then 2 is too late. `d` is owed more than the pool holds, so its claim
        // is refused for lack of funds; the tree's total stays the true sum, so the claim is within
        // the published total (a distributor that checks totals still gets to the funds check).
        let pool_now = ok("pool balance", oracle.pool_balance().await)?;
        let d_total = match pool_now {
            Some(p) => match p.checked_add(51) {
                Some(t) => t,
                None => return fail("build tree 3", format!("pool {p} too large for the suite")),
            },
            None => 60,
        };
        let t3 = tree(
            "build tree 3",
            format,
            &[(a, 250), (b, 200), (c, 300), (d, d_total)],
        )?;
        const GAP: &str =
            "epochs may skip; an unpublished epoch below the latest is EpochNotIncreasing";
        let root3 = epoch_root(GAP, e3, &t3)?;
        if let PublishOutcome::Published(tx) = ok(GAP, oracle.publish_root(&root3).await)? {
            receipt_ok(GAP, oracle, tx).await?;
        } else {
            return fail(GAP, "epoch 3 reported as already published");
        }
        expect_err(
            GAP,
            oracle.publish_root(&EpochRoot { epoch: e2, ..root3 }).await,
            "EpochNotIncreasing",
            |e| matches!(e, Error::EpochNotIncreasing { epoch, latest } if *epoch == e2 && *latest == e3),
        )?;
        report.checks.push(GAP);
        Ok((t3, pool_now, d_total))
    }

    /// A proof two publications back refused; a claim above the pool refused.
    async fn old_roots_and_funds(
        &self,
        t0: &ClaimTree,
        t3: &ClaimTree,
        pool_now: Option<u128>,
        d_total: u128,
        report: &mut Report,
    ) -> Outcome<()> {
        let RewardsRun {
            oracle,
            fx,
            format,
            c,
            d,
            ..
        } = *self;
        // Cumulative distributors (the OpenZeppelin formats) must never pay against an old root:
        // a later root may have corrected an account's total downwards. Checked for them whatever
        // the fixtures say; `latest_root_only` only decides it for cw20-merkle-airdrop stages.
        let cumulative = matches!(
            format,
            ClaimFormat::OpenZeppelin | ClaimFormat::OpenZeppelinBound { .. }
        );
        if fx.latest_root_only || cumulative {
            // Roots published so far: t0, t1, t3. `c` has claimed nothing, and its leaf (c, 300) is
            // in every tree, but the proof is t0's, two publications back.
            const STALE: &str = "a proof against a root two publications back is InvalidProof";
            let claim_c0 = claim_of(STALE, t0, c)?;
            expect_err(
                STALE,
                fx.outsider.claim(&claim_c0).await,
                "InvalidProof",
                |e| matches!(e, Error::InvalidProof),
            )?;
            if ok(STALE, oracle.claimed(c).await)? != 0 {
                return fail(STALE, "account credited by a proof two roots back");
            }
            report.checks.push(STALE);
        }

        match pool_now {
            Some(p) => {
                const FUNDS: &str = "a claim above the pool balance is InsufficientFunds";
                let claim_d = claim_of(FUNDS, t3, d)?;
                expect_err(
                    FUNDS,
                    fx.outsider.claim(&claim_d).await,
                    "InsufficientFunds",
                    |e| matches!(e, Error::InsufficientFunds { available, required } if *available == p && *required == d_total),
                )?;
                if ok(FUNDS, oracle.claimed(d).await)? != 0 {
                    return fail(FUNDS, "account credited despite the refusal");
                }
                report.checks.push(FUNDS);
            }
            None => report.skipped.push("insufficient funds"),
        }
        Ok(())
    }

    /// Concurrent copies of one claim pay once; a receipt for a transaction never sent.
    async fn concurrency_and_receipts(&self, t3: &ClaimTree, report: &mut Report) -> Outcome<()> {
        let RewardsRun { oracle, fx, c, .. } = *self;
        // the pool still pays claims it can cover, once however many copies arrive together
        const CONCURRENT: &str = "concurrent copies of one claim pay it once";
        let claim_c = claim_of(CONCURRENT, t3, c)?;
        concurrent_claims_pay_once(CONCURRENT, [oracle, &fx.owner, &fx.outsider], &claim_c, 300)
            .await?;
        report.checks.push(CONCURRENT);

        const UNKNOWN_TX: &str = "the receipt of a transaction never sent is NotFound";
        let never = TxHandle(Sha256::digest([&fx.seed[..], b"never sent"].concat()).into());
        expect_err(
            UNKNOWN_TX,
            oracle.wait_for_receipt(&never).await,
            "NotFound",
            |e| matches!(e, Error::NotFound(_)),
        )?;
        report.checks.push(UNKNOWN_TX);
        Ok(())
    }
}

/// Proofs by the right key that a backend must refuse for `challenge`: a domain challenge
/// signed for another network id and for another chain id, and its digest signed in the
/// EIP-712 proof format; an EIP-712 permit signed for another verifying contract and for
/// another chain id, and its digest signed as a domain proof. (A proof for another registry
/// whose binding sits inside an opaque domain message is [`Fixtures::other_registry`]'s
/// check.)
fn foreign_proofs(
    check: &'static str,
    challenge: &RegistrationChallenge,
    key: &SigningKey,
) -> Outcome<Vec<RegistrationProof>> {
    let mut out = Vec::new();
    match challenge {
        RegistrationChallenge::Domain { domain, message } => {
            let other_network = ok(
                check,
                NetworkId::new(&format!("{}-other", domain.network.as_str()))
                    .or_else(|_| NetworkId::new("conformance-other-network"))
                    .map_err(Error::from),
            )?;
            let mut elsewhere = *domain;
            elsewhere.network = other_network;
            let mut other_chain = *domain;
            other_chain.chain_id = Some(domain.chain_id.map_or(1, |c| c.wrapping_add(1)));
            for d in [elsewhere, other_chain] {
                let foreign = RegistrationChallenge::Domain {
                    domain: d,
                    message: message.clone(),
                };
                out.push(ok(check, foreign.sign(key))?);
            }
            // the domain digest signed in both EIP-712 proof formats
            match key.key_type() {
                KeyType::Secp256k1 => out.push(RegistrationProof::Eip712(ok(
                    check,
                    key.sign_prehash_recoverable(&challenge.digest())
                        .map_err(Error::from),
                )?)),
                KeyType::P256 => out.push(RegistrationProof::Eip712P256(
                    ok(
                        check,
                        key.sign_prehash(&challenge.digest()).map_err(Error::from),
                    )?
                    .to_bytes(),
                )),
                _ => {}
            }
        }
        RegistrationChallenge::Eip712 {
            domain,
            struct_hash,
        } => {
            // the same permit for another registry, and for the same registry address on
            // another chain
            let mut other_contract = domain.clone();
            other_contract.verifying_contract[19] ^= 0x01;
            let mut other_chain = domain.clone();
            other_chain.chain_id = domain.chain_id.wrapping_add(1);
            for d in [other_contract, other_chain] {
                let foreign = RegistrationChallenge::Eip712 {
                    domain: d,
                    struct_hash: *struct_hash,
                };
                out.push(ok(check, foreign.sign(key))?);
            }
            let as_domain = ok(
                check,
                key.sign_prehash(&challenge.digest()).map_err(Error::from),
            )?;
            out.push(RegistrationProof::Domain(as_domain));
        }
    }
    Ok(out)
}

/// How many copies of one claim the suite sends at once ("concurrent copies of one claim pay
/// it once").
pub const CONCURRENT_COPIES: usize = 16;

/// Send [`CONCURRENT_COPIES`] copies of `claim` at once through the `submitters` in turn
/// (each copy refused, reverted or paid), then require that the account was paid
/// `expected_paid` once: `claimed` moved by that much, to the claim's cumulative amount,
/// and the pool (if modelled) down by as much.
async fn concurrent_claims_pay_once(
    check: &'static str,
    submitters: [&Arc<dyn ChainBackend>; 3],
    claim: &Claim,
    expected_paid: u128,
) -> Outcome<()> {
    let first = submitters[0];
    let before_claimed = ok(check, first.claimed(&claim.account).await)?;
    let (pool0, _) = balances(check, first, &claim.account).await?;
    // every copy in flight at once on this task (no runtime needed to spawn): each is
    // polled in turn until all are done
    type Copy<'a> = Pin<Box<dyn Future<Output = crate::Result<Option<Receipt>>> + Send + 'a>>;
    let mut copies: Vec<Copy<'_>> = (0..CONCURRENT_COPIES)
        .map(|i| {
            let submitter = submitters[i % submitters.len()];
            let copy: Copy<'_> = Box::pin(async move {
                let tx = submitter.claim(claim).await?;
                submitter.wait_for_receipt(&tx).await.map(Some)
            });
            copy
        })
        .collect();
    let mut results: Vec<Option<crate::Result<Option<Receipt>>>> =
        (0..CONCURRENT_COPIES).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (copy, slot) in copies.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                match copy.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    drop(copies);
    let mut paid = 0usize;
    for result in results.into_iter().flatten() {
        match result {
            Ok(Some(r)) if matches!(r.status, TxStatus::Success) => paid += 1,
            // reverted on chain, or refused before it was sent: not paid
            Ok(_) | Err(Error::AlreadyClaimed { .. }) => {}
            Err(e) => return fail(check, format!("a copy failed with {e:?}")),
        }
    }
    if paid == 0 {
        return fail(check, "no copy was paid");
    }
    let after_claimed = ok(check, first.claimed(&claim.account).await)?;
    if after_claimed != claim.cumulative_amount
        || after_claimed.checked_sub(before_claimed) != Some(expected_paid)
    {
        return fail(
            check,
            format!(
                "{paid} of {CONCURRENT_COPIES} copies succeeded; claimed went {before_claimed} -> {after_claimed}, expected +{expected_paid} to {}",
                claim.cumulative_amount
            ),
        );
    }
    let (pool1, _) = balances(check, first, &claim.account).await?;
    if let (Some(p0), Some(p1)) = (pool0, pool1) {
        if p0.checked_sub(p1) != Some(expected_paid) {
            return fail(
                check,
                format!("pool went {p0} -> {p1}, expected -{expected_paid} (paid once)"),
            );
        }
    }
    Ok(())
}
