//! Model check: any sequence of operations (successful or refused) gives the same observable
//! state after a reopen as before it, and refused operations change nothing on disk.

use depin_chains::prelude::*;
use depin_chains::{ClaimFormat, ClaimTree, EpochRoot};
use depin_core::Epoch;
use proptest::prelude::*;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    Fund(u16),
    Publish { epoch: u8, amounts: [u16; 3] },
    Claim { who: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u16..500).prop_map(Op::Fund),
        (0u8..6, any::<[u16; 3]>()).prop_map(|(epoch, amounts)| Op::Publish { epoch, amounts }),
        (0u8..3).prop_map(|who| Op::Claim { who }),
    ]
}

type Snapshot = (
    Option<u128>,
    Vec<u128>,
    Vec<Option<u128>>,
    Vec<Option<EpochRoot>>,
    u64,
);

async fn snapshot(ledger: &depin_chains::local::LocalLedger) -> Snapshot {
    let h = ledger.handle(admin());
    let mut claimed = Vec::new();
    let mut balances = Vec::new();
    for i in 0..3u8 {
        claimed.push(h.claimed(&evm(10 + i)).await.unwrap());
        balances.push(h.token_balance(&evm(10 + i)).await.unwrap());
    }
    let mut roots = Vec::new();
    for e in 0..6u64 {
        roots.push(h.epoch_root(Epoch(e)).await.unwrap());
    }
    (
        h.pool_balance().await.unwrap(),
        claimed,
        balances,
        roots,
        ledger.len().unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn reopen_reproduces_state(ops in proptest::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("l.log");
            let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
            let mut trees: Vec<ClaimTree> = Vec::new();
            for op in &ops {
                let before = ledger.file_len().unwrap();
                let ok = match op {
                    Op::Fund(n) => ledger.fund(&admin(), u128::from(*n)).is_ok(),
                    Op::Publish { epoch, amounts } => {
                        // cumulative amounts never decrease in a real tree; here they may,
                        // which the ledger must handle (AlreadyClaimed, a total below what
                        // was claimed is refused, claims are capped by the latest total)
                        let entries: Vec<_> = (0..3u8)
                            .map(|i| (evm(10 + i), u128::from(amounts[usize::from(i)]) + 1))
                            .collect();
                        let total: u128 = entries.iter().map(|(_, v)| *v).sum();
                        let tree = ClaimTree::new(ClaimFormat::OpenZeppelin, entries).unwrap();
                        let r = EpochRoot { epoch: Epoch(u64::from(*epoch)), root: tree.root(), total };
                        let res = ledger.handle(oracle()).publish_root(&r).await;
                        if matches!(res, Ok(depin_chains::PublishOutcome::Published(_))) {
                            trees.push(tree);
                            true
                        } else {
                            false
                        }
                    }
                    Op::Claim { who } => match trees.last() {
                        Some(t) => {
                            let c = t.claim_for(&evm(10 + who)).unwrap();
                            ledger.handle(evm(1)).claim(&c).await.is_ok()
                        }
                        None => false,
                    },
                };
                let after = ledger.file_len().unwrap();
                // the file grows exactly when an operation succeeds
                assert_eq!(after > before, ok, "{op:?}");
            }
            let live = snapshot(&ledger).await;
            drop(ledger);
            let reopened = open(&path, genesis(ClaimFormat::OpenZeppelin));
            assert_eq!(snapshot(&reopened).await, live);
        });
    }
}
