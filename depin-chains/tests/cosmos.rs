//! Tests of the Cosmos backend that need no Cosmos node (none can be installed here).
//!
//! What they prove, and what they do not (see `docs/chains-evm-cosmos.md`):
//! - signed transaction bytes decode and verify with `@cosmjs/proto-signing` / `@cosmjs/crypto`
//!   (`contracts/js/cosmjs-verify.mjs`), and carry exactly our execute-message JSON;
//! - the backend's RPC flow (account query, simulation, gas from simulation, broadcast, receipts,
//!   sequence handling across several transactions, re-sync after a foreign transaction, retry of
//!   a failed HTTP request, error mapping) against a MOCK CometBFT JSON-RPC server defined below,
//!   whose "contracts" are a few lines of Rust, not the real CosmWasm code;
//! - our cw20-format roots and proofs match the published cw20-merkle-airdrop test vector.
//!
//! Needs Node.js and `contracts/node_modules` (`cd contracts && npm ci`) for the CosmJS check; the
//! test FAILS with that instruction if they are missing.
//!
//! Run: `cargo test -p depin-chains --features cosmos --test cosmos`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use depin_chains::prelude::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::base::abci::v1beta1::GasInfo;
use cosmrs::proto::cosmos::tx::v1beta1::{
    AuthInfo, SimulateRequest, SimulateResponse, TxBody, TxRaw,
};
use cosmrs::proto::cosmwasm::wasm::v1::{
    MsgExecuteContract, QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use cosmrs::proto::prost::Message;
use cosmrs::Any;
use depin_chains::claims::{verify_claim, ClaimTree};
use depin_chains::cosmos::msgs::AirdropExecute;
use depin_chains::cosmos::tx::{execute_contract, sign_tx, CosmosSigner, TxParams};
use depin_chains::cosmos::CosmosBackend;
use depin_chains::{
    Account, Claim, ClaimFormat, CosmosConfig, EpochRoot, Error, PublishOutcome, RetryPolicy,
    SecretKeyBytes, TxStatus,
};
use depin_core::Epoch;
use serde_json::{json, Value};

#[path = "support/js.rs"]
mod js;
use js::run_js;
use sha2::{Digest, Sha256};

const HOW_TO: &str = "install the JavaScript tools once with `cd contracts && npm ci`, then run \
                      `cargo test -p depin-chains --features cosmos --test cosmos`";
const CHAIN: &str = "testing-1";
const PREFIX: &str = "wasm";

fn signer(n: u8) -> CosmosSigner {
    CosmosSigner::new(&[n; 32], PREFIX).unwrap()
}

fn contract(n: u8) -> String {
    // 32-byte contract addresses, as wasmd derives them.
    let id = Sha256::digest([n]);
    cosmrs::AccountId::new(PREFIX, &id).unwrap().to_string()
}

#[test]
fn signed_transactions_verify_with_cosmjs() {
    let s = signer(0x21);
    let distributor: cosmrs::AccountId = contract(2).parse().unwrap();
    for (sequence, account_number) in [(0u64, 1u64), (7, 42), (8, 42)] {
        let msg = AirdropExecute::Claim {
            stage: 3,
            amount: "1234".into(),
            proof: vec!["ab".repeat(32), "cd".repeat(32)],
        };
        let any = execute_contract(s.address(), &distributor, &msg).unwrap();
        let params = TxParams {
            chain_id: CHAIN.into(),
            account_number,
            sequence,
            gas_limit: 123_456,
            fee_amount: 3_087,
            fee_denom: "ucosm".into(),
            memo: "depin-rs".into(),
        };
        let raw = sign_tx(&s, vec![any], &params).unwrap();
        let out = run_js(
            "cosmjs-verify.mjs",
            &json!({
                "txRawHex": hex::encode(&raw),
                "pubkeyHex": hex::encode(s.public_key_bytes()),
                "chainId": CHAIN,
                "accountNumber": account_number.to_string(),
            }),
            HOW_TO,
        );
        assert_eq!(out["valid"], true, "{out}");
        assert_eq!(out["sequence"], sequence.to_string());
        assert_eq!(out["gasLimit"], "123456");
        assert_eq!(out["memo"], "depin-rs");
        assert_eq!(out["fee"], json!([{"denom": "ucosm", "amount": "3087"}]));
        let m = &out["messages"][0];
        assert_eq!(m["typeUrl"], "/cosmwasm.wasm.v1.MsgExecuteContract");
        assert_eq!(m["decoded"]["sender"], s.address().to_string());
        assert_eq!(m["decoded"]["contract"], distributor.to_string());
        assert_eq!(
            m["decoded"]["msg"],
            json!({"claim": {"stage": 3, "amount": "1234", "proof": ["ab".repeat(32), "cd".repeat(32)]}})
        );
        // The same bytes with a different account number do not verify (the SignDoc binds it).
        let wrong = run_js(
            "cosmjs-verify.mjs",
            &json!({
                "txRawHex": hex::encode(&raw),
                "pubkeyHex": hex::encode(s.public_key_bytes()),
                "chainId": CHAIN,
                "accountNumber": (account_number + 1).to_string(),
            }),
            HOW_TO,
        );
        assert_eq!(wrong["valid"], false);
    }
}

#[test]
fn our_cw20_trees_match_the_published_cw20_merkle_airdrop_vector() {
    // cw-tokens contracts/cw20-merkle-airdrop/testdata/airdrop_stage_1_test_data.json
    let root = hex32("b45c1ea28b26adb13e412933c9e055b01fdf7585304b00cd8f1cb220aa6c5e88");
    let claim = Claim {
        account: Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq").unwrap(),
        cumulative_amount: 100,
        proof: vec![
            hex32("a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1"),
            hex32("fb57090a813128eeb953a4210dd64ee73d2632b8158231effe2f0a18b2d3b5dd"),
            hex32("c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343"),
        ],
    };
    assert!(verify_claim(ClaimFormat::Cw20MerkleAirdrop, &root, &claim).unwrap());
    let wrong = Claim {
        cumulative_amount: 101,
        ..claim.clone()
    };
    assert!(!verify_claim(ClaimFormat::Cw20MerkleAirdrop, &root, &wrong).unwrap());
    // The claim message we send for it is the contract's own format.
    let msg = AirdropExecute::Claim {
        stage: 1,
        amount: claim.cumulative_amount.to_string(),
        proof: claim.proof.iter().map(hex::encode).collect(),
    };
    assert_eq!(
        serde_json::to_value(msg).unwrap(),
        json!({"claim": {"stage": 1, "amount": "100", "proof": [
            "a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1",
            "fb57090a813128eeb953a4210dd64ee73d2632b8158231effe2f0a18b2d3b5dd",
            "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343"]}})
    );
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

// ------------------------------------------------------------------------------------------
// A mock CometBFT JSON-RPC node with two toy "contracts" (distributor and registry queries).
// It checks what a real node checks about sequences: the signer info's sequence must equal the
// account's, in simulation and in CheckTx.

#[derive(Default)]
struct Chain {
    account_number: u64,
    sequences: HashMap<String, u64>,
    oracle: String,
    stages: Vec<(String, String)>, // (root hex, total)
    claimed: HashMap<String, u128>,
    txs: HashMap<[u8; 32], (u64, u32, String)>,
    height: u64,
    fail_next_http: u32,
    simulations: u32,
    broadcasts: Vec<(u64, u64)>, // (sequence, gas limit)
}

type Shared = Arc<Mutex<Chain>>;

struct MockNode {
    url: String,
    chain: Shared,
}

impl MockNode {
    fn start(chain: Chain) -> MockNode {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let chain = Arc::new(Mutex::new(chain));
        let c = chain.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let c = c.clone();
                std::thread::spawn(move || serve(stream, &c));
            }
        });
        MockNode { url, chain }
    }
}

fn serve(mut stream: TcpStream, chain: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let req: Value = serde_json::from_slice(&body).unwrap();
    let (status, answer) = {
        let mut c = chain.lock().unwrap();
        if c.fail_next_http > 0 {
            c.fail_next_http -= 1;
            ("503 Service Unavailable", json!({}))
        } else {
            let result = handle(&mut c, req["method"].as_str().unwrap(), &req["params"]);
            let answer = match result {
                Ok(r) => json!({"jsonrpc": "2.0", "id": req["id"], "result": r}),
                Err(e) => json!({"jsonrpc": "2.0", "id": req["id"],
                                  "error": {"code": -32603, "message": "Internal error", "data": e}}),
            };
            ("200 OK", answer)
        }
    };
    let text = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn abci(code: u32, log: &str, value: &[u8]) -> Value {
    json!({"response": {"code": code, "log": log, "value": B64.encode(value), "height": "1"}})
}

fn handle(c: &mut Chain, method: &str, params: &Value) -> Result<Value, String> {
    match method {
        "status" => Ok(json!({"node_info": {"network": CHAIN}})),
        "abci_query" => {
            let data = hex::decode(params["data"].as_str().unwrap()).unwrap();
            Ok(match params["path"].as_str().unwrap() {
                "/cosmos.auth.v1beta1.Query/Account" => {
                    let req = QueryAccountRequest::decode(data.as_slice()).unwrap();
                    let seq = *c.sequences.get(&req.address).unwrap_or(&0);
                    let acct = BaseAccount {
                        address: req.address,
                        pub_key: None,
                        account_number: c.account_number,
                        sequence: seq,
                    };
                    let resp = QueryAccountResponse {
                        account: Some(Any {
                            type_url: "/cosmos.auth.v1beta1.BaseAccount".into(),
                            value: acct.encode_to_vec(),
                        }),
                    };
                    abci(0, "", &resp.encode_to_vec())
                }
                "/cosmos.tx.v1beta1.Service/Simulate" => {
                    c.simulations += 1;
                    #[allow(deprecated)]
                    let req = SimulateRequest::decode(data.as_slice()).unwrap();
                    match check_and_run(c, &req.tx_bytes, false) {
                        Ok(()) => {
                            let resp = SimulateResponse {
                                gas_info: Some(GasInfo {
                                    gas_wanted: 0,
                                    gas_used: 100_000,
                                }),
                                result: None,
                            };
                            abci(0, "", &resp.encode_to_vec())
                        }
                        Err((_, log)) => abci(18, &log, &[]),
                    }
                }
                "/cosmwasm.wasm.v1.Query/SmartContractState" => {
                    let req = QuerySmartContractStateRequest::decode(data.as_slice()).unwrap();
                    let q: Value = serde_json::from_slice(&req.query_data).unwrap();
                    match query(c, &q) {
                        Ok(v) => {
                            let resp = QuerySmartContractStateResponse {
                                data: serde_json::to_vec(&v).unwrap(),
                            };
                            abci(0, "", &resp.encode_to_vec())
                        }
                        Err(log) => abci(1, &log, &[]),
                    }
                }
                other => return Err(format!("unknown path {other}")),
            })
        }
        "broadcast_tx_sync" => {
            let tx = B64.decode(params["tx"].as_str().unwrap()).unwrap();
            let hash: [u8; 32] = Sha256::digest(&tx).into();
            match check_and_run(c, &tx, true) {
                Ok(()) => {
                    c.height += 1;
                    c.txs.insert(hash, (c.height, 0, String::new()));
                    Ok(
                        json!({"code": 0, "codespace": "", "log": "[]", "hash": hex::encode_upper(hash)}),
                    )
                }
                Err((code, log)) => {
                    Ok(json!({"code": code, "codespace": "sdk", "log": log, "hash": ""}))
                }
            }
        }
        "tx" => {
            let hash = B64.decode(params["hash"].as_str().unwrap()).unwrap();
            let hash: [u8; 32] = hash.try_into().unwrap();
            match c.txs.get(&hash) {
                Some((h, code, log)) => {
                    Ok(json!({"height": h.to_string(), "tx_result": {"code": code, "log": log}}))
                }
                None => Err(format!("tx ({}) not found", hex::encode_upper(hash))),
            }
        }
        other => Err(format!("unknown method {other}")),
    }
}

/// Check the sequence and run the execute messages; on `commit` apply them and bump the sequence.
fn check_and_run(c: &mut Chain, tx: &[u8], commit: bool) -> Result<(), (u32, String)> {
    let raw = TxRaw::decode(tx).unwrap();
    let body = TxBody::decode(raw.body_bytes.as_slice()).unwrap();
    let auth = AuthInfo::decode(raw.auth_info_bytes.as_slice()).unwrap();
    let seq = auth.signer_infos[0].sequence;
    let msg = MsgExecuteContract::decode(body.messages[0].value.as_slice()).unwrap();
    let expected = *c.sequences.get(&msg.sender).unwrap_or(&0);
    if seq != expected {
        return Err((
            32,
            format!("account sequence mismatch, expected {expected}, got {seq}: incorrect account sequence"),
        ));
    }
    if commit {
        let gas = auth.fee.as_ref().unwrap().gas_limit;
        c.broadcasts.push((seq, gas));
    }
    let m: Value = serde_json::from_slice(&msg.msg).unwrap();
    let wrap = |s: &str| {
        (
            5u32,
            format!(
                "failed to execute message; message index: 0: {s}: execute wasm contract failed"
            ),
        )
    };
    if let Some(r) = m.get("register_merkle_root") {
        if msg.sender != c.oracle {
            return Err(wrap("Unauthorized"));
        }
        if commit {
            c.stages.push((
                r["merkle_root"].as_str().unwrap().into(),
                r["total_amount"].as_str().unwrap().into(),
            ));
        }
    } else if let Some(cl) = m.get("claim") {
        let stage = cl["stage"].as_u64().unwrap() as usize;
        let (root, _) = c.stages.get(stage - 1).cloned().unwrap();
        let amount: u128 = cl["amount"].as_str().unwrap().parse().unwrap();
        let proof: Vec<String> = serde_json::from_value(cl["proof"].clone()).unwrap();
        let ok =
            depin_rewards::claims::cw20::verify_hex(&root, &msg.sender, amount, &proof).unwrap();
        if !ok {
            return Err(wrap("Verification failed"));
        }
        if amount <= *c.claimed.get(&msg.sender).unwrap_or(&0) {
            return Err(wrap("Already claimed"));
        }
        if commit {
            c.claimed.insert(msg.sender.clone(), amount);
        }
    } else {
        return Err(wrap("unknown message"));
    }
    if commit {
        *c.sequences.entry(msg.sender).or_insert(0) += 1;
    }
    Ok(())
}

fn query(c: &Chain, q: &Value) -> Result<Value, String> {
    if q.get("latest_stage").is_some() {
        return Ok(json!({"latest_stage": c.stages.len()}));
    }
    if let Some(m) = q.get("merkle_root") {
        let s = m["stage"].as_u64().unwrap() as usize;
        let (root, total) = c.stages.get(s - 1).ok_or("stage not found")?;
        return Ok(
            json!({"stage": s, "merkle_root": root, "expiration": {"never": {}}, "start": null, "total_amount": total}),
        );
    }
    if let Some(m) = q.get("claimed_amount") {
        let a = m["address"].as_str().unwrap();
        return Ok(json!({"claimed": c.claimed.get(a).unwrap_or(&0).to_string()}));
    }
    Err("Error parsing into type: unknown variant".into())
}

fn config(url: &str, who: u8) -> CosmosConfig {
    CosmosConfig {
        rpc_url: url.into(),
        chain_id: CHAIN.into(),
        account_prefix: PREFIX.into(),
        registry_contract: contract(1),
        distributor_contract: contract(2),
        signer: SecretKeyBytes([who; 32]),
        fee_denom: "ucosm".into(),
        gas_price: "0.025".into(),
        gas_adjustment_percent: 130,
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            multiplier: 2,
        },
        receipt_timeout: Duration::from_secs(5),
    }
}

fn addr(n: u8) -> String {
    signer(n).address().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_flow_sequences_gas_and_errors_against_a_mock_node() {
    let node = MockNode::start(Chain {
        account_number: 9,
        oracle: addr(1),
        sequences: HashMap::from([(addr(1), 4)]),
        ..Chain::default()
    });
    let oracle = CosmosBackend::connect(&config(&node.url, 1)).await.unwrap();
    let alice = CosmosBackend::connect(&config(&node.url, 2)).await.unwrap();
    let bob = CosmosBackend::connect(&config(&node.url, 3)).await.unwrap();
    let acct = |n: u8| Account::cosmos(&addr(n)).unwrap();

    // Wrong chain id is refused at connect.
    let mut wrong = config(&node.url, 1);
    wrong.chain_id = "other-1".into();
    assert!(matches!(
        CosmosBackend::connect(&wrong).await,
        Err(Error::Config(_))
    ));

    let tree = ClaimTree::new(
        ClaimFormat::Cw20MerkleAirdrop,
        vec![(acct(2), 100), (acct(3), 250), (acct(4), 7)],
    )
    .unwrap();
    assert!(matches!(
        alice.claim(&tree.claim_for(&acct(2)).unwrap()).await,
        Err(Error::NoRoot)
    ));
    let root = EpochRoot {
        epoch: Epoch(1),
        root: tree.root(),
        total: 357,
    };
    // Only the contract owner (oracle) may register roots: the simulation says so.
    assert!(matches!(
        alice.publish_root(&root).await,
        Err(Error::Unauthorized(_))
    ));
    // A failing HTTP request is retried.
    node.chain.lock().unwrap().fail_next_http = 2;
    let PublishOutcome::Published(tx) = oracle.publish_root(&root).await.unwrap() else {
        panic!("stage 1 is new")
    };
    let r = oracle.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(r.status, TxStatus::Success);
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
                epoch: Epoch(3),
                ..root
            })
            .await,
        Err(Error::Unsupported(_))
    ));
    assert_eq!(oracle.epoch_root(Epoch(1)).await.unwrap(), Some(root));
    assert_eq!(oracle.epoch_root(Epoch(2)).await.unwrap(), None);

    // Several transactions from one account: sequences 0, 1, 2 ...
    let tree2 = ClaimTree::new(
        ClaimFormat::Cw20MerkleAirdrop,
        vec![(acct(2), 300), (acct(3), 250), (acct(4), 7)],
    )
    .unwrap();
    let root2 = EpochRoot {
        epoch: Epoch(2),
        root: tree2.root(),
        total: 557,
    };
    let c1 = tree.claim_for(&acct(2)).unwrap();
    let tx1 = alice.claim(&c1).await.unwrap();
    assert_eq!(
        alice.wait_for_receipt(&tx1).await.unwrap().status,
        TxStatus::Success
    );
    assert_eq!(alice.claimed(&acct(2)).await.unwrap(), 100);
    // Double claim, forged proof, claiming for someone else.
    assert!(matches!(
        alice.claim(&c1).await,
        Err(Error::AlreadyClaimed {
            cumulative: 100,
            claimed: 100,
            ..
        })
    ));
    let forged = Claim {
        cumulative_amount: 1_000,
        ..c1.clone()
    };
    assert!(matches!(
        alice.claim(&forged).await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        alice.claim(&tree.claim_for(&acct(3)).unwrap()).await,
        Err(Error::Unauthorized(_))
    ));
    ok_publish(&oracle, &root2).await;
    let tx2 = alice
        .claim(&tree2.claim_for(&acct(2)).unwrap())
        .await
        .unwrap();
    alice.wait_for_receipt(&tx2).await.unwrap();
    assert_eq!(alice.claimed(&acct(2)).await.unwrap(), 300);

    // Someone else used alice's key: the chain's sequence moved on; the backend re-syncs.
    *node
        .chain
        .lock()
        .unwrap()
        .sequences
        .get_mut(&addr(2))
        .unwrap() += 5;
    let tree3 = ClaimTree::new(
        ClaimFormat::Cw20MerkleAirdrop,
        vec![(acct(2), 400), (acct(3), 250)],
    )
    .unwrap();
    ok_publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(3),
            root: tree3.root(),
            total: 650,
        },
    )
    .await;
    let tx3 = alice
        .claim(&tree3.claim_for(&acct(2)).unwrap())
        .await
        .unwrap();
    alice.wait_for_receipt(&tx3).await.unwrap();
    let tx4 = bob
        .claim(&tree3.claim_for(&acct(3)).unwrap())
        .await
        .unwrap();
    bob.wait_for_receipt(&tx4).await.unwrap();

    {
        let c = node.chain.lock().unwrap();
        let alice_seqs: Vec<u64> = c.broadcasts.iter().map(|b| b.0).collect();
        // oracle 4,5,6; alice 0,1 then 7 after the foreign bump; bob 0.
        assert_eq!(alice_seqs, vec![4, 0, 5, 1, 6, 7, 0]);
        // Gas limit = ceil(100_000 simulated * 130 %).
        assert!(c.broadcasts.iter().all(|b| b.1 == 130_000));
        assert!(c.simulations >= 8);
    }

    // Unknown transaction hashes are NotFound.
    assert!(matches!(
        alice
            .wait_for_receipt(&depin_chains::TxHandle([9; 32]))
            .await,
        Err(Error::NotFound(_))
    ));
    // An EVM account has no place on a Cosmos distributor.
    assert!(matches!(
        alice
            .claimed(&Account::evm(depin_core::EvmAddress([1; 20])))
            .await,
        Err(Error::InvalidInput(_))
    ));
}

async fn ok_publish(b: &CosmosBackend, root: &EpochRoot) {
    let PublishOutcome::Published(tx) = b.publish_root(root).await.unwrap() else {
        panic!("{root:?} is new")
    };
    assert_eq!(
        b.wait_for_receipt(&tx).await.unwrap().status,
        TxStatus::Success
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_is_a_retryable_transport_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = config(&format!("http://127.0.0.1:{port}"), 1);
    match CosmosBackend::connect(&cfg).await {
        Err(e @ Error::Transport { .. }) => assert!(e.is_retryable(), "{e}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    let mut bad = cfg.clone();
    bad.gas_price = "0,025".into();
    assert!(matches!(
        CosmosBackend::connect(&bad).await,
        Err(Error::Config(_))
    ));
    let mut bad = cfg.clone();
    bad.distributor_contract = "cosmos1k9hwzxs889jpvd7env8z49gad3a3633vg350tq".into();
    assert!(matches!(
        CosmosBackend::connect(&bad).await,
        Err(Error::Config(_))
    ));
}
