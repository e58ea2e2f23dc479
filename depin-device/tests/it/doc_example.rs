//! The worked examples of docs/frame-format.md, regenerated with real keys. The same
//! constants are embedded in the document; this test fails if either side drifts.

use depin_core::frame::{Frame, MAX_FRAME_LEN};
use depin_core::{KeyType, SigningKey, Timestamp};
use depin_device::challenge::{respond, verify_response, MAX_RESPONSE_LEN};
use depin_device::counter::{RamStorage, SequenceCounter};
use depin_device::fragment::{Fragmenter, Reassembler};
use depin_device::signer::Ed25519Signer;
use depin_device::Reporter;

use crate::{domain, hex, TEST_SECRET};

/// Ed25519 public key of the test secret.
const PUBLIC_KEY: &str = "a966b2b4e570de1a4da15c1ff507b5fe9cf8f24661a64d51587a8a78a5457b32";
/// Key hint: first 8 bytes of SHA-256(0x00 || public key).
const KEY_HINT: &str = "e9e59aadb27f2185";
/// The signing digest: Domain("depin-qemu").digest(REPORT_FRAME, header || payload).
const DIGEST: &str = "0a07a563f06c63285fd3bb97e2aeda780df14dae10f673a7738ca2b1c4f37ba6";
/// The complete frame (kind 1, seq 1000, t = 1700000000000 ms, payload "temp=21.5C").
const FRAME: &str = concat!(
    "010100e9e59aadb27f2185e80300000068e5cf8b0100000a74656d703d32312e3543",
    "6ec888f5554f3c044c7388c334dd6c369055026545b8bc9d06cda103e8e2198b",
    "69676e4f5f5876c97d9fafbb18e5bb5d068ab24fe59396810485b6ff5628f001"
);
/// The frame split for an 11-byte radio payload (US915 DR0).
const FRAGMENTS_11: &[&str] = &[
    "e800010100e9e59aadb27f",
    "e8012185e80300000068e5",
    "e802cf8b0100000a74656d",
    "e803703d32312e35436ec8",
    "e80488f5554f3c044c7388",
    "e805c334dd6c3690550265",
    "e80645b8bc9d06cda103e8",
    "e807e2198b69676e4f5f58",
    "e80876c97d9fafbb18e5bb",
    "e8095d068ab24fe5939681",
    "e88a0485b6ff5628f001",
];
/// The frame split for a 51-byte radio payload (EU868 DR0-2).
const FRAGMENTS_51: &[&str] = &[
    "e800010100e9e59aadb27f2185e80300000068e5cf8b0100000a74656d703d32312e35436ec888f5554f3c044c7388c334dd6c",
    "e881369055026545b8bc9d06cda103e8e2198b69676e4f5f5876c97d9fafbb18e5bb5d068ab24fe59396810485b6ff5628f001",
];
/// Challenge response to nonce 00 01 .. 0f with measurement "rssi=-97".
const CHALLENGE_RESPONSE: &str = concat!(
    "0100e9e59aadb27f2185000102030405060708090a0b0c0d0e0f08727373693d2d3937",
    "0396b76a2df2bdd28e401d1cca39599a0212e0928b06030c5b91c2d4ffd9d8bd",
    "d52f0c28e8a63e269bd6c62d0f306c042cd58abfa6f2be6fc9808c590005280d"
);

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/frame-format.md");
    std::fs::read_to_string(path).unwrap()
}

struct Example {
    public_key: String,
    key_hint: String,
    digest: String,
    frame: Vec<u8>,
    fragments_11: Vec<String>,
    fragments_51: Vec<String>,
    challenge: String,
}

fn generate() -> Example {
    let signer = Ed25519Signer::from_secret(&TEST_SECRET).unwrap();
    let public = signer.public_key();
    let counter = SequenceCounter::new(RamStorage::with_value(1000), 16).unwrap();
    let mut reporter = Reporter::new(signer, counter, domain());
    let mut buf = [0u8; MAX_FRAME_LEN];
    let report = reporter
        .report(1, Timestamp(1_700_000_000_000), b"temp=21.5C", &mut buf)
        .unwrap();
    let frame = buf[..report.len].to_vec();
    let parsed = Frame::parse(&frame).unwrap();
    parsed.verify(&domain(), &public).unwrap();
    let split = |mtu| {
        Fragmenter::for_frame(&frame, mtu)
            .unwrap()
            .map(|f| {
                let mut out = vec![0u8; f.len()];
                f.write_to(&mut out).unwrap();
                hex(&out)
            })
            .collect::<Vec<_>>()
    };
    let nonce: [u8; 16] = core::array::from_fn(|i| i as u8);
    let mut out = [0u8; MAX_RESPONSE_LEN];
    let n = respond(reporter.signer(), &domain(), &nonce, b"rssi=-97", &mut out).unwrap();
    verify_response(&out[..n], &domain(), &public, &nonce).unwrap();
    Example {
        public_key: hex(public.to_bytes().as_ref()),
        key_hint: hex(&depin_core::DeviceId::from(&public).key_hint()),
        digest: hex(&parsed.digest(&domain())),
        fragments_11: split(11),
        fragments_51: split(51),
        frame,
        challenge: hex(&out[..n]),
    }
}

#[test]
fn worked_example_matches_constants_and_doc() {
    let ex = generate();
    println!("PUBLIC_KEY {}", ex.public_key);
    println!("KEY_HINT {}", ex.key_hint);
    println!("DIGEST {}", ex.digest);
    println!("FRAME {}", hex(&ex.frame));
    println!("FRAGMENTS_11 {:?}", ex.fragments_11);
    println!("FRAGMENTS_51 {:?}", ex.fragments_51);
    println!("CHALLENGE_RESPONSE {}", ex.challenge);
    assert_eq!(ex.public_key, PUBLIC_KEY);
    assert_eq!(ex.key_hint, KEY_HINT);
    assert_eq!(ex.digest, DIGEST);
    assert_eq!(hex(&ex.frame), FRAME);
    assert_eq!(ex.fragments_11, FRAGMENTS_11);
    assert_eq!(ex.fragments_51, FRAGMENTS_51);
    assert_eq!(ex.challenge, CHALLENGE_RESPONSE);

    // the document shows the same bytes (hex may be wrapped or spaced there)
    let compact: String = doc().split_whitespace().collect();
    for (name, value) in [
        ("public key", PUBLIC_KEY),
        ("key hint", KEY_HINT),
        ("digest", DIGEST),
        ("frame", FRAME),
        ("challenge response", CHALLENGE_RESPONSE),
    ] {
        assert!(
            compact.contains(value),
            "docs/frame-format.md lacks the {name} {value}"
        );
    }
    for f in FRAGMENTS_11.iter().chain(FRAGMENTS_51) {
        assert!(
            compact.contains(f),
            "docs/frame-format.md lacks fragment {f}"
        );
    }
}

#[test]
fn worked_example_fragments_reassemble() {
    let public = SigningKey::from_secret_bytes(KeyType::Ed25519, &TEST_SECRET)
        .unwrap()
        .public_key();
    for frags in [FRAGMENTS_11, FRAGMENTS_51] {
        let mut r = Reassembler::new();
        let mut done = None;
        for f in frags {
            done = r
                .push_verified(&crate::unhex(f), &domain(), &public)
                .unwrap()
                .map(|fr| fr.header.seq);
        }
        assert_eq!(done, Some(1000));
    }
}
