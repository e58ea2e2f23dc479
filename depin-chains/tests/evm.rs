//! Integration tests of the EVM backend against a real anvil node.
//!
//! Needs Node.js and `contracts/node_modules` (`cd contracts && npm ci`): anvil comes from the
//! `@foundry-rs/anvil` npm package, and the independent checks use viem and the contracts build.
//! When either is missing the tests FAIL with that instruction; they never pass silently.
//!
//! Run: `cargo test -p depin-chains --features evm --test evm`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_chains::claims::ClaimTree;
use depin_chains::conformance::{default_claimants, run_conformance, Fixtures, MIN_POOL};
use depin_chains::evm::deploy::{Deployer, Deployment};
use depin_chains::evm::{device_address, EvmBackend, RegisterPermit};
use depin_chains::{
    Account, ChainBackend, Claim, ClaimFormat, DeviceRegistration, EpochRoot, Error, EvmConfig,
    PublishOutcome, RegistrationChallenge, RegistrationProof, RetryPolicy, SecretKeyBytes,
    TxStatus,
};
use depin_core::{DeviceId, Epoch, EvmAddress, KeyType, SigningKey};

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
        let mut child = Command::new(anvil_path())
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
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
        let anvil = Anvil::start();
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

fn far_deadline() -> u64 {
    4_102_444_800 // 2100-01-01
}

async fn ok(b: &dyn ChainBackend, tx: depin_chains::TxHandle) {
    let r = b.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(r.status, TxStatus::Success, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evm_backend_passes_the_conformance_suite() {
    // The suite's main handle must be admin and oracle: deploy with the deployer as oracle.
    let env = Env::with_oracle(ADMIN).await;
    env.fund(10 * MIN_POOL).await;
    let admin: Arc<dyn ChainBackend> = Arc::new(env.handle(ADMIN).await);
    let fixtures = Fixtures {
        owner: Arc::new(env.handle(OWNER).await),
        outsider: Arc::new(env.handle(STRANGER).await),
        key_types: vec![KeyType::Secp256k1],
        claimants: default_claimants(ClaimFormat::OpenZeppelin, "wasm", [3; 32]).unwrap(),
        first_epoch: Epoch(1),
        seed: [9; 32],
        latest_root_only: true,
        fresh: true,
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
            "contracts/artifacts are stale (rebuild with contracts/build.sh and commit):\n{}",
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
        far_deadline(),
    );
    let challenge = backend.registration_challenge(&reg).await.unwrap();
    let RegistrationChallenge::Eip712 { digest } = challenge else {
        panic!("EVM challenges are EIP-712: {challenge:?}")
    };
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

    let reg = DeviceRegistration::new(id, owner_acct.clone(), b"meta".to_vec(), far_deadline());
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
    // Ed25519 devices cannot register on the EVM registry.
    let ed = SigningKey::from_secret_bytes(KeyType::Ed25519, &[9; 32]).unwrap();
    let ed_reg = DeviceRegistration::new(
        DeviceId::from(ed.public_key()),
        owner_acct.clone(),
        vec![],
        far_deadline(),
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
        far_deadline(),
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
        ClaimFormat::OpenZeppelin,
        vec![(evm(10), 100), (evm(11), 250), (evm(12), 1_000)],
    )
    .unwrap();
    let claim = tree.claim_for(&evm(10)).unwrap();
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
        ClaimFormat::OpenZeppelin,
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
    // The old proof no longer verifies against the latest root.
    assert!(matches!(
        stranger.claim(&claim).await,
        Err(Error::InvalidProof)
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
        ClaimFormat::OpenZeppelin,
        accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), 1_000 + i as u128))
            .collect(),
    )
    .unwrap();
    let tx = oracle
        .publish_root(&EpochRoot {
            epoch: Epoch(5),
            root: tree.root(),
            total: 0,
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
                far_deadline(),
            );
            let tx = b.register_with_signer(&reg, &dev).await?;
            b.wait_for_receipt(&tx).await
        }));
    }
    let mut blocks = Vec::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.status, TxStatus::Success, "{r:?}");
        blocks.push(r.block);
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
    // Anvil mines one transaction per block in automine mode: 20 distinct blocks.
    blocks.sort_unstable();
    blocks.dedup();
    assert_eq!(blocks.len(), 20);
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
