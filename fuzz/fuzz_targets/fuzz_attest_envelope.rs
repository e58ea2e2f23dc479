//! The envelope decoder never panics, whatever it accepts re-encodes to the exact input
//! bytes (the decoder is canonical), and the payload decoders of the built-in kinds never
//! panic on what it carries.
#![no_main]

use depin_attest::{builtin_kinds, Envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::decode(data, 64 * 1024) {
        assert_eq!(envelope.to_bytes().unwrap(), data);
        for kind in builtin_kinds() {
            if kind.kind() == envelope.body.kind {
                let _ = kind.decode(&envelope.body.payload);
            }
        }
    }
    for kind in builtin_kinds() {
        let _ = kind.decode(data);
    }
});
