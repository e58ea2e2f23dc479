//! Hardware evidence: secure-element chains (device certificate, signer, maker root) generated
//! with rcgen for the accepted case and every refusal, plus mutated and random evidence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use depin_attest::evidence::{SecureElementEvidence, SecureElementVerifier, SECURE_ELEMENT_KIND};
use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier};
use depin_core::{DeviceId, KeyType, SigningKey};
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    PublicKeyData, SerialNumber, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};

/// 2026-12-01T00:00:00Z.
const NOW: u64 = 1_796_083_200;
const NONCE: [u8; 32] = [0x4e; 32];

/// A depin-core P-256 key as rcgen's subject public key.
struct DevicePub([u8; 65]);

impl PublicKeyData for DevicePub {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

#[derive(Clone, Copy)]
struct Validity {
    from: (i32, u8, u8),
    to: (i32, u8, u8),
}

const VALID: Validity = Validity {
    from: (2024, 1, 1),
    to: (2040, 1, 1),
};

fn params(cn: &str, ca: bool, serial: u8, v: Validity) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Acme Radios");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    p.serial_number = Some(SerialNumber::from_slice(&[serial]));
    p.not_before = rcgen::date_time_ymd(v.from.0, v.from.1, v.from.2);
    p.not_after = rcgen::date_time_ymd(v.to.0, v.to.1, v.to.2);
    p
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn root(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(cn, true, 1, VALID).self_signed(&key).unwrap();
    Ca { cert, key }
}

fn signer(by: &Ca, ca: bool, v: Validity) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params("Acme signer 00A1", ca, 2, v)
        .signed_by(&key, &by.cert, &by.key)
        .unwrap();
    Ca { cert, key }
}

fn device_cert(device: &SigningKey, by: &Ca, serial: u8, v: Validity) -> Vec<u8> {
    let point = device.public_key().to_uncompressed_sec1().unwrap();
    params("sn0123ee0ff", false, serial, v)
        .signed_by(&DevicePub(point), &by.cert, &by.key)
        .unwrap()
        .der()
        .to_vec()
}

fn answer(device: &SigningKey, nonce: &[u8; 32]) -> [u8; 64] {
    device.sign_prehash(nonce).unwrap().to_bytes()
}

struct Fixture {
    maker: DeviceId,
    root: Ca,
    signer: Ca,
    device: SigningKey,
    verifier: SecureElementVerifier,
}

fn fixture() -> Fixture {
    let maker = DeviceId::from(
        SigningKey::from_secret_bytes(KeyType::Ed25519, &[1; 32])
            .unwrap()
            .public_key(),
    );
    let root = root("Acme Root CA");
    let signer = signer(&root, true, VALID);
    let device = SigningKey::from_secret_bytes(KeyType::P256, &[7; 32]).unwrap();
    let verifier = SecureElementVerifier::new()
        .with_maker_root(maker, "Acme Radios", root.cert.der())
        .unwrap();
    Fixture {
        maker,
        root,
        signer,
        device,
        verifier,
    }
}

impl Fixture {
    fn evidence(&self) -> SecureElementEvidence {
        SecureElementEvidence {
            device_certificate: device_cert(&self.device, &self.signer, 3, VALID),
            signer_certificate: self.signer.cert.der().to_vec(),
            nonce_signature: answer(&self.device, &NONCE),
        }
    }

    fn verify(
        &self,
        e: &SecureElementEvidence,
    ) -> Result<depin_core::evidence::HardwareVerdict, EvidenceError> {
        self.verify_bytes(&e.encode())
    }

    fn verify_bytes(
        &self,
        bytes: &[u8],
    ) -> Result<depin_core::evidence::HardwareVerdict, EvidenceError> {
        let id = DeviceId::from(self.device.public_key());
        self.verifier.verify(
            bytes,
            &EvidenceRequest {
                device: &id,
                nonce: &NONCE,
                now_secs: NOW,
            },
        )
    }
}

#[test]
fn a_secure_element_chaining_to_its_makers_root_is_accepted() {
    let f = fixture();
    let e = f.evidence();
    assert_eq!(SecureElementEvidence::decode(&e.encode()).unwrap(), e);
    let verdict = f.verify(&e).unwrap();
    assert_eq!(verdict.kind, SECURE_ELEMENT_KIND);
    assert_eq!(verdict.vendor, "Acme Radios");
    assert_eq!(verdict.maker, Some(f.maker));
    assert_eq!(f.verifier.kind(), SECURE_ELEMENT_KIND);
}

#[test]
fn each_broken_link_is_its_own_typed_refusal() {
    let f = fixture();
    let good = f.evidence();

    // a chain to a root nobody configured
    let stranger = root("Other Root CA");
    let their_signer = signer(&stranger, true, VALID);
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &their_signer, 3, VALID),
        signer_certificate: their_signer.cert.der().to_vec(),
        ..good.clone()
    };
    assert_eq!(f.verify(&e), Err(EvidenceError::UntrustedRoot));

    // a root with the maker root's very name but another key
    let lookalike = root("Acme Root CA");
    let fake_signer = signer(&lookalike, true, VALID);
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &fake_signer, 3, VALID),
        signer_certificate: fake_signer.cert.der().to_vec(),
        ..good.clone()
    };
    assert!(matches!(f.verify(&e), Err(EvidenceError::BadSignature(_))));

    // a signer that is not a CA
    let leafy = signer(&f.root, false, VALID);
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &leafy, 3, VALID),
        signer_certificate: leafy.cert.der().to_vec(),
        ..good.clone()
    };
    assert!(matches!(f.verify(&e), Err(EvidenceError::Policy(_))));

    // a device certificate signed by the root itself, sent with the signer
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &f.root, 3, VALID),
        ..good.clone()
    };
    assert_eq!(f.verify(&e), Err(EvidenceError::UntrustedRoot));

    // expired device certificate; signer not yet valid
    let old = Validity {
        from: (2020, 1, 1),
        to: (2025, 1, 1),
    };
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &f.signer, 3, old),
        ..good.clone()
    };
    assert!(matches!(f.verify(&e), Err(EvidenceError::Expired(_))));
    let future = signer(
        &f.root,
        true,
        Validity {
            from: (2030, 1, 1),
            to: (2040, 1, 1),
        },
    );
    let e = SecureElementEvidence {
        device_certificate: device_cert(&f.device, &future, 3, VALID),
        signer_certificate: future.cert.der().to_vec(),
        ..good.clone()
    };
    assert!(matches!(f.verify(&e), Err(EvidenceError::Expired(_))));

    // a revoked device serial, and a revoked signer serial
    for serial in [3u8, 2] {
        let revoked = f.verifier.clone().revoke_serial(&[serial]);
        let id = DeviceId::from(f.device.public_key());
        let r = revoked.verify(
            &good.encode(),
            &EvidenceRequest {
                device: &id,
                nonce: &NONCE,
                now_secs: NOW,
            },
        );
        assert!(
            matches!(r, Err(EvidenceError::Revoked(_))),
            "{serial}: {r:?}"
        );
    }

    // a certificate for another key (the device's own key signing the nonce)
    let other = SigningKey::from_secret_bytes(KeyType::P256, &[8; 32]).unwrap();
    let e = SecureElementEvidence {
        device_certificate: device_cert(&other, &f.signer, 3, VALID),
        ..good.clone()
    };
    assert_eq!(f.verify(&e), Err(EvidenceError::WrongKey));

    // an answer to another nonce, and an answer by another key
    let e = SecureElementEvidence {
        nonce_signature: answer(&f.device, &[0x11; 32]),
        ..good.clone()
    };
    assert_eq!(f.verify(&e), Err(EvidenceError::WrongNonce));
    let e = SecureElementEvidence {
        nonce_signature: answer(&other, &NONCE),
        ..good.clone()
    };
    assert_eq!(f.verify(&e), Err(EvidenceError::WrongNonce));

    // a signature not strictly encoded (s = 0)
    let mut sig = good.nonce_signature;
    sig[32..].fill(0);
    let e = SecureElementEvidence {
        nonce_signature: sig,
        ..good.clone()
    };
    assert!(matches!(f.verify(&e), Err(EvidenceError::Malformed(_))));

    // an Ed25519 device: secure elements of this class hold P-256 keys
    let ed = DeviceId::from(
        SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32])
            .unwrap()
            .public_key(),
    );
    let r = f.verifier.verify(
        &good.encode(),
        &EvidenceRequest {
            device: &ed,
            nonce: &NONCE,
            now_secs: NOW,
        },
    );
    assert_eq!(r, Err(EvidenceError::UnsupportedKey));

    // the good evidence still passes after all that
    assert!(f.verify(&good).is_ok());
}

#[test]
fn a_root_must_be_a_self_signed_ca() {
    let f = fixture();
    let maker = f.maker;
    assert!(matches!(
        SecureElementVerifier::new().with_maker_root(maker, "x", f.signer.cert.der()),
        Err(EvidenceError::BadSignature(_)) | Err(EvidenceError::UntrustedRoot)
    ));
    let leaf = device_cert(&f.device, &f.signer, 3, VALID);
    assert!(matches!(
        SecureElementVerifier::new().with_maker_root(maker, "x", &leaf),
        Err(EvidenceError::Policy(_))
    ));
    assert!(matches!(
        SecureElementVerifier::new().with_maker_root(maker, "x", b"not der"),
        Err(EvidenceError::Malformed(_))
    ));
}

#[test]
fn every_truncation_is_malformed_and_nothing_panics() {
    let f = fixture();
    let bytes = f.evidence().encode();
    for n in 0..bytes.len() {
        assert!(
            matches!(
                f.verify_bytes(&bytes[..n]),
                Err(EvidenceError::Malformed(_))
            ),
            "prefix of {n} bytes"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        f.verify_bytes(&longer),
        Err(EvidenceError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single changed byte of good evidence is refused (with a typed error, no panic).
    #[test]
    fn a_changed_byte_is_never_accepted(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let f = fixture_cached();
        let mut bytes = f.1.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= x;
        prop_assert!(f.0.verify_bytes(&bytes).is_err());
    }

    /// Random bytes (with the magic, or without) never panic and never verify.
    #[test]
    fn random_evidence_is_refused(mut bytes in prop::collection::vec(any::<u8>(), 0..1200), magic in any::<bool>()) {
        if magic {
            bytes.splice(0..0, *b"DSE1");
        }
        prop_assert!(fixture_cached().0.verify_bytes(&bytes).is_err());
    }
}

/// One fixture for the property tests (key generation is slow).
fn fixture_cached() -> &'static (Fixture, Vec<u8>) {
    static F: std::sync::OnceLock<(Fixture, Vec<u8>)> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let f = fixture();
        let bytes = f.evidence().encode();
        (f, bytes)
    })
}

/// Every byte of good evidence, changed three ways, is refused: the signed parts by their
/// signatures, the unsigned outer encoding of each certificate by strict DER (x509-parser
/// alone accepted a context-specific tag for the outer SEQUENCE, and an ObjectDescriptor tag
/// for the outer algorithm OID).
#[test]
fn every_changed_byte_is_refused() {
    let f = fixture_cached();
    for i in 0..f.1.len() {
        for x in [1u8, 0x80, 0xff] {
            let mut b = f.1.clone();
            b[i] ^= x;
            assert!(f.0.verify_bytes(&b).is_err(), "byte {i} ^ {x:#x} accepted");
        }
    }
}
