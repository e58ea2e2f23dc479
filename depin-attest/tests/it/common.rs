//! Shared fixtures: a network, devices, signing helpers.

use depin_attest::types::{
    BandwidthTest, ChargingSession, CoverageBeacon, CoverageWitness, EnergyDirection,
    EnergyReading, H3Cell, Region, StorageCommitment, StorageProof,
};
use depin_attest::{
    DeviceRecord, Envelope, EnvelopeBody, Input, KindSet, MemoryRegistry, MemoryReplayStore,
    Verdict, Verifier, VerifierConfig,
};
use depin_core::frame::{sign_frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};
use h3o::{LatLng, Resolution};

pub(crate) type TestVerifier = Verifier<MemoryRegistry, MemoryReplayStore>;

/// 2023-11-14T22:13:20Z.
pub(crate) const NOW: Timestamp = Timestamp(1_700_000_000_000);

pub(crate) fn domain() -> Domain {
    Domain::new(NetworkId::new("test-net").unwrap())
}

pub(crate) fn key(i: u8) -> SigningKey {
    SigningKey::from_secret_bytes(KeyType::Ed25519, &[i; 32]).unwrap()
}

pub(crate) fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(&k.public_key())
}

/// A registry with `n` active Ed25519 devices (seeds 1..=n) allowed everything,
/// rated 10 kW, and the verifier around it.
pub(crate) struct Net {
    pub(crate) keys: Vec<SigningKey>,
    pub(crate) registry: MemoryRegistry,
    pub(crate) config: VerifierConfig,
}

impl Net {
    pub(crate) fn new(n: u8) -> Self {
        let keys: Vec<SigningKey> = (1..=n).map(key).collect();
        let mut registry = MemoryRegistry::new();
        for k in &keys {
            let mut rec = DeviceRecord::active(KindSet::ALL);
            rec.rated_power_w = Some(10_000);
            registry.insert(id(k), rec).unwrap();
        }
        let mut config = VerifierConfig::new(domain());
        // The coverage fixtures place devices per test, in the cell each report names, so
        // they run with unlocated devices allowed; the regression tests of issue 12 (see
        // attacks.rs) use the default, which refuses them.
        config.policies.coverage.allow_unlocated = true;
        Net {
            keys,
            registry,
            config,
        }
    }

    pub(crate) fn id(&self, i: usize) -> DeviceId {
        id(&self.keys[i])
    }

    pub(crate) fn verifier(&self) -> TestVerifier {
        Verifier::new(
            self.config.clone(),
            self.registry.clone(),
            MemoryReplayStore::new(),
        )
        .unwrap()
    }
}

pub(crate) fn frame_with(
    domain: &Domain,
    k: &SigningKey,
    seq: u32,
    ts: Timestamp,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = sign_frame(domain, k, 7, seq, ts, payload, &mut buf).unwrap();
    buf[..n].to_vec()
}

pub(crate) fn frame(k: &SigningKey, seq: u32) -> Vec<u8> {
    frame_with(&domain(), k, seq, NOW, b"temp=21.5")
}

/// A built-in attestation of any kind (a test fixture: the SDK itself has no such enum, every
/// kind is an `AttestationType`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attestation {
    CoverageBeacon(CoverageBeacon),
    CoverageWitness(CoverageWitness),
    StorageCommitment(StorageCommitment),
    StorageProof(StorageProof),
    EnergyReading(EnergyReading),
    ChargingSession(ChargingSession),
    BandwidthTest(BandwidthTest),
}

impl Attestation {
    pub(crate) fn body(&self, signer: DeviceId, seq: u64, ts: Timestamp) -> EnvelopeBody {
        match self {
            Attestation::CoverageBeacon(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::CoverageWitness(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::StorageCommitment(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::StorageProof(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::EnergyReading(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::ChargingSession(b) => EnvelopeBody::new(signer, seq, ts, b),
            Attestation::BandwidthTest(b) => EnvelopeBody::new(signer, seq, ts, b),
        }
        .unwrap()
    }
}

pub(crate) fn envelope_at(k: &SigningKey, seq: u64, ts: Timestamp, a: Attestation) -> Vec<u8> {
    let body = a.body(id(k), seq, ts);
    Envelope::sign(&domain(), k, &body).unwrap()
}

pub(crate) fn envelope(k: &SigningKey, seq: u64, a: Attestation) -> Vec<u8> {
    envelope_at(k, seq, NOW, a)
}

pub(crate) fn frames(inputs: &[Vec<u8>]) -> Vec<Input<'_>> {
    inputs.iter().map(|b| Input::Frame(b)).collect()
}

pub(crate) fn envelopes(inputs: &[Vec<u8>]) -> Vec<Input<'_>> {
    inputs.iter().map(|b| Input::Envelope(b)).collect()
}

pub(crate) fn reasons(v: &[Verdict]) -> Vec<Option<depin_attest::Rejection>> {
    v.iter().map(|v| v.as_ref().err().copied()).collect()
}

pub(crate) fn reading(wh: u64) -> Attestation {
    Attestation::EnergyReading(EnergyReading {
        direction: EnergyDirection::Production,
        cumulative_wh: wh,
    })
}

/// A res-12 cell `north_m` metres north of a point in Paris.
pub(crate) fn cell(north_m: f64) -> H3Cell {
    let ll = LatLng::new(48.8566 + north_m / 111_195.0, 2.3522).unwrap();
    H3Cell(ll.to_cell(Resolution::Twelve))
}

pub(crate) const FREQ: u64 = 904_600_000;
pub(crate) const PAYLOAD: &[u8] = b"beacon-entropy-0001";

pub(crate) fn beacon(north_m: f64) -> Attestation {
    Attestation::CoverageBeacon(CoverageBeacon {
        payload: PAYLOAD.to_vec(),
        cell: cell(north_m),
        frequency_hz: FREQ,
        tx_power_ddbm: 270,
        region: Region::Us915,
    })
}

/// A witness of the default beacon ([`PAYLOAD`] sent by device 0, seed 1).
pub(crate) fn witness_body(north_m: f64, rssi_ddbm: i32) -> CoverageWitness {
    witness_body_of(&id(&key(1)), PAYLOAD, north_m, rssi_ddbm)
}

/// A witness of `payload` beaconed by `beaconer`.
pub(crate) fn witness_body_of(
    beaconer: &DeviceId,
    payload: &[u8],
    north_m: f64,
    rssi_ddbm: i32,
) -> CoverageWitness {
    CoverageWitness {
        beacon_id: depin_attest::types::beacon_id(beaconer, payload),
        beacon_payload: payload.to_vec(),
        cell: cell(north_m),
        frequency_hz: FREQ,
        rssi_ddbm,
        snr_ddb: 55,
        region: Region::Us915,
    }
}

pub(crate) fn witness(north_m: f64, rssi_ddbm: i32) -> Attestation {
    Attestation::CoverageWitness(witness_body(north_m, rssi_ddbm))
}
