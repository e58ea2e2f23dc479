//! Makers on the local ledger: approval, quotas, revocation with or without suspension,
//! makers-only networks, the trust a device joins with, hardware evidence through the
//! evidence-verifier trait, and the attacks a maker attestation must resist.

use depin_chains::prelude::*;
use std::sync::Arc;

use depin_chains::local::LocalLedger;
use depin_chains::makers::{
    HardwareEvidence, Maker, MakerAttestation, OnMakerRevoked, Onboarding, TrustLevel,
};
use depin_chains::{Account, ChainBackend, ClaimFormat, DeviceRegistration, Error};
use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier, HardwareVerdict};
use depin_core::{DeviceId, KeyType, MessageKind, SigningKey};

use crate::common::*;

const KEY_TYPES: [KeyType; 3] = [KeyType::Ed25519, KeyType::Secp256k1, KeyType::P256];

fn key(kt: KeyType, b: u8) -> SigningKey {
    SigningKey::from_secret_bytes(kt, &[b; 32]).unwrap()
}

fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(k.public_key())
}

fn registration(k: &SigningKey, owner: Account) -> DeviceRegistration {
    DeviceRegistration::new(id(k), owner, b"hotspot v2".to_vec(), soon())
}

struct Net {
    _dir: tempfile::TempDir,
    ledger: LocalLedger,
    admin: Arc<dyn ChainBackend>,
    relayer: Arc<dyn ChainBackend>,
}

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("ledger"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    Net {
        admin: dynb(ledger.handle(admin())),
        relayer: dynb(ledger.handle(evm(0x77))),
        ledger,
        _dir: dir,
    }
}

/// The maker attests and the device proves possession; the relayer submits.
async fn onboard(
    net: &Net,
    maker: &SigningKey,
    device: &SigningKey,
    owner: Account,
    evidence: Option<&HardwareEvidence>,
) -> depin_chains::Result<depin_chains::TxHandle> {
    let reg = registration(device, owner);
    let challenge = net.relayer.onboarding_challenge(&reg, &id(maker)).await?;
    let attestation = challenge.attest(maker)?;
    let proof = challenge.device_proof(device)?;
    net.relayer
        .onboard_device(&reg, &attestation, proof.as_ref(), evidence)
        .await
}

#[tokio::test]
async fn makers_of_every_key_type_onboard_devices_of_every_key_type() {
    let net = net();
    for (i, mkt) in KEY_TYPES.into_iter().enumerate() {
        let maker = key(mkt, 0x10 + i as u8);
        net.admin
            .approve_maker(&Maker::new(id(&maker), format!("maker-{i}"), 10))
            .await
            .unwrap();
        for (j, dkt) in KEY_TYPES.into_iter().enumerate() {
            let device = key(dkt, 0x40 + (i * 3 + j) as u8);
            onboard(&net, &maker, &device, evm(0x01), None)
                .await
                .unwrap();
            let record = net.relayer.device(&id(&device)).await.unwrap();
            assert!(record.active);
            assert_eq!(record.owner, evm(0x01));
            assert_eq!(record.trust.level, TrustLevel::Maker);
            assert_eq!(record.trust.maker, Some(id(&maker)));
            assert_eq!(record.trust.hardware, None);
        }
        let m = net.relayer.maker(&id(&maker)).await.unwrap();
        assert_eq!((m.onboarded, m.active, m.maker.quota), (3, true, 10));
    }
}

#[tokio::test]
async fn only_the_admin_approves_and_revokes_makers() {
    let net = net();
    let maker = key(KeyType::P256, 1);
    let oracle = dynb(net.ledger.handle(oracle()));
    for who in [&oracle, &net.relayer] {
        assert!(matches!(
            who.approve_maker(&Maker::new(id(&maker), "acme", 5)).await,
            Err(Error::Unauthorized(_))
        ));
    }
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 5))
        .await
        .unwrap();
    assert!(matches!(
        net.admin
            .approve_maker(&Maker::new(id(&maker), "acme again", 50))
            .await,
        Err(Error::AlreadyRegistered(_))
    ));
    for who in [&oracle, &net.relayer] {
        assert!(matches!(
            who.revoke_maker(&id(&maker), OnMakerRevoked::SuspendDevices)
                .await,
            Err(Error::Unauthorized(_))
        ));
        assert!(matches!(
            who.set_onboarding(Onboarding::MakersOnly).await,
            Err(Error::Unauthorized(_))
        ));
    }
    for bad in ["", "a\nb", &"x".repeat(65)] {
        assert!(matches!(
            net.admin
                .approve_maker(&Maker::new(id(&key(KeyType::Ed25519, 9)), bad, 1))
                .await,
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(matches!(
        net.admin.maker(&id(&key(KeyType::Ed25519, 9))).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_maker_over_its_quota_onboards_nothing_and_nothing_is_written() {
    let net = net();
    let maker = key(KeyType::Ed25519, 2);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "small batch", 2))
        .await
        .unwrap();
    for b in 0..2u8 {
        onboard(&net, &maker, &key(KeyType::P256, 0x50 + b), evm(1), None)
            .await
            .unwrap();
    }
    let len = net.ledger.len().unwrap();
    let third = key(KeyType::P256, 0x52);
    assert!(matches!(
        onboard(&net, &maker, &third, evm(1), None).await,
        Err(Error::QuotaExceeded { quota: 2, .. })
    ));
    assert_eq!(net.ledger.len().unwrap(), len);
    assert!(matches!(
        net.relayer.device(&id(&third)).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn a_revoked_maker_onboards_nothing_and_the_network_chooses_about_its_devices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let (kept, suspended) = (key(KeyType::Ed25519, 3), key(KeyType::Secp256k1, 4));
    let (kept_dev, suspended_dev) = (key(KeyType::P256, 0x60), key(KeyType::P256, 0x61));
    {
        let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
        let net = Net {
            admin: dynb(ledger.handle(admin())),
            relayer: dynb(ledger.handle(evm(0x77))),
            ledger,
            _dir: tempfile::tempdir().unwrap(),
        };
        for (m, name) in [(&kept, "retired"), (&suspended, "cheat")] {
            net.admin
                .approve_maker(&Maker::new(id(m), name, 10))
                .await
                .unwrap();
        }
        onboard(&net, &kept, &kept_dev, evm(1), None).await.unwrap();
        onboard(&net, &suspended, &suspended_dev, evm(1), None)
            .await
            .unwrap();
        net.admin
            .revoke_maker(&id(&kept), OnMakerRevoked::KeepDevices)
            .await
            .unwrap();
        net.admin
            .revoke_maker(&id(&suspended), OnMakerRevoked::SuspendDevices)
            .await
            .unwrap();
        assert!(matches!(
            net.admin
                .revoke_maker(&id(&kept), OnMakerRevoked::KeepDevices)
                .await,
            Err(Error::AlreadyRevoked(_))
        ));
        for m in [&kept, &suspended] {
            assert!(matches!(
                onboard(&net, m, &key(KeyType::Ed25519, 0x70), evm(1), None).await,
                Err(Error::Unauthorized(_))
            ));
        }
    }
    // what the ledger acknowledged survives a reopen
    let ledger = open(&path, genesis(ClaimFormat::OpenZeppelin));
    let reader = ledger.handle(evm(0x77));
    assert!(reader.device(&id(&kept_dev)).await.unwrap().active);
    let s = reader.device(&id(&suspended_dev)).await.unwrap();
    assert!(!s.active, "a suspended maker's device reads as inactive");
    assert_eq!(s.trust.maker, Some(id(&suspended)));
    let m = reader.maker(&id(&suspended)).await.unwrap();
    assert!(!m.active && m.devices_suspended);
    let m = reader.maker(&id(&kept)).await.unwrap();
    assert!(!m.active && !m.devices_suspended);
    assert_eq!(
        ledger.maker_devices(&id(&kept)).unwrap(),
        vec![id(&kept_dev)]
    );
}

#[tokio::test]
async fn a_makers_only_network_refuses_self_registration_an_open_one_records_it_as_untrusted() {
    let net = net();
    let lone = key(KeyType::Ed25519, 0x33);
    net.relayer
        .register_with_signer(&registration(&lone, evm(1)), &lone)
        .await
        .unwrap();
    let r = net.relayer.device(&id(&lone)).await.unwrap();
    assert_eq!(
        (r.trust.level, r.trust.maker),
        (TrustLevel::Untrusted, None)
    );

    net.admin
        .set_onboarding(Onboarding::MakersOnly)
        .await
        .unwrap();
    assert_eq!(net.ledger.onboarding().unwrap(), Onboarding::MakersOnly);
    let other = key(KeyType::P256, 0x34);
    assert!(matches!(
        net.relayer
            .register_with_signer(&registration(&other, evm(1)), &other)
            .await,
        Err(Error::Unauthorized(_))
    ));
    let maker = key(KeyType::P256, 0x35);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 1))
        .await
        .unwrap();
    onboard(&net, &maker, &other, evm(1), None).await.unwrap();
    // and back
    net.admin.set_onboarding(Onboarding::Open).await.unwrap();
    let third = key(KeyType::Secp256k1, 0x36);
    net.relayer
        .register_with_signer(&registration(&third, evm(1)), &third)
        .await
        .unwrap();
}

#[tokio::test]
async fn maker_attestations_cannot_be_forged_moved_or_reused() {
    let net = net();
    let maker = key(KeyType::Secp256k1, 0x21);
    let impostor = key(KeyType::Secp256k1, 0x22);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 10))
        .await
        .unwrap();
    let device = key(KeyType::Ed25519, 0x80);
    let reg = registration(&device, evm(1));
    let challenge = net
        .relayer
        .onboarding_challenge(&reg, &id(&maker))
        .await
        .unwrap();
    let good = challenge.attest(&maker).unwrap();
    let proof = challenge.device_proof(&device).unwrap();

    // an unapproved key claiming the approved maker's id
    let forged = MakerAttestation {
        maker: id(&maker),
        ..challenge.attest(&impostor).unwrap()
    };
    // an unapproved maker under its own id
    let unknown = challenge.attest(&impostor).unwrap();
    // the maker's key signing the right bytes under another message kind
    let message = reg.onboarding_message(
        depin_chains::BackendKind::Local,
        &net.ledger.ledger_id().unwrap(),
        net.ledger.registration_nonce(&id(&device)).unwrap(),
        &id(&maker),
    );
    let domain = net.ledger.domain().unwrap();
    let cross_kind = MakerAttestation {
        maker: id(&maker),
        signature: domain
            .sign(&maker, MessageKind::DEVICE_REGISTRATION, &message)
            .unwrap(),
    };
    // (and under the right kind, the same bytes are the maker's attestation)
    assert_eq!(
        domain.digest(MessageKind::MAKER_ONBOARDING, &message),
        challenge.maker_digest
    );
    // the device's own proof handed in as the maker's
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &forged, proof.as_ref(), None)
            .await,
        Err(Error::InvalidProof)
    ));
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &unknown, proof.as_ref(), None)
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &cross_kind, proof.as_ref(), None)
            .await,
        Err(Error::InvalidProof)
    ));
    // a relayer moving the device to itself, or changing its metadata or deadline
    let mut hijack = reg.clone();
    hijack.owner = evm(0x77);
    let mut remeta = reg.clone();
    remeta.metadata = b"other".to_vec();
    let mut later = reg.clone();
    later.deadline += 60;
    for moved in [&hijack, &remeta, &later] {
        assert!(matches!(
            net.relayer
                .onboard_device(moved, &good, proof.as_ref(), None)
                .await,
            Err(Error::InvalidProof)
        ));
    }
    // the device's proof is required: another device's, or the maker's signature, will not do
    let stranger = key(KeyType::Ed25519, 0x81);
    let wrong_device = challenge.device_proof(&stranger).unwrap();
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &good, wrong_device.as_ref(), None)
            .await,
        Err(Error::InvalidProof)
    ));
    // a proof for another ledger of the same network
    let other = self::net();
    other
        .admin
        .approve_maker(&Maker::new(id(&maker), "acme", 10))
        .await
        .unwrap();
    assert!(matches!(
        other
            .relayer
            .onboard_device(&reg, &good, proof.as_ref(), None)
            .await,
        Err(Error::InvalidProof)
    ));
    // nothing above consumed the quota or the nonce: the honest submission works, once
    net.relayer
        .onboard_device(&reg, &good, proof.as_ref(), None)
        .await
        .unwrap();
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &good, proof.as_ref(), None)
            .await,
        Err(Error::AlreadyRegistered(_))
    ));
    assert_eq!(net.relayer.maker(&id(&maker)).await.unwrap().onboarded, 1);
}

#[tokio::test]
async fn an_attestation_made_before_a_nonce_cancellation_is_void() {
    let net = net();
    let maker = key(KeyType::P256, 0x23);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 10))
        .await
        .unwrap();
    let device = key(KeyType::P256, 0x82);
    let reg = registration(&device, evm(1));
    let challenge = net
        .relayer
        .onboarding_challenge(&reg, &id(&maker))
        .await
        .unwrap();
    let (att, proof) = (
        challenge.attest(&maker).unwrap(),
        challenge.device_proof(&device).unwrap(),
    );
    net.ledger
        .handle(evm(1))
        .cancel_registration_nonce_with_signer(&device, soon())
        .unwrap();
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &att, proof.as_ref(), None)
            .await,
        Err(Error::InvalidProof)
    ));
}

/// A network-defined evidence kind: the device key signs the evidence nonce under
/// `HARDWARE_EVIDENCE`, and the verifier names a maker's root when told to.
struct SignedNonce {
    root_maker: Option<DeviceId>,
}

impl EvidenceVerifier for SignedNonce {
    fn kind(&self) -> &str {
        "signed-nonce"
    }
    fn verify(
        &self,
        evidence: &[u8],
        request: &EvidenceRequest<'_>,
    ) -> Result<HardwareVerdict, EvidenceError> {
        let key = request
            .device
            .public_key()
            .map_err(|_| EvidenceError::UnsupportedKey)?;
        let sig = depin_core::Signature::from_bytes(request.device.key_type(), evidence)
            .map_err(|_| EvidenceError::Malformed("signature".into()))?;
        let domain =
            depin_core::Domain::new(depin_core::NetworkId::new("conformance-net").unwrap());
        domain
            .verify(&key, MessageKind::HARDWARE_EVIDENCE, request.nonce, &sig)
            .map_err(|_| EvidenceError::WrongNonce)?;
        Ok(HardwareVerdict {
            kind: "signed-nonce".into(),
            vendor: "test".into(),
            maker: self.root_maker,
            security: "software".into(),
        })
    }
}

#[tokio::test]
async fn hardware_evidence_reaches_the_record_through_the_verifier_trait() {
    let net = net();
    let maker = key(KeyType::Ed25519, 0x24);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 10))
        .await
        .unwrap();
    let device = key(KeyType::P256, 0x83);
    let reg = registration(&device, evm(1));
    let challenge = net
        .relayer
        .onboarding_challenge(&reg, &id(&maker))
        .await
        .unwrap();
    let domain = depin_core::Domain::new(depin_core::NetworkId::new("conformance-net").unwrap());
    let answer = |nonce: &[u8; 32]| HardwareEvidence {
        kind: "signed-nonce".into(),
        bytes: domain
            .sign(&device, MessageKind::HARDWARE_EVIDENCE, nonce)
            .unwrap()
            .to_bytes()
            .to_vec(),
    };
    let good = answer(&challenge.evidence_nonce);
    let (att, proof) = (
        challenge.attest(&maker).unwrap(),
        challenge.device_proof(&device).unwrap(),
    );
    // no verifier of that kind yet
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &att, proof.as_ref(), Some(&good))
            .await,
        Err(Error::Evidence(_))
    ));
    // a verifier tying the evidence to another maker's root
    net.ledger
        .add_evidence_verifier(Arc::new(SignedNonce {
            root_maker: Some(id(&key(KeyType::Ed25519, 0x25))),
        }))
        .unwrap();
    assert!(matches!(
        net.relayer
            .onboard_device(&reg, &att, proof.as_ref(), Some(&good))
            .await,
        Err(Error::Evidence(_))
    ));
    net.ledger
        .add_evidence_verifier(Arc::new(SignedNonce {
            root_maker: Some(id(&maker)),
        }))
        .unwrap();
    // evidence for another nonce, and garbage
    for bad in [
        answer(&[7; 32]),
        HardwareEvidence {
            kind: "signed-nonce".into(),
            bytes: vec![1, 2, 3],
        },
    ] {
        assert!(matches!(
            net.relayer
                .onboard_device(&reg, &att, proof.as_ref(), Some(&bad))
                .await,
            Err(Error::Evidence(_))
        ));
    }
    net.relayer
        .onboard_device(&reg, &att, proof.as_ref(), Some(&good))
        .await
        .unwrap();
    let r = net.relayer.device(&id(&device)).await.unwrap();
    assert_eq!(r.trust.level, TrustLevel::Hardware);
    let hw = r.trust.hardware.unwrap();
    assert_eq!(hw.kind, "signed-nonce");
    use sha2::Digest as _;
    assert_eq!(
        hw.evidence_hash,
        <[u8; 32]>::from(sha2::Sha256::digest(&good.bytes))
    );
}

/// A secure element's certificate chain, generated: the maker's root, its signer, and a
/// device certificate for `device`'s P-256 key.
fn secure_element_chain(device: &SigningKey) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, PublicKeyData,
        SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
    };
    struct Point([u8; 65]);
    impl PublicKeyData for Point {
        fn der_bytes(&self) -> &[u8] {
            &self.0
        }
        fn algorithm(&self) -> &SignatureAlgorithm {
            &PKCS_ECDSA_P256_SHA256
        }
    }
    let params = |cn: &str, ca: bool| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = if ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2060, 1, 1);
        p
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let root = params("Acme Root", true).self_signed(&root_key).unwrap();
    let signer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let signer = params("Acme Signer", true)
        .signed_by(&signer_key, &root, &root_key)
        .unwrap();
    let point = Point(device.public_key().to_uncompressed_sec1().unwrap());
    let leaf = params("se-0001", false)
        .signed_by(&point, &signer, &signer_key)
        .unwrap();
    (
        root.der().to_vec(),
        signer.der().to_vec(),
        leaf.der().to_vec(),
    )
}

#[tokio::test]
async fn a_secure_element_device_joins_with_hardware_trust_only_through_its_own_maker() {
    use depin_attest::evidence::{
        SecureElementEvidence, SecureElementVerifier, SECURE_ELEMENT_KIND,
    };
    let net = net();
    let (acme, other) = (key(KeyType::Ed25519, 0x26), key(KeyType::P256, 0x27));
    for (m, name) in [(&acme, "acme"), (&other, "other")] {
        net.admin
            .approve_maker(&Maker::new(id(m), name, 10))
            .await
            .unwrap();
    }
    let device = key(KeyType::P256, 0x84);
    let (root, signer, leaf) = secure_element_chain(&device);
    net.ledger
        .add_evidence_verifier(Arc::new(
            SecureElementVerifier::new()
                .with_maker_root(id(&acme), "Acme Radios", &root)
                .unwrap(),
        ))
        .unwrap();
    let reg = registration(&device, evm(1));
    let evidence_for = |challenge: &depin_chains::makers::OnboardingChallenge| HardwareEvidence {
        kind: SECURE_ELEMENT_KIND.into(),
        bytes: SecureElementEvidence {
            device_certificate: leaf.clone(),
            signer_certificate: signer.clone(),
            nonce_signature: device
                .sign_prehash(&challenge.evidence_nonce)
                .unwrap()
                .to_bytes(),
        }
        .encode(),
    };
    // another approved maker presenting acme's secure element
    let c = net
        .relayer
        .onboarding_challenge(&reg, &id(&other))
        .await
        .unwrap();
    let e = evidence_for(&c);
    let r = net
        .relayer
        .onboard_device(
            &reg,
            &c.attest(&other).unwrap(),
            c.device_proof(&device).unwrap().as_ref(),
            Some(&e),
        )
        .await;
    assert!(matches!(r, Err(Error::Evidence(_))), "{r:?}");
    // evidence answering acme's challenge, under other's attestation
    let c_acme = net
        .relayer
        .onboarding_challenge(&reg, &id(&acme))
        .await
        .unwrap();
    let e_acme = evidence_for(&c_acme);
    assert!(matches!(
        net.relayer
            .onboard_device(
                &reg,
                &c.attest(&other).unwrap(),
                c.device_proof(&device).unwrap().as_ref(),
                Some(&e_acme)
            )
            .await,
        Err(Error::Evidence(_))
    ));
    // acme, with its own secure element's answer
    net.relayer
        .onboard_device(
            &reg,
            &c_acme.attest(&acme).unwrap(),
            c_acme.device_proof(&device).unwrap().as_ref(),
            Some(&e_acme),
        )
        .await
        .unwrap();
    let r = net.relayer.device(&id(&device)).await.unwrap();
    assert_eq!(r.trust.level, TrustLevel::Hardware);
    assert_eq!(r.trust.maker, Some(id(&acme)));
    assert_eq!(r.trust.hardware.unwrap().kind, SECURE_ELEMENT_KIND);
}

/// The trust level the chain recorded reaches the verifier's registry through the
/// chain-following registry, and a suspended maker's devices are refused there.
#[tokio::test]
async fn the_trust_level_reaches_the_verifier_and_suspension_stops_the_devices() {
    use depin_attest::{DeviceStatus, Registry};
    use depin_chains::ChainRegistry;
    let net = net();
    let maker = key(KeyType::P256, 0x28);
    net.admin
        .approve_maker(&Maker::new(id(&maker), "acme", 10))
        .await
        .unwrap();
    let (made, lone) = (key(KeyType::Ed25519, 0x90), key(KeyType::Ed25519, 0x91));
    onboard(&net, &maker, &made, evm(1), None).await.unwrap();
    net.relayer
        .register_with_signer(&registration(&lone, evm(1)), &lone)
        .await
        .unwrap();
    let follower = ChainRegistry::builder(net.relayer.clone(), depin_attest::KindSet::ALL)
        .build()
        .unwrap();
    follower.follow_many([id(&made), id(&lone)]).unwrap();
    follower.sync().await.unwrap();
    let r = follower.device(&id(&made)).found().unwrap();
    assert_eq!(
        (r.status, r.trust),
        (DeviceStatus::Active, TrustLevel::Maker)
    );
    let r = follower.device(&id(&lone)).found().unwrap();
    assert_eq!(r.trust, TrustLevel::Untrusted);

    // the verifier reading the chain through it stamps each accepted frame with its device's
    // trust level, which the store keeps with the item for the trust-priced reward rules
    let follower = Arc::new(follower);
    let domain = depin_core::Domain::new(depin_core::NetworkId::new("conformance-net").unwrap());
    let mut verifier = depin_attest::Verifier::new(
        depin_attest::VerifierConfig::new(domain),
        Arc::clone(&follower),
        depin_attest::MemoryReplayStore::new(),
    )
    .unwrap();
    let now = depin_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    let frame = |k: &SigningKey| {
        let mut buf = [0u8; depin_core::frame::MAX_FRAME_LEN];
        let n = depin_core::frame::sign_frame(&domain, k, 7, 1, now, b"t=21", &mut buf).unwrap();
        buf[..n].to_vec()
    };
    let frames = [frame(&made), frame(&lone)];
    let inputs: Vec<depin_attest::Input<'_>> = frames
        .iter()
        .map(|f| depin_attest::Input::Frame(f))
        .collect();
    let levels: Vec<TrustLevel> = verifier
        .verify_batch(&inputs, now)
        .into_iter()
        .map(|v| v.unwrap().trust)
        .collect();
    assert_eq!(levels, [TrustLevel::Maker, TrustLevel::Untrusted]);

    net.admin
        .revoke_maker(&id(&maker), OnMakerRevoked::SuspendDevices)
        .await
        .unwrap();
    follower.sync().await.unwrap();
    assert_ne!(
        follower.device(&id(&made)).found().unwrap().status,
        DeviceStatus::Active
    );
    assert_eq!(
        follower.device(&id(&lone)).found().unwrap().status,
        DeviceStatus::Active
    );
}
