//! End-to-end pipeline throughput against raw `ed25519_dalek::verify_batch` on the same
//! signatures, on one core and on all cores, and the ratio between them, for three
//! workloads of 1,024 devices x 4 items:
//!
//! * `frames`: raw report frames (24-byte payloads), the built-in raw report kind;
//! * `energy`: signed energy-reading envelopes through the built-in energy policy (behind
//!   the `Policy` trait, dynamic dispatch included);
//! * `network-kind`: frames of a network-defined kind (a serde type) decoded by its `Kind`
//!   and checked by two network-defined policies (a read-only bound and a stateful
//!   counter), as an outside network would build them.
//!
//! Run: `cargo bench -p depin-attest --features parallel --bench pipeline -- --warm-up-time 1 --measurement-time 4`

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use depin_attest::types::{EnergyDirection, EnergyReading};
use depin_attest::{
    AttestationKind, AttestationType, DeviceRecord, Envelope, EnvelopeBody, Input, Item, KindSet,
    Label, MemoryRegistry, MemoryReplayStore, Outcome, Policy, PolicyRejection, Rejection,
    Verifier, VerifierBuilder, VerifierConfig,
};
use depin_core::frame::{sign_frame, Frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const DEVICES: usize = 1024;
const PER_DEVICE: u32 = 4;
const NOW: Timestamp = Timestamp(1_700_000_000_000);
/// Processing time: after every item's timestamp, within the freshness window.
const LATER: Timestamp = Timestamp(NOW.0 + 5 * 60_000);

/// A network-defined kind carried in frames: a weather station's reading.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Weather {
    temp_dc: i16,
    humidity_pm: u16,
    pressure_pa: u32,
    rain_um: u32,
}

impl AttestationType for Weather {
    const KIND: AttestationKind = AttestationKind::application(0x10);
    const NAME: Label = Label::new("weather");
    const FRAME_KIND: Option<u8> = Some(0x30);
    fn check(&self) -> Result<(), Rejection> {
        if self.humidity_pm > 1000 {
            return Err(Rejection::InvalidStructure);
        }
        Ok(())
    }
}

/// Read-only physical bounds.
struct Bounds;

impl Policy for Bounds {
    fn name(&self) -> Label {
        Label::new("weather_bounds")
    }
    fn version(&self) -> u32 {
        1
    }
    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == Weather::KIND
    }
    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        let w = item.body::<Weather>()?;
        if !(-600..=600).contains(&w.temp_dc) || !(30_000..=110_000).contains(&w.pressure_pa) {
            return Err(PolicyRejection::new(self.name(), Label::new("out_of_bounds")).into());
        }
        Ok(())
    }
}

/// Stateful: readings per device.
#[derive(Default)]
struct Count(HashMap<DeviceId, u32>);

impl Policy for Count {
    fn name(&self) -> Label {
        Label::new("weather_count")
    }
    fn version(&self) -> u32 {
        1
    }
    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == Weather::KIND
    }
    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        let n = self.0.entry(*item.device).or_insert(0);
        *n += 1;
        *outcome = Outcome::Credited {
            policy: Label::new("weather_count"),
            units: u64::from(*n),
        };
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Frames,
    Energy,
    NetworkKind,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Frames => "frames",
            Workload::Energy => "energy",
            Workload::NetworkKind => "network-kind",
        }
    }
}

struct Data {
    workload: Workload,
    items: Vec<Vec<u8>>,
    digests: Vec<[u8; 32]>,
    sigs: Vec<ed25519_dalek::Signature>,
    keys: Vec<ed25519_dalek::VerifyingKey>,
    registry: MemoryRegistry,
    config: VerifierConfig,
    warmup: Vec<Vec<u8>>,
}

fn input(w: Workload, bytes: &[u8]) -> Input<'_> {
    match w {
        Workload::Energy => Input::Envelope(bytes),
        Workload::Frames | Workload::NetworkKind => Input::Frame(bytes),
    }
}

impl Data {
    /// A verifier that has seen every device once: keys cached, replay windows open, energy
    /// baselines set, as in steady state (untimed setup).
    fn warm(&self) -> Verifier<MemoryRegistry, MemoryReplayStore> {
        let mut b = VerifierBuilder::new(self.config.clone());
        if self.workload == Workload::NetworkKind {
            b = b
                .without_builtins()
                .kind_type::<Weather>()
                .policy(Bounds)
                .policy(Count::default());
        }
        let mut v = b
            .expected_devices(DEVICES)
            .build(self.registry.clone(), MemoryReplayStore::new())
            .unwrap_or_else(|_| unreachable!());
        let inputs: Vec<Input<'_>> = self
            .warmup
            .iter()
            .map(|f| input(self.workload, f))
            .collect();
        let ok = v.verify_batch(&inputs, NOW).iter().all(|v| v.is_ok());
        assert!(ok, "warm-up items must verify");
        v
    }
}

fn weather(i: usize, seq: u32) -> Vec<u8> {
    depin_core::encoding::encode(&Weather {
        temp_dc: 150 + (i % 100) as i16,
        humidity_pm: 550,
        pressure_pa: 101_325,
        rain_um: seq * 10,
    })
    .unwrap_or_default()
}

fn setup(workload: Workload, parallel: bool) -> Data {
    let domain = Domain::new(NetworkId::new("bench-net").unwrap_or_else(|_| unreachable!()));
    let mut registry = MemoryRegistry::with_capacity(DEVICES);
    let signing: Vec<SigningKey> = (0..DEVICES)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SigningKey::from_secret_bytes(KeyType::Ed25519, &seed)
                .unwrap_or_else(|_| unreachable!())
        })
        .collect();
    for k in &signing {
        let mut rec = DeviceRecord::active(KindSet::ALL);
        rec.rated_power_w = Some(10_000);
        registry
            .insert(DeviceId::from(&k.public_key()), rec)
            .unwrap_or_else(|_| unreachable!());
    }
    let mut buf = [0u8; MAX_FRAME_LEN];
    // item `seq` of device `i`, and its signing digest
    let make = |i: usize, k: &SigningKey, seq: u32, buf: &mut [u8]| -> (Vec<u8>, [u8; 32]) {
        match workload {
            Workload::Frames | Workload::NetworkKind => {
                let (kind, payload) = if workload == Workload::Frames {
                    (1, vec![0x5a; 24]) // a typical 24-byte sensor payload
                } else {
                    (0x30, weather(i, seq))
                };
                let n = sign_frame(&domain, k, kind, seq, NOW, &payload, buf).unwrap_or(0);
                let f = buf[..n].to_vec();
                let digest = Frame::parse(&f)
                    .unwrap_or_else(|_| unreachable!())
                    .digest(&domain);
                (f, digest)
            }
            Workload::Energy => {
                let at = Timestamp(NOW.0 + u64::from(seq) * 60_000);
                let reading = EnergyReading {
                    direction: EnergyDirection::Production,
                    cumulative_wh: 1_000 + u64::from(seq) * 10,
                };
                let body = EnvelopeBody::new(
                    DeviceId::from(&k.public_key()),
                    u64::from(seq),
                    at,
                    &reading,
                )
                .unwrap_or_else(|_| unreachable!());
                let (_, digest) = body
                    .encode_for_signing(&domain)
                    .unwrap_or_else(|_| unreachable!());
                let e = Envelope::sign(&domain, k, &body).unwrap_or_else(|_| unreachable!());
                (e, digest)
            }
        }
    };
    let warmup: Vec<Vec<u8>> = signing
        .iter()
        .enumerate()
        .map(|(i, k)| make(i, k, 0, &mut buf).0)
        .collect();
    let (mut items, mut digests, mut sigs, mut keys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for seq in 1..=PER_DEVICE {
        for (i, k) in signing.iter().enumerate() {
            let (bytes, digest) = make(i, k, seq, &mut buf);
            let mut s = [0u8; 64];
            s.copy_from_slice(&bytes[bytes.len() - 64..]);
            sigs.push(ed25519_dalek::Signature::from_bytes(&s));
            digests.push(digest);
            let pk: [u8; 32] = k
                .public_key()
                .to_bytes()
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
            if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) {
                keys.push(vk);
            }
            items.push(bytes);
        }
    }
    let mut config = VerifierConfig::new(domain);
    config.parallel_threshold = if parallel { 256 } else { usize::MAX };
    Data {
        workload,
        items,
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
    let inputs: Vec<Input<'_>> = d.items.iter().map(|f| input(d.workload, f)).collect();
    v.verify_batch(&inputs, LATER)
        .iter()
        .filter(|r| r.is_ok())
        .count()
}

const WORKLOADS: [Workload; 3] = [Workload::Frames, Workload::Energy, Workload::NetworkKind];

fn bench(c: &mut Criterion) {
    for workload in WORKLOADS {
        for parallel in [false, true] {
            let d = setup(workload, parallel);
            // like for like: the raw baseline verifies exactly the signatures the pipeline
            // accepts, and the pipeline accepts every item
            assert!(raw(&d, parallel));
            assert_eq!(pipeline(&d, d.warm()), d.items.len());
            let label = if parallel { "all-cores" } else { "one-core" };
            let mut g = c.benchmark_group(format!("attest-{}-{label}", workload.label()));
            g.throughput(Throughput::Elements(d.items.len() as u64));
            g.bench_function("raw-dalek-verify_batch", |b| b.iter(|| raw(&d, parallel)));
            g.bench_function("pipeline", |b| {
                b.iter_batched(|| d.warm(), |v| pipeline(&d, v), BatchSize::PerIteration)
            });
            g.finish();
        }
    }
}

/// Interleaved best-of-N timing of both, to print the ratio in the same run.
fn ratio() {
    for workload in WORKLOADS {
        for parallel in [false, true] {
            let d = setup(workload, parallel);
            let n = d.items.len() as f64;
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
                "{} {}: raw verify_batch {:.0}/s, pipeline {:.0}/s, ratio {:.1}% (best of 15, batch {})",
                workload.label(),
                if parallel { "all cores" } else { "one core" },
                raw_rate,
                pipe_rate,
                100.0 * pipe_rate / raw_rate,
                d.items.len()
            );
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratio();
}
