//! The network-scale ladder: the pipeline with 10k, 100k (and, opt-in, 1M) registered
//! Ed25519 devices sending 10 frames each, in batches of 4,096, against raw
//! `ed25519_dalek::verify_batch` on the same signatures and keys, batch by batch in the same
//! run. Prints, per step: throughput of first-sight frames (each device's first) and of steady
//! state (the others), the pipeline/raw ratio of each, verifier memory per device (key cache,
//! replay windows, policy state, as reported by `Verifier::memory`), and batch latency
//! (median, p99, max).
//!
//! Run: `cargo bench -p depin-attest --features parallel --bench ladder`;
//! 1M: `DEPIN_LADDER=10000,100000,1000000 cargo bench ...` (about ten minutes here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
use std::time::{Duration, Instant};

use depin_attest::{
    DeviceRecord, Input, KindSet, MemoryRegistry, MemoryReplayStore, Verifier, VerifierBuilder,
    VerifierConfig,
};
use depin_core::frame::{sign_frame, Frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use rayon::prelude::*;

/// Peak resident memory of this process, bytes (`VmHWM` of `/proc/self/status`), for
/// reference: it includes the benchmark's own signed frames and keys.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

const FRAMES_PER_DEVICE: u32 = 10;
const BATCH: usize = 4096;
const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[8] = 0x1d;
    SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap_or_else(|_| unreachable!())
}

/// One round: every device's frame `seq`, with what the raw baseline needs.
struct Round {
    frames: Vec<Vec<u8>>,
    digests: Vec<[u8; 32]>,
    sigs: Vec<ed25519_dalek::Signature>,
}

fn round(domain: &Domain, keys: &[SigningKey], seq: u32) -> Round {
    let parts: Vec<(Vec<u8>, [u8; 32], ed25519_dalek::Signature)> = keys
        .par_iter()
        .map(|k| {
            let mut buf = [0u8; MAX_FRAME_LEN];
            let n = sign_frame(domain, k, 1, seq, NOW, &[0x5a; 24], &mut buf).unwrap_or(0);
            let f = buf[..n].to_vec();
            let parsed = Frame::parse(&f).unwrap_or_else(|_| unreachable!());
            let digest = parsed.digest(domain);
            let mut s = [0u8; 64];
            s.copy_from_slice(parsed.signature_bytes());
            (f, digest, ed25519_dalek::Signature::from_bytes(&s))
        })
        .collect();
    let mut r = Round {
        frames: Vec::with_capacity(parts.len()),
        digests: Vec::with_capacity(parts.len()),
        sigs: Vec::with_capacity(parts.len()),
    };
    for (f, d, s) in parts {
        r.frames.push(f);
        r.digests.push(d);
        r.sigs.push(s);
    }
    r
}

fn raw(
    digests: &[[u8; 32]],
    sigs: &[ed25519_dalek::Signature],
    keys: &[ed25519_dalek::VerifyingKey],
) -> bool {
    let msgs: Vec<&[u8]> = digests.iter().map(|m| &m[..]).collect();
    let threads = rayon::current_num_threads().max(1);
    let chunk = msgs.len().div_ceil(threads).max(64);
    msgs.par_chunks(chunk)
        .zip(sigs.par_chunks(chunk))
        .zip(keys.par_chunks(chunk))
        .all(|((m, s), k)| ed25519_dalek::verify_batch(m, s, k).is_ok())
}

#[derive(Default)]
struct Times {
    pipeline: Duration,
    raw: Duration,
    frames: usize,
    batches: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn step(devices: usize) {
    let domain = Domain::new(NetworkId::new("ladder-net").unwrap_or_else(|_| unreachable!()));
    let t = Instant::now();
    let keys: Vec<SigningKey> = (0..devices).into_par_iter().map(key).collect();
    let ids: Vec<DeviceId> = keys
        .iter()
        .map(|k| DeviceId::from(&k.public_key()))
        .collect();
    // registration: every key validated strictly once (in parallel, as an onboarding
    // service would), the fact kept with the record
    let t_reg = Instant::now();
    let checked: Vec<bool> = ids.par_iter().map(|id| id.public_key().is_ok()).collect();
    let registration = t_reg.elapsed();
    let mut registry = MemoryRegistry::with_capacity(devices);
    for (id, ok) in ids.iter().zip(checked) {
        let mut record = DeviceRecord::active(KindSet::ALL);
        record.key_checked = ok;
        registry
            .insert_trusted(*id, record)
            .unwrap_or_else(|_| unreachable!());
    }
    let mut config = VerifierConfig::new(domain);
    config.parallel_threshold = 256;
    let mut verifier: Verifier<MemoryRegistry, MemoryReplayStore> = VerifierBuilder::new(config)
        .expected_devices(devices)
        .build(registry, MemoryReplayStore::with_capacity(devices))
        .unwrap_or_else(|_| unreachable!());
    // the registry moved into the verifier: count it apart
    let vkeys: Vec<ed25519_dalek::VerifyingKey> = keys
        .par_iter()
        .map(|k| {
            let pk: [u8; 32] = k
                .public_key()
                .to_bytes()
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
            ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap_or_else(|_| unreachable!())
        })
        .collect();
    let registry_bytes = verifier.registry().memory_bytes();
    let setup = t.elapsed();
    let (mut first, mut steady) = (Times::default(), Times::default());
    for seq in 1..=FRAMES_PER_DEVICE {
        let r = round(&domain, &keys, seq);
        let times = if seq == 1 { &mut first } else { &mut steady };
        for start in (0..devices).step_by(BATCH) {
            let end = (start + BATCH).min(devices);
            let t = Instant::now();
            assert!(raw(
                &r.digests[start..end],
                &r.sigs[start..end],
                &vkeys[start..end]
            ));
            times.raw += t.elapsed();
            let inputs: Vec<Input<'_>> = r.frames[start..end]
                .iter()
                .map(|f| Input::Frame(f))
                .collect();
            let t = Instant::now();
            let verdicts = verifier.verify_batch(&inputs, NOW);
            let dt = t.elapsed();
            drop(inputs);
            let accepted = verdicts.iter().filter(|v| v.is_ok()).count();
            drop(verdicts);
            assert_eq!(accepted, end - start, "every frame verifies");
            times.pipeline += dt;
            times.frames += end - start;
            times.batches.push(dt);
        }
    }
    let mut all: Vec<Duration> = first
        .batches
        .iter()
        .chain(&steady.batches)
        .copied()
        .collect();
    all.sort();
    let (median, p99, max) = (
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        *all.last().unwrap_or(&Duration::ZERO),
    );
    let rate = |t: &Times, d: Duration| t.frames as f64 / d.as_secs_f64();
    // the verifier's state after the run, as it reports it
    let memory = verifier.memory();
    let state = memory.total();
    let counters = verifier.counters();
    println!(
        "{devices:>8} devices: first sight {:>7.0}/s (raw {:>7.0}/s, {:.2}x raw), steady {:>7.0}/s (raw {:>7.0}/s, {:.2}x raw), first/steady {:.2} (normalized by raw: {:.2})",
        rate(&first, first.pipeline),
        rate(&first, first.raw),
        first.raw.as_secs_f64() / first.pipeline.as_secs_f64(),
        rate(&steady, steady.pipeline),
        rate(&steady, steady.raw),
        steady.raw.as_secs_f64() / steady.pipeline.as_secs_f64(),
        rate(&first, first.pipeline) / rate(&steady, steady.pipeline),
        // the host's speed drifts between rounds: each phase's ratio to raw on the same
        // batches cancels it
        (first.raw.as_secs_f64() / first.pipeline.as_secs_f64())
            / (steady.raw.as_secs_f64() / steady.pipeline.as_secs_f64()),
    );
    println!(
        "{devices:>8} devices: verifier state {:.0} B/device (key cache {:.0}, replay windows {:.0}, policies {:.0}); registry {:.0} B/device; key validation at registration {:.1} µs/device; peak RSS {:.0} MiB; batches of {BATCH}: median {:.1} ms, p99 {:.1} ms, max {:.1} ms (max/median {:.2}); {} frames, setup {:.1} s",
        state as f64 / devices as f64,
        memory.key_cache as f64 / devices as f64,
        memory.replay.unwrap_or(0) as f64 / devices as f64,
        memory.policies as f64 / devices as f64,
        registry_bytes as f64 / devices as f64,
        registration.as_secs_f64() * 1e6 / devices as f64,
        peak_rss().unwrap_or(0) as f64 / (1 << 20) as f64,
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        max.as_secs_f64() / median.as_secs_f64(),
        counters.accepted,
        setup.as_secs_f64(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this harness ignores
    let ladder = std::env::var("DEPIN_LADDER").unwrap_or_else(|_| "10000,100000".to_string());
    for n in ladder
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        step(n);
    }
}
