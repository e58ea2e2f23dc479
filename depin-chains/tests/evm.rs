//! Integration tests of the EVM backend against a real anvil node.
//!
//! Needs Node.js and `contracts/node_modules` (`cd contracts && npm ci`): anvil comes from the
//! `@foundry-rs/anvil` npm package, and the independent checks use viem and the contracts build.
//! When either is missing the tests FAIL with that instruction; they never pass silently.
//!
//! Run: `cargo test -p depin-chains --features evm --test evm`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use depin_chains::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use depin_chains::claims::ClaimTree;
use depin_chains::conformance::{default_claimants, run_conformance, Fixtures, MIN_POOL};
use depin_chains::evm::deploy::{Deployer, Deployment, MAX_ADMIN_DELAY};
use depin_chains::evm::{
    device_address, device_public_key, CancelNoncePermit, EvmBackend, PendingRecovery,
    RegisterPermit, CLAIM_GRACE_PERIOD, MAX_EPOCH_GAP, MAX_PERMIT_LIFETIME, RECOVERY_DELAY,
};
use depin_chains::{
    Account, ChainBackend, Claim, ClaimFormat, DeviceRegistration, EpochRoot, Error, EvmConfig,
    PublishOutcome, RegistrationChallenge, RegistrationProof, RetryPolicy, SecretKeyBytes,
    TxStatus,
};
use depin_core::{DeviceId, Epoch, EvmAddress, KeyType, SigningKey};
use depin_rewards::claims::oz;

#[path = "support/js.rs"]
mod js;
use js::{repo_root, run_js};

const HOW_TO: &str = "install the JavaScript tools once with `cd contracts && npm ci`, then run \
                      `cargo test -p depin-chains --features evm --test evm` (see contracts/README.md)";

fn anvil_path() -> PathBuf {
    let p = repo_root().join("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(p.exists(), "anvil not found at {}: {HOW_TO}", p.display());
    p
}

/// A running anvil, killed on drop.
struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    fn start() -> Anvil {
        Anvil::start_on(0)
    }

    fn start_on(port: u16) -> Anvil {
        Anvil::start_with(port, &[])
    }

    /// Anvil on `port` (0: any) with extra arguments (a hardfork, say).
    fn start_with(port: u16, extra: &[&str]) -> Anvil {
        let mut child = Command::new(anvil_path())
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start anvil: {e}; {HOW_TO}"));
        let stdout = child.stdout.take().expect("anvil stdout");
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(1);
        // Read the "Listening on" line, then keep draining so anvil never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.strip_prefix("Listening on ") {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("anvil did not report its address within 30 s"));
        Anvil {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn secret(n: u8) -> SecretKeyBytes {
    let mut s = [0u8; 32];
    s[0] = 0x5e;
    s[31] = n;
    SecretKeyBytes(s)
}

fn address_of(s: &SecretKeyBytes) -> EvmAddress {
    let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &s.0).unwrap();
    EvmAddress::from_public_key(&key.public_key()).unwrap()
}

/// A fresh chain with the three contracts deployed, funded accounts and handles per role.
struct Env {
    anvil: Anvil,
    deployment: Deployment,
    deployer: Deployer,
    chain_id: u64,
}

const ADMIN: u8 = 1;
const ORACLE: u8 = 2;
const OWNER: u8 = 3;
const STRANGER: u8 = 4;
const GUARDIAN: u8 = 5;
const NEW_OWNER: u8 = 6;

async fn set_balance(url: &str, who: EvmAddress) {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance",
        "params": [who.to_string(), "0x56bc75e2d63100000"] // 100 ETH
    });
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

impl Env {
    async fn new() -> Env {
        Env::with_oracle(ORACLE).await
    }

    /// Deploy with `oracle` holding `ORACLE_ROLE` (the deployer, `ADMIN`, is always admin).
    async fn with_oracle(oracle: u8) -> Env {
        Env::on(Anvil::start(), oracle).await
    }

    /// Deploy on a given anvil.
    async fn on(anvil: Anvil, oracle: u8) -> Env {
        for n in 1..=20 {
            set_balance(&anvil.url, address_of(&secret(n))).await;
        }
        let deployer = Deployer::new(&anvil.url, &secret(ADMIN), RetryPolicy::default())
            .await
            .unwrap();
        let deployment = deployer
            .deploy_all(address_of(&secret(oracle)))
            .await
            .unwrap();
        Env {
            anvil,
            deployment,
            deployer,
            chain_id: 31337,
        }
    }

    fn config(&self, who: u8) -> EvmConfig {
        EvmConfig {
            rpc_url: self.anvil.url.clone(),
            chain_id: self.chain_id,
            registry: self.deployment.registry,
            distributor: self.deployment.distributor,
            signer: secret(who),
            retry: RetryPolicy::default(),
            receipt_timeout: Duration::from_secs(30),
            confirmations: 0,
        }
    }

    async fn handle(&self, who: u8) -> EvmBackend {
        EvmBackend::connect(&self.config(who)).await.unwrap()
    }

    /// A handle acting as `who` on another distributor of this chain (same registry).
    async fn handle_on(&self, who: u8, distributor: EvmAddress) -> EvmBackend {
        EvmBackend::connect(&EvmConfig {
            distributor,
            ..self.config(who)
        })
        .await
        .unwrap()
    }

    /// Deploy a further distributor paying the same token (`ORACLE` publishes, `guardian`
    /// pauses, the deployer `ADMIN` administers) and fund it with `funding`.
    async fn second_distributor(&self, guardian: u8, funding: u128) -> EvmAddress {
        let d = self
            .deployer
            .deploy_distributor(
                self.deployment.token,
                address_of(&secret(ORACLE)),
                address_of(&secret(guardian)),
                0,
            )
            .await
            .unwrap();
        assert_ne!(d, self.deployment.distributor);
        if funding > 0 {
            self.deployer
                .mint(self.deployment.token, d, funding)
                .await
                .unwrap();
        }
        d
    }

    async fn fund(&self, amount: u128) {
        self.deployer
            .mint(self.deployment.token, self.deployment.distributor, amount)
            .await
            .unwrap();
    }
}

fn device_key(n: u8) -> SigningKey {
    SigningKey::from_secret_bytes(KeyType::Secp256k1, &[n; 32]).unwrap()
}

/// A registration deadline the registry accepts: 7 days from now (its cap is 30 days after the
/// including block). Tests that move the chain clock move it by at most a few days.
fn deadline() -> u64 {
    depin_chains::conformance::registration_deadline()
}

/// A raw JSON-RPC call (anvil's `evm_*` methods), returning `result`.
async fn node_rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v.get("error").is_none(), "{method}: {text}");
    v["result"].clone()
}

/// Move anvil's clock forward by `seconds` and mine a block at the new time.
async fn advance_time(url: &str, seconds: u64) {
    node_rpc(
        url,
        "evm_increaseTime",
        serde_json::json!([format!("0x{seconds:x}")]),
    )
    .await;
    node_rpc(url, "evm_mine", serde_json::json!([])).await;
}

async fn ok(b: &dyn ChainBackend, tx: depin_chains::TxHandle) {
    let r = b.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(r.status, TxStatus::Success, "{r:?}");
}

/// Publish `root` (a new epoch) and wait for it.
async fn publish(b: &dyn ChainBackend, root: &EpochRoot) {
    match b.publish_root(root).await.unwrap() {
        PublishOutcome::Published(tx) => ok(b, tx).await,
        other => panic!("epoch {} is new, got {other:?}", root.epoch),
    }
}

/// `eth_getTransactionCount(who, "latest")`.
async fn tx_count(url: &str, who: EvmAddress) -> u64 {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount",
        "params": [who.to_string(), "latest"]
    });
    let text = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let count = v["result"].as_str().unwrap_or_else(|| panic!("{text}"));
    u64::from_str_radix(count.trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_backend_passes_the_conformance_suite() {
    // The admin and the oracle are different accounts (each is refused the other's actions).
    let env = Env::new().await;
    env.fund(10 * MIN_POOL).await;
    // tokens of the admin's own, which the suite adds to the pool through the trait
    env.deployer
        .mint(env.deployment.token, address_of(&secret(ADMIN)), 1_000)
        .await
        .unwrap();
    let admin: Arc<dyn ChainBackend> = Arc::new(env.handle(ADMIN).await);
    // The EVM format is bound to this chain and distributor.
    assert_eq!(
        admin.claim_format(),
        ClaimFormat::OpenZeppelinBound {
            chain_id: env.chain_id,
            distributor: env.deployment.distributor.0,
        }
    );
    let quorum = quorum_fixture(&env).await;
    let fixtures = Fixtures {
        owner: Arc::new(env.handle(OWNER).await),
        outsider: Arc::new(env.handle(STRANGER).await),
        // Ed25519 devices cannot prove their key to an EVM contract: they join through a
        // maker, which the suite's makers section checks for every key type
        key_types: vec![KeyType::Secp256k1, KeyType::P256],
        claimants: default_claimants(admin.claim_format(), "wasm", [3; 32]).unwrap(),
        first_epoch: Epoch(1),
        seed: [9; 32],
        latest_root_only: true,
        fresh: true,
        oracle: Some(Arc::new(env.handle(ORACLE).await)),
        // a second registry contract on the same chain: permits signed for it must not
        // register on the first
        other_registry: Some(Arc::new(
            EvmBackend::connect(&EvmConfig {
                registry: env.deployer.deploy_registry(0).await.unwrap(),
                ..env.config(OWNER)
            })
            .await
            .unwrap(),
        )),
        // a second distributor whose 3-oracle set is in effect
        quorum: Some(quorum),
    };
    let started = Instant::now();
    let report = match run_conformance(admin, fixtures).await {
        Ok(report) => report,
        Err(f) => panic!("{f}"),
    };
    println!(
        "EVM conformance: {} checks passed, skipped {:?}, in {:?}",
        report.checks.len(),
        report.skipped,
        started.elapsed()
    );
    assert!(report.skipped.is_empty(), "{report:?}");
    assert!(report.checks.len() >= 25, "{report:?}");
}

/// A second distributor on `env`'s chain with a 3-oracle secp256k1 set (threshold 2) in
/// effect (scheduled by the admin, the chain clock moved past the delay), for the
/// conformance suite's quorum section.
async fn quorum_fixture(env: &Env) -> depin_chains::conformance::QuorumFixture {
    use depin_chains::evm::ORACLE_SET_DELAY;
    use depin_chains::quorum::OracleSet;
    use depin_chains::types::DeviceSigner;
    use depin_core::{Domain, NetworkId};

    let network = NetworkId::new("conformance-quorum").unwrap();
    let distributor = env.second_distributor(GUARDIAN, 0).await;
    let oracles: Vec<Arc<dyn DeviceSigner>> = (0..3u8)
        .map(|i| {
            Arc::new(SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0xb0 + i; 32]).unwrap())
                as Arc<dyn DeviceSigner>
        })
        .collect();
    let set = OracleSet::new(oracles.iter().map(|o| o.device_id()), 2).unwrap();
    let admin = env.handle_on(ADMIN, distributor).await;
    let now = admin.latest_block_timestamp().await.unwrap();
    ok(
        &admin,
        admin
            .schedule_oracle_set(&network, &set, now + ORACLE_SET_DELAY + 30)
            .await
            .unwrap(),
    )
    .await;
    advance_time(&env.anvil.url, ORACLE_SET_DELAY + 60).await;
    depin_chains::conformance::QuorumFixture {
        relayer: Arc::new(env.handle_on(NEW_OWNER, distributor).await),
        single_oracle: Arc::new(env.handle_on(ORACLE, distributor).await),
        oracles,
        threshold: 2,
        domain: Domain::new(network).with_chain_id(env.chain_id),
        distributor: distributor.0.to_vec(),
        first_epoch: Epoch(1),
        outsider: Arc::new(SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0xbf; 32]).unwrap()),
    }
}

#[test]
fn contract_artifacts_are_not_stale() {
    let script = repo_root().join("contracts/check-stale.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    match out.status.code() {
        Some(0) => {}
        Some(2) => panic!(
            "check-stale.sh could not run: {}; {HOW_TO}",
            String::from_utf8_lossy(&out.stderr)
        ),
        _ => panic!(
            "depin-chains/evm-artifacts are stale (rebuild with contracts/build.sh and commit):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eip712_signature_from_a_depin_core_key_verifies_with_viem() {
    let env = Env::new().await;
    let backend = env.handle(OWNER).await;
    let device = device_key(0x42);
    let owner = Account::Evm(address_of(&secret(OWNER)));
    let reg = DeviceRegistration::new(
        DeviceId::from(device.public_key()),
        owner.clone(),
        b"model=x1;fw=2.1".to_vec(),
        deadline(),
    );
    let challenge = backend.registration_challenge(&reg).await.unwrap();
    let RegistrationChallenge::Eip712 { domain, .. } = &challenge else {
        panic!("EVM challenges are EIP-712: {challenge:?}")
    };
    assert_eq!(domain.name, "DepinDeviceRegistry");
    assert_eq!(domain.chain_id, env.chain_id);
    assert_eq!(domain.verifying_contract, env.deployment.registry.0);
    let digest = challenge.digest();
    let proof = challenge.sign(&device).unwrap();
    let RegistrationProof::Eip712(sig) = proof else {
        panic!("expected an EIP-712 proof")
    };
    let permit: RegisterPermit = backend.register_permit(&reg).await.unwrap();
    let input = serde_json::json!({
        "domain": {
            "name": "DepinDeviceRegistry", "version": "1", "chainId": env.chain_id,
            "verifyingContract": env.deployment.registry.to_string(),
        },
        "types": { "Register": [
            {"name": "owner", "type": "address"}, {"name": "device", "type": "address"},
            {"name": "keyType", "type": "uint8"}, {"name": "deviceId", "type": "bytes32"},
            {"name": "metadataHash", "type": "bytes32"}, {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"}]},
        "primaryType": "Register",
        "message": {
            "owner": permit.owner.to_string(), "device": permit.device.to_string(),
            "keyType": permit.key_type, "deviceId": permit.device_id.to_string(),
            "metadataHash": permit.metadata_hash.to_string(), "nonce": permit.nonce.to_string(),
            "deadline": permit.deadline.to_string(),
        },
        "signature": format!("0x{}", hex::encode(sig)),
        "address": permit.device.to_string(),
    });
    let out = run_js("eip712-verify.mjs", &input, HOW_TO);
    assert_eq!(out["valid"], true, "{out}");
    assert_eq!(out["digest"], format!("0x{}", hex::encode(digest)), "{out}");
    assert_eq!(
        out["recovered"].as_str().unwrap().to_lowercase(),
        permit.device.to_string().to_lowercase()
    );
    assert_eq!(out["lowS"], true);
    assert!(out["v"].as_u64().unwrap() >= 27);
    // The contract agrees: the same signature registers the device.
    let tx = backend
        .register_device(&reg, &RegistrationProof::Eip712(sig))
        .await
        .unwrap();
    ok(&backend, tx).await;
    let rec = backend.device(&reg.device).await.unwrap();
    assert_eq!(rec.owner, owner);
    assert!(rec.active);
    assert_eq!(rec.key_type, KeyType::Secp256k1);
    assert_eq!(rec.metadata_hash, reg.metadata_hash());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_lifecycle_and_typed_errors() {
    let env = Env::new().await;
    let owner = env.handle(OWNER).await;
    let stranger = env.handle(STRANGER).await;
    let admin = env.handle(ADMIN).await;
    let owner_acct = owner.account().unwrap();

    let dev = device_key(7);
    let id = DeviceId::from(dev.public_key());
    assert!(matches!(owner.device(&id).await, Err(Error::NotFound(_))));

    let reg = DeviceRegistration::new(id, owner_acct.clone(), b"meta".to_vec(), deadline());
    // A signature by another key is an invalid proof.
    let other = device_key(8);
    let challenge = owner.registration_challenge(&reg).await.unwrap();
    let forged = challenge.sign(&other).unwrap();
    assert!(matches!(
        owner.register_device(&reg, &forged).await,
        Err(Error::InvalidProof)
    ));
    // A signature over different metadata is an invalid proof.
    let mut altered = reg.clone();
    altered.metadata = b"other".to_vec();
    let good = challenge.sign(&dev).unwrap();
    assert!(matches!(
        owner.register_device(&altered, &good).await,
        Err(Error::InvalidProof)
    ));
    // An expired deadline.
    let mut expired = reg.clone();
    expired.deadline = 1;
    let sig = owner
        .registration_challenge(&expired)
        .await
        .unwrap()
        .sign(&dev)
        .unwrap();
    assert!(matches!(
        owner.register_device(&expired, &sig).await,
        Err(Error::Expired { deadline: 1 })
    ));
    // Ed25519 devices cannot register by themselves on the EVM registry (only through a
    // maker: see the mixed-fleet test).
    let ed = SigningKey::from_secret_bytes(KeyType::Ed25519, &[9; 32]).unwrap();
    let ed_reg = DeviceRegistration::new(
        DeviceId::from(ed.public_key()),
        owner_acct.clone(),
        vec![],
        deadline(),
    );
    assert!(matches!(
        owner.registration_challenge(&ed_reg).await,
        Err(Error::Unsupported(_))
    ));

    // Anyone may relay a valid registration: the stranger submits it.
    let tx = stranger.register_with_signer(&reg, &dev).await.unwrap();
    ok(&stranger, tx).await;
    let rec = owner.device(&id).await.unwrap();
    assert_eq!(rec.owner, owner_acct);
    assert!(rec.active);
    // Registering again: already registered (the nonce moved on, so sign afresh).
    assert!(matches!(
        owner.register_with_signer(&reg, &dev).await,
        Err(Error::AlreadyRegistered(_))
    ));
    // Revocation: not by a stranger; by the owner; not twice; admin may revoke others.
    assert!(matches!(
        stranger.revoke_device(&id).await,
        Err(Error::Unauthorized(_))
    ));
    ok(&owner, owner.revoke_device(&id).await.unwrap()).await;
    assert!(!owner.device(&id).await.unwrap().active);
    assert!(matches!(
        admin.revoke_device(&id).await,
        Err(Error::AlreadyRevoked(_))
    ));
    assert!(matches!(
        owner.register_with_signer(&reg, &dev).await,
        Err(Error::AlreadyRegistered(_))
    ));
    let dev2 = device_key(10);
    let reg2 = DeviceRegistration::new(
        DeviceId::from(dev2.public_key()),
        owner_acct.clone(),
        vec![],
        deadline(),
    );
    ok(
        &owner,
        owner.register_with_signer(&reg2, &dev2).await.unwrap(),
    )
    .await;
    ok(&admin, admin.revoke_device(&reg2.device).await.unwrap()).await;
    assert!(matches!(
        admin
            .revoke_device(&DeviceId::from(device_key(11).public_key()))
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        device_address(&id).unwrap().to_string(),
        EvmAddress::from_public_key(&dev.public_key())
            .unwrap()
            .to_string()
    );
}

fn evm(n: u8) -> Account {
    Account::Evm(address_of(&secret(n)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewards_publish_claim_and_typed_errors() {
    let env = Env::new().await;
    let oracle = env.handle(ORACLE).await;
    let stranger = env.handle(STRANGER).await;

    let tree = ClaimTree::new(
        oracle.claim_format(),
        vec![(evm(10), 100), (evm(11), 250), (evm(12), 1_000)],
    )
    .unwrap();
    let claim = tree.claim_for(&evm(10)).unwrap();
    // The Rust leaf is the contract's leaf (bound to this chain and distributor).
    let ClaimFormat::OpenZeppelinBound {
        chain_id,
        distributor,
    } = oracle.claim_format()
    else {
        panic!("the EVM claim format is bound: {:?}", oracle.claim_format())
    };
    assert_eq!(
        oracle.leaf_hash(&evm(10), 100).await.unwrap(),
        oz::leaf_hash_bound(
            &oz::OzBinding {
                chain_id,
                distributor
            },
            &address_of(&secret(10)).0,
            100
        )
    );
    assert_eq!(oracle.latest_total().await.unwrap(), 0);
    // No root yet.
    assert!(matches!(stranger.claim(&claim).await, Err(Error::NoRoot)));
    let root = EpochRoot {
        epoch: Epoch(1),
        root: tree.root(),
        total: 1_350,
    };
    // Only the oracle publishes.
    assert!(matches!(
        stranger.publish_root(&root).await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        oracle
            .publish_root(&EpochRoot {
                root: [0; 32],
                ..root
            })
            .await,
        Err(Error::InvalidInput(_))
    ));
    let PublishOutcome::Published(tx) = oracle.publish_root(&root).await.unwrap() else {
        panic!("first publication must send a transaction")
    };
    ok(&oracle, tx).await;
    // Idempotent: same root again is a no-op, a different one an error.
    assert_eq!(
        oracle.publish_root(&root).await.unwrap(),
        PublishOutcome::AlreadyPublished
    );
    assert!(matches!(
        oracle.publish_root(&EpochRoot { total: 1, ..root }).await,
        Err(Error::EpochAlreadyPublished { epoch: Epoch(1) })
    ));
    assert!(matches!(
        oracle
            .publish_root(&EpochRoot {
                epoch: Epoch(0),
                root: [7; 32],
                total: 1
            })
            .await,
        Err(Error::EpochNotIncreasing {
            epoch: Epoch(0),
            latest: Epoch(1)
        })
    ));
    assert_eq!(oracle.epoch_root(Epoch(1)).await.unwrap(), Some(root));
    assert_eq!(oracle.epoch_root(Epoch(2)).await.unwrap(), None);

    // Not funded yet: insufficient funds.
    assert!(matches!(
        stranger.claim(&claim).await,
        Err(Error::InsufficientFunds {
            available: 0,
            required: 100
        })
    ));
    env.fund(1_000).await;
    assert_eq!(stranger.pool_balance().await.unwrap(), Some(1_000));
    // A forged proof (wrong amount) fails.
    let forged = Claim {
        cumulative_amount: 101,
        ..claim.clone()
    };
    assert!(matches!(
        stranger.claim(&forged).await,
        Err(Error::InvalidProof)
    ));
    let forged = Claim {
        proof: vec![[1; 32]; 2],
        ..claim.clone()
    };
    assert!(matches!(
        stranger.claim(&forged).await,
        Err(Error::InvalidProof)
    ));
    // A relayer claims for the account; tokens go to the account.
    ok(&stranger, stranger.claim(&claim).await.unwrap()).await;
    assert_eq!(stranger.claimed(&evm(10)).await.unwrap(), 100);
    assert_eq!(stranger.token_balance(&evm(10)).await.unwrap(), Some(100));
    assert_eq!(
        stranger.token_balance(&evm(STRANGER)).await.unwrap(),
        Some(0)
    );
    // Double claim.
    assert!(matches!(
        stranger.claim(&claim).await,
        Err(Error::AlreadyClaimed {
            claimed: 100,
            cumulative: 100,
            ..
        })
    ));
    // The big claim exceeds what is left.
    let big = tree.claim_for(&evm(12)).unwrap();
    assert!(matches!(
        stranger.claim(&big).await,
        Err(Error::InsufficientFunds {
            available: 900,
            required: 1_000
        })
    ));
    // Epoch 2: cumulative amounts grow; account 10 is paid only the difference.
    let tree2 = ClaimTree::new(
        oracle.claim_format(),
        vec![(evm(10), 160), (evm(11), 250), (evm(12), 1_000)],
    )
    .unwrap();
    let root2 = EpochRoot {
        epoch: Epoch(2),
        root: tree2.root(),
        total: 1_410,
    };
    let PublishOutcome::Published(tx) = oracle.publish_root(&root2).await.unwrap() else {
        panic!("epoch 2 is new")
    };
    ok(&oracle, tx).await;
    // The old proof still verifies against the previous root (within the one-day grace
    // period), so it is refused only because it was paid already.
    assert!(matches!(
        stranger.claim(&claim).await,
        Err(Error::AlreadyClaimed {
            cumulative: 100,
            claimed: 100,
            ..
        })
    ));
    ok(
        &stranger,
        stranger
            .claim(&tree2.claim_for(&evm(10)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stranger.claimed(&evm(10)).await.unwrap(), 160);
    assert_eq!(stranger.token_balance(&evm(10)).await.unwrap(), Some(160));
    assert_eq!(stranger.pool_balance().await.unwrap(), Some(840));
    assert_eq!(oracle.latest_total().await.unwrap(), 1_410);
    // A total may be lower than the latest one, but never below what was already paid (160).
    assert_eq!(oracle.total_claimed().await.unwrap(), 160);
    match oracle
        .publish_root(&EpochRoot {
            epoch: Epoch(3),
            root: tree2.root(),
            total: 159,
        })
        .await
    {
        Err(Error::InvalidInput(msg)) => assert!(msg.contains("160"), "{msg}"),
        other => panic!("expected TotalBelowClaimed as InvalidInput, got {other:?}"),
    }
    assert_eq!(oracle.epoch_root(Epoch(3)).await.unwrap(), None);
    // A tree whose published total understates its amounts cannot pay beyond that total:
    // account 13 is owed 5_000 in the tree, but only 1_410 - 160 is left of the total.
    let lying = ClaimTree::new(
        oracle.claim_format(),
        vec![
            (evm(10), 160),
            (evm(11), 250),
            (evm(12), 1_000),
            (evm(13), 5_000),
        ],
    )
    .unwrap();
    let PublishOutcome::Published(tx) = oracle
        .publish_root(&EpochRoot {
            epoch: Epoch(3),
            root: lying.root(),
            total: 1_410,
        })
        .await
        .unwrap()
    else {
        panic!("epoch 3 is new")
    };
    ok(&oracle, tx).await;
    env.fund(10_000).await;
    assert!(matches!(
        stranger.claim(&lying.claim_for(&evm(13)).unwrap()).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(stranger.claimed(&evm(13)).await.unwrap(), 0);
    // A Cosmos account makes no sense on the EVM distributor.
    let cosmos = Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq").unwrap();
    assert!(matches!(
        stranger.claimed(&cosmos).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_get_correct_nonces() {
    let env = Env::new().await;
    env.fund(1_000_000).await;
    let oracle = env.handle(ORACLE).await;
    let relayer: Arc<dyn ChainBackend> = Arc::new(env.handle(STRANGER).await);
    let accounts: Vec<Account> = (100..110).map(evm).collect();
    let tree = ClaimTree::new(
        oracle.claim_format(),
        accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), 1_000 + i as u128))
            .collect(),
    )
    .unwrap();
    let total: u128 = tree.entries().iter().map(|(_, v)| v).sum();
    assert_eq!(total, 10_045);
    let tx = oracle
        .publish_root(&EpochRoot {
            epoch: Epoch(5),
            root: tree.root(),
            total,
        })
        .await
        .unwrap();
    if let PublishOutcome::Published(tx) = tx {
        ok(&oracle, tx).await;
    }

    // Ten claims and ten registrations at once, all through one handle (one key).
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in &accounts {
        let b = relayer.clone();
        let claim = tree.claim_for(a).unwrap();
        tasks.push(tokio::spawn(async move {
            let tx = b.claim(&claim).await?;
            b.wait_for_receipt(&tx).await
        }));
    }
    let owner = relayer.account().unwrap();
    for n in 0..10u8 {
        let b = relayer.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            let dev = device_key(200 + n);
            let reg = DeviceRegistration::new(
                DeviceId::from(dev.public_key()),
                owner,
                vec![n],
                deadline(),
            );
            let tx = b.register_with_signer(&reg, &dev).await?;
            b.wait_for_receipt(&tx).await
        }));
    }
    let mut blocks = Vec::new();
    let mut hashes = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.status, TxStatus::Success, "{r:?}");
        blocks.push(r.block);
        hashes.insert(r.tx);
    }
    let elapsed = started.elapsed();
    println!("20 concurrent transactions from one key mined in {elapsed:?}");
    for (i, a) in accounts.iter().enumerate() {
        assert_eq!(relayer.claimed(a).await.unwrap(), 1_000 + i as u128);
    }
    for n in 0..10u8 {
        let id = DeviceId::from(device_key(200 + n).public_key());
        assert!(relayer.device(&id).await.unwrap().active);
    }
    // Twenty distinct transactions, all mined: none replaced another with the same nonce.
    // (Anvil's automine usually gives each its own block, but transactions that arrive
    // together can share one: seen once in about ten runs on a loaded machine.)
    assert_eq!(hashes.len(), 20);
    blocks.sort_unstable();
    blocks.dedup();
    assert!((1..=20).contains(&blocks.len()), "{blocks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_are_typed_and_retried() {
    // Nothing listens on this port: a retryable transport error once the attempts run out.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = EvmConfig {
        rpc_url: format!("http://127.0.0.1:{port}"),
        chain_id: 31337,
        registry: EvmAddress([1; 20]),
        distributor: EvmAddress([2; 20]),
        signer: secret(1),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2,
        },
        receipt_timeout: Duration::from_secs(1),
        confirmations: 0,
    };
    let started = Instant::now();
    match EvmBackend::connect(&cfg).await {
        Err(e @ Error::Transport { .. }) => assert!(e.is_retryable(), "{e}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(10), "no backoff");

    // Bad configuration is permanent.
    let bad = EvmConfig {
        rpc_url: "ftp://x".into(),
        ..cfg.clone()
    };
    assert!(matches!(
        EvmBackend::connect(&bad).await,
        Err(Error::Config(_))
    ));

    // A node that comes up while we retry: the first attempts are refused, a later one gets
    // through (the error is then about the missing contracts, which needs a working node).
    let late_cfg = EvmConfig {
        retry: RetryPolicy {
            max_attempts: 12,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            multiplier: 2,
        },
        ..cfg.clone()
    };
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        Anvil::start_on(port)
    });
    let started = Instant::now();
    match EvmBackend::connect(&late_cfg).await {
        Err(Error::Config(msg)) => assert!(msg.contains("no DeviceRegistry"), "{msg}"),
        other => panic!("expected the missing-contract error, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(starter.join().unwrap());

    let env = Env::new().await;
    let wrong_chain = EvmConfig {
        chain_id: 1,
        ..env.config(OWNER)
    };
    assert!(matches!(
        EvmBackend::connect(&wrong_chain).await,
        Err(Error::Config(_))
    ));
    let no_contract = EvmConfig {
        registry: EvmAddress([0x77; 20]),
        ..env.config(OWNER)
    };
    assert!(matches!(
        EvmBackend::connect(&no_contract).await,
        Err(Error::Config(_))
    ));
    let b = env.handle(OWNER).await;
    assert!(matches!(
        b.wait_for_receipt(&depin_chains::TxHandle([0x55; 32]))
            .await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_for_one_distributor_is_refused_by_another() {
    let env = Env::new().await;
    env.fund(1_000).await;
    let second = env.second_distributor(ADMIN, 1_000).await;
    let oracle_a = env.handle(ORACLE).await;
    let oracle_b = env.handle_on(ORACLE, second).await;
    let relayer_a = env.handle(STRANGER).await;
    let relayer_b = env.handle_on(STRANGER, second).await;
    assert_eq!(oracle_b.distributor(), second);
    assert_ne!(oracle_a.claim_format(), oracle_b.claim_format());

    let entries = vec![(evm(10), 100), (evm(11), 250)];
    let tree_a = ClaimTree::new(oracle_a.claim_format(), entries.clone()).unwrap();
    let tree_b = ClaimTree::new(oracle_b.claim_format(), entries).unwrap();
    assert_ne!(tree_a.root(), tree_b.root());

    // A's root, published on both distributors: B holds the very same root and total.
    let root_a = EpochRoot {
        epoch: Epoch(1),
        root: tree_a.root(),
        total: 350,
    };
    publish(&oracle_a, &root_a).await;
    publish(&oracle_b, &root_a).await;
    assert_eq!(oracle_b.epoch_root(Epoch(1)).await.unwrap(), Some(root_a));
    let claim = tree_a.claim_for(&evm(10)).unwrap();
    // B refuses A's proof: the leaf binds distributor A.
    assert!(matches!(
        relayer_b.claim(&claim).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(relayer_b.claimed(&evm(10)).await.unwrap(), 0);
    assert_eq!(relayer_b.pool_balance().await.unwrap(), Some(1_000));
    // A pays it.
    ok(&relayer_a, relayer_a.claim(&claim).await.unwrap()).await;
    assert_eq!(relayer_a.claimed(&evm(10)).await.unwrap(), 100);
    assert_eq!(relayer_a.token_balance(&evm(10)).await.unwrap(), Some(100));

    // B's own tree pays on B, and its proofs are refused on A (whose latest root is A's).
    publish(
        &oracle_b,
        &EpochRoot {
            epoch: Epoch(2),
            root: tree_b.root(),
            total: 350,
        },
    )
    .await;
    let claim_b = tree_b.claim_for(&evm(11)).unwrap();
    assert!(matches!(
        relayer_a.claim(&claim_b).await,
        Err(Error::InvalidProof)
    ));
    ok(&relayer_b, relayer_b.claim(&claim_b).await.unwrap()).await;
    assert_eq!(relayer_b.claimed(&evm(11)).await.unwrap(), 250);
    assert_eq!(relayer_a.claimed(&evm(11)).await.unwrap(), 0);

    // A tree in the old unbound format proves nothing either, even with its root published.
    let unbound = ClaimTree::new(
        ClaimFormat::OpenZeppelin,
        vec![(evm(10), 100), (evm(11), 250)],
    )
    .unwrap();
    publish(
        &oracle_a,
        &EpochRoot {
            epoch: Epoch(2),
            root: unbound.root(),
            total: 350,
        },
    )
    .await;
    assert!(matches!(
        relayer_a.claim(&unbound.claim_for(&evm(11)).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(relayer_a.claimed(&evm(11)).await.unwrap(), 0);
}

/// Gas used by a mined transaction (`eth_getTransactionReceipt`).
async fn gas_used(url: &str, tx: &depin_chains::TxHandle) -> u64 {
    let r = node_rpc(
        url,
        "eth_getTransactionReceipt",
        serde_json::json!([format!("0x{}", hex::encode(tx.0))]),
    )
    .await;
    let gas = r["gasUsed"].as_str().unwrap();
    u64::from_str_radix(gas.trim_start_matches("0x"), 16).unwrap()
}

/// P-256 devices register on chains with the P-256 precompile (anvil's default hardfork has
/// it) and on chains without it (Prague: OpenZeppelin's Solidity verifier), and the gas of
/// each is printed next to a secp256k1 registration's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p256_devices_register_with_and_without_the_precompile() {
    let mut figures = Vec::new();
    for hardfork in [None, Some("prague")] {
        let anvil = match hardfork {
            None => Anvil::start(),
            Some(h) => Anvil::start_with(0, &["--hardfork", h]),
        };
        let env = Env::on(anvil, ORACLE).await;
        let owner = env.handle(OWNER).await;
        let owner_acct = owner.account().unwrap();
        let mut gas = Vec::new();
        // a first device warms the owner's token balance (0 -> 1 costs 20k more than 1 -> 2),
        // so that the two measured registrations write the same kinds of slots
        for (kt, b) in [
            (KeyType::Secp256k1, 0x30u8),
            (KeyType::Secp256k1, 0x31),
            (KeyType::P256, 0x32),
        ] {
            let key = SigningKey::from_secret_bytes(kt, &[b; 32]).unwrap();
            let reg = DeviceRegistration::new(
                DeviceId::from(key.public_key()),
                owner_acct.clone(),
                b"meta".to_vec(),
                deadline(),
            );
            let tx = owner.register_with_signer(&reg, &key).await.unwrap();
            ok(&owner, tx).await;
            gas.push(gas_used(&env.anvil.url, &tx).await);
        }
        let (secp, p256) = (gas[1] as i64, gas[2] as i64);
        println!(
            "registration gas ({}): secp256k1 {secp}, P-256 {p256} ({:+})",
            hardfork.unwrap_or("anvil default, with the P-256 precompile"),
            p256 - secp
        );
        figures.push(p256 - secp);
    }
    // the Solidity verifier costs far more than the precompile
    assert!(figures[1] > 100_000 && figures[0] < 20_000, "{figures:?}");
}

/// The mixed fleet: ten devices of each key type. Secp256k1 and P-256 devices register
/// by themselves (P-256 checked on chain by OpenZeppelin's P256), Ed25519 devices are refused
/// before anything is sent and join through an approved maker; all thirty end up registered
/// with the right trust. Prints the gas of each path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_of_every_key_type_joins_the_evm_registry() {
    use depin_chains::makers::{Maker, TrustLevel};
    let env = Env::new().await;
    let admin = env.handle(ADMIN).await;
    let owner = env.handle(OWNER).await;
    let owner_acct = owner.account().unwrap();
    let maker = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x6d; 32]).unwrap();
    let maker_id = DeviceId::from(maker.public_key());
    ok(
        &admin,
        admin
            .approve_maker(&Maker::new(maker_id, "Acme Radios", 10))
            .await
            .unwrap(),
    )
    .await;
    let mut gas: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for (n, kt) in [KeyType::Secp256k1, KeyType::P256, KeyType::Ed25519]
        .into_iter()
        .enumerate()
    {
        for i in 0..10u8 {
            let key = SigningKey::from_secret_bytes(kt, &[0x70 + n as u8 * 16 + i; 32]).unwrap();
            let id = DeviceId::from(key.public_key());
            let reg = DeviceRegistration::new(id, owner_acct.clone(), vec![i], deadline());
            let tx = if kt == KeyType::Ed25519 {
                let sent = tx_count(&env.anvil.url, address_of(&secret(OWNER))).await;
                assert!(matches!(
                    owner.register_with_signer(&reg, &key).await,
                    Err(Error::Unsupported(_))
                ));
                assert_eq!(
                    tx_count(&env.anvil.url, address_of(&secret(OWNER))).await,
                    sent
                );
                let c = owner.onboarding_challenge(&reg, &maker_id).await.unwrap();
                assert!(
                    c.device.is_none(),
                    "the chain cannot check an Ed25519 proof"
                );
                owner
                    .onboard_device(&reg, &c.attest(&maker).unwrap(), None, None)
                    .await
                    .unwrap()
            } else {
                owner.register_with_signer(&reg, &key).await.unwrap()
            };
            ok(&owner, tx).await;
            gas.entry(match kt {
                KeyType::Secp256k1 => "secp256k1 self-registration",
                KeyType::P256 => "P-256 self-registration (P256.verify)",
                _ => "Ed25519 onboarding by a maker",
            })
            .or_default()
            .push(gas_used(&env.anvil.url, &tx).await);
            let r = owner.device(&id).await.unwrap();
            assert!(r.active);
            assert_eq!(r.key_type, kt);
            let want = if kt == KeyType::Ed25519 {
                (TrustLevel::Maker, Some(maker_id))
            } else {
                (TrustLevel::Untrusted, None)
            };
            assert_eq!((r.trust.level, r.trust.maker), want);
        }
    }
    for (what, g) in &gas {
        println!(
            "gas, {what}: median {} (min {}, max {})",
            g[g.len() / 2],
            g.iter().min().unwrap(),
            g.iter().max().unwrap()
        );
    }
    // a P-256 proof over other data, and the secp256k1 format for a P-256 device, are refused
    let p = SigningKey::from_secret_bytes(KeyType::P256, &[0x5e; 32]).unwrap();
    let id = DeviceId::from(p.public_key());
    let reg = DeviceRegistration::new(id, owner_acct.clone(), b"m".to_vec(), deadline());
    let bad = RegistrationProof::Eip712P256(p.sign_prehash(&[7; 32]).unwrap().to_bytes());
    assert!(matches!(
        owner.register_device(&reg, &bad).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        owner
            .register_device(&reg, &RegistrationProof::Eip712([0x1b; 65]))
            .await,
        Err(Error::Unsupported(_))
    ));
    // the public key the registry gets names the device address
    let dev = device_key(0x42);
    let id = DeviceId::from(dev.public_key());
    let pk = device_public_key(&id).unwrap();
    let hash = oz::keccak256(&pk);
    assert_eq!(&hash[12..], device_address(&id).unwrap().as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardian_pauses_the_oracle_corrects_and_only_the_admin_unpauses() {
    let env = Env::new().await;
    // The default deployment makes the deployer the guardian.
    assert_eq!(env.deployment.guardian, address_of(&secret(ADMIN)));
    let dist = env.second_distributor(GUARDIAN, 1_000).await;
    let admin = env.handle_on(ADMIN, dist).await;
    let guardian = env.handle_on(GUARDIAN, dist).await;
    let oracle = env.handle_on(ORACLE, dist).await;
    let relayer = env.handle_on(STRANGER, dist).await;

    let tree = ClaimTree::new(oracle.claim_format(), vec![(evm(10), 100), (evm(11), 200)]).unwrap();
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(1),
            root: tree.root(),
            total: 300,
        },
    )
    .await;
    assert_eq!(oracle.latest_total().await.unwrap(), 300);
    assert!(!relayer.paused().await.unwrap());

    // Only the guardian pauses (not the admin, the oracle or a stranger).
    for who in [&admin, &oracle, &relayer] {
        assert!(matches!(who.pause().await, Err(Error::Unauthorized(_))));
    }
    ok(&guardian, guardian.pause().await.unwrap()).await;
    assert!(relayer.paused().await.unwrap());
    assert!(matches!(guardian.pause().await, Err(Error::Paused(_))));

    // While paused: no claims.
    let claim = tree.claim_for(&evm(10)).unwrap();
    assert!(matches!(relayer.claim(&claim).await, Err(Error::Paused(_))));
    // But the oracle can still publish, so a bad root is replaced before anyone can claim from
    // it: here root 1 over-credited evm(11) (200 instead of 120). The corrected total is lower
    // than the latest one, which is fine as long as it is not below what was paid (0).
    let tree2 =
        ClaimTree::new(oracle.claim_format(), vec![(evm(10), 150), (evm(11), 120)]).unwrap();
    let root2 = EpochRoot {
        epoch: Epoch(2),
        root: tree2.root(),
        total: 270,
    };
    assert_eq!(oracle.publishable_total(&tree2).await.unwrap(), 270);
    publish(&oracle, &root2).await;
    assert_eq!(oracle.epoch_root(Epoch(2)).await.unwrap(), Some(root2));
    assert_eq!(oracle.latest_total().await.unwrap(), 270);
    // Published while paused, the replaced root is not kept for the grace period.
    let roots = relayer.claimable_roots().await.unwrap();
    assert_eq!(roots.latest, Some((Epoch(2), tree2.root())));
    assert_eq!(roots.previous, None);
    assert!(matches!(
        relayer.claim(&tree2.claim_for(&evm(10)).unwrap()).await,
        Err(Error::Paused(_))
    ));

    // The guardian cannot unpause; the admin can, once.
    for who in [&guardian, &relayer] {
        assert!(matches!(who.unpause().await, Err(Error::Unauthorized(_))));
    }
    ok(&admin, admin.unpause().await.unwrap()).await;
    assert!(!relayer.paused().await.unwrap());
    assert!(matches!(admin.unpause().await, Err(Error::InvalidInput(_))));

    // After unpausing, the bad root pays nothing (although it was replaced less than a day
    // ago); the correction pays.
    assert!(matches!(
        relayer.claim(&tree.claim_for(&evm(11)).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        relayer.claim(&claim).await,
        Err(Error::InvalidProof)
    ));
    // The retry path: rebuild the claim from the latest tree (not from the replaced one).
    assert!(matches!(
        relayer.refresh_claim(&evm(10), &tree).await,
        Err(Error::InvalidInput(_))
    ));
    let fresh = relayer.refresh_claim(&evm(10), &tree2).await.unwrap();
    ok(&relayer, relayer.claim(&fresh).await.unwrap()).await;
    ok(
        &relayer,
        relayer
            .claim(&tree2.claim_for(&evm(11)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(relayer.claimed(&evm(10)).await.unwrap(), 150);
    assert_eq!(relayer.claimed(&evm(11)).await.unwrap(), 120);
    assert_eq!(relayer.total_claimed().await.unwrap(), 270);
    assert_eq!(relayer.pool_balance().await.unwrap(), Some(730));

    // Business as usual afterwards: a root published unpaused keeps the previous one claimable.
    let tree3 =
        ClaimTree::new(oracle.claim_format(), vec![(evm(10), 160), (evm(11), 120)]).unwrap();
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(3),
            root: tree3.root(),
            total: 280,
        },
    )
    .await;
    let roots = relayer.claimable_roots().await.unwrap();
    assert_eq!(roots.latest, Some((Epoch(3), tree3.root())));
    let previous = roots
        .previous
        .expect("unpaused publication keeps the previous root");
    assert_eq!((previous.epoch, previous.root), (Epoch(2), tree2.root()));
    ok(
        &relayer,
        relayer
            .claim(&tree3.claim_for(&evm(10)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(relayer.claimed(&evm(10)).await.unwrap(), 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_delays_beyond_uint48_are_refused_before_deploying() {
    let env = Env::new().await;
    let before = tx_count(&env.anvil.url, address_of(&secret(ADMIN))).await;
    assert!(matches!(
        env.deployer.deploy_registry(MAX_ADMIN_DELAY + 1).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        env.deployer
            .deploy_all_with(
                address_of(&secret(ORACLE)),
                address_of(&secret(GUARDIAN)),
                u64::MAX
            )
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        tx_count(&env.anvil.url, address_of(&secret(ADMIN))).await,
        before
    );
    // A real delay deploys (two days), with the chosen guardian.
    let d = env
        .deployer
        .deploy_all_with(
            address_of(&secret(ORACLE)),
            address_of(&secret(GUARDIAN)),
            2 * 24 * 3600,
        )
        .await
        .unwrap();
    assert_eq!(d.guardian, address_of(&secret(GUARDIAN)));
    let guardian = env.handle_on(GUARDIAN, d.distributor).await;
    ok(&guardian, guardian.pause().await.unwrap()).await;
    assert!(guardian.paused().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_root_refuses_an_epoch_gap_too_large_before_sending() {
    let env = Env::new().await;
    let oracle = env.handle(ORACLE).await;
    // Before any root the first epoch may be at most MAX_EPOCH_GAP (the contract's constant).
    assert_eq!(oracle.max_next_epoch().await.unwrap(), Epoch(MAX_EPOCH_GAP));
    let tree = ClaimTree::new(oracle.claim_format(), vec![(evm(10), 100)]).unwrap();
    let root = |epoch: u64| EpochRoot {
        epoch: Epoch(epoch),
        root: tree.root(),
        total: 100,
    };
    let sent = tx_count(&env.anvil.url, address_of(&secret(ORACLE))).await;
    for epoch in [MAX_EPOCH_GAP + 1, u64::MAX - 1, u64::MAX] {
        match oracle.publish_root(&root(epoch)).await {
            Err(Error::EpochGapTooLarge { epoch: e, max }) => {
                assert_eq!((e, max), (Epoch(epoch), Epoch(MAX_EPOCH_GAP)));
            }
            other => panic!("epoch {epoch}: expected EpochGapTooLarge, got {other:?}"),
        }
    }
    assert_eq!(
        tx_count(&env.anvil.url, address_of(&secret(ORACLE))).await,
        sent,
        "a refused epoch must not be sent"
    );
    publish(&oracle, &root(MAX_EPOCH_GAP)).await;
    assert_eq!(
        oracle.max_next_epoch().await.unwrap(),
        Epoch(2 * MAX_EPOCH_GAP)
    );
    // The freeze attack (epoch 2^64-1 after a real epoch) is refused; the largest allowed gap
    // and a normal next epoch still publish.
    for epoch in [u64::MAX, 2 * MAX_EPOCH_GAP + 1] {
        assert!(matches!(
            oracle.publish_root(&root(epoch)).await,
            Err(Error::EpochGapTooLarge {
                max: Epoch(732),
                ..
            })
        ));
    }
    publish(&oracle, &root(2 * MAX_EPOCH_GAP)).await;
    publish(&oracle, &root(2 * MAX_EPOCH_GAP + 1)).await;
    assert_eq!(
        oracle.max_next_epoch().await.unwrap(),
        Epoch(3 * MAX_EPOCH_GAP + 1)
    );
    // Idempotence is checked first: re-publishing a published epoch is still a no-op.
    assert_eq!(
        oracle.publish_root(&root(MAX_EPOCH_GAP)).await.unwrap(),
        PublishOutcome::AlreadyPublished
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_deadlines_beyond_the_registry_cap_are_refused_before_sending() {
    let env = Env::new().await;
    let owner = env.handle(OWNER).await;
    let owner_acct = owner.account().unwrap();
    assert_eq!(
        owner.max_permit_lifetime().await.unwrap(),
        MAX_PERMIT_LIFETIME
    );
    let dev = device_key(0x31);
    let id = DeviceId::from(dev.public_key());
    let now = owner.latest_block_timestamp().await.unwrap();
    let sent = tx_count(&env.anvil.url, address_of(&secret(OWNER))).await;
    // 30 days + 1 hour, the old conformance deadline 2100-01-01, and u64::MAX.
    for far in [now + MAX_PERMIT_LIFETIME + 3600, 4_102_444_800, u64::MAX] {
        let reg = DeviceRegistration::new(id, owner_acct.clone(), b"meta".to_vec(), far);
        match owner.register_with_signer(&reg, &dev).await {
            Err(Error::DeadlineTooFar { deadline, max }) => {
                assert_eq!(deadline, far);
                assert!(
                    max >= now + MAX_PERMIT_LIFETIME && max < now + MAX_PERMIT_LIFETIME + 60,
                    "max {max}, latest block {now}"
                );
            }
            other => panic!("deadline {far}: expected DeadlineTooFar, got {other:?}"),
        }
    }
    assert_eq!(
        tx_count(&env.anvil.url, address_of(&secret(OWNER))).await,
        sent,
        "a refused deadline must not be sent"
    );
    assert!(matches!(owner.device(&id).await, Err(Error::NotFound(_))));
    // 29 days ahead is inside the cap.
    let reg = DeviceRegistration::new(id, owner_acct, b"meta".to_vec(), now + 29 * 86_400);
    ok(
        &owner,
        owner.register_with_signer(&reg, &dev).await.unwrap(),
    )
    .await;
    assert!(owner.device(&id).await.unwrap().active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_nonce_voids_a_stale_registration_permit() {
    let env = Env::new().await;
    let old_owner = env.handle(OWNER).await;
    let new_owner = env.handle(NEW_OWNER).await;
    let relayer = env.handle(STRANGER).await;
    let dev = device_key(0x33);
    let id = DeviceId::from(dev.public_key());

    // The device signs a registration for its first owner, which is never submitted.
    let stale_reg = DeviceRegistration::new(
        id,
        old_owner.account().unwrap(),
        b"meta".to_vec(),
        deadline(),
    );
    let stale = old_owner
        .registration_challenge(&stale_reg)
        .await
        .unwrap()
        .sign(&dev)
        .unwrap();
    assert_eq!(relayer.device_nonce(&id).await.unwrap(), U256::ZERO);

    // Before the device is handed over, it cancels its nonce (any relayer may submit).
    ok(
        &relayer,
        relayer.cancel_nonce(&dev, deadline()).await.unwrap(),
    )
    .await;
    assert_eq!(relayer.device_nonce(&id).await.unwrap(), U256::from(1u8));
    // The previous owner's stale permit no longer registers the device.
    assert!(matches!(
        relayer.register_device(&stale_reg, &stale).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(relayer.device(&id).await, Err(Error::NotFound(_))));

    // A cancellation for the old nonce (a replay) is refused: the nonce moved on.
    let current = relayer.cancel_nonce_permit(&id, deadline()).await.unwrap();
    assert_eq!(current.nonce, U256::from(1u8));
    let replay = CancelNoncePermit {
        nonce: U256::ZERO,
        ..current
    };
    let sig = dev
        .sign_prehash_recoverable(&relayer.cancel_nonce_digest(&replay))
        .unwrap();
    assert!(matches!(
        relayer.use_nonce(&replay, &sig).await,
        Err(Error::InvalidInput(_))
    ));
    // A cancellation signed by another key is an invalid proof.
    let forged = device_key(0x34)
        .sign_prehash_recoverable(&relayer.cancel_nonce_digest(&current))
        .unwrap();
    assert!(matches!(
        relayer.use_nonce(&current, &forged).await,
        Err(Error::InvalidProof)
    ));
    // Deadlines: a passed one is Expired (the contract), one beyond the cap DeadlineTooFar
    // (checked before signing or sending).
    assert!(matches!(
        relayer.cancel_nonce(&dev, 1).await,
        Err(Error::Expired { deadline: 1 })
    ));
    let now = relayer.latest_block_timestamp().await.unwrap();
    let sent = tx_count(&env.anvil.url, address_of(&secret(STRANGER))).await;
    assert!(matches!(
        relayer
            .cancel_nonce(&dev, now + MAX_PERMIT_LIFETIME + 3600)
            .await,
        Err(Error::DeadlineTooFar { .. })
    ));
    assert_eq!(
        tx_count(&env.anvil.url, address_of(&secret(STRANGER))).await,
        sent
    );
    // Only secp256k1 keys can sign EIP-712 cancellations.
    let ed = SigningKey::from_secret_bytes(KeyType::Ed25519, &[9; 32]).unwrap();
    assert!(matches!(
        relayer.cancel_nonce(&ed, deadline()).await,
        Err(Error::Unsupported(_))
    ));
    assert_eq!(relayer.device_nonce(&id).await.unwrap(), U256::from(1u8));

    // The new owner registers with a fresh permit (nonce 1).
    let reg = DeviceRegistration::new(
        id,
        new_owner.account().unwrap(),
        b"meta".to_vec(),
        deadline(),
    );
    ok(
        &new_owner,
        new_owner.register_with_signer(&reg, &dev).await.unwrap(),
    )
    .await;
    assert_eq!(
        relayer.device(&id).await.unwrap().owner,
        new_owner.account().unwrap()
    );
    assert_eq!(relayer.device_nonce(&id).await.unwrap(), U256::from(2u8));
    assert!(matches!(
        relayer.register_device(&stale_reg, &stale).await,
        Err(Error::AlreadyRegistered(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_in_flight_pay_against_the_previous_root_within_the_grace_period() {
    let env = Env::new().await;
    env.fund(10_000).await;
    let oracle = env.handle(ORACLE).await;
    let relayer = env.handle(STRANGER).await;
    let f = oracle.claim_format();
    let t1 = ClaimTree::new(f, vec![(evm(10), 100), (evm(11), 200)]).unwrap();
    let t2 = ClaimTree::new(f, vec![(evm(10), 150), (evm(11), 260), (evm(12), 50)]).unwrap();
    let t3 = ClaimTree::new(f, vec![(evm(10), 170), (evm(11), 260), (evm(12), 50)]).unwrap();
    let root_of = |epoch: u64, t: &ClaimTree| EpochRoot {
        epoch: Epoch(epoch),
        root: t.root(),
        total: t.entries().iter().map(|(_, v)| v).sum(),
    };
    publish(&oracle, &root_of(1, &t1)).await;
    // evm(11) builds its claim against epoch 1; epoch 2 lands before it is sent.
    let in_flight = t1.claim_for(&evm(11)).unwrap();
    publish(&oracle, &root_of(2, &t2)).await;
    let published_at = relayer.latest_block_timestamp().await.unwrap();
    let roots = relayer.claimable_roots().await.unwrap();
    assert_eq!(roots.latest, Some((Epoch(2), t2.root())));
    let previous = roots.previous.unwrap();
    assert_eq!((previous.epoch, previous.root), (Epoch(1), t1.root()));
    assert_eq!(previous.claimable_until, published_at + CLAIM_GRACE_PERIOD);
    assert!(roots.accepts(&t1.root(), published_at));
    // Within the grace period the claim in flight pays (before the fix: InvalidProof) ...
    ok(&relayer, relayer.claim(&in_flight).await.unwrap()).await;
    assert_eq!(relayer.claimed(&evm(11)).await.unwrap(), 200);
    // ... and the latest root then pays only the difference.
    ok(
        &relayer,
        relayer
            .claim(&t2.claim_for(&evm(11)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(relayer.token_balance(&evm(11)).await.unwrap(), Some(260));

    // Epoch 3: root 2 becomes the previous root; root 1, two publications back, is refused.
    publish(&oracle, &root_of(3, &t3)).await;
    assert!(matches!(
        relayer.claim(&t1.claim_for(&evm(10)).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    ok(
        &relayer,
        relayer
            .claim(&t2.claim_for(&evm(10)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(relayer.claimed(&evm(10)).await.unwrap(), 150);

    // One second past the grace period root 2 is refused too ...
    advance_time(&env.anvil.url, CLAIM_GRACE_PERIOD + 1).await;
    let now = relayer.latest_block_timestamp().await.unwrap();
    let roots = relayer.claimable_roots().await.unwrap();
    assert!(!roots.accepts(&t2.root(), now));
    assert!(roots.accepts(&t3.root(), now));
    let stale = t2.claim_for(&evm(12)).unwrap();
    assert!(matches!(
        relayer.claim(&stale).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(relayer.claimed(&evm(12)).await.unwrap(), 0);
    // ... and the retry path (rebuild from the latest tree) pays in full.
    assert!(matches!(
        relayer.refresh_claim(&evm(12), &t2).await,
        Err(Error::InvalidInput(_))
    ));
    for (account, paid) in [(evm(12), 50u128), (evm(10), 20)] {
        let fresh = relayer.refresh_claim(&account, &t3).await.unwrap();
        let before = relayer.claimed(&account).await.unwrap();
        ok(&relayer, relayer.claim(&fresh).await.unwrap()).await;
        assert_eq!(relayer.claimed(&account).await.unwrap(), before + paid);
    }
    assert_eq!(relayer.total_claimed().await.unwrap(), 480);
    assert_eq!(relayer.pool_balance().await.unwrap(), Some(10_000 - 480));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_count_what_was_claimed_and_can_be_lowered() {
    let env = Env::new().await;
    env.fund(10_000).await;
    let oracle = env.handle(ORACLE).await;
    let relayer = env.handle(STRANGER).await;
    let f = oracle.claim_format();
    let t1 = ClaimTree::new(f, vec![(evm(10), 1_000), (evm(11), 500)]).unwrap();
    // An inflated total (9_000 for a tree of 1_500) ...
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(1),
            root: t1.root(),
            total: 9_000,
        },
    )
    .await;
    ok(
        &relayer,
        relayer
            .claim(&t1.claim_for(&evm(10)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    // ... can be lowered again (TotalDecreased used to forbid it), but not below what was paid.
    match oracle
        .publish_root(&EpochRoot {
            epoch: Epoch(2),
            root: t1.root(),
            total: 999,
        })
        .await
    {
        Err(Error::InvalidInput(msg)) => assert!(msg.contains("1000"), "{msg}"),
        other => panic!("expected TotalBelowClaimed as InvalidInput, got {other:?}"),
    }
    assert_eq!(oracle.publishable_total(&t1).await.unwrap(), 1_500);
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(2),
            root: t1.root(),
            total: 1_500,
        },
    )
    .await;
    assert_eq!(oracle.latest_total().await.unwrap(), 1_500);

    // A correction lowers evm(10) to 400 (slashed; it was paid 1_000) and raises evm(11) to 800.
    let t2 = ClaimTree::new(f, vec![(evm(10), 400), (evm(11), 800)]).unwrap();
    let naive: u128 = t2.entries().iter().map(|(_, v)| v).sum();
    assert_eq!(naive, 1_200);
    let total = oracle.publishable_total(&t2).await.unwrap();
    assert_eq!(total, 1_800, "max(400, 1000) + max(800, 0)");
    // With the naive total, evm(11)'s honest claim would exceed it.
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(3),
            root: t2.root(),
            total: naive,
        },
    )
    .await;
    ok(&oracle, oracle.close_grace_period().await.unwrap()).await;
    assert_eq!(relayer.claimable_roots().await.unwrap().previous, None);
    assert!(matches!(
        relayer.claim(&t1.claim_for(&evm(11)).unwrap()).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        relayer.claim(&t2.claim_for(&evm(11)).unwrap()).await,
        Err(Error::InvalidInput(_))
    ));
    // With the right total it pays; the slashed account gets nothing more.
    publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(4),
            root: t2.root(),
            total,
        },
    )
    .await;
    ok(
        &relayer,
        relayer
            .claim(&t2.claim_for(&evm(11)).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(relayer.claimed(&evm(11)).await.unwrap(), 800);
    assert!(matches!(
        relayer.claim(&t2.claim_for(&evm(10)).unwrap()).await,
        Err(Error::AlreadyClaimed {
            cumulative: 400,
            claimed: 1_000,
            ..
        })
    ));
    assert_eq!(relayer.total_claimed().await.unwrap(), 1_800);
    // A tree in another format is refused.
    let other = ClaimTree::new(ClaimFormat::OpenZeppelin, vec![(evm(10), 1)]).unwrap();
    assert!(matches!(
        oracle.publishable_total(&other).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_is_timelocked_and_needs_the_pause() {
    let env = Env::new().await;
    let dist = env.second_distributor(GUARDIAN, 1_000).await;
    let admin = env.handle_on(ADMIN, dist).await;
    let guardian = env.handle_on(GUARDIAN, dist).await;
    let oracle = env.handle_on(ORACLE, dist).await;
    let to = evm(12);
    assert_eq!(admin.pending_recovery().await.unwrap(), None);
    // Not while unpaused.
    assert!(matches!(
        admin.propose_recovery(&to, 600).await,
        Err(Error::InvalidInput(_))
    ));
    ok(&guardian, guardian.pause().await.unwrap()).await;
    for who in [&guardian, &oracle] {
        assert!(matches!(
            who.propose_recovery(&to, 600).await,
            Err(Error::Unauthorized(_))
        ));
    }
    assert!(matches!(
        admin.propose_recovery(&to, 0).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        admin.execute_recovery().await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        admin.cancel_recovery().await,
        Err(Error::NotFound(_))
    ));
    ok(&admin, admin.propose_recovery(&to, 600).await.unwrap()).await;
    let proposed_at = admin.latest_block_timestamp().await.unwrap();
    assert_eq!(
        admin.pending_recovery().await.unwrap(),
        Some(PendingRecovery {
            to: to.clone(),
            amount: 600,
            executable_at: proposed_at + RECOVERY_DELAY,
        })
    );
    assert!(matches!(
        admin.propose_recovery(&to, 1).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        admin.execute_recovery().await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        oracle.cancel_recovery().await,
        Err(Error::Unauthorized(_))
    ));
    // The guardian cancels.
    ok(&guardian, guardian.cancel_recovery().await.unwrap()).await;
    assert_eq!(admin.pending_recovery().await.unwrap(), None);
    // Proposed again: not a minute early, then exactly the amount moves.
    ok(&admin, admin.propose_recovery(&to, 600).await.unwrap()).await;
    advance_time(&env.anvil.url, RECOVERY_DELAY - 60).await;
    assert!(matches!(
        admin.execute_recovery().await,
        Err(Error::InvalidInput(_))
    ));
    advance_time(&env.anvil.url, 120).await;
    ok(&admin, admin.execute_recovery().await.unwrap()).await;
    assert_eq!(admin.token_balance(&to).await.unwrap(), Some(600));
    assert_eq!(admin.pool_balance().await.unwrap(), Some(400));
    assert_eq!(admin.pending_recovery().await.unwrap(), None);
}

/// Epoch roots signed by a quorum of oracles on the Solidity distributor (issue 16): the admin
/// schedules a 3-oracle set with threshold 2 behind the 2-day delay; once it is in effect the
/// single oracle is refused, a root two honest oracles signed is published by anyone while the
/// third oracle's lie is kept as dissent, and with two disagreeing liars nothing reaches the
/// threshold and claims keep working against the previous root. The contract's digest is the
/// Rust `RootStatement::digest`. Attacks: too few signatures, a stranger's signature, a repeated
/// signer, a signature for another chain. Then the gas of `publishQuorumRoot` for n = 3, 5, 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oracle_quorum_publishes_roots_on_the_evm_distributor() {
    use depin_chains::evm::ORACLE_SET_DELAY;
    use depin_chains::quorum::{OracleSet, Quorum, RootStatement};
    use depin_core::{Domain, NetworkId};

    let env = Env::new().await;
    env.fund(10_000).await;
    let admin = env.handle(ADMIN).await;
    let oracle = env.handle(ORACLE).await;
    let relayer = env.handle(STRANGER).await;
    let network = NetworkId::new("quorum-net").unwrap();
    let domain = Domain::new(network).with_chain_id(env.chain_id);
    let keys: Vec<SigningKey> = (0..3u8)
        .map(|i| SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x90 + i; 32]).unwrap())
        .collect();
    let set = OracleSet::new(keys.iter().map(|k| DeviceId::from(k.public_key())), 2).unwrap();

    // epoch 1 by the single oracle, before any set exists
    let tree1 =
        ClaimTree::new(oracle.claim_format(), vec![(evm(10), 100), (evm(11), 200)]).unwrap();
    let root1 = EpochRoot {
        epoch: Epoch(1),
        root: tree1.root(),
        total: 300,
    };
    publish(&oracle, &root1).await;
    let honest_quorum = |statement: &RootStatement, signers: &[usize]| -> Quorum {
        let votes: Vec<_> = signers
            .iter()
            .map(|&i| statement.sign(&domain, &keys[i]).unwrap())
            .collect();
        set.tally(&domain, &statement.distributor, statement.epoch, &votes)
            .unwrap()
    };
    let tree2 =
        ClaimTree::new(oracle.claim_format(), vec![(evm(10), 150), (evm(11), 400)]).unwrap();
    let root2 = EpochRoot {
        epoch: Epoch(2),
        root: tree2.root(),
        total: 550,
    };
    let statement2 = relayer.root_statement(&root2);
    let q2 = honest_quorum(&statement2, &[0, 1]);
    // no set in effect: a quorum has nothing to be checked against
    assert!(matches!(
        relayer.publish_quorum_root(&q2).await,
        Err(Error::Unsupported(_))
    ));

    // scheduling: admin only, at least two days ahead
    let now = relayer.latest_block_timestamp().await.unwrap();
    assert!(matches!(
        relayer
            .schedule_oracle_set(&network, &set, now + ORACLE_SET_DELAY + 60)
            .await,
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        admin
            .schedule_oracle_set(&network, &set, now + ORACLE_SET_DELAY / 2)
            .await,
        Err(Error::InvalidInput(_))
    ));
    ok(
        &admin,
        admin
            .schedule_oracle_set(&network, &set, now + ORACLE_SET_DELAY + 60)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        relayer.evm_oracle_set().await.unwrap(),
        None,
        "not yet in effect"
    );
    advance_time(&env.anvil.url, ORACLE_SET_DELAY + 120).await;
    let in_effect = relayer.evm_oracle_set().await.unwrap().unwrap();
    assert_eq!((in_effect.threshold, &in_effect.network), (2, &network));
    assert_eq!(in_effect.oracles.len(), 3);

    // the single oracle can publish nothing any more
    assert!(matches!(
        oracle.publish_root(&root2).await,
        Err(Error::Unauthorized(_))
    ));
    // the contract's digest is the Rust statement digest, byte for byte
    assert_eq!(
        relayer
            .statement_digest(root2.epoch, root2.root, root2.total)
            .await
            .unwrap(),
        Some(statement2.digest(&domain).unwrap())
    );

    // attacks, each refused before anything changes
    let mut one = q2.clone();
    one.signers.truncate(1);
    one.signatures.truncate(1);
    assert!(matches!(
        relayer.publish_quorum_root(&one).await,
        Err(Error::Unauthorized(m)) if m.contains("needed")
    ));
    let stranger_key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x99; 32]).unwrap();
    let mut with_stranger = q2.clone();
    with_stranger.signers[1] = DeviceId::from(stranger_key.public_key());
    with_stranger.signatures[1] = stranger_key
        .sign_prehash(&statement2.digest(&domain).unwrap())
        .unwrap();
    assert!(matches!(
        relayer.publish_quorum_root(&with_stranger).await,
        Err(Error::Unauthorized(m)) if m.contains("not in the oracle set")
    ));
    let mut repeated = q2.clone();
    repeated.signers[1] = repeated.signers[0];
    repeated.signatures[1] = repeated.signatures[0];
    // a signer listed twice counts once: too few distinct signers
    assert!(matches!(
        relayer.publish_quorum_root(&repeated).await,
        Err(Error::Unauthorized(m)) if m.contains("needed")
    ));
    let other_chain = Domain::new(network).with_chain_id(env.chain_id + 1);
    let mut foreign = q2.clone();
    for (i, sig) in foreign.signatures.iter_mut().enumerate() {
        let signer = if q2.signers[i] == DeviceId::from(keys[0].public_key()) {
            0
        } else {
            1
        };
        *sig = keys[signer]
            .sign_prehash(&statement2.digest(&other_chain).unwrap())
            .unwrap();
    }
    assert!(matches!(
        relayer.publish_quorum_root(&foreign).await,
        Err(Error::InvalidProof)
    ));
    // a statement for another distributor
    let mut elsewhere = q2.clone();
    elsewhere.statement.distributor = vec![0x11; 20];
    assert!(matches!(
        relayer.publish_quorum_root(&elsewhere).await,
        Err(Error::InvalidProof)
    ));
    assert_eq!(relayer.epoch_root(Epoch(2)).await.unwrap(), None);

    // oracle 2 lies; the two honest signatures publish, by anyone, and the lie is dissent
    let lie = RootStatement {
        root: [0x66; 32],
        ..statement2.clone()
    };
    let votes = vec![
        statement2.sign(&domain, &keys[0]).unwrap(),
        statement2.sign(&domain, &keys[1]).unwrap(),
        lie.sign(&domain, &keys[2]).unwrap(),
    ];
    let quorum = set
        .tally(&domain, &statement2.distributor, Epoch(2), &votes)
        .unwrap();
    assert_eq!(quorum.dissent.len(), 1);
    assert_eq!(quorum.dissent[0].statement, lie);
    let PublishOutcome::Published(tx) = relayer.publish_quorum_root(&quorum).await.unwrap() else {
        panic!("a new epoch is published")
    };
    ok(&relayer, tx).await;
    assert_eq!(relayer.epoch_root(Epoch(2)).await.unwrap(), Some(root2));
    assert_eq!(
        relayer.publish_quorum_root(&quorum).await.unwrap(),
        PublishOutcome::AlreadyPublished
    );

    // two liars who disagree: nothing reaches the threshold, nothing is published, and
    // claims go on against the latest published root
    let s3 = RootStatement::new(statement2.distributor.clone(), Epoch(3), [0x31; 32], 600);
    let votes = vec![
        s3.sign(&domain, &keys[0]).unwrap(),
        RootStatement {
            root: [0x32; 32],
            ..s3.clone()
        }
        .sign(&domain, &keys[1])
        .unwrap(),
        RootStatement {
            root: [0x33; 32],
            ..s3.clone()
        }
        .sign(&domain, &keys[2])
        .unwrap(),
    ];
    assert!(set
        .tally(&domain, &s3.distributor, Epoch(3), &votes)
        .is_err());
    assert_eq!(relayer.epoch_root(Epoch(3)).await.unwrap(), None);
    let claim = tree2.claim_for(&evm(11)).unwrap();
    ok(&relayer, relayer.claim(&claim).await.unwrap()).await;
    assert_eq!(relayer.claimed(&evm(11)).await.unwrap(), 400);

    // Gas of publishing epoch 2 (epoch 1 published, so the same storage slots change from the
    // same values) on fresh distributors: by the single oracle, and by quorums of n = 3, 5, 7
    // oracles with exactly the threshold (2, 3, 4) of signatures, what a relayer submits.
    let first = |_: EvmAddress| EpochRoot {
        epoch: Epoch(1),
        root: [0x41; 32],
        total: 0,
    };
    let second = EpochRoot {
        epoch: Epoch(2),
        root: [0x42; 32],
        total: 0,
    };
    let single = {
        let d = env.second_distributor(GUARDIAN, 0).await;
        let o = env.handle_on(ORACLE, d).await;
        publish(&o, &first(d)).await;
        let PublishOutcome::Published(tx) = o.publish_root(&second).await.unwrap() else {
            panic!("new epoch")
        };
        ok(&o, tx).await;
        gas_used(&env.anvil.url, &tx).await
    };
    let mut figures = Vec::new();
    for (n, t) in [(3usize, 2usize), (5, 3), (7, 4)] {
        let d = env.second_distributor(GUARDIAN, 0).await;
        let o = env.handle_on(ORACLE, d).await;
        let a = env.handle_on(ADMIN, d).await;
        let r = env.handle_on(STRANGER, d).await;
        publish(&o, &first(d)).await;
        let keys: Vec<SigningKey> = (0..n as u8)
            .map(|i| SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0xa0 + i; 32]).unwrap())
            .collect();
        let set = OracleSet::new(keys.iter().map(|k| DeviceId::from(k.public_key())), t).unwrap();
        let now = r.latest_block_timestamp().await.unwrap();
        ok(
            &a,
            a.schedule_oracle_set(&network, &set, now + ORACLE_SET_DELAY + 60)
                .await
                .unwrap(),
        )
        .await;
        advance_time(&env.anvil.url, ORACLE_SET_DELAY + 120).await;
        let statement = r.root_statement(&second);
        let votes: Vec<_> = keys[..t]
            .iter()
            .map(|k| statement.sign(&domain, k).unwrap())
            .collect();
        let quorum = set
            .tally(&domain, &statement.distributor, Epoch(2), &votes)
            .unwrap();
        assert_eq!(quorum.signers.len(), t);
        let PublishOutcome::Published(tx) = r.publish_quorum_root(&quorum).await.unwrap() else {
            panic!("new epoch")
        };
        ok(&r, tx).await;
        assert_eq!(r.epoch_root(Epoch(2)).await.unwrap(), Some(second));
        figures.push((n, t, gas_used(&env.anvil.url, &tx).await));
    }
    println!("publishRoot by the single oracle: {single} gas");
    for (n, t, gas) in &figures {
        println!(
            "publishQuorumRoot n={n} t={t}: {gas} gas ({:+} vs. publishRoot)",
            *gas as i64 - single as i64
        );
    }
    // each further signature costs an ecrecover, calldata and a set lookup
    assert!(figures.windows(2).all(|w| w[1].2 > w[0].2), "{figures:?}");
    assert!(figures[0].2 > single, "{figures:?} vs {single}");
}
