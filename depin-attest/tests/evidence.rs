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

// ------------------------------------------------------------------ Android Key Attestation

mod android {
    use super::*;
    use depin_attest::evidence::{
        AndroidKeyEvidence, AndroidKeyVerifier, KeyDescription, RootOfTrust, SecurityLevel,
        VerifiedBootState, ANDROID_KEY_KIND, KEY_DESCRIPTION_OID,
    };
    use rcgen::CustomExtension;

    /// The chain of `tests/data/android/normal_cert_chain.pem` (see the README there), DER,
    /// leaf first.
    fn sample_chain() -> Vec<Vec<u8>> {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/android/normal_cert_chain.pem"
        ))
        .unwrap();
        x509_parser::pem::Pem::iter_from_buffer(&pem)
            .map(|p| p.unwrap().contents)
            .collect()
    }

    /// 2023-03-01T00:00:00Z: inside the sample's intermediates' validity.
    const SAMPLE_TIME: u64 = 1_677_628_800;

    fn sample_verifier() -> AndroidKeyVerifier {
        let chain = sample_chain();
        AndroidKeyVerifier::new()
            .with_root("Google hardware attestation root", chain.last().unwrap())
            .unwrap()
    }

    fn sample_device() -> DeviceId {
        let chain = sample_chain();
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        let key = depin_core::PublicKey::from_sec1(
            KeyType::P256,
            &leaf.public_key().subject_public_key.data,
        )
        .unwrap();
        DeviceId::from(key)
    }

    #[test]
    fn a_real_published_chain_verifies_to_googles_root_and_reads_its_key_description() {
        let chain = sample_chain();
        assert_eq!(chain.len(), 5);
        let evidence = AndroidKeyEvidence {
            chain: chain.clone(),
        }
        .encode();
        let v = sample_verifier();
        let att = v.inspect(&evidence, SAMPLE_TIME).unwrap();
        assert_eq!(att.description.attestation_challenge, b"challenge");
        assert_eq!(att.description.attestation_version, 200);
        assert_eq!(
            att.description.attestation_security_level,
            SecurityLevel::TrustedEnvironment
        );
        assert_eq!(att.root, "Google hardware attestation root");
        // without the root in the chain it still ends at the configured root
        let without_root = AndroidKeyEvidence {
            chain: chain[..4].to_vec(),
        }
        .encode();
        assert!(v.inspect(&without_root, SAMPLE_TIME).is_ok());
        // the challenge is not this registration's nonce
        let device = sample_device();
        let r = v.verify(
            &evidence,
            &EvidenceRequest {
                device: &device,
                nonce: &NONCE,
                now_secs: SAMPLE_TIME,
            },
        );
        assert_eq!(r, Err(EvidenceError::WrongNonce));
        // today the intermediates have expired
        assert!(matches!(
            v.inspect(&evidence, NOW),
            Err(EvidenceError::Expired(_))
        ));
        // a verifier that trusts another root
        let other = AndroidKeyVerifier::new()
            .with_root("some root", fixture().root.cert.der())
            .unwrap();
        assert_eq!(
            other.inspect(&without_root, SAMPLE_TIME),
            Err(EvidenceError::UntrustedRoot)
        );
        // out of order, or a link missing
        let shuffled = AndroidKeyEvidence {
            chain: vec![chain[0].clone(), chain[2].clone(), chain[1].clone()],
        }
        .encode();
        assert!(v.inspect(&shuffled, SAMPLE_TIME).is_err());
    }

    #[test]
    fn googles_status_list_revokes_a_listed_certificate() {
        let chain = sample_chain();
        let evidence = AndroidKeyEvidence {
            chain: chain.clone(),
        }
        .encode();
        // the intermediate "Droid CA3" has serial d05facf443ed535548d994f6845e6d3c
        let (_, ca3) = x509_parser::parse_x509_certificate(&chain[1]).unwrap();
        let serial = ca3.tbs_certificate.serial.to_str_radix(16);
        for status in ["REVOKED", "SUSPENDED"] {
            let list = format!(
                r#"{{"entries": {{"{serial}": {{"status": "{status}", "reason": "KEY_COMPROMISE"}}}}}}"#
            );
            let v = sample_verifier().with_status_list(&list).unwrap();
            assert!(
                matches!(
                    v.inspect(&evidence, SAMPLE_TIME),
                    Err(EvidenceError::Revoked(_))
                ),
                "{status}"
            );
        }
        // Google's own sample list names other certificates
        let sample_list = r#"{"entries": {"6681152659205225093": {"status": "REVOKED", "reason": "KEY_COMPROMISE"},
            "cc66e9a93713b6e643b26c15879786f7": {"status": "SUSPENDED", "reason": "KEY_COMPROMISE"}}}"#;
        let v = sample_verifier().with_status_list(sample_list).unwrap();
        assert!(v.inspect(&evidence, SAMPLE_TIME).is_ok());
        assert!(matches!(
            sample_verifier().with_status_list("not json"),
            Err(EvidenceError::Malformed(_))
        ));
    }

    #[test]
    fn every_changed_byte_of_the_real_chain_is_refused() {
        let evidence = AndroidKeyEvidence {
            chain: sample_chain()[..4].to_vec(),
        }
        .encode();
        let v = sample_verifier();
        assert!(v.inspect(&evidence, SAMPLE_TIME).is_ok());
        for i in 0..evidence.len() {
            let mut b = evidence.clone();
            b[i] ^= 0x01;
            assert!(v.inspect(&b, SAMPLE_TIME).is_err(), "byte {i}");
        }
        for n in 0..evidence.len() {
            assert!(
                v.inspect(&evidence[..n], SAMPLE_TIME).is_err(),
                "prefix {n}"
            );
        }
    }

    /// A generated chain: root -> intermediate -> leaf for `device`'s key, with a
    /// KeyDescription of the given content.
    fn generated(device: &SigningKey, description: &KeyDescription) -> (Vec<u8>, Vec<u8>) {
        let root = root("Test Attestation Root");
        let ca = signer(&root, true, VALID);
        let point = device.public_key().to_uncompressed_sec1().unwrap();
        let mut p = params("Android Keystore Key", false, 9, VALID);
        let oid: Vec<u64> = KEY_DESCRIPTION_OID
            .split('.')
            .map(|x| x.parse().unwrap())
            .collect();
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &oid,
            description.encode().unwrap(),
        )];
        let leaf = p.signed_by(&DevicePub(point), &ca.cert, &ca.key).unwrap();
        let evidence = AndroidKeyEvidence {
            chain: vec![leaf.der().to_vec(), ca.cert.der().to_vec()],
        }
        .encode();
        (evidence, root.cert.der().to_vec())
    }

    fn honest() -> KeyDescription {
        KeyDescription {
            attestation_version: 300,
            attestation_security_level: SecurityLevel::StrongBox,
            keymint_security_level: SecurityLevel::StrongBox,
            attestation_challenge: NONCE.to_vec(),
            root_of_trust: Some(RootOfTrust {
                verified_boot_key: vec![0xb0; 32],
                device_locked: true,
                verified_boot_state: VerifiedBootState::Verified,
            }),
        }
    }

    fn check(
        device: &SigningKey,
        d: &KeyDescription,
    ) -> Result<depin_core::evidence::HardwareVerdict, EvidenceError> {
        let (evidence, root) = generated(device, d);
        let v = AndroidKeyVerifier::new()
            .with_root("test root", &root)
            .unwrap();
        let id = DeviceId::from(device.public_key());
        v.verify(
            &evidence,
            &EvidenceRequest {
                device: &id,
                nonce: &NONCE,
                now_secs: NOW,
            },
        )
    }

    #[test]
    fn generated_chains_check_the_challenge_the_security_level_and_the_boot() {
        let device = SigningKey::from_secret_bytes(KeyType::P256, &[0x21; 32]).unwrap();
        let verdict = check(&device, &honest()).unwrap();
        assert_eq!(verdict.kind, ANDROID_KEY_KIND);
        assert_eq!(verdict.security, "strongbox");
        assert_eq!(verdict.vendor, "test root");
        // the KeyDescription round-trips
        assert_eq!(
            KeyDescription::decode(&honest().encode().unwrap()).unwrap(),
            honest()
        );

        let mut d = honest();
        d.attestation_challenge = vec![0x11; 32];
        assert_eq!(check(&device, &d), Err(EvidenceError::WrongNonce));
        let mut d = honest();
        d.attestation_security_level = SecurityLevel::Software;
        assert!(matches!(check(&device, &d), Err(EvidenceError::Policy(_))));
        let mut d = honest();
        d.keymint_security_level = SecurityLevel::Software;
        assert!(matches!(check(&device, &d), Err(EvidenceError::Policy(_))));
        for state in [
            VerifiedBootState::SelfSigned,
            VerifiedBootState::Unverified,
            VerifiedBootState::Failed,
        ] {
            let mut d = honest();
            if let Some(r) = d.root_of_trust.as_mut() {
                r.verified_boot_state = state;
            }
            assert!(
                matches!(check(&device, &d), Err(EvidenceError::Policy(_))),
                "{state:?}"
            );
        }
        let mut d = honest();
        if let Some(r) = d.root_of_trust.as_mut() {
            r.device_locked = false;
        }
        assert!(matches!(check(&device, &d), Err(EvidenceError::Policy(_))));
        let mut d = honest();
        d.root_of_trust = None;
        assert!(matches!(check(&device, &d), Err(EvidenceError::Policy(_))));
        // a TEE attestation passes the default policy
        let mut d = honest();
        d.attestation_security_level = SecurityLevel::TrustedEnvironment;
        d.keymint_security_level = SecurityLevel::TrustedEnvironment;
        assert_eq!(check(&device, &d).unwrap().security, "tee");

        // evidence for another key
        let (evidence, root_der) = generated(&device, &honest());
        let v = AndroidKeyVerifier::new()
            .with_root("test root", &root_der)
            .unwrap();
        let other = DeviceId::from(
            SigningKey::from_secret_bytes(KeyType::P256, &[0x22; 32])
                .unwrap()
                .public_key(),
        );
        let req = |id| EvidenceRequest {
            device: id,
            nonce: &NONCE,
            now_secs: NOW,
        };
        assert_eq!(
            v.verify(&evidence, &req(&other)),
            Err(EvidenceError::WrongKey)
        );
        let ed = DeviceId::from(
            SigningKey::from_secret_bytes(KeyType::Ed25519, &[0x22; 32])
                .unwrap()
                .public_key(),
        );
        assert_eq!(
            v.verify(&evidence, &req(&ed)),
            Err(EvidenceError::UnsupportedKey)
        );
        // a leaf without the attestation extension
        let root = root("Test Attestation Root");
        let ca = signer(&root, true, VALID);
        let plain = device_cert(&device, &ca, 5, VALID);
        let evidence = AndroidKeyEvidence {
            chain: vec![plain, ca.cert.der().to_vec()],
        }
        .encode();
        let v = AndroidKeyVerifier::new()
            .with_root("test root", root.cert.der())
            .unwrap();
        assert!(matches!(
            v.verify(&evidence, &req(&DeviceId::from(device.public_key()))),
            Err(EvidenceError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_key_descriptions_and_evidence_are_typed_errors() {
        for bad in [&b""[..], b"\x30\x00", b"\x30\x03\x02\x01\x03", &[0xff; 40]] {
            assert!(matches!(
                KeyDescription::decode(bad),
                Err(EvidenceError::Malformed(_))
            ));
        }
        let good = honest().encode().unwrap();
        for n in 0..good.len() {
            assert!(KeyDescription::decode(&good[..n]).is_err(), "prefix {n}");
        }
        for bad in [
            &b"DAK1"[..],
            b"DAK1\x00",
            b"DAK1\x09",
            b"DAK1\x01\x00\x00",
            b"XXXX\x01\x00\x01\x30",
        ] {
            assert!(matches!(
                AndroidKeyEvidence::decode(bad),
                Err(EvidenceError::Malformed(_))
            ));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Random bytes never panic the KeyDescription decoder or the verifier.
        #[test]
        fn random_key_descriptions_and_chains_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = KeyDescription::decode(&bytes);
            let mut with_magic = b"DAK1\x01".to_vec();
            with_magic.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            with_magic.extend_from_slice(&bytes);
            let v = sample_verifier();
            prop_assert!(v.inspect(&with_magic, SAMPLE_TIME).is_err());
        }
    }
}
