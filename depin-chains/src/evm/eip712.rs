//! The EIP-712 permits of `DeviceRegistry` (registration and nonce cancellation), computed in
//! Rust.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{Eip712Domain, SolStruct};

use super::bindings::{CancelNonce, Onboard, Register};

/// EIP-712 domain name of `DeviceRegistry`.
pub const DOMAIN_NAME: &str = "DepinDeviceRegistry";
/// EIP-712 domain version of `DeviceRegistry`.
pub const DOMAIN_VERSION: &str = "1";

/// The `DeviceRegistry` EIP-712 domain on chain `chain_id` at `registry`.
pub fn registry_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(registry),
        None,
    )
}

/// The fields of one registration permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterPermit {
    /// Account that receives the device token.
    pub owner: Address,
    /// The device address ([`super::device_address`]).
    pub device: Address,
    /// depin-core key type tag (0 Ed25519, 1 secp256k1, 2 P-256).
    pub key_type: u8,
    /// `crate::device_id_hash` of the device id.
    pub device_id: B256,
    /// SHA-256 of the device metadata.
    pub metadata_hash: B256,
    /// `nonces(device)` on the registry.
    pub nonce: U256,
    /// Last accepted block timestamp, unix seconds.
    pub deadline: U256,
}

impl RegisterPermit {
    /// The `Register` struct as the `sol!` binding sees it.
    pub fn to_sol(&self) -> Register {
        Register {
            owner: self.owner,
            device: self.device,
            keyType: self.key_type,
            deviceId: self.device_id,
            metadataHash: self.metadata_hash,
            nonce: self.nonce,
            deadline: self.deadline,
        }
    }

    /// `keccak256(0x1901 || domainSeparator || hashStruct(Register))`: the digest the device key
    /// signs with `SigningKey::sign_prehash_recoverable`.
    pub fn digest(&self, chain_id: u64, registry: Address) -> B256 {
        self.to_sol()
            .eip712_signing_hash(&registry_domain(chain_id, registry))
    }

    /// The registration challenge for this permit on `registry` at `chain_id`: the domain
    /// and `hashStruct(Register)`, whose digest is [`RegisterPermit::digest`].
    pub fn challenge(&self, chain_id: u64, registry: Address) -> crate::RegistrationChallenge {
        crate::RegistrationChallenge::Eip712 {
            domain: crate::Eip712Binding {
                name: DOMAIN_NAME.into(),
                version: DOMAIN_VERSION.into(),
                chain_id,
                verifying_contract: registry.0 .0,
            },
            struct_hash: self.to_sol().eip712_hash_struct().0,
        }
    }
}

impl RegisterPermit {
    /// The maker's `Onboard` attestation over this permit's fields and `maker`:
    /// `keccak256(0x1901 || domainSeparator || hashStruct(Onboard))`, the digest the maker's
    /// secp256k1 key signs.
    pub fn onboard_digest(&self, maker: Address, chain_id: u64, registry: Address) -> B256 {
        Onboard {
            owner: self.owner,
            device: self.device,
            keyType: self.key_type,
            deviceId: self.device_id,
            metadataHash: self.metadata_hash,
            nonce: self.nonce,
            deadline: self.deadline,
            maker,
        }
        .eip712_signing_hash(&registry_domain(chain_id, registry))
    }
}

/// The fields of one nonce cancellation (`CancelNonce(address device,uint256 nonce,uint256
/// deadline)`), signed by the device key and submitted by anyone with `useNonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelNoncePermit {
    /// EVM address of the device's secp256k1 key.
    pub device: Address,
    /// The nonce to cancel: `nonces(device)` on the registry when it is used.
    pub nonce: U256,
    /// Last accepted block timestamp, unix seconds (at most `MAX_PERMIT_LIFETIME` ahead).
    pub deadline: U256,
}

impl CancelNoncePermit {
    /// The `CancelNonce` struct as the `sol!` binding sees it.
    pub fn to_sol(&self) -> CancelNonce {
        CancelNonce {
            device: self.device,
            nonce: self.nonce,
            deadline: self.deadline,
        }
    }

    /// `keccak256(0x1901 || domainSeparator || hashStruct(CancelNonce))` under the registry's
    /// domain ([`registry_domain`]): the digest the device key signs with
    /// `SigningKey::sign_prehash_recoverable`.
    pub fn digest(&self, chain_id: u64, registry: Address) -> B256 {
        self.to_sol()
            .eip712_signing_hash(&registry_domain(chain_id, registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, b256, keccak256};
    use depin_core::{KeyType, SigningKey};

    /// The golden vector of `contracts/README.md`, produced by viem 2.38.0.
    fn golden() -> (RegisterPermit, Address) {
        let permit = RegisterPermit {
            owner: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            device: address!("17c5185167401eD00cF5F5b2fc97D9BBfDb7D025"),
            key_type: 1,
            device_id: B256::repeat_byte(0xab),
            metadata_hash: B256::repeat_byte(0xcd),
            nonce: U256::ZERO,
            deadline: U256::from(4_102_444_800u64),
        };
        (permit, address!("5FbDB2315678afecb367f032d93F642f64180aa3"))
    }

    #[test]
    fn type_hash_matches_the_contract() {
        assert_eq!(
            Register::eip712_encode_type(),
            "Register(address owner,address device,uint8 keyType,bytes32 deviceId,bytes32 metadataHash,uint256 nonce,uint256 deadline)"
        );
        assert_eq!(
            keccak256(Register::eip712_encode_type().as_bytes()),
            b256!("f725513e4b3b8d0b17e9e83eb58562159ac3d6365e65ec0e0d8af88073e4a6cc")
        );
    }

    #[test]
    fn digest_and_signature_match_the_viem_golden_vector() {
        let (permit, registry) = golden();
        let digest = permit.digest(31337, registry);
        assert_eq!(
            digest,
            b256!("716d055c48f6c1ed5d477fda604d33c19d360f697c346a8c537671d0021307ff")
        );
        let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x42; 32]).unwrap();
        let sig = key.sign_prehash_recoverable(&digest.0).unwrap();
        assert_eq!(
            alloy::hex::encode(sig),
            "4e2dc4d38315713be677a047427b3a219964191bd8b3fef62a4c00e48dc7e640\
             073b6074f44e8f2e9cc911b104d64133c4962b7b209059b522e8a9b3f3f119661b"
        );
    }

    /// The challenge's own EIP-712 arithmetic (depin-chains' `Eip712Binding`, without alloy)
    /// gives the viem golden digest, and a challenge for another registry or chain does not.
    #[test]
    fn challenge_digest_matches_the_viem_golden_vector() {
        let (permit, registry) = golden();
        let challenge = permit.challenge(31337, registry);
        assert_eq!(
            challenge.digest(),
            b256!("716d055c48f6c1ed5d477fda604d33c19d360f697c346a8c537671d0021307ff").0
        );
        let crate::RegistrationChallenge::Eip712 { domain, .. } = &challenge else {
            panic!("an EVM challenge is EIP-712: {challenge:?}")
        };
        assert_eq!(
            domain.separator(),
            registry_domain(31337, registry).separator().0
        );
        let other = permit.challenge(31337, address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512"));
        assert_ne!(other.digest(), challenge.digest());
        assert_ne!(permit.challenge(1, registry).digest(), challenge.digest());
    }

    /// The second golden vector of `contracts/README.md`: a registration the hardened
    /// contract accepts, so `publicKey` and `deviceId` are derived from the key exactly as the
    /// contract re-derives them.
    #[test]
    fn full_registration_golden_vector() {
        let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x42; 32]).unwrap();
        let device = depin_core::DeviceId::from(key.public_key());
        let pk = crate::evm::device_public_key(&device).unwrap();
        assert_eq!(
            alloy::hex::encode(&pk),
            "24653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c\
             119fc5009a032aa9fe47f5e149bb8442f71f884ccb516590686d8ff6ab91c613"
        );
        // address(keccak256(publicKey)) is the device address
        assert_eq!(
            Address::from_slice(&keccak256(&pk)[12..]),
            crate::evm::device_address(&device).unwrap()
        );
        let (golden_permit, registry) = golden();
        assert_eq!(
            golden_permit.device,
            crate::evm::device_address(&device).unwrap()
        );
        let device_id = B256::from(crate::types::device_id_hash(&device));
        assert_eq!(
            device_id,
            b256!("5f8f3c57e137adb4e4461539ae1dc366fdcc6c0c2a84ebf25cdd251664592a62")
        );
        let permit = RegisterPermit {
            device_id,
            ..golden_permit
        };
        let digest = permit.digest(31337, registry);
        assert_eq!(
            digest,
            b256!("2371d109b08d5f51ce80d7b1814c187899ae2086204e067c458194788d3ebad1")
        );
        let sig = key.sign_prehash_recoverable(&digest.0).unwrap();
        assert_eq!(
            alloy::hex::encode(sig),
            "0bc66465f7a20ee1fcb6342e7387eccc340f76f8cc09b7274d6fdbbeda5e6f90\
             7e813baa9d47c5f72e693011cb3f06a20b3ba3c20118c9eab9a5031c72eabbd21b"
        );
    }

    #[test]
    fn cancel_nonce_type_hash_matches_the_contract() {
        assert_eq!(
            CancelNonce::eip712_encode_type(),
            "CancelNonce(address device,uint256 nonce,uint256 deadline)"
        );
        assert_eq!(
            keccak256(CancelNonce::eip712_encode_type().as_bytes()),
            b256!("3b1e166fd3b6f2aa6b608801c47361f30e2b24cb393b872875688a725b08fed0")
        );
    }

    /// Produced by viem 2.38.0 `signTypedData` (device key 0x42..42, chain 31337, registry
    /// 0x5FbD..0aa3, nonce 3, deadline 1_700_000_000).
    #[test]
    fn cancel_nonce_digest_and_signature_match_viem() {
        let (golden, registry) = golden();
        let permit = CancelNoncePermit {
            device: golden.device,
            nonce: U256::from(3u8),
            deadline: U256::from(1_700_000_000u64),
        };
        let digest = permit.digest(31337, registry);
        assert_eq!(
            digest,
            b256!("66fc8af4db4153797c96ea85f8d9b0602d18a448a9b90531cc105462f4f2df44")
        );
        let key = SigningKey::from_secret_bytes(KeyType::Secp256k1, &[0x42; 32]).unwrap();
        let sig = key.sign_prehash_recoverable(&digest.0).unwrap();
        assert_eq!(
            alloy::hex::encode(sig),
            "60fbc34782dc2618f5de49910ce3d1ccd55d5323a1e36a6c3afa800af4fdc35d\
             1441da56737e12ff4502e7c4d69bcebbf293d11a438f0490ad5fb0306730cb4f1b"
        );
        // Every field and the domain change it; a Register permit never shares its digest.
        for other in [
            CancelNoncePermit {
                device: Address::repeat_byte(1),
                ..permit
            },
            CancelNoncePermit {
                nonce: U256::from(4u8),
                ..permit
            },
            CancelNoncePermit {
                deadline: U256::from(1u8),
                ..permit
            },
        ] {
            assert_ne!(other.digest(31337, registry), digest, "{other:?}");
        }
        assert_ne!(permit.digest(1, registry), digest);
        assert_ne!(permit.digest(31337, Address::repeat_byte(9)), digest);
    }

    #[test]
    fn every_field_and_the_domain_change_the_digest() {
        let (p, registry) = golden();
        let base = p.digest(31337, registry);
        let variants = [
            RegisterPermit {
                owner: Address::repeat_byte(1),
                ..p
            },
            RegisterPermit {
                device: Address::repeat_byte(2),
                ..p
            },
            RegisterPermit { key_type: 2, ..p },
            RegisterPermit {
                device_id: B256::ZERO,
                ..p
            },
            RegisterPermit {
                metadata_hash: B256::ZERO,
                ..p
            },
            RegisterPermit {
                nonce: U256::from(1u8),
                ..p
            },
            RegisterPermit {
                deadline: U256::from(1u8),
                ..p
            },
        ];
        for v in variants {
            assert_ne!(v.digest(31337, registry), base, "{v:?}");
        }
        assert_ne!(p.digest(1, registry), base);
        assert_ne!(p.digest(31337, Address::repeat_byte(9)), base);
    }
}
