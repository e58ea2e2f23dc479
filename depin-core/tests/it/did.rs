//! did:key vectors from the W3C CCG did:key specification test suite.

use depin_core::{DeviceId, Error, KeyType};

use crate::test_key;

/// (did, key type) pairs published with the did:key specification.
const SPEC_VECTORS: &[(&str, KeyType)] = &[
    (
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        KeyType::Ed25519,
    ),
    (
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        KeyType::Ed25519,
    ),
    (
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        KeyType::Ed25519,
    ),
    (
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
        KeyType::Secp256k1,
    ),
    (
        "did:key:zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2",
        KeyType::Secp256k1,
    ),
    (
        "did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N",
        KeyType::Secp256k1,
    ),
    (
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
        KeyType::P256,
    ),
    (
        "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
        KeyType::P256,
    ),
];

#[test]
fn spec_vectors_parse_validate_and_round_trip() {
    for (did, kt) in SPEC_VECTORS {
        let id: DeviceId = did.parse().unwrap();
        assert_eq!(id.key_type(), *kt, "{did}");
        // the key is a valid point of that curve
        id.public_key().unwrap();
        assert_eq!(&id.to_string(), did);
    }
}

#[test]
fn secp256k1_vector_matches_published_key_bytes() {
    // The spec's secp256k1 vector encodes this compressed key.
    let id: DeviceId = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"
        .parse()
        .unwrap();
    assert_eq!(
        hex::encode(id.key_bytes()),
        "03874c15c7fda20e539c6e5ba573c139884c351188799f5458b4b41f7924f235cd"
    );
}

#[test]
fn p256_vector_matches_published_jwk() {
    // JWK x and y published for zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv (base64url).
    let id: DeviceId = "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv"
        .parse()
        .unwrap();
    let full = id.public_key().unwrap().to_uncompressed_sec1().unwrap();
    let x = b64url(&full[1..33]);
    let y = b64url(&full[33..]);
    assert_eq!(x, "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns");
    assert_eq!(y, "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM");
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn generated_ids_round_trip_for_all_types() {
    for kt in KeyType::ALL {
        for seed in 1..20u8 {
            let id = DeviceId::from(&test_key(kt, seed).public_key());
            let text = id.to_string();
            let prefix = match kt {
                KeyType::Ed25519 => "did:key:z6Mk",
                KeyType::Secp256k1 => "did:key:zQ3s",
                KeyType::P256 => "did:key:zDn",
            };
            assert!(text.starts_with(prefix), "{text}");
            assert_eq!(DeviceId::from_did(&text).unwrap(), id);
            let (buf, len) = id.to_bytes();
            assert_eq!(DeviceId::from_bytes(&buf[..len]).unwrap(), id);
        }
    }
}

#[test]
fn malformed_dids_give_precise_errors() {
    assert_eq!(
        DeviceId::from_did("did:web:example.com").unwrap_err(),
        Error::InvalidDid("missing did:key: prefix")
    );
    assert_eq!(
        DeviceId::from_did("did:key:f1234").unwrap_err(),
        Error::InvalidDid("multibase must be base58btc ('z')")
    );
    assert_eq!(
        DeviceId::from_did("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooW0").unwrap_err(),
        Error::InvalidDid("invalid base58btc")
    );
    // X25519 (multicodec 0xec) is not a signing key type we support
    assert_eq!(
        DeviceId::from_did("did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F").unwrap_err(),
        Error::InvalidDid("unsupported multicodec")
    );
    assert!(DeviceId::from_did("did:key:z").is_err());
    assert!(DeviceId::from_did(&format!("did:key:z{}", "1".repeat(200))).is_err());
}

#[test]
fn serde_forms() {
    let id = DeviceId::from(&test_key(KeyType::P256, 4).public_key());
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, format!("\"{id}\""));
    assert_eq!(serde_json::from_str::<DeviceId>(&json).unwrap(), id);
    let bin = depin_core::encoding::encode(&id).unwrap();
    assert_eq!(bin.len(), 1 + 34);
    assert_eq!(
        depin_core::encoding::decode::<DeviceId>(&bin, 64).unwrap(),
        id
    );
}
