//! The outside backend, chosen through `connect` like a built-in one and funded through the
//! trait, passes the SDK's conformance suite with separate admin and oracle roles and all
//! three key types, skipping nothing.

use std::sync::Arc;

use depin_chains::conformance::{default_claimants, run_conformance, Fixtures};
use depin_chains::{connect, Account, BackendConfig, BackendKind, ChainBackend, CustomConfig};
use depin_core::{Epoch, EvmAddress, KeyType};
use depin_example_outside_backend::{MemoryChain, NAME};

fn evm(n: u8) -> Account {
    Account::Evm(EvmAddress([n; 20]))
}

#[tokio::test]
async fn the_outside_backend_passes_the_conformance_suite() -> Result<(), Box<dyn std::error::Error>>
{
    let chain = MemoryChain::new("outside-net", evm(0xaa), evm(0x0c))?;
    let admin_chain = chain.clone();
    let config = BackendConfig::Custom(CustomConfig::new(NAME, move || {
        let backend: Arc<dyn ChainBackend> = Arc::new(admin_chain.handle(evm(0xaa)));
        async move { Ok(backend) }
    }));
    let admin = connect(&config).await?;
    assert_eq!(admin.kind(), BackendKind::Custom(NAME));
    let tx = admin.fund_pool(10_000).await?;
    admin.wait_for_receipt(&tx).await?;

    let handle = |n: u8| -> Arc<dyn ChainBackend> { Arc::new(chain.handle(evm(n))) };
    let fixtures = Fixtures {
        owner: handle(1),
        outsider: handle(2),
        key_types: KeyType::ALL.to_vec(),
        claimants: default_claimants(admin.claim_format(), "wasm", [5; 32])?,
        first_epoch: Epoch(1),
        seed: [5; 32],
        latest_root_only: true,
        fresh: true,
        oracle: Some(handle(0x0c)),
        // a second chain of the same network: proofs made for it must not register here
        other_registry: Some(Arc::new(
            MemoryChain::new("outside-net", evm(0xaa), evm(0x0c))?.handle(evm(1)),
        )),
        // it takes roots from one oracle: the quorum section is skipped
        quorum: None,
    };
    let report = run_conformance(admin, fixtures).await?;
    // makers included: only the oracle quorums are skipped (this chain has one oracle)
    assert_eq!(report.skipped, vec!["oracle quorums"], "{report:?}");
    assert_eq!(report.by_key_type.len(), 3);
    Ok(())
}
