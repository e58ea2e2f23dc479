//! Local ledger costs: a durable commit (one fdatasync), a verified claim, and replay on open.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use depin_chains::local::{Genesis, LocalLedger};
use depin_chains::prelude::*;
use depin_chains::{Account, ClaimFormat, ClaimTree, EpochRoot};
use depin_core::{Epoch, EvmAddress};

fn genesis() -> Genesis {
    Genesis {
        network: "bench-net".into(),
        admin: Account::Evm(EvmAddress([0xaa; 20])),
        oracle: Account::Evm(EvmAddress([0xaa; 20])),
        claim_format: ClaimFormat::OpenZeppelin,
    }
}

fn account(i: u32) -> Account {
    let mut a = [0u8; 20];
    a[..4].copy_from_slice(&i.to_be_bytes());
    a[19] = 1;
    Account::Evm(EvmAddress(a))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut g = c.benchmark_group("local_ledger");
    g.sample_size(20);

    // one durable 100-byte entry: write + fdatasync
    let ledger = LocalLedger::open(dir.path().join("commit.log"), genesis()).unwrap();
    g.bench_function("commit_100B_note_fdatasync", |b| {
        b.iter(|| ledger.append_note(&[7u8; 100]).unwrap())
    });
    drop(ledger);

    // claims against a 1,024-account tree. The first pass over the accounts pays (one
    // fdatasync each); every later claim is verified and refused as a double claim, so the
    // steady state measures proof verification + the checks, without the disk.
    let ledger = LocalLedger::open(dir.path().join("claim.log"), genesis()).unwrap();
    let admin = ledger.handle(Account::Evm(EvmAddress([0xaa; 20])));
    admin.fund(u128::MAX / 2).unwrap();
    let n = 1024u32;
    let tree = ClaimTree::new(
        ClaimFormat::OpenZeppelin,
        (0..n).map(|i| (account(i), 1_000)).collect(),
    )
    .unwrap();
    rt.block_on(admin.publish_root(&EpochRoot {
        epoch: Epoch(1),
        root: tree.root(),
        total: u128::from(n) * 1_000,
    }))
    .unwrap();
    let mut next = 0u32;
    g.bench_function("claim_verify_then_refuse_double_claim_1024_leaves", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % n;
                tree.claim_for(&account(next)).unwrap()
            },
            |claim| {
                // already-claimed accounts are refused after verification: still measures it
                let _ = rt.block_on(admin.claim(&claim));
            },
            BatchSize::SmallInput,
        )
    });
    drop(admin);
    drop(ledger);

    // replay: open a ledger of 10,000 entries
    let path = dir.path().join("replay.log");
    {
        let ledger = LocalLedger::open(&path, genesis()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        drop(ledger);
        // write 10,000 note records directly (the fsync per entry would dominate set-up)
        let mut bytes = bytes;
        for i in 0..10_000u32 {
            let entry = depin_chains::local::Entry::Note(i.to_be_bytes().repeat(25));
            bytes.extend_from_slice(&depin_chains::local::log::frame(&entry.encode()).unwrap());
        }
        std::fs::write(&path, bytes).unwrap();
    }
    g.bench_function("open_replay_10k_entries", |b| {
        b.iter(|| {
            let l = LocalLedger::open(&path, genesis()).unwrap();
            assert_eq!(l.len().unwrap(), 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
