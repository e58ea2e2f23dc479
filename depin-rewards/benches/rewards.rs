//! Criterion benchmarks of depin-rewards.
//!
//! * `split/1m_*`: distributing a pool over 1,000,000 devices (single thread);
//! * `oz_tree/1m`: building an OpenZeppelin-compatible tree of 1,000,000 claims (all cores);
//! * `oz_tree/keccak_floor_1m`: the 2,999,999 keccak256 calls of that tree alone (all cores),
//!   the floor any implementation of the format has on this machine;
//! * `oz_proof/*`: proof generation on that tree;
//! * `oz_tree/100k` and a side-by-side run of `@openzeppelin/merkle-tree` on the same
//!   100,000 claims through `contracts/js/oz-merkle-tree.cjs` (bench mode), printed as a ratio.
//!
//! Run: `cargo bench -p depin-rewards -- --warm-up-time 1 --measurement-time 3`.

// A benchmark harness may stop on broken fixtures, like a test.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use criterion::{criterion_group, BatchSize, Criterion};
use depin_rewards::claims::oz::{keccak256, OzMerkleTree};
use depin_rewards::{distribute, Mode, Shares};

const DEVICES: u64 = 1_000_000;

/// 1,000,000 devices with 18-decimal fixed-point shares (total above 2^64, so every split is
/// a full 256-by-128-bit division).
fn device_shares() -> Shares<u64> {
    let entries: Vec<(u64, u128)> = (0..DEVICES)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 3;
            (i, u128::from(x % 5_000_000_000_000_000_000) + 1)
        })
        .collect();
    Shares::from_sorted(entries).expect("ids are sorted and unique")
}

fn split(c: &mut Criterion) {
    let shares = device_shares();
    let pool = 88_797_814_207_650_273_224_043_715u128;
    let mut g = c.benchmark_group("split");
    g.sample_size(20);
    g.bench_function("1m_largest_remainder", |b| {
        b.iter(|| distribute(black_box(&shares), black_box(pool), Mode::LargestRemainder))
    });
    g.bench_function("1m_floor", |b| {
        b.iter(|| distribute(black_box(&shares), black_box(pool), Mode::Floor))
    });
    let unsorted: Vec<(u64, u128)> = shares.entries().iter().rev().copied().collect();
    g.bench_function("1m_shares_new_unsorted", |b| {
        b.iter_batched(|| unsorted.clone(), Shares::new, BatchSize::LargeInput)
    });
    g.finish();
}

#[path = "../tests/support/bench_workload.rs"]
mod bench_workload;
use bench_workload::bench_claims;

fn oz_tree(c: &mut Criterion) {
    let claims = bench_claims(1_000_000);
    let mut g = c.benchmark_group("oz_tree");
    g.sample_size(10);
    g.bench_function("1m", |b| {
        b.iter_batched(|| claims.clone(), OzMerkleTree::new, BatchSize::LargeInput)
    });
    // The floor under `1m`: the 3 × 1,000,000 − 1 keccak256 calls of that tree alone, spread
    // over all cores the same way, without sorting or memory traffic.
    g.bench_function("keccak_floor_1m", |b| {
        use rayon::prelude::*;
        b.iter(|| {
            (0..3 * 1_000_000usize - 1)
                .into_par_iter()
                .with_min_len(1024)
                .map(|i| {
                    let mut buf = [0u8; 64];
                    buf[..8].copy_from_slice(&i.to_le_bytes());
                    keccak256(&buf)[0]
                })
                .reduce(|| 0, |a, b| a ^ b)
        })
    });
    let small = bench_claims(100_000);
    g.bench_function("100k", |b| {
        b.iter_batched(|| small.clone(), OzMerkleTree::new, BatchSize::LargeInput)
    });
    g.finish();

    let tree = OzMerkleTree::new(claims).expect("valid claims");
    let mut g = c.benchmark_group("oz_proof");
    g.sample_size(10);
    let mut i = 0usize;
    g.bench_function("one_of_1m", |b| {
        b.iter(|| {
            i = (i + 7919) % 1_000_000;
            tree.proof(black_box(i))
        })
    });
    g.bench_function("all_1m", |b| {
        b.iter(|| {
            (0..tree.len())
                .map(|i| tree.proof(i).map(|p| p.len()))
                .sum::<Result<usize, _>>()
        })
    });
    g.finish();
}

/// Median of `times` (sorted in place).
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Like-for-like comparison with `@openzeppelin/merkle-tree` on the same 100,000 claims:
/// node runs `StandardMerkleTree.of` `RUNS` times in one process (the first run is cold, so
/// the median is of warm runs as JIT'd JavaScript); ours is built `RUNS` times on **one
/// thread** (a one-thread rayon pool) and, separately, on all cores. Medians of each; the
/// roots must be identical or the bench fails. Skipped with a message if node is missing.
fn npm_side_by_side() {
    const RUNS: usize = 5;
    let n = 100_000;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/js/oz-merkle-tree.cjs");
    let js = (|| -> Option<serde_json::Value> {
        let mut child = Command::new("node")
            .arg(&script)
            .current_dir(script.parent()?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        child
            .stdin
            .take()?
            .write_all(format!("{{\"bench\": {n}, \"runs\": {RUNS}}}").as_bytes())
            .ok()?;
        let out = child.wait_with_output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    })();
    let claims = bench_claims(n);
    let build = |runs: usize| {
        let mut times = Vec::with_capacity(runs);
        let mut root = [0u8; 32];
        for _ in 0..runs {
            let v = claims.clone();
            let t = Instant::now();
            let tree = OzMerkleTree::new(v).expect("valid claims");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            root = tree.root();
        }
        (median(&mut times), root)
    };
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let (ours_1t, root_1t) = one_thread.install(|| build(RUNS));
    let (ours_all, root_all) = build(RUNS);
    assert_eq!(root_1t, root_all, "one-thread and all-core trees differ");
    match js {
        Some(js) => {
            let mut runs: Vec<f64> = js["runs"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            assert_eq!(runs.len(), RUNS, "the JS helper did not report {RUNS} runs");
            let cold = runs[0];
            let npm_warm = median(&mut runs[1..]);
            let ours_hex = format!("0x{}", hex::encode(root_1t));
            assert_eq!(
                js["root"].as_str(),
                Some(ours_hex.as_str()),
                "@openzeppelin/merkle-tree and depin-rewards disagree on the root"
            );
            println!(
                "oz_vs_npm/100k (same root {ours_hex}): @openzeppelin/merkle-tree median of {} warm runs {npm_warm:.0} ms \
                 (cold first run {cold:.0} ms); depin-rewards median of {RUNS}: one thread {ours_1t:.1} ms, \
                 all cores {ours_all:.1} ms; single thread to single thread {:.0}x",
                RUNS - 1,
                npm_warm / ours_1t
            );
        }
        None => println!(
            "oz_vs_npm/100k: node or the npm package missing (cd contracts && npm ci); \
             ours one thread {ours_1t:.1} ms, all cores {ours_all:.1} ms"
        ),
    }
}

/// The divisions of one `split/1m_*` run (1,000,000 `r0 × s` products of up to 2^190 divided
/// by a total above 2^64): with the prepared [`depin_rewards::math::Divisor`] (Möller–Granlund
/// reciprocal) and with ruint's general 256-by-128-bit division, on the same inputs, the
/// results checked equal first.
fn division(c: &mut Criterion) {
    use depin_rewards::math::{mul_div_rem, Divisor};
    let shares = device_shares();
    let total: u128 = shares.entries().iter().map(|(_, s)| *s).sum();
    let r0 = total - 12_345; // the largest remainders a pool leaves
    let inputs: Vec<u128> = shares.entries().iter().map(|(_, s)| *s).collect();
    let divisor = Divisor::new(total).expect("non-zero total");
    let with_divisor = |xs: &[u128]| -> u128 {
        xs.iter().fold(0u128, |acc, &s| {
            let (q, r) = divisor.mul_div_rem(r0, s).expect("fits");
            acc.wrapping_add(q).wrapping_add(r)
        })
    };
    let with_ruint = |xs: &[u128]| -> u128 {
        xs.iter().fold(0u128, |acc, &s| {
            let (q, r) = mul_div_rem(r0, s, total).expect("fits");
            acc.wrapping_add(q).wrapping_add(r)
        })
    };
    assert_eq!(
        with_divisor(&inputs),
        with_ruint(&inputs),
        "the two divisions disagree"
    );
    let mut g = c.benchmark_group("division");
    g.sample_size(20);
    g.bench_function("1m_prepared_divisor", |b| {
        b.iter(|| with_divisor(black_box(&inputs)))
    });
    g.bench_function("1m_ruint_div_rem", |b| {
        b.iter(|| with_ruint(black_box(&inputs)))
    });
    g.finish();
}

criterion_group!(benches, split, oz_tree, division);

fn main() {
    benches();
    npm_side_by_side();
    Criterion::default().configure_from_args().final_summary();
}
