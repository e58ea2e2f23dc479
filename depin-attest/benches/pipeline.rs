//! End-to-end pipeline throughput against raw `ed25519_dalek::verify_batch` on the same
//! signatures, on one core and on all cores, and the ratio between them.
//!
//! Run: `cargo bench -p depin-attest --features parallel --bench pipeline -- --warm-up-time 1 --measurement-time 4`

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use depin_attest::{
    DeviceRecord, Input, KindSet, MemoryRegistry, MemoryReplayStore, Verifier, VerifierConfig,
};
use depin_core::frame::{sign_frame, Frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use rayon::prelude::*;

const DEVICES: usize = 1024;
const PER_DEVICE: u32 = 4;
const NOW: Timestamp = Timestamp(1_700_000_000_000);

struct Data {
    frames: Vec<Vec<u8>>,
    digests: Vec<[u8; 32]>,
    sigs: Vec<ed25519_dalek::Signature>,
    keys: Vec<ed25519_dalek::VerifyingKey>,
    registry: MemoryRegistry,
    config: VerifierConfig,
    warmup: Vec<Vec<u8>>,
}

impl Data {
    /// A verifier that has seen every device once: keys cached, replay windows open, as in
    /// steady state (untimed setup).
    fn warm(&self) -> Verifier<MemoryRegistry, MemoryReplayStore> {
        let mut v = Verifier::new(
            self.config.clone(),
            self.registry.clone(),
            MemoryReplayStore::new(),
        )
        .unwrap_or_else(|_| unreachable!());
        let inputs: Vec<Input<'_>> = self.warmup.iter().map(|f| Input::Frame(f)).collect();
        let ok = v.verify_batch(&inputs, NOW).iter().all(|v| v.is_ok());
        assert!(ok, "warm-up frames must verify");
        v
    }
}

fn setup(parallel: bool) -> Data {
    let domain = Domain::new(NetworkId::new("bench-net").unwrap_or_else(|_| unreachable!()));
    let mut registry = MemoryRegistry::new();
    let mut frames = Vec::new();
    let mut warmup = Vec::new();
    let mut digests = Vec::new();
    let mut sigs = Vec::new();
    let mut keys = Vec::new();
    let signing: Vec<SigningKey> = (0..DEVICES)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SigningKey::from_secret_bytes(KeyType::Ed25519, &seed)
                .unwrap_or_else(|_| unreachable!())
        })
        .collect();
    for k in &signing {
        registry
            .insert(
                DeviceId::from(&k.public_key()),
                DeviceRecord::active(KindSet::ALL),
            )
            .unwrap_or_else(|_| unreachable!());
    }
    let mut buf = [0u8; MAX_FRAME_LEN];
    for k in &signing {
        let n = sign_frame(&domain, k, 1, 0, NOW, b"warm-up", &mut buf).unwrap_or(0);
        warmup.push(buf[..n].to_vec());
    }
    for seq in 1..=PER_DEVICE {
        for k in &signing {
            // a typical 24-byte sensor payload
            let n = sign_frame(&domain, k, 1, seq, NOW, &[0x5a; 24], &mut buf).unwrap_or(0);
            let f = buf[..n].to_vec();
            let parsed = Frame::parse(&f).unwrap_or_else(|_| unreachable!());
            digests.push(parsed.digest(&domain));
            let mut s = [0u8; 64];
            s.copy_from_slice(parsed.signature_bytes());
            sigs.push(ed25519_dalek::Signature::from_bytes(&s));
            let pk: [u8; 32] = k
                .public_key()
                .to_bytes()
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
            if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) {
                keys.push(vk);
            }
            frames.push(f);
        }
    }
    let mut config = VerifierConfig::new(domain);
    config.parallel_threshold = if parallel { 256 } else { usize::MAX };
    Data {
        frames,
        digests,
        sigs,
        keys,
        registry,
        config,
        warmup,
    }
}

fn raw(d: &Data, parallel: bool) -> bool {
    let msgs: Vec<&[u8]> = d.digests.iter().map(|m| &m[..]).collect();
    if parallel {
        let threads = rayon::current_num_threads().max(1);
        let chunk = msgs.len().div_ceil(threads);
        msgs.par_chunks(chunk)
            .zip(d.sigs.par_chunks(chunk))
            .zip(d.keys.par_chunks(chunk))
            .all(|((m, s), k)| ed25519_dalek::verify_batch(m, s, k).is_ok())
    } else {
        ed25519_dalek::verify_batch(&msgs, &d.sigs, &d.keys).is_ok()
    }
}

fn pipeline(d: &Data, mut v: Verifier<MemoryRegistry, MemoryReplayStore>) -> usize {
    let inputs: Vec<Input<'_>> = d.frames.iter().map(|f| Input::Frame(f)).collect();
    v.verify_batch(&inputs, NOW)
        .iter()
        .filter(|r| r.is_ok())
        .count()
}

fn bench(c: &mut Criterion) {
    for parallel in [false, true] {
        let d = setup(parallel);
        assert!(raw(&d, parallel));
        assert_eq!(pipeline(&d, d.warm()), d.frames.len());
        let label = if parallel { "all-cores" } else { "one-core" };
        let mut g = c.benchmark_group(format!("attest-{label}"));
        g.throughput(Throughput::Elements(d.frames.len() as u64));
        g.bench_function("raw-dalek-verify_batch", |b| b.iter(|| raw(&d, parallel)));
        g.bench_function("pipeline", |b| {
            b.iter_batched(|| d.warm(), |v| pipeline(&d, v), BatchSize::PerIteration)
        });
        g.finish();
    }
}

/// Interleaved best-of-N timing of both, to print the ratio in the same run.
fn ratio() {
    for parallel in [false, true] {
        let d = setup(parallel);
        let n = d.frames.len() as f64;
        let (mut best_raw, mut best_pipe) = (Duration::MAX, Duration::MAX);
        for _ in 0..15 {
            let t = Instant::now();
            std::hint::black_box(raw(&d, parallel));
            best_raw = best_raw.min(t.elapsed());
            let v = d.warm();
            let t = Instant::now();
            std::hint::black_box(pipeline(&d, v));
            best_pipe = best_pipe.min(t.elapsed());
        }
        let raw_rate = n / best_raw.as_secs_f64();
        let pipe_rate = n / best_pipe.as_secs_f64();
        println!(
            "{}: raw verify_batch {:.0}/s, pipeline {:.0}/s, ratio {:.1}% (best of 15, batch {})",
            if parallel { "all cores" } else { "one core" },
            raw_rate,
            pipe_rate,
            100.0 * pipe_rate / raw_rate,
            d.frames.len()
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio();
}
