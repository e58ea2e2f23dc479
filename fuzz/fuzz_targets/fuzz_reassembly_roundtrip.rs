//! Any signed frame, split for any radio payload size, reassembles to the same bytes;
//! a corrupted fragment stream never yields a different frame.
#![no_main]

use depin_core::frame::MAX_FRAME_LEN;
use depin_core::{Domain, NetworkId, Timestamp};
use depin_device::counter::{RamStorage, SequenceCounter};
use depin_device::fragment::{Fragmenter, Reassembler};
use depin_device::signer::Ed25519Signer;
use depin_device::Reporter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mtu, rest)) = data.split_first() else { return };
    let Some((&corrupt, rest)) = rest.split_first() else { return };
    let payload = &rest[..rest.len().min(200)];
    let signer = Ed25519Signer::from_secret(&[7; 32]).unwrap();
    let public = signer.public_key();
    let domain = Domain::new(NetworkId::new("fuzz-net").unwrap());
    let counter = SequenceCounter::new(RamStorage::with_value(u32::from(mtu)), 1).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain);
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = reporter.report(1, Timestamp(0), payload, &mut buf).unwrap().len;
    let frame = &buf[..n];
    let Ok(fragments) = Fragmenter::for_frame(frame, usize::from(mtu)) else { return };
    let mut r = Reassembler::new();
    let mut out = None;
    for (i, f) in fragments.enumerate() {
        let mut radio = [0u8; 256];
        let len = f.write_to(&mut radio).unwrap();
        if i == usize::from(corrupt >> 1) && corrupt & 1 == 1 {
            radio[usize::from(corrupt) % len] ^= 0x10;
        }
        if let Ok(Some(got)) = r.push_verified(&radio[..len], &domain, &public) {
            let mut whole = got.signed_bytes().to_vec();
            whole.extend_from_slice(got.signature_bytes());
            out = Some(whole);
        }
    }
    if let Some(whole) = out {
        assert_eq!(&whole[..], frame);
    }
});
