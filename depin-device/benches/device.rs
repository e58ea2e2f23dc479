//! Host-side timings of the device paths (sign a frame per key type, fragment and
//! reassemble). Flash and stack numbers on the microcontroller are in docs/device.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use criterion::{criterion_group, criterion_main, Criterion};
use depin_core::frame::MAX_FRAME_LEN;
use depin_core::{Domain, NetworkId, Timestamp};
use depin_device::counter::{RamStorage, SequenceCounter};
use depin_device::fragment::{Fragmenter, Reassembler};
use depin_device::signer::{Ed25519Signer, P256Signer, Secp256k1Signer, Signer};
use depin_device::Reporter;

const SECRET: [u8; 32] = *b"depin-rs TEST KEY, never in prod";

fn report<S: Signer>(c: &mut Criterion, name: &str, signer: S) {
    let domain = Domain::new(NetworkId::new("bench-net").unwrap());
    let counter = SequenceCounter::new(RamStorage::new(), 64).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain);
    let mut buf = [0u8; MAX_FRAME_LEN];
    c.bench_function(name, |b| {
        b.iter(|| {
            reporter
                .report(1, Timestamp(1), b"temp=21.5C", &mut buf)
                .unwrap()
        })
    });
}

fn benches(c: &mut Criterion) {
    report(
        c,
        "report/ed25519",
        Ed25519Signer::from_secret(&SECRET).unwrap(),
    );
    report(
        c,
        "report/secp256k1",
        Secp256k1Signer::from_secret(&SECRET).unwrap(),
    );
    report(c, "report/p256", P256Signer::from_secret(&SECRET).unwrap());

    let signer = Ed25519Signer::from_secret(&SECRET).unwrap();
    let public = signer.public_key();
    let domain = Domain::new(NetworkId::new("bench-net").unwrap());
    let counter = SequenceCounter::new(RamStorage::new(), 64).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain);
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = reporter
        .report(1, Timestamp(1), &[7; 200], &mut buf)
        .unwrap()
        .len;
    let frame = &buf[..n];
    c.bench_function("fragment+reassemble+verify/288B@11B", |b| {
        b.iter(|| {
            let mut r = Reassembler::new();
            let mut radio = [0u8; 11];
            let mut got = false;
            let mut it = Fragmenter::for_frame(frame, 11).unwrap();
            while let Some(len) = it.next_into(&mut radio).unwrap() {
                got |= r
                    .push_verified(&radio[..len], &domain, &public)
                    .unwrap()
                    .is_some();
            }
            assert!(got);
        })
    });
}

criterion_group!(device, benches);
criterion_main!(device);
