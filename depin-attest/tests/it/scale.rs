//! The structures of verification at network scale (issue 24): keys validated once at
//! registration, dense tables, compact replay windows with an unchanged file format.

use depin_attest::replay::{ReplayKey, Stream};
use depin_attest::{
    DeviceRecord, Input, KindSet, Lookup, MemoryRegistry, MemoryReplayStore, Registry, Rejection,
    ReplayStore, ReplayWindow, VerifierBuilder,
};
use depin_core::{DeviceId, KeyType};

use crate::common::{frame, id, key, Net, NOW};

fn identity_key() -> DeviceId {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    DeviceId::new(KeyType::Ed25519, &identity).unwrap()
}

#[test]
fn the_memory_registry_validates_keys_once_and_records_it() {
    let mut r = MemoryRegistry::new();
    let good = id(&key(1));
    let weak = identity_key();
    // whatever the caller claims, `insert` decides
    let mut claimed = DeviceRecord::active(KindSet::ALL);
    claimed.key_checked = true;
    r.insert(weak, claimed).unwrap();
    r.insert(good, DeviceRecord::active(KindSet::ALL)).unwrap();
    assert_eq!(r.device(&weak).found().map(|d| d.key_checked), Some(false));
    assert_eq!(r.device(&good).found().map(|d| d.key_checked), Some(true));
    // a snapshot loaded with the mark kept as stored
    let mut loaded = MemoryRegistry::with_capacity(2);
    loaded
        .insert_trusted(good, r.device(&good).found().unwrap())
        .unwrap();
    assert_eq!(
        loaded.device(&good).found().map(|d| d.key_checked),
        Some(true)
    );
    assert_eq!(loaded.remove(&good).map(|d| d.key_checked), Some(true));
    assert!(matches!(loaded.device(&good), Lookup::Unknown));
    assert!(matches!(
        loaded.resolve_hint(&good.key_hint()),
        Lookup::Unknown
    ));
}

#[test]
fn prechecked_keys_verify_like_strictly_parsed_ones() {
    let net = Net::new(4);
    let mut registry = MemoryRegistry::new();
    for (i, k) in net.keys.iter().enumerate() {
        let mut rec = DeviceRecord::active(KindSet::ALL);
        rec.key_checked = true;
        if i == 0 {
            registry.insert(id(k), rec).unwrap(); // validated here
        } else {
            registry.insert_trusted(id(k), rec).unwrap(); // validated "at registration"
        }
    }
    let mut fast = VerifierBuilder::new(net.config.clone())
        .expected_devices(4)
        .build(registry, MemoryReplayStore::with_capacity(4))
        .unwrap();
    let mut strict = net.verifier();
    let items: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    let mut forged = frame(&net.keys[1], 2);
    let n = forged.len();
    forged[n - 1] ^= 1;
    let mut inputs: Vec<Input<'_>> = items.iter().map(|f| Input::Frame(f)).collect();
    inputs.push(Input::Frame(&forged));
    let a = fast.verify_batch(&inputs, NOW);
    let b = strict.verify_batch(&inputs, NOW);
    assert_eq!(a, b);
    assert_eq!(a[4], Err(Rejection::BadSignature));
    assert!(a[..4].iter().all(|v| v.is_ok()));
    // keys are parsed once: a second batch of the same devices is served from the cache
    let again: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 3)).collect();
    let r = fast.verify_batch(
        &again.iter().map(|f| Input::Frame(f)).collect::<Vec<_>>(),
        NOW,
    );
    assert!(r.iter().all(|v| v.is_ok()));
}

#[test]
fn the_prechecked_path_still_refuses_small_order_keys() {
    // a registry that marks the identity key as checked cannot get it past the verifier
    let weak = identity_key();
    assert!(weak.public_key_prechecked().is_err());
    assert!(id(&key(1)).public_key_prechecked().is_ok());
    let net = Net::new(1);
    let mut registry = net.registry.clone();
    let mut marked = DeviceRecord::active(KindSet::ALL);
    marked.key_checked = true;
    registry.insert_trusted(weak, marked).unwrap();
    let mut v = VerifierBuilder::new(net.config.clone())
        .build(registry, MemoryReplayStore::new())
        .unwrap();
    let e = depin_attest::EnvelopeBody::new(
        weak,
        1,
        NOW,
        &depin_attest::types::EnergyReading {
            direction: depin_attest::types::EnergyDirection::Production,
            cumulative_wh: 1,
        },
    )
    .unwrap();
    let mut bytes = depin_core::encoding::encode(&e).unwrap();
    let mut sig = [0u8; 64];
    sig[0] = 0x58;
    sig[1..32].fill(0x66);
    bytes.extend_from_slice(&sig);
    assert_eq!(
        v.verify_one(Input::Envelope(&bytes), NOW),
        Err(Rejection::InvalidKey)
    );
}

#[test]
fn a_weak_key_is_refused_every_time_it_is_seen() {
    let mut net = Net::new(1);
    let weak = identity_key();
    net.registry
        .insert(weak, DeviceRecord::active(KindSet::ALL))
        .unwrap();
    let mut v = net.verifier();
    let e = depin_attest::EnvelopeBody::new(
        weak,
        1,
        NOW,
        &depin_attest::types::EnergyReading {
            direction: depin_attest::types::EnergyDirection::Production,
            cumulative_wh: 1,
        },
    )
    .unwrap();
    let mut bytes = depin_core::encoding::encode(&e).unwrap();
    // a well-formed signature: R = the base point, S = 0
    let mut sig = [0u8; 64];
    sig[0] = 0x58;
    sig[1..32].fill(0x66);
    bytes.extend_from_slice(&sig);
    for _ in 0..3 {
        assert_eq!(
            v.verify_one(Input::Envelope(&bytes), NOW),
            Err(Rejection::InvalidKey)
        );
    }
    assert_eq!(v.counters().signatures_checked, 0);
}

#[test]
fn replay_windows_are_compact_and_keep_their_encoding() {
    assert_eq!(std::mem::size_of::<ReplayWindow>(), 24);
    let mut w = ReplayWindow::default();
    assert_eq!(w.high_water_mark(), None);
    // the serialized form is the first format's (Option<u64>, u128)
    assert_eq!(
        depin_core::encoding::encode(&w).unwrap(),
        depin_core::encoding::encode(&(None::<u64>, 0u128)).unwrap()
    );
    assert!(w.accept(0));
    assert_eq!(w.high_water_mark(), Some(0));
    assert!(!w.accept(0));
    assert!(w.accept(200));
    assert!(w.accept(150));
    assert!(!w.accept(72), "below the 128-number window");
    let bitmap: u128 = 1 | 1 << 50;
    assert_eq!(
        depin_core::encoding::encode(&w).unwrap(),
        depin_core::encoding::encode(&(Some(200u64), bitmap)).unwrap()
    );
    let back: ReplayWindow =
        depin_core::encoding::decode(&depin_core::encoding::encode(&w).unwrap(), 64).unwrap();
    assert_eq!(back, w);
    // a stored form with a top but no bits (never written; forged or foreign) fails closed:
    // it keeps its high-water mark instead of reading as an empty window
    let forged: ReplayWindow = depin_core::encoding::decode(
        &depin_core::encoding::encode(&(Some(1_000u64), 0u128)).unwrap(),
        64,
    )
    .unwrap();
    assert_eq!(forged.high_water_mark(), Some(1_000));
    assert!(!forged.would_accept(1_000) && !forged.would_accept(10));
    // the dense memory store
    let mut s = MemoryReplayStore::with_capacity(2);
    let k = ReplayKey {
        device: id(&key(1)),
        stream: Stream::Frame,
    };
    assert!(s.check_and_update(&k, 5).unwrap());
    assert!(!s.check_and_update(&k, 5).unwrap());
    s.save(
        &ReplayKey {
            stream: Stream::Envelope,
            ..k
        },
        &w,
    )
    .unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        s.load(&k).unwrap().and_then(|w| w.high_water_mark()),
        Some(5)
    );
}

#[test]
fn the_verifier_reports_what_its_state_costs() {
    let net = Net::new(3);
    let mut v = net.verifier();
    assert_eq!(v.memory().devices, 0);
    let items: Vec<Vec<u8>> = net.keys.iter().map(|k| frame(k, 1)).collect();
    v.verify_batch(
        &items.iter().map(|f| Input::Frame(f)).collect::<Vec<_>>(),
        NOW,
    );
    let m = v.memory();
    assert_eq!(m.devices, 3);
    assert!(m.key_cache >= 3 * 200, "{m:?}");
    assert!(m.replay.is_some_and(|r| r >= 3 * 60), "{m:?}");
    assert_eq!(m.total(), m.key_cache + m.replay.unwrap_or(0) + m.policies);
}

#[test]
fn the_dense_registry_keeps_both_indexes_right_through_removals() {
    let keys: Vec<_> = (1..=6).map(key).collect();
    let ids: Vec<DeviceId> = keys.iter().map(id).collect();
    let mut r = MemoryRegistry::with_capacity(2); // grows past its hint
    for d in &ids {
        r.insert(*d, DeviceRecord::active(KindSet::ALL)).unwrap();
    }
    // updating keeps one entry
    let mut rec = DeviceRecord::active(KindSet::NONE);
    rec.rated_power_w = Some(7);
    r.insert(ids[2], rec).unwrap();
    assert_eq!(r.len(), 6);
    // remove the first, a middle one and the last; the moved entries stay reachable
    for gone in [0, 3, 5] {
        assert!(r.remove(&ids[gone]).is_some());
        assert!(r.remove(&ids[gone]).is_none());
    }
    assert_eq!(r.len(), 3);
    for (i, d) in ids.iter().enumerate() {
        let present = ![0, 3, 5].contains(&i);
        assert_eq!(r.device(d).found().is_some(), present, "device {i}");
        assert_eq!(
            r.resolve_hint(&d.key_hint()).found(),
            present.then_some(*d),
            "hint {i}"
        );
        assert_eq!(
            r.device_by_hint(&d.key_hint()).found().map(|(x, _)| x),
            present.then_some(*d)
        );
    }
    assert_eq!(
        r.device(&ids[2]).found().and_then(|d| d.rated_power_w),
        Some(7)
    );
    assert!(r.set_status(&ids[4], depin_attest::DeviceStatus::Revoked));
    assert!(!r.set_status(&ids[0], depin_attest::DeviceStatus::Revoked));
    assert_eq!(r.iter().count(), 3);
    assert!(r.memory_bytes() > 0);
}
