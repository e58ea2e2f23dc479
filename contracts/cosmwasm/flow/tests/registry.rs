//! The registry contract in cw-multi-test: every key type registers with its own signature,
//! and every way a registration can be wrong is refused with its code.

mod common;

use common::*;
use depin_core::{KeyType, MessageKind, TrustLevel};
use depin_cosmwasm_msgs::error::ErrorCode;
use depin_cosmwasm_msgs::registry::{ExecuteMsg, MakerResponse, QueryMsg};
use depin_cosmwasm_msgs::signing;

#[test]
fn every_key_type_registers_with_its_own_signature_checked_by_the_contract() {
    let mut n = net(0);
    let owner = n.app.api().addr_make("owner");
    let relayer = n.app.api().addr_make("relayer");
    for (i, kt) in KeyType::ALL.into_iter().enumerate() {
        let k = key(kt, 10 + i as u8);
        let r = n.registration(&k, &owner);
        let sig = n.device_signature(&k, &r);
        // anyone may relay it: the device's signature authorizes it
        n.register(&relayer, r.clone(), sig.clone()).unwrap();
        let d = n.device(&id(&k));
        assert_eq!(d.owner, owner.to_string());
        assert_eq!(d.key_type, kt.tag());
        assert!(d.active);
        assert_eq!(d.trust, TrustLevel::Untrusted.tag());
        assert_eq!(d.maker, None);
        assert_eq!(n.nonce(&id(&k)), 1, "the registration consumed the nonce");
        // the same message again: registered once
        let e = n.register(&relayer, r, sig).unwrap_err();
        assert_eq!(
            code(&e),
            Some(ErrorCode::AlreadyRegistered),
            "{kt:?}: {e:?}"
        );
    }
}

#[test]
fn forged_replayed_and_stale_registrations_are_refused() {
    for kt in KeyType::ALL {
        let mut n = net(0);
        let owner = n.app.api().addr_make("owner");
        let thief = n.app.api().addr_make("thief");
        let k = key(kt, 20);
        let r = n.registration(&k, &owner);
        let sig = n.device_signature(&k, &r);

        // the signature names the owner: another owner is refused
        let mut stolen = r.clone();
        stolen.owner = thief.to_string();
        let e = n.register(&thief, stolen, sig.clone()).unwrap_err();
        assert_eq!(code(&e), Some(ErrorCode::InvalidSignature), "{kt:?}: {e:?}");

        // and the metadata and deadline
        let mut other = r.clone();
        other.metadata_hash = hex::encode([8u8; 32]);
        assert_eq!(
            code(&n.register(&owner, other, sig.clone()).unwrap_err()),
            Some(ErrorCode::InvalidSignature)
        );
        let mut later = r.clone();
        later.deadline += 1;
        assert_eq!(
            code(&n.register(&owner, later, sig.clone()).unwrap_err()),
            Some(ErrorCode::InvalidSignature)
        );

        // signed for another chain or another deployment of the registry
        let dev = id(&k);
        let payload = signing::registration_payload(&dev, &r.owner, &[7u8; 32], 0, r.deadline);
        for (chain, contract) in [
            ("other-chain-1", n.registry.to_string()),
            (CHAIN, n.distributor.to_string()),
        ] {
            let d = signing::registration_domain(chain, &contract).unwrap();
            let s = d
                .sign(&k, MessageKind::DEVICE_REGISTRATION, &payload)
                .unwrap();
            let e = n
                .register(&owner, r.clone(), hex::encode(s.to_bytes()))
                .unwrap_err();
            assert_eq!(
                code(&e),
                Some(ErrorCode::InvalidSignature),
                "{kt:?} {chain}: {e:?}"
            );
        }
        // signed under another message kind (a maker's onboarding kind)
        let s = n
            .domain(&n.registry)
            .sign(&k, MessageKind::MAKER_ONBOARDING, &payload)
            .unwrap();
        assert_eq!(
            code(
                &n.register(&owner, r.clone(), hex::encode(s.to_bytes()))
                    .unwrap_err()
            ),
            Some(ErrorCode::InvalidSignature)
        );
        // another key's signature
        let other_key = key(kt, 21);
        let s = n
            .domain(&n.registry)
            .sign(&other_key, MessageKind::DEVICE_REGISTRATION, &payload)
            .unwrap();
        assert_eq!(
            code(
                &n.register(&owner, r.clone(), hex::encode(s.to_bytes()))
                    .unwrap_err()
            ),
            Some(ErrorCode::InvalidSignature)
        );

        // malformed signatures: short, not hex, all zero
        for bad in [&sig[..126], "zz", &"00".repeat(64)] {
            let e = n.register(&owner, r.clone(), bad.to_string()).unwrap_err();
            assert_eq!(
                code(&e),
                Some(ErrorCode::InvalidSignature),
                "{kt:?} {bad}: {e:?}"
            );
        }

        // ECDSA's high-S twin verifies under the host function but not under depin-core's
        // strict rule: refused
        if kt != KeyType::Ed25519 {
            let twin = high_s_twin(kt, &sig);
            let e = n.register(&owner, r.clone(), twin).unwrap_err();
            assert_eq!(code(&e), Some(ErrorCode::InvalidSignature), "{kt:?}: {e:?}");
        }

        // a deadline passed, or too far ahead
        let mut stale = n.registration(&k, &owner);
        stale.deadline = n.now() - 1;
        let s = n.device_signature(&k, &stale);
        assert_eq!(
            code(&n.register(&owner, stale, s).unwrap_err()),
            Some(ErrorCode::Expired)
        );
        let mut far = n.registration(&k, &owner);
        far.deadline = n.now() + depin_cw_registry::MAX_DEADLINE_AHEAD + 1;
        let s = n.device_signature(&k, &far);
        assert_eq!(
            code(&n.register(&owner, far, s).unwrap_err()),
            Some(ErrorCode::DeadlineTooFar)
        );

        // bad fields: not a did:key, a bad owner, uppercase hash
        let mut bad = r.clone();
        bad.device = "did:key:zNope".into();
        assert_eq!(
            code(&n.register(&owner, bad, sig.clone()).unwrap_err()),
            Some(ErrorCode::InvalidInput)
        );
        let mut bad = r.clone();
        bad.owner = "cosmos1notours".into();
        assert_eq!(
            code(&n.register(&owner, bad, sig.clone()).unwrap_err()),
            Some(ErrorCode::InvalidInput)
        );
        let mut bad = r.clone();
        bad.metadata_hash = "AB".repeat(32);
        assert_eq!(
            code(&n.register(&owner, bad, sig.clone()).unwrap_err()),
            Some(ErrorCode::InvalidInput)
        );

        // nothing above changed the nonce: the genuine message still registers
        assert_eq!(n.nonce(&dev), 0);
        n.register(&owner, r, sig).unwrap();
    }
}

/// `(r, n - s)`: the same ECDSA signature's malleable twin.
fn high_s_twin(kt: KeyType, sig_hex: &str) -> String {
    let n: [u8; 32] = match kt {
        KeyType::Secp256k1 => {
            hex_literal("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
        }
        KeyType::P256 => {
            hex_literal("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        }
        KeyType::Ed25519 => unreachable!(),
    };
    let sig = hex::decode(sig_hex).unwrap();
    let s = &sig[32..];
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = n[i] as i16 - s[i] as i16 - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    let mut twin = sig[..32].to_vec();
    twin.extend_from_slice(&out);
    hex::encode(twin)
}

fn hex_literal(s: &str) -> [u8; 32] {
    hash(s)
}

#[test]
fn revocation_by_owner_or_admin_only_and_once() {
    let mut n = net(0);
    let owner = n.app.api().addr_make("owner");
    let outsider = n.app.api().addr_make("outsider");
    let k1 = key(KeyType::Ed25519, 30);
    let k2 = key(KeyType::P256, 31);
    for k in [&k1, &k2] {
        let r = n.registration(k, &owner);
        let s = n.device_signature(k, &r);
        n.register(&owner, r, s).unwrap();
    }
    let revoke = |k: &depin_core::SigningKey| ExecuteMsg::Revoke {
        device: id(k).to_string(),
    };
    assert_eq!(
        code(&n.reg_exec(&outsider, revoke(&k1)).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.reg_exec(&owner, revoke(&k1)).unwrap();
    assert!(!n.device(&id(&k1)).active);
    assert_eq!(
        code(&n.reg_exec(&owner, revoke(&k1)).unwrap_err()),
        Some(ErrorCode::AlreadyRevoked)
    );
    let admin = n.admin.clone();
    n.reg_exec(&admin, revoke(&k2)).unwrap();
    assert!(!n.device(&id(&k2)).active);
    let unknown = key(KeyType::Secp256k1, 32);
    assert_eq!(
        code(&n.reg_exec(&owner, revoke(&unknown)).unwrap_err()),
        Some(ErrorCode::DeviceNotFound)
    );
    // a revoked device stays revoked: it cannot register again
    let r = n.registration(&k1, &owner);
    let s = n.device_signature(&k1, &r);
    assert_eq!(
        code(&n.register(&owner, r, s).unwrap_err()),
        Some(ErrorCode::AlreadyRegistered)
    );
}

#[test]
fn makers_onboard_within_quota_and_their_revocation_can_suspend_their_devices() {
    let mut n = net(0);
    let admin = n.admin.clone();
    let owner = n.app.api().addr_make("owner");
    let maker = key(KeyType::P256, 40);
    let approve = ExecuteMsg::ApproveMaker {
        maker: id(&maker).to_string(),
        name: "Acme Radios".into(),
        quota: 2,
    };
    assert_eq!(
        code(&n.reg_exec(&owner, approve.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.reg_exec(&admin, approve.clone()).unwrap();
    assert_eq!(
        code(&n.reg_exec(&admin, approve).unwrap_err()),
        Some(ErrorCode::AlreadyRegistered)
    );
    let bad_name = ExecuteMsg::ApproveMaker {
        maker: id(&key(KeyType::P256, 49)).to_string(),
        name: "a\nb".into(),
        quota: 1,
    };
    assert_eq!(
        code(&n.reg_exec(&admin, bad_name).unwrap_err()),
        Some(ErrorCode::InvalidInput)
    );

    let onboard = |n: &Net, m: &depin_core::SigningKey, d: &depin_core::SigningKey| {
        let r = n.registration(d, &owner);
        ExecuteMsg::Onboard {
            maker_signature: n.maker_signature(m, d, &r),
            signature: n.device_signature(d, &r),
            maker: id(m).to_string(),
            registration: r,
        }
    };
    // devices of all three key types join through the maker
    let d1 = key(KeyType::Ed25519, 41);
    let d2 = key(KeyType::Secp256k1, 42);
    let d3 = key(KeyType::P256, 43);
    let m = onboard(&n, &maker, &d1);
    n.reg_exec(&owner, m).unwrap();
    let rec = n.device(&id(&d1));
    assert_eq!(rec.trust, TrustLevel::Maker.tag());
    assert_eq!(rec.maker, Some(id(&maker).to_string()));

    // a forged maker signature (another key claiming to be the maker) is refused
    let impostor = key(KeyType::P256, 44);
    let mut m = onboard(&n, &impostor, &d2);
    if let ExecuteMsg::Onboard { maker: mk, .. } = &mut m {
        *mk = id(&maker).to_string();
    }
    assert_eq!(
        code(&n.reg_exec(&owner, m).unwrap_err()),
        Some(ErrorCode::InvalidSignature)
    );
    // the device must sign too
    let mut m = onboard(&n, &maker, &d2);
    if let ExecuteMsg::Onboard { signature, .. } = &mut m {
        *signature = n.device_signature(&d3, &n.registration(&d3, &owner));
    }
    assert_eq!(
        code(&n.reg_exec(&owner, m).unwrap_err()),
        Some(ErrorCode::InvalidSignature)
    );
    // an unapproved maker
    let m = onboard(&n, &impostor, &d2);
    assert_eq!(
        code(&n.reg_exec(&owner, m).unwrap_err()),
        Some(ErrorCode::MakerNotFound)
    );

    n.reg_exec(&owner, onboard(&n, &maker, &d2)).unwrap();
    // quota 2 reached
    assert_eq!(
        code(&n.reg_exec(&owner, onboard(&n, &maker, &d3)).unwrap_err()),
        Some(ErrorCode::QuotaExceeded)
    );
    let rec: MakerResponse = n
        .app
        .wrap()
        .query_wasm_smart(
            &n.registry,
            &QueryMsg::Maker {
                maker: id(&maker).to_string(),
            },
        )
        .unwrap();
    assert_eq!((rec.onboarded, rec.quota, rec.active), (2, 2, true));

    // revoked with its devices suspended: they read inactive, and it onboards nothing more
    let revoke = ExecuteMsg::RevokeMaker {
        maker: id(&maker).to_string(),
        suspend_devices: true,
    };
    assert_eq!(
        code(&n.reg_exec(&owner, revoke.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.reg_exec(&admin, revoke.clone()).unwrap();
    assert_eq!(
        code(&n.reg_exec(&admin, revoke).unwrap_err()),
        Some(ErrorCode::AlreadyRevoked)
    );
    assert!(!n.device(&id(&d1)).active);
    assert!(!n.device(&id(&d2)).active);
    let second = ExecuteMsg::ApproveMaker {
        maker: id(&key(KeyType::Ed25519, 45)).to_string(),
        name: "Second".into(),
        quota: 5,
    };
    n.reg_exec(&admin, second).unwrap();
    let m = onboard(&n, &maker, &d3);
    assert_eq!(
        code(&n.reg_exec(&owner, m).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );

    // makers only: a device can no longer register by itself, but through a maker it can
    n.reg_exec(&admin, ExecuteMsg::SetMakersOnly { makers_only: true })
        .unwrap();
    let r = n.registration(&d3, &owner);
    let s = n.device_signature(&d3, &r);
    assert_eq!(
        code(&n.register(&owner, r, s).unwrap_err()),
        Some(ErrorCode::MakersOnly)
    );
    n.reg_exec(&owner, onboard(&n, &key(KeyType::Ed25519, 45), &d3))
        .unwrap();
    assert!(n.device(&id(&d3)).active);
}

#[test]
fn the_admin_changes_hands_in_two_steps() {
    let mut n = net(0);
    let admin = n.admin.clone();
    let next = n.app.api().addr_make("next");
    let outsider = n.app.api().addr_make("outsider");
    let propose = ExecuteMsg::ProposeAdmin {
        admin: next.to_string(),
    };
    assert_eq!(
        code(&n.reg_exec(&outsider, propose.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.reg_exec(&admin, propose).unwrap();
    assert_eq!(
        code(
            &n.reg_exec(&outsider, ExecuteMsg::AcceptAdmin {})
                .unwrap_err()
        ),
        Some(ErrorCode::NoPendingAdmin)
    );
    // until accepted, the old admin still rules
    let m = ExecuteMsg::SetMakersOnly { makers_only: true };
    assert_eq!(
        code(&n.reg_exec(&next, m.clone()).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    n.reg_exec(&next, ExecuteMsg::AcceptAdmin {}).unwrap();
    n.reg_exec(&next, m.clone()).unwrap();
    assert_eq!(
        code(&n.reg_exec(&admin, m).unwrap_err()),
        Some(ErrorCode::Unauthorized)
    );
    let c: depin_cosmwasm_msgs::registry::ConfigResponse = n
        .app
        .wrap()
        .query_wasm_smart(&n.registry, &QueryMsg::Config {})
        .unwrap();
    assert_eq!(
        (c.admin, c.pending_admin, c.makers_only),
        (next.to_string(), None, true)
    );
}

/// The host's ZIP-215 Ed25519 check accepts `R = B, S = 1` under the identity key for any
/// message: anyone could "sign" for that key. The registry refuses small-order keys.
#[test]
fn a_small_order_ed25519_key_cannot_be_registered_with_a_forged_signature() {
    use cosmwasm_std::Api;
    let mut n = net(0);
    let owner = n.app.api().addr_make("owner");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let device = depin_core::DeviceId::new(KeyType::Ed25519, &identity).unwrap();
    // the Ed25519 base point, compressed (RFC 8032)
    let b: [u8; 32] = hash("5866666666666666666666666666666666666666666666666666666666666666");
    let mut one = [0u8; 32];
    one[0] = 1;
    let forged = [b, one].concat();
    // the forgery passes the host function for an arbitrary digest
    assert_eq!(
        cosmwasm_std::testing::MockApi::default().ed25519_verify(&[0x42; 32], &forged, &identity),
        Ok(true)
    );
    let r = depin_cosmwasm_msgs::registry::Registration {
        device: device.to_string(),
        owner: owner.to_string(),
        metadata_hash: hex::encode([7u8; 32]),
        deadline: n.now() + 3600,
    };
    let e = n.register(&owner, r, hex::encode(&forged)).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidSignature), "{e:?}");
    assert!(format!("{e:?}").contains("small order"), "{e:?}");
}
