//! The contracts as a chain runs them: built for `wasm32-unknown-unknown` (release profile,
//! as deployed), checked and compiled by cosmwasm-vm (the VM wasmd runs) against the
//! capabilities of a CosmWasm 2.1 chain, then executed there: registration for each key
//! type, publication and a claim, with the VM's gas for each.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use std::sync::OnceLock;

use cosmwasm_vm::internals::{check_wasm, Logger};
use cosmwasm_vm::testing::{
    execute, instantiate, mock_env, mock_info, mock_instance_with_options, query, MockApi,
    MockInstanceOptions,
};
use cosmwasm_vm::{capabilities_from_csv, WasmLimits};
use depin_core::{DeviceId, KeyType, MessageKind, SigningKey};
use depin_cosmwasm_msgs::{distributor, registry, signing};

/// What a CosmWasm 2.1 chain offers: the contracts must need nothing newer.
const CHAIN_CAPABILITIES: &str =
    "iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,cosmwasm_2_0,cosmwasm_2_1";
/// wasmd's default upload limit (`MaxWasmSize`, 800 KiB).
const MAX_WASM_SIZE: usize = 800 * 1024;
const GAS_LIMIT: u64 = 1_000_000_000_000;

/// Build both contracts once with `build.sh` (cargo, then wasm-opt), into the target directory.
fn built() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = ws.join("target").join("wasm").join("artifacts");
        let status = Command::new("bash")
            .current_dir(&ws)
            .arg("build.sh")
            .arg(&out)
            .status()
            .expect("bash runs");
        assert!(status.success(), "contracts/cosmwasm/build.sh failed");
        out
    })
}

/// A deployable contract (after wasm-opt).
fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(built().join(format!("{name}.wasm"))).expect("built contract")
}

/// What cargo alone produced, before wasm-opt.
fn cargo_output(name: &str) -> Vec<u8> {
    let dir = built()
        .join("..")
        .join("wasm32-unknown-unknown")
        .join("release");
    std::fs::read(dir.join(format!("{name}.wasm"))).expect("cargo output")
}

fn instance(
    code: &[u8],
) -> cosmwasm_vm::Instance<
    MockApi,
    cosmwasm_vm::testing::MockStorage,
    cosmwasm_vm::testing::MockQuerier,
> {
    mock_instance_with_options(
        code,
        MockInstanceOptions {
            available_capabilities: capabilities_from_csv(CHAIN_CAPABILITIES),
            gas_limit: GAS_LIMIT,
            ..Default::default()
        },
    )
}

fn gas_used<A, S, Q>(i: &mut cosmwasm_vm::Instance<A, S, Q>) -> u64
where
    A: cosmwasm_vm::BackendApi + 'static,
    S: cosmwasm_vm::Storage + 'static,
    Q: cosmwasm_vm::Querier + 'static,
{
    let r = i.create_gas_report();
    r.limit - r.remaining
}

#[test]
fn the_built_contracts_pass_the_vm_checks_and_fit_a_chain() {
    let caps: HashSet<String> = capabilities_from_csv(CHAIN_CAPABILITIES);
    for name in ["depin_cw_registry", "depin_cw_distributor"] {
        let code = wasm(name);
        println!("{name}.wasm: {} bytes", code.len());
        assert!(
            code.len() <= MAX_WASM_SIZE,
            "{name}: {} bytes is above wasmd's upload limit",
            code.len()
        );
        check_wasm(&code, &caps, &WasmLimits::default(), Logger::Off)
            .unwrap_or_else(|e| panic!("{name} fails cosmwasm-vm's static checks: {e}"));
        // and without cosmwasm_2_1 the registry must be refused (it imports secp256r1_verify):
        // the check is not vacuous
        if name == "depin_cw_registry" {
            let older = capabilities_from_csv("iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,cosmwasm_2_0");
            assert!(check_wasm(&code, &older, &WasmLimits::default(), Logger::Off).is_err());
        }
    }
    // why build.sh runs wasm-opt: what cargo emits uses bulk-memory instructions, which this
    // VM refuses
    let raw = cargo_output("depin_cw_registry");
    let e = check_wasm(&raw, &caps, &WasmLimits::default(), Logger::Off).unwrap_err();
    assert!(e.to_string().contains("bulk memory"), "{e}");
    // a corrupted blob is refused
    let mut bad = wasm("depin_cw_registry");
    bad.truncate(bad.len() / 2);
    assert!(check_wasm(&bad, &caps, &WasmLimits::default(), Logger::Off).is_err());
}

#[test]
fn register_publish_and_claim_run_in_the_vm_with_their_gas_measured() {
    let api = MockApi::default();
    let admin = api.addr_make("admin");
    let owner = api.addr_make("owner");
    let env = mock_env();
    let contract = env.contract.address.to_string();

    // registry
    let mut reg = instance(&wasm("depin_cw_registry"));
    let r: vm_std::ContractResult<vm_std::Response> = instantiate(
        &mut reg,
        env.clone(),
        mock_info(&admin, &[]),
        registry::InstantiateMsg {
            admin: None,
            makers_only: false,
        },
    );
    r.unwrap();
    let domain = signing::registration_domain(&env.block.chain_id, &contract).unwrap();
    let mut gas = Vec::new();
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let k = SigningKey::from_secret_bytes(kt, &[50 + i as u8; 32]).unwrap();
        let dev = DeviceId::from(&k.public_key());
        let deadline = env.block.time.seconds() + 3600;
        let payload = signing::registration_payload(&dev, &owner, &[9u8; 32], 0, deadline);
        let sig = domain
            .sign(&k, MessageKind::DEVICE_REGISTRATION, &payload)
            .unwrap();
        let msg = registry::ExecuteMsg::Register {
            registration: registry::Registration {
                device: dev.to_string(),
                owner: owner.clone(),
                metadata_hash: hex::encode([9u8; 32]),
                deadline,
            },
            signature: hex::encode(sig.to_bytes()),
        };
        let before = gas_used(&mut reg);
        let r: vm_std::ContractResult<vm_std::Response> =
            execute(&mut reg, env.clone(), mock_info(&owner, &[]), msg.clone());
        r.unwrap();
        gas.push((format!("register ({kt:?})"), gas_used(&mut reg) - before));
        // the same again is refused inside the VM too
        let r: vm_std::ContractResult<vm_std::Response> =
            execute(&mut reg, env.clone(), mock_info(&owner, &[]), msg);
        assert!(r.unwrap_err().contains("[depin:already_registered]"));
        let q = query(
            &mut reg,
            env.clone(),
            registry::QueryMsg::Device {
                device: dev.to_string(),
            },
        )
        .unwrap();
        let d: registry::DeviceResponse = serde_json::from_slice(&q).unwrap();
        assert!(d.active && d.key_type == kt.tag() && d.owner == owner);
    }

    // distributor, paying a cw20 token whose balance query the mock querier answers
    let token = api.addr_make("token");
    let oracle = api.addr_make("oracle");
    let new_distributor = || {
        let mut d = instance(&wasm("depin_cw_distributor"));
        let r: vm_std::ContractResult<vm_std::Response> = instantiate(
            &mut d,
            env.clone(),
            mock_info(&admin, &[]),
            distributor::InstantiateMsg {
                admin: None,
                network: "depin-test".into(),
                oracle: oracle.clone(),
                token: token.clone(),
            },
        );
        r.unwrap();
        d
    };
    let mut dist = new_distributor();
    dist.with_querier(|q| {
        q.update_wasm(|_| {
            vm_std::SystemResult::Ok(vm_std::ContractResult::Ok(
                vm_std::to_json_binary(&serde_json::json!({"balance": "1000000"})).unwrap(),
            ))
        });
        Ok(())
    })
    .unwrap();
    let claimants: Vec<(String, u128)> = (0..1000)
        .map(|i| (api.addr_make(&format!("c{i}")), 1 + i as u128))
        .collect();
    let total: u128 = claimants.iter().map(|c| c.1).sum();
    let tree = depin_rewards::claims::cw20::Cw20MerkleTree::new(claimants.clone()).unwrap();
    let before = gas_used(&mut dist);
    let r: vm_std::ContractResult<vm_std::Response> = execute(
        &mut dist,
        env.clone(),
        mock_info(&oracle, &[]),
        distributor::ExecuteMsg::PublishRoot {
            epoch: 1_000,
            merkle_root: tree.root_hex(),
            total_amount: total.to_string(),
        },
    );
    r.unwrap();
    gas.push(("publish_root".into(), gas_used(&mut dist) - before));
    let i = 500;
    let (who, amount) = tree.claim(i).unwrap();
    let before = gas_used(&mut dist);
    let r: vm_std::ContractResult<vm_std::Response> = execute(
        &mut dist,
        env.clone(),
        mock_info(&admin, &[]),
        distributor::ExecuteMsg::Claim {
            account: who.to_string(),
            epoch: 1_000,
            amount: amount.to_string(),
            proof: tree.proof_hex(i).unwrap(),
        },
    );
    let resp = r.unwrap();
    gas.push((
        format!(
            "claim (1,000-leaf tree, {} proof hashes)",
            tree.proof(i).unwrap().len()
        ),
        gas_used(&mut dist) - before,
    ));
    // the claim pays by a cw20 transfer of the cumulative amount to the claimant
    assert_eq!(resp.messages.len(), 1);
    let vm_std::CosmosMsg::Wasm(vm_std::WasmMsg::Execute {
        contract_addr, msg, ..
    }) = &resp.messages[0].msg
    else {
        panic!("expected a wasm execute, got {:?}", resp.messages[0].msg)
    };
    assert_eq!(contract_addr, &token);
    let transfer: serde_json::Value = serde_json::from_slice(msg.as_slice()).unwrap();
    assert_eq!(
        transfer,
        serde_json::json!({"transfer": {"recipient": who, "amount": amount.to_string()}})
    );

    // a quorum publication: n oracles (secp256k1, as on the EVM distributor), t signatures
    for (n, t) in [(3usize, 2usize), (5, 3), (7, 4)] {
        let mut q = new_distributor();
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| {
                SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0xa0 + i as u8; 32]).unwrap()
            })
            .collect();
        let delay = distributor::ORACLE_SET_DELAY_SECONDS;
        let r: vm_std::ContractResult<vm_std::Response> = execute(
            &mut q,
            env.clone(),
            mock_info(&admin, &[]),
            distributor::ExecuteMsg::ScheduleOracleSet {
                oracles: keys
                    .iter()
                    .map(|k| DeviceId::from(&k.public_key()).to_string())
                    .collect(),
                threshold: t as u32,
                effective_at: env.block.time.seconds() + delay,
            },
        );
        r.unwrap();
        let mut later = env.clone();
        later.block.time = later.block.time.plus_seconds(delay);
        let domain = depin_core::Domain::new(depin_core::NetworkId::new("depin-test").unwrap());
        let binding = signing::distributor_binding(&env.block.chain_id, &contract);
        let payload = signing::root_statement_payload(&binding, 1_000, &tree.root(), total);
        let signatures = keys[..t]
            .iter()
            .map(|k| distributor::OracleSignature {
                oracle: DeviceId::from(&k.public_key()).to_string(),
                signature: hex::encode(
                    domain
                        .sign(k, MessageKind::REWARD_ROOT, &payload)
                        .unwrap()
                        .to_bytes(),
                ),
            })
            .collect();
        let before = gas_used(&mut q);
        let r: vm_std::ContractResult<vm_std::Response> = execute(
            &mut q,
            later,
            mock_info(&admin, &[]),
            distributor::ExecuteMsg::PublishQuorumRoot {
                epoch: 1_000,
                merkle_root: tree.root_hex(),
                total_amount: total.to_string(),
                signatures,
            },
        );
        r.unwrap();
        gas.push((
            format!("publish_quorum_root (n = {n}, t = {t})"),
            gas_used(&mut q) - before,
        ));
    }

    // CosmWasm gas as the VM meters it (Wasm operations, host crypto, the mock backend's
    // storage); a chain converts it to SDK gas with its own multiplier and adds its fixed costs
    println!("CosmWasm gas:");
    for (what, g) in &gas {
        println!("  {what}: {g}");
        assert!(*g > 0 && *g < GAS_LIMIT / 10, "{what}: {g}");
    }
}
