//! Tests of the Cosmos backend against the real contracts, with no Cosmos node (none can be
//! installed here).
//!
//! What they prove, and what they do not (see `docs/chains-evm-cosmos.md`):
//! - signed transaction bytes decode and verify with `@cosmjs/proto-signing` / `@cosmjs/crypto`
//!   (`contracts/js/cosmjs-verify.mjs`), and carry exactly our execute-message JSON;
//! - the backend's whole flow (account query, simulation, gas from simulation, broadcast,
//!   receipts, sequences across several transactions, re-sync after a foreign transaction, a
//!   failed HTTP request retried, typed errors) and the shared conformance suite, against a
//!   CometBFT JSON-RPC stand-in defined below that executes every transaction and query in
//!   the REAL contracts (`contracts/cosmwasm`: registry, distributor, cw20-base) running in
//!   cw-multi-test. The stand-in checks sequences as a node does; it does not check
//!   transaction signatures (cosmjs does, above) nor charge fees;
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
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
use cosmwasm_std::{Addr, Order, Storage, Timestamp, Uint128};
use cw_multi_test::{App, AppBuilder, BankKeeper, ContractWrapper, Executor, MockApiBech32};
use depin_chains::claims::{verify_claim, ClaimTree};
use depin_chains::conformance::{default_claimants, run_conformance, Fixtures};
use depin_chains::cosmos::msgs::{distributor, registry};
use depin_chains::cosmos::tx::{execute_contract, sign_tx, CosmosSigner, TxParams};
use depin_chains::cosmos::CosmosBackend;
use depin_chains::{
    Account, Claim, ClaimFormat, CosmosConfig, EpochRoot, Error, PublishOutcome, RetryPolicy,
    SecretKeyBytes, TxStatus,
};
use depin_core::{Epoch, KeyType};
use serde_json::{json, Value};

#[path = "support/js.rs"]
mod js;
use js::run_js;
use sha2::{Digest, Sha256};

const HOW_TO: &str = "install the JavaScript tools once with `cd contracts && npm ci`, then run \
                      `cargo test -p depin-chains --features cosmos --test cosmos`";
const CHAIN: &str = "testing-1";
const PREFIX: &str = "wasm";
const NETWORK: &str = "conformance-quorum";

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
        let msg = distributor::ExecuteMsg::Claim {
            account: signer(0x22).address().to_string(),
            epoch: 3,
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
            json!({"claim": {"account": signer(0x22).address().to_string(), "epoch": 3, "amount": "1234",
                             "proof": ["ab".repeat(32), "cd".repeat(32)]}})
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
    // The claim message we send for it: the distributor's, with a u64 epoch.
    let msg = distributor::ExecuteMsg::Claim {
        account: claim.account.to_string(),
        epoch: 1_000,
        amount: claim.cumulative_amount.to_string(),
        proof: claim.proof.iter().map(hex::encode).collect(),
    };
    assert_eq!(
        serde_json::to_value(msg).unwrap(),
        json!({"claim": {"account": "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq", "epoch": 1000, "amount": "100", "proof": [
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
// A CometBFT JSON-RPC stand-in whose state machine is the real contracts in cw-multi-test.
// It checks what a node checks about sequences (the signer info's sequence must equal the
// account's, in simulation and in CheckTx), simulates on a snapshot it restores, and delivers
// a broadcast transaction in the next block (a failing execution is recorded in the
// transaction's result, as on a chain).

/// What the tests read and steer; the chain itself lives on the node's thread (cw-multi-test's
/// `App` is not `Send`).
#[derive(Default)]
struct Stats {
    account_number: u64,
    sequences: HashMap<String, u64>,
    txs: HashMap<[u8; 32], (u64, u32, String)>,
    height: u64,
    fail_next_http: u32,
    simulations: u32,
    broadcasts: Vec<(String, u64, u64)>, // (sender, sequence, gas limit)
    /// Seconds the chain's clock runs ahead of the wall clock (to let delays pass).
    time_offset: u64,
}

type Shared = Arc<Mutex<Stats>>;
type Chain = App<BankKeeper, MockApiBech32>;

struct Node {
    url: String,
    stats: Shared,
    registry: String,
    other_registry: String,
    distributor: String,
    /// A second distributor (same token), for the quorum section.
    quorum_distributor: String,
}

/// Who holds which role on the contracts the node deploys.
struct Roles {
    admin: String,
    oracle: String,
    /// cw20 balance of the admin (it funds the pool through the trait).
    admin_tokens: u128,
    /// Tokens in the distributor from the start.
    pool: u128,
}

impl Node {
    fn start(stats: Stats, roles: Roles) -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Mutex::new(stats));
        let shared = stats.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut app, addrs) = deploy(&roles, &shared);
            tx.send(addrs).unwrap();
            // one request at a time, as a node's ABCI connection serves them
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                serve(stream, &mut app, &shared);
            }
        });
        let (registry, other_registry, distributor, quorum_distributor) = rx.recv().unwrap();
        Node {
            url,
            stats,
            registry,
            other_registry,
            distributor,
            quorum_distributor,
        }
    }
}

fn now(stats: &Shared) -> Timestamp {
    let offset = stats.lock().unwrap().time_offset;
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Timestamp::from_seconds(wall + offset)
}

fn deploy(roles: &Roles, stats: &Shared) -> (Chain, (String, String, String, String)) {
    let mut app = AppBuilder::new()
        .with_api(MockApiBech32::new(PREFIX))
        .build(|_, _, _| {});
    app.update_block(|b| {
        b.chain_id = CHAIN.to_string();
        b.time = now(stats);
    });
    let admin = Addr::unchecked(&roles.admin);
    let reg = app.store_code(Box::new(ContractWrapper::new(
        depin_cw_registry::execute,
        depin_cw_registry::instantiate,
        depin_cw_registry::query,
    )));
    let dist = app.store_code(Box::new(ContractWrapper::new(
        depin_cw_distributor::execute,
        depin_cw_distributor::instantiate,
        depin_cw_distributor::query,
    )));
    let cw20 = app.store_code(Box::new(ContractWrapper::new(
        cw20_base::contract::execute,
        cw20_base::contract::instantiate,
        cw20_base::contract::query,
    )));
    let registry_msg = registry::InstantiateMsg {
        admin: None,
        makers_only: false,
    };
    let registry = app
        .instantiate_contract(reg, admin.clone(), &registry_msg, &[], "registry", None)
        .unwrap();
    let other = app
        .instantiate_contract(reg, admin.clone(), &registry_msg, &[], "registry-2", None)
        .unwrap();
    let token = app
        .instantiate_contract(
            cw20,
            admin.clone(),
            &cw20_base::msg::InstantiateMsg {
                name: "Depin Reward".into(),
                symbol: "DPR".into(),
                decimals: 6,
                initial_balances: vec![cw20::Cw20Coin {
                    address: roles.admin.clone(),
                    amount: Uint128::new(roles.admin_tokens + roles.pool),
                }],
                mint: None,
                marketing: None,
            },
            &[],
            "token",
            None,
        )
        .unwrap();
    let distributor_msg = distributor::InstantiateMsg {
        admin: None,
        network: NETWORK.into(),
        oracle: roles.oracle.clone(),
        token: token.to_string(),
    };
    let distributor = app
        .instantiate_contract(
            dist,
            admin.clone(),
            &distributor_msg,
            &[],
            "distributor",
            None,
        )
        .unwrap();
    let quorum_distributor = app
        .instantiate_contract(
            dist,
            admin.clone(),
            &distributor_msg,
            &[],
            "distributor-2",
            None,
        )
        .unwrap();
    if roles.pool > 0 {
        app.execute_contract(
            admin,
            token,
            &cw20::Cw20ExecuteMsg::Transfer {
                recipient: distributor.to_string(),
                amount: Uint128::new(roles.pool),
            },
            &[],
        )
        .unwrap();
    }
    (
        app,
        (
            registry.to_string(),
            other.to_string(),
            distributor.to_string(),
            quorum_distributor.to_string(),
        ),
    )
}

fn serve(mut stream: TcpStream, app: &mut Chain, stats: &Shared) {
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
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req: Value = serde_json::from_slice(&body).unwrap();
    let failing = {
        let mut s = stats.lock().unwrap();
        let f = s.fail_next_http > 0;
        s.fail_next_http = s.fail_next_http.saturating_sub(1);
        f
    };
    let (status, answer) = if failing {
        ("503 Service Unavailable", json!({}))
    } else {
        let result = handle(app, stats, req["method"].as_str().unwrap(), &req["params"]);
        let answer = match result {
            Ok(r) => json!({"jsonrpc": "2.0", "id": req["id"], "result": r}),
            Err(e) => json!({"jsonrpc": "2.0", "id": req["id"],
                              "error": {"code": -32603, "message": "Internal error", "data": e}}),
        };
        ("200 OK", answer)
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

fn handle(app: &mut Chain, stats: &Shared, method: &str, params: &Value) -> Result<Value, String> {
    match method {
        "status" => Ok(json!({"node_info": {"network": CHAIN}})),
        "abci_query" => {
            let data = hex::decode(params["data"].as_str().unwrap()).unwrap();
            Ok(match params["path"].as_str().unwrap() {
                "/cosmos.auth.v1beta1.Query/Account" => {
                    let req = QueryAccountRequest::decode(data.as_slice()).unwrap();
                    let s = stats.lock().unwrap();
                    let acct = BaseAccount {
                        pub_key: None,
                        account_number: s.account_number,
                        sequence: *s.sequences.get(&req.address).unwrap_or(&0),
                        address: req.address,
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
                    stats.lock().unwrap().simulations += 1;
                    #[allow(deprecated)]
                    let req = SimulateRequest::decode(data.as_slice()).unwrap();
                    match simulate(app, stats, &req.tx_bytes) {
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
                        Err(log) => abci(18, &log, &[]),
                    }
                }
                "/cosmwasm.wasm.v1.Query/SmartContractState" => {
                    let req = QuerySmartContractStateRequest::decode(data.as_slice()).unwrap();
                    let q: Value = serde_json::from_slice(&req.query_data).unwrap();
                    // the chain's clock moves on between blocks too
                    let t = now(stats);
                    app.update_block(|b| b.time = t);
                    match app
                        .wrap()
                        .query_wasm_smart::<Value>(req.address.clone(), &q)
                    {
                        Ok(v) => {
                            let resp = QuerySmartContractStateResponse {
                                data: serde_json::to_vec(&v).unwrap(),
                            };
                            abci(0, "", &resp.encode_to_vec())
                        }
                        Err(e) => abci(1, &format!("{e}: query wasm contract failed"), &[]),
                    }
                }
                other => return Err(format!("unknown path {other}")),
            })
        }
        "broadcast_tx_sync" => {
            let tx = B64.decode(params["tx"].as_str().unwrap()).unwrap();
            let hash: [u8; 32] = Sha256::digest(&tx).into();
            let (msg, seq, gas) = decode(&tx);
            // CheckTx: the sequence
            if let Err(log) = check_sequence(stats, &msg.sender, seq) {
                return Ok(json!({"code": 32, "codespace": "sdk", "log": log, "hash": ""}));
            }
            {
                let mut s = stats.lock().unwrap();
                *s.sequences.entry(msg.sender.clone()).or_insert(0) += 1;
                s.broadcasts.push((msg.sender.clone(), seq, gas));
                s.height += 1;
            }
            // DeliverTx, in the next block
            app.update_block(|b| {
                b.height += 1;
                b.time = now(stats);
            });
            let (code, log) = match run(app, &msg) {
                Ok(()) => (0, String::new()),
                Err(log) => (5, log),
            };
            let mut s = stats.lock().unwrap();
            let h = s.height;
            s.txs.insert(hash, (h, code, log));
            Ok(json!({"code": 0, "codespace": "", "log": "[]", "hash": hex::encode_upper(hash)}))
        }
        "tx" => {
            let hash = B64.decode(params["hash"].as_str().unwrap()).unwrap();
            let hash: [u8; 32] = hash.try_into().unwrap();
            match stats.lock().unwrap().txs.get(&hash) {
                Some((h, code, log)) => {
                    Ok(json!({"height": h.to_string(), "tx_result": {"code": code, "log": log}}))
                }
                None => Err(format!("tx ({}) not found", hex::encode_upper(hash))),
            }
        }
        other => Err(format!("unknown method {other}")),
    }
}

fn decode(tx: &[u8]) -> (MsgExecuteContract, u64, u64) {
    let raw = TxRaw::decode(tx).unwrap();
    let body = TxBody::decode(raw.body_bytes.as_slice()).unwrap();
    let auth = AuthInfo::decode(raw.auth_info_bytes.as_slice()).unwrap();
    let msg = MsgExecuteContract::decode(body.messages[0].value.as_slice()).unwrap();
    let gas = auth.fee.as_ref().map(|f| f.gas_limit).unwrap_or(0);
    (msg, auth.signer_infos[0].sequence, gas)
}

fn check_sequence(stats: &Shared, sender: &str, seq: u64) -> Result<(), String> {
    let expected = *stats.lock().unwrap().sequences.get(sender).unwrap_or(&0);
    if seq != expected {
        return Err(format!(
            "account sequence mismatch, expected {expected}, got {seq}: incorrect account sequence"
        ));
    }
    Ok(())
}

/// Execute the transaction's message in the contracts; the error as a node logs it.
fn run(app: &mut Chain, msg: &MsgExecuteContract) -> Result<(), String> {
    let m: Value = serde_json::from_slice(&msg.msg).map_err(|e| e.to_string())?;
    app.execute_contract(
        Addr::unchecked(&msg.sender),
        Addr::unchecked(&msg.contract),
        &m,
        &[],
    )
    .map(|_| ())
    .map_err(|e| {
        format!(
            "failed to execute message; message index: 0: {}: execute wasm contract failed",
            e.root_cause()
        )
    })
}

/// Run the transaction on the current state and put the state back.
fn simulate(app: &mut Chain, stats: &Shared, tx: &[u8]) -> Result<(), String> {
    let (msg, seq, _) = decode(tx);
    check_sequence(stats, &msg.sender, seq)?;
    let snapshot: Vec<(Vec<u8>, Vec<u8>)> =
        app.storage().range(None, None, Order::Ascending).collect();
    let t = now(stats);
    app.update_block(|b| b.time = t);
    let r = run(app, &msg);
    let keys: Vec<Vec<u8>> = app
        .storage()
        .range(None, None, Order::Ascending)
        .map(|(k, _)| k)
        .collect();
    let storage = app.storage_mut();
    for k in keys {
        storage.remove(&k);
    }
    for (k, v) in snapshot {
        storage.set(&k, &v);
    }
    r
}

fn config(url: &str, who: u8, node: &Node) -> CosmosConfig {
    CosmosConfig {
        rpc_url: url.into(),
        chain_id: CHAIN.into(),
        account_prefix: PREFIX.into(),
        registry_contract: node.registry.clone(),
        distributor_contract: node.distributor.clone(),
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

async fn handle_of(node: &Node, who: u8) -> CosmosBackend {
    CosmosBackend::connect(&config(&node.url, who, node))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_flow_sequences_gas_and_errors_against_the_contracts() {
    let node = Node::start(
        Stats {
            account_number: 9,
            sequences: HashMap::from([(addr(1), 4)]),
            ..Stats::default()
        },
        Roles {
            admin: addr(1),
            oracle: addr(1),
            admin_tokens: 0,
            pool: 10_000,
        },
    );
    let oracle = handle_of(&node, 1).await;
    let alice = handle_of(&node, 2).await;
    let bob = handle_of(&node, 3).await;
    let acct = |n: u8| Account::cosmos(&addr(n)).unwrap();

    // Wrong chain id is refused at connect.
    let mut wrong = config(&node.url, 1, &node);
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
    // epoch 300: past what a u8 stage could name
    let root = EpochRoot {
        epoch: Epoch(300),
        root: tree.root(),
        total: 357,
    };
    // Only the oracle publishes: the contract says so in the simulation.
    assert!(matches!(
        alice.publish_root(&root).await,
        Err(Error::Unauthorized(_))
    ));
    // A failing HTTP request is retried.
    node.stats.lock().unwrap().fail_next_http = 2;
    ok_publish(&oracle, &root).await;
    assert_eq!(
        oracle.publish_root(&root).await.unwrap(),
        PublishOutcome::AlreadyPublished
    );
    assert!(matches!(
        oracle.publish_root(&EpochRoot { total: 1, ..root }).await,
        Err(Error::EpochAlreadyPublished { epoch: Epoch(300) })
    ));
    assert!(matches!(
        oracle
            .publish_root(&EpochRoot {
                epoch: Epoch(299),
                ..root
            })
            .await,
        Err(Error::EpochNotIncreasing {
            epoch: Epoch(299),
            latest: Epoch(300)
        })
    ));
    assert_eq!(oracle.epoch_root(Epoch(300)).await.unwrap(), Some(root));
    assert_eq!(oracle.epoch_root(Epoch(2)).await.unwrap(), None);

    let c1 = tree.claim_for(&acct(2)).unwrap();
    let tx1 = alice.claim(&c1).await.unwrap();
    assert_eq!(
        alice.wait_for_receipt(&tx1).await.unwrap().status,
        TxStatus::Success
    );
    assert_eq!(alice.claimed(&acct(2)).await.unwrap(), 100);
    assert_eq!(alice.token_balance(&acct(2)).await.unwrap(), Some(100));
    assert_eq!(alice.pool_balance().await.unwrap(), Some(9_900));
    // Double claim, forged proof.
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
    // Anyone may submit a claim; the account named in it is paid.
    let tx = alice
        .claim(&tree.claim_for(&acct(3)).unwrap())
        .await
        .unwrap();
    alice.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(bob.token_balance(&acct(3)).await.unwrap(), Some(250));
    assert_eq!(bob.token_balance(&acct(2)).await.unwrap(), Some(100));

    // Someone else used alice's key: the chain's sequence moved on; the backend re-syncs.
    *node
        .stats
        .lock()
        .unwrap()
        .sequences
        .get_mut(&addr(2))
        .unwrap() += 5;
    let tree2 = ClaimTree::new(
        ClaimFormat::Cw20MerkleAirdrop,
        vec![(acct(2), 400), (acct(3), 250)],
    )
    .unwrap();
    ok_publish(
        &oracle,
        &EpochRoot {
            epoch: Epoch(301),
            root: tree2.root(),
            total: 650,
        },
    )
    .await;
    let tx = alice
        .claim(&tree2.claim_for(&acct(2)).unwrap())
        .await
        .unwrap();
    alice.wait_for_receipt(&tx).await.unwrap();
    assert_eq!(alice.claimed(&acct(2)).await.unwrap(), 400);

    {
        let s = node.stats.lock().unwrap();
        let seqs = |who: &str| -> Vec<u64> {
            s.broadcasts
                .iter()
                .filter(|b| b.0 == who)
                .map(|b| b.1)
                .collect()
        };
        // the oracle from its chain sequence 4; alice 0, 1, then 7 after the foreign bump
        assert_eq!(seqs(&addr(1)), vec![4, 5]);
        assert_eq!(seqs(&addr(2)), vec![0, 1, 7]);
        // Gas limit = ceil(100_000 simulated * 130 %).
        assert!(s.broadcasts.iter().all(|b| b.2 == 130_000));
        assert!(s.simulations >= 6);
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

/// The shared conformance suite, through this backend, against the real contracts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_against_the_contracts() {
    const ADMIN: u8 = 1;
    const ORACLE: u8 = 5;
    let node = Node::start(
        Stats::default(),
        Roles {
            admin: addr(ADMIN),
            oracle: addr(ORACLE),
            admin_tokens: 1_000_000,
            pool: 1_000_000,
        },
    );
    let admin: Arc<dyn ChainBackend> = Arc::new(handle_of(&node, ADMIN).await);
    let other_registry = CosmosBackend::connect(&CosmosConfig {
        registry_contract: node.other_registry.clone(),
        ..config(&node.url, 2, &node)
    })
    .await
    .unwrap();
    let fixtures = Fixtures {
        owner: Arc::new(handle_of(&node, 2).await),
        outsider: Arc::new(handle_of(&node, 3).await),
        key_types: KeyType::ALL.to_vec(),
        claimants: default_claimants(ClaimFormat::Cw20MerkleAirdrop, PREFIX, [3; 32]).unwrap(),
        first_epoch: Epoch(1),
        seed: [9; 32],
        latest_root_only: true,
        fresh: true,
        oracle: Some(Arc::new(handle_of(&node, ORACLE).await)),
        other_registry: Some(Arc::new(other_registry)),
        quorum: Some(quorum_fixture(&node, ADMIN, ORACLE).await),
    };
    let started = std::time::Instant::now();
    let report = match run_conformance(admin, fixtures).await {
        Ok(report) => report,
        Err(f) => panic!("{f}"),
    };
    println!(
        "Cosmos conformance: {} checks passed, skipped {:?}, in {:?}",
        report.checks.len(),
        report.skipped,
        started.elapsed()
    );
    assert!(report.skipped.is_empty(), "{report:?}");
    assert!(report.checks.len() >= 25, "{report:?}");
    for (kt, checks) in &report.by_key_type {
        assert!(!checks.is_empty(), "{kt:?}: {report:?}");
    }
}

/// The second distributor with a 2-of-3 oracle set (one oracle of each key type) in effect:
/// scheduled by the admin, then the chain's clock moved past the delay.
async fn quorum_fixture(
    node: &Node,
    admin: u8,
    oracle: u8,
) -> depin_chains::conformance::QuorumFixture {
    use depin_chains::cosmos::ORACLE_SET_DELAY;
    use depin_chains::quorum::OracleSet;
    use depin_chains::types::DeviceSigner;
    use depin_core::{Domain, NetworkId, SigningKey};

    let on = |who: u8| CosmosConfig {
        distributor_contract: node.quorum_distributor.clone(),
        ..config(&node.url, who, node)
    };
    let oracles: Vec<Arc<dyn DeviceSigner>> = KeyType::ALL
        .into_iter()
        .enumerate()
        .map(|(i, kt)| {
            Arc::new(SigningKey::from_secret_bytes(kt, &[0xb0 + i as u8; 32]).unwrap())
                as Arc<dyn DeviceSigner>
        })
        .collect();
    let set = OracleSet::new(oracles.iter().map(|o| o.device_id()), 2).unwrap();
    let admin = CosmosBackend::connect(&on(admin)).await.unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // too early, by someone else: refused
    assert!(matches!(
        admin
            .schedule_oracle_set(&set, now + ORACLE_SET_DELAY - 60)
            .await,
        Err(Error::InvalidInput(_))
    ));
    let tx = admin
        .schedule_oracle_set(&set, now + ORACLE_SET_DELAY + 30)
        .await
        .unwrap();
    assert_eq!(
        admin.wait_for_receipt(&tx).await.unwrap().status,
        TxStatus::Success
    );
    let (current, scheduled) = admin.oracle_sets().await.unwrap();
    assert_eq!((current, scheduled.map(|s| s.0)), (None, Some(set.clone())));
    node.stats.lock().unwrap().time_offset = ORACLE_SET_DELAY + 60;
    assert_eq!(admin.oracle_sets().await.unwrap().0, Some(set));
    depin_chains::conformance::QuorumFixture {
        relayer: Arc::new(CosmosBackend::connect(&on(3)).await.unwrap()),
        single_oracle: Arc::new(CosmosBackend::connect(&on(oracle)).await.unwrap()),
        oracles,
        threshold: 2,
        domain: Domain::new(NetworkId::new(NETWORK).unwrap()),
        distributor: admin.quorum_distributor(),
        first_epoch: Epoch(1),
        outsider: Arc::new(SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0xbf; 32]).unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_is_a_retryable_transport_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = CosmosConfig {
        rpc_url: format!("http://127.0.0.1:{port}"),
        chain_id: CHAIN.into(),
        account_prefix: PREFIX.into(),
        registry_contract: contract(1),
        distributor_contract: contract(2),
        signer: SecretKeyBytes([1; 32]),
        fee_denom: "ucosm".into(),
        gas_price: "0.025".into(),
        gas_adjustment_percent: 130,
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            multiplier: 2,
        },
        receipt_timeout: Duration::from_secs(5),
    };
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
