//! The envelope decoder never panics, and whatever it accepts re-encodes to the exact
//! input bytes (the decoder is canonical).
#![no_main]

use depin_attest::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::decode(data, 64 * 1024) {
        assert_eq!(envelope.to_bytes().unwrap(), data);
        let _ = envelope.body.attestation.check_structure();
    }
});
