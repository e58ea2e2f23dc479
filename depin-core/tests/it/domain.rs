//! Domain separation: a signature for one network, kind or chain never verifies for another.

use depin_core::{Domain, EvmAddress, KeyType, MessageKind, NetworkId};

use crate::test_key;

#[test]
fn preimage_header_bytes_are_as_documented() {
    let d = Domain::new(NetworkId::new("net").unwrap());
    let (h, n) = d.header(MessageKind(0x1234));
    assert_eq!(&h[..n], b"DEPIN-RS\x01\x03net\x12\x34\x00");
    let (h, n) = d.with_chain_id(0x0102030405060708).header(MessageKind(1));
    assert_eq!(
        &h[..n],
        b"DEPIN-RS\x01\x03net\x00\x01\x01\x01\x02\x03\x04\x05\x06\x07\x08"
    );
}

#[test]
fn cross_domain_signatures_fail_for_every_key_type() {
    let a = Domain::new(NetworkId::new("network-a").unwrap());
    let b = Domain::new(NetworkId::new("network-b").unwrap());
    for kt in KeyType::ALL {
        let key = test_key(kt, 21);
        let pk = key.public_key();
        let kind = MessageKind::COVERAGE_BEACON;
        let sig = a.sign(&key, kind, b"payload").unwrap();
        a.verify(&pk, kind, b"payload", &sig).unwrap();
        assert!(
            b.verify(&pk, kind, b"payload", &sig).is_err(),
            "other network"
        );
        assert!(
            a.verify(&pk, MessageKind::COVERAGE_WITNESS, b"payload", &sig)
                .is_err(),
            "other kind"
        );
        assert!(
            a.with_chain_id(1)
                .verify(&pk, kind, b"payload", &sig)
                .is_err(),
            "chain bound"
        );
        let on_chain = a.with_chain_id(1).sign(&key, kind, b"payload").unwrap();
        assert!(
            a.with_chain_id(2)
                .verify(&pk, kind, b"payload", &on_chain)
                .is_err(),
            "other chain"
        );
        assert!(
            a.verify(&pk, kind, b"payload", &on_chain).is_err(),
            "chain-less"
        );
    }
}

#[test]
fn network_id_validation() {
    assert!(NetworkId::new("").is_err());
    assert!(NetworkId::new(&"a".repeat(33)).is_err());
    assert!(NetworkId::new("UPPER").is_err());
    assert!(NetworkId::new("ok.net_1-2").is_ok());
    assert_eq!(NetworkId::new("x").unwrap().as_str(), "x");
}

#[test]
fn evm_address_of_known_key() {
    // Private key 1 has the well-known address 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf.
    let mut secret = [0u8; 32];
    secret[31] = 1;
    let key = depin_core::SigningKey::from_secret_bytes(KeyType::Secp256k1, &secret).unwrap();
    let addr = EvmAddress::from_public_key(&key.public_key()).unwrap();
    assert_eq!(
        addr.to_string(),
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    );
    // EIP-55 checksum is enforced for mixed case
    assert!("0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf"
        .parse::<EvmAddress>()
        .is_err());
    assert_eq!(
        "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
            .parse::<EvmAddress>()
            .unwrap(),
        addr
    );
    // not for other key types
    assert!(EvmAddress::from_public_key(&test_key(KeyType::Ed25519, 1).public_key()).is_err());
}

#[test]
fn eip55_spec_examples() {
    for a in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ] {
        assert_eq!(a.parse::<EvmAddress>().unwrap().to_string(), a);
    }
}

#[test]
fn cosmos_address_of_known_key() {
    // Private key 1: compressed pubkey 0279be66...; its Cosmos account id is
    // RIPEMD160(SHA256(pubkey)) = 751e76e8199196d454941c45d1b3a323f1433bd6 (Bitcoin's hash160 of G).
    let mut secret = [0u8; 32];
    secret[31] = 1;
    let key = depin_core::SigningKey::from_secret_bytes(KeyType::Secp256k1, &secret).unwrap();
    let id = depin_core::cosmos_account_id(&key.public_key()).unwrap();
    assert_eq!(hex::encode(id), "751e76e8199196d454941c45d1b3a323f1433bd6");
    let addr = depin_core::cosmos_address(&key.public_key(), "cosmos").unwrap();
    assert_eq!(
        depin_core::parse_cosmos_address(&addr, "cosmos").unwrap(),
        id
    );
    assert!(depin_core::parse_cosmos_address(&addr, "osmo").is_err());
    let wasm = depin_core::cosmos_address(&key.public_key(), "wasm").unwrap();
    assert!(wasm.starts_with("wasm1"));
}
