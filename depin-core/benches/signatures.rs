//! Signature benchmarks: sign/verify per key type, and strict Ed25519 batch verification
//! beside plain `ed25519_dalek::verify_batch` on the same data in the same run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use depin_core::batch::{verify_batch, BatchItem};
use depin_core::{Domain, KeyType, MessageKind, NetworkId, PublicKey, Signature, SigningKey};
use std::hint::black_box;

fn key(kt: KeyType, i: u32) -> SigningKey {
    let mut secret = [7u8; 32];
    secret[..4].copy_from_slice(&i.to_le_bytes());
    SigningKey::from_secret_bytes(kt, &secret).unwrap()
}

fn sign_verify(c: &mut Criterion) {
    let domain = Domain::new(NetworkId::new("bench").unwrap());
    let mut g = c.benchmark_group("single");
    for kt in KeyType::ALL {
        let k = key(kt, 1);
        let pk = k.public_key();
        let msg = [0x5au8; 64];
        let sig = domain.sign(&k, MessageKind::REPORT_FRAME, &msg).unwrap();
        g.bench_function(BenchmarkId::new("sign", kt), |b| {
            b.iter(|| {
                domain
                    .sign(&k, MessageKind::REPORT_FRAME, black_box(&msg))
                    .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("verify", kt), |b| {
            b.iter(|| {
                domain
                    .verify(&pk, MessageKind::REPORT_FRAME, black_box(&msg), &sig)
                    .unwrap()
            })
        });
    }
    // plain dalek on the same 32-byte message shape, for reference
    let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let vk = ed.verifying_key();
    let digest = [1u8; 32];
    let s = ed25519_dalek::Signer::sign(&ed, &digest);
    g.bench_function("verify/dalek-verify", |b| {
        b.iter(|| ed25519_dalek::Verifier::verify(&vk, black_box(&digest), &s).unwrap())
    });
    g.bench_function("verify/dalek-verify_strict", |b| {
        b.iter(|| vk.verify_strict(black_box(&digest), &s).unwrap())
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let domain = Domain::new(NetworkId::new("bench").unwrap());
    let mut g = c.benchmark_group("ed25519-batch");
    for n in [64usize, 256, 1024] {
        let keys: Vec<SigningKey> = (0..n as u32).map(|i| key(KeyType::Ed25519, i)).collect();
        let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let digests: Vec<[u8; 32]> = (0..n)
            .map(|i| domain.digest(MessageKind::REPORT_FRAME, &(i as u64).to_le_bytes()))
            .collect();
        let sig_bytes: Vec<[u8; 64]> = keys
            .iter()
            .zip(&digests)
            .map(|(k, d)| k.sign_prehash(d).unwrap().to_bytes())
            .collect();
        let dalek_keys: Vec<ed25519_dalek::VerifyingKey> = pks
            .iter()
            .filter_map(|p| {
                let bytes: [u8; 32] = p.to_bytes().as_ref().try_into().ok()?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::new("plain-dalek-verify_batch", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let msgs: Vec<&[u8]> = digests.iter().map(|d| &d[..]).collect();
                    let sigs: Vec<ed25519_dalek::Signature> = sig_bytes
                        .iter()
                        .map(ed25519_dalek::Signature::from_bytes)
                        .collect();
                    ed25519_dalek::verify_batch(&msgs, &sigs, &dalek_keys).unwrap()
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("strict-depin-core", n), &n, |b, _| {
            b.iter(|| {
                // strict parsing of every signature (S < l, canonical non-small-order R);
                // keys were strictly parsed once (as a verifier's key cache does)
                let sigs: Vec<Signature> = sig_bytes
                    .iter()
                    .map(|s| Signature::from_bytes(KeyType::Ed25519, s).unwrap())
                    .collect();
                let items: Vec<BatchItem<'_>> = (0..n)
                    .map(|i| BatchItem {
                        key: &pks[i],
                        digest: &digests[i],
                        signature: &sigs[i],
                    })
                    .collect();
                let verdicts = verify_batch(&items);
                assert!(verdicts.iter().all(|v| *v));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sign_verify, batch);
criterion_main!(benches);
