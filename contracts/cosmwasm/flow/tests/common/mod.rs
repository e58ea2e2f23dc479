//! A cw-multi-test chain with the registry, the distributor and cw20-base.
#![allow(dead_code)]

use cosmwasm_std::{Addr, Uint128};
use cw_multi_test::{App, AppBuilder, ContractWrapper, Executor, MockApiBech32};
use depin_core::{DeviceId, KeyType, MessageKind, SigningKey};
use depin_cosmwasm_msgs::error::ErrorCode;
use depin_cosmwasm_msgs::{distributor, registry, signing};

pub const CHAIN: &str = "depin-test-1";
pub const PREFIX: &str = "wasm";
pub const NETWORK: &str = "depin-test";

pub type Chain = App<cw_multi_test::BankKeeper, MockApiBech32>;

pub struct Net {
    pub app: Chain,
    pub admin: Addr,
    pub oracle: Addr,
    pub registry: Addr,
    pub distributor: Addr,
    pub token: Addr,
}

pub fn chain() -> Chain {
    let mut app = AppBuilder::new()
        .with_api(MockApiBech32::new(PREFIX))
        .build(|_, _, _| {});
    app.update_block(|b| b.chain_id = CHAIN.to_string());
    app
}

/// A chain with both contracts, a cw20 token and `pool` tokens in the distributor.
pub fn net(pool: u128) -> Net {
    let mut app = chain();
    let admin = app.api().addr_make("admin");
    let oracle = app.api().addr_make("oracle");
    let reg_code = app.store_code(Box::new(ContractWrapper::new(
        depin_cw_registry::execute,
        depin_cw_registry::instantiate,
        depin_cw_registry::query,
    )));
    let dist_code = app.store_code(Box::new(ContractWrapper::new(
        depin_cw_distributor::execute,
        depin_cw_distributor::instantiate,
        depin_cw_distributor::query,
    )));
    let cw20_code = app.store_code(Box::new(ContractWrapper::new(
        cw20_base::contract::execute,
        cw20_base::contract::instantiate,
        cw20_base::contract::query,
    )));
    let registry = app
        .instantiate_contract(
            reg_code,
            admin.clone(),
            &registry::InstantiateMsg {
                admin: None,
                makers_only: false,
            },
            &[],
            "registry",
            None,
        )
        .unwrap();
    let token = app
        .instantiate_contract(
            cw20_code,
            admin.clone(),
            &cw20_base::msg::InstantiateMsg {
                name: "Depin Reward".into(),
                symbol: "DPR".into(),
                decimals: 6,
                initial_balances: vec![cw20::Cw20Coin {
                    address: admin.to_string(),
                    amount: Uint128::new(pool.max(1)),
                }],
                mint: None,
                marketing: None,
            },
            &[],
            "token",
            None,
        )
        .unwrap();
    let distributor = app
        .instantiate_contract(
            dist_code,
            admin.clone(),
            &distributor::InstantiateMsg {
                admin: None,
                network: NETWORK.into(),
                oracle: oracle.to_string(),
                token: token.to_string(),
            },
            &[],
            "distributor",
            None,
        )
        .unwrap();
    if pool > 0 {
        app.execute_contract(
            admin.clone(),
            token.clone(),
            &cw20::Cw20ExecuteMsg::Transfer {
                recipient: distributor.to_string(),
                amount: Uint128::new(pool),
            },
            &[],
        )
        .unwrap();
    }
    Net {
        app,
        admin,
        oracle,
        registry,
        distributor,
        token,
    }
}

/// The [`ErrorCode`] of a failed execution.
pub fn code(e: &anyhow::Error) -> Option<ErrorCode> {
    ErrorCode::find(&format!("{e:?}"))
}

pub fn key(kt: KeyType, n: u8) -> SigningKey {
    SigningKey::from_secret_bytes(kt, &[n.max(1); 32]).unwrap()
}

pub fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(&k.public_key())
}

impl Net {
    pub fn now(&self) -> u64 {
        self.app.block_info().time.seconds()
    }

    pub fn nonce(&self, device: &DeviceId) -> u64 {
        let r: registry::NonceResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.registry,
                &registry::QueryMsg::Nonce {
                    device: device.to_string(),
                },
            )
            .unwrap();
        r.nonce
    }

    pub fn registration(&self, device: &SigningKey, owner: &Addr) -> registry::Registration {
        registry::Registration {
            device: id(device).to_string(),
            owner: owner.to_string(),
            metadata_hash: hex::encode([7u8; 32]),
            deadline: self.now() + 3600,
        }
    }

    pub fn domain(&self, contract: &Addr) -> depin_core::Domain {
        signing::registration_domain(CHAIN, contract.as_str()).unwrap()
    }

    /// The device's signature of `r` for its current nonce on this registry.
    pub fn device_signature(&self, device: &SigningKey, r: &registry::Registration) -> String {
        let dev = id(device);
        let payload = signing::registration_payload(
            &dev,
            &r.owner,
            &hash(&r.metadata_hash),
            self.nonce(&dev),
            r.deadline,
        );
        let sig = self
            .domain(&self.registry)
            .sign(device, MessageKind::DEVICE_REGISTRATION, &payload)
            .unwrap();
        hex::encode(sig.to_bytes())
    }

    pub fn maker_signature(
        &self,
        maker: &SigningKey,
        device: &SigningKey,
        r: &registry::Registration,
    ) -> String {
        let dev = id(device);
        let binding = signing::registry_binding(CHAIN, self.registry.as_str());
        let payload = signing::onboarding_payload(
            &binding,
            &dev,
            &r.owner,
            &hash(&r.metadata_hash),
            self.nonce(&dev),
            r.deadline,
            &id(maker),
        );
        let sig = self
            .domain(&self.registry)
            .sign(maker, MessageKind::MAKER_ONBOARDING, &payload)
            .unwrap();
        hex::encode(sig.to_bytes())
    }

    pub fn register(
        &mut self,
        sender: &Addr,
        r: registry::Registration,
        signature: String,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        let reg = self.registry.clone();
        self.app.execute_contract(
            sender.clone(),
            reg,
            &registry::ExecuteMsg::Register {
                registration: r,
                signature,
            },
            &[],
        )
    }

    pub fn reg_exec(
        &mut self,
        sender: &Addr,
        msg: registry::ExecuteMsg,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        let reg = self.registry.clone();
        self.app.execute_contract(sender.clone(), reg, &msg, &[])
    }

    pub fn dist_exec(
        &mut self,
        sender: &Addr,
        msg: distributor::ExecuteMsg,
    ) -> anyhow::Result<cw_multi_test::AppResponse> {
        let d = self.distributor.clone();
        self.app.execute_contract(sender.clone(), d, &msg, &[])
    }

    pub fn device(&self, device: &DeviceId) -> registry::DeviceResponse {
        self.app
            .wrap()
            .query_wasm_smart(
                &self.registry,
                &registry::QueryMsg::Device {
                    device: device.to_string(),
                },
            )
            .unwrap()
    }

    pub fn balance(&self, who: &Addr) -> u128 {
        let r: cw20::BalanceResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.token,
                &cw20::Cw20QueryMsg::Balance {
                    address: who.to_string(),
                },
            )
            .unwrap();
        r.balance.u128()
    }

    pub fn claimed(&self, who: &Addr) -> u128 {
        let r: distributor::ClaimedResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.distributor,
                &distributor::QueryMsg::Claimed {
                    address: who.to_string(),
                },
            )
            .unwrap();
        r.claimed.parse().unwrap()
    }
}

pub fn hash(h: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).unwrap();
    out
}
