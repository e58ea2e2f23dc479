//! The bodies of the built-in attestation kinds.
//!
//! Every body is a plain serde struct encoded canonically with postcard
//! ([`depin_core::encoding`]); field order is the wire order. Each implements
//! [`AttestationType`], the trait a network's own kinds implement too. Device reports are not
//! here: they are depin-core [`depin_core::frame`]s, parsed with
//! [`depin_core::frame::Frame`].

use depin_core::{DeviceId, Epoch, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kind::{AttestationKind, AttestationType, Label};
use crate::reason::Rejection;

/// Longest beacon payload (Helium beacons are 51 bytes; LoRaWAN allows up to 222).
pub const MAX_BEACON_PAYLOAD: usize = 222;
/// Largest storage chunk.
pub const MAX_CHUNK_SIZE: u32 = 4096;
/// Most chunks a commitment may have (2^40).
pub const MAX_CHUNK_COUNT: u64 = 1 << 40;
/// Most chunk responses in one storage proof.
pub const MAX_CHALLENGES: usize = 64;
/// Highest radio frequency accepted (10 GHz).
pub const MAX_FREQUENCY_HZ: u64 = 10_000_000_000;

/// An H3 cell, encoded as its 64-bit index and validated when decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct H3Cell(pub h3o::CellIndex);

impl H3Cell {
    /// The cell's resolution.
    pub fn resolution(self) -> h3o::Resolution {
        self.0.resolution()
    }
}

impl Serialize for H3Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::from(self.0))
    }
}

impl<'de> Deserialize<'de> for H3Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = u64::deserialize(d)?;
        h3o::CellIndex::try_from(raw)
            .map(H3Cell)
            .map_err(|_| serde::de::Error::custom("invalid H3 cell index"))
    }
}

/// LoRaWAN regional parameter sets (a beacon and its witnesses must share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Region {
    Eu868,
    Us915,
    Au915,
    As923_1,
    As923_2,
    As923_3,
    As923_4,
    Kr920,
    In865,
    Cn470,
    Eu433,
    Ru864,
}

/// A proof-of-coverage beacon: the gateway transmitted `payload` on `frequency_hz`
/// at `tx_power_ddbm` from `cell`. The envelope timestamp is the transmit time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageBeacon {
    /// Beacon payload (the entropy-derived bytes witnesses must echo).
    pub payload: Vec<u8>,
    /// Where the gateway is.
    pub cell: H3Cell,
    /// Transmit frequency in Hz.
    pub frequency_hz: u64,
    /// Transmit power in tenths of dBm (EIRP without antenna gain).
    pub tx_power_ddbm: i32,
    /// Regional parameters in use.
    pub region: Region,
}

impl CoverageBeacon {
    /// The beacon id witnesses refer to, bound to the beaconer: see [`beacon_id`].
    pub fn id(&self, beaconer: &DeviceId) -> [u8; 32] {
        beacon_id(beaconer, &self.payload)
    }
}

/// Domain tag of [`beacon_id`].
pub const BEACON_ID_TAG: &[u8] = b"depin-rs/beacon-id/v1";
/// Domain tag of [`derive_beacon_payload`].
pub const BEACON_PAYLOAD_TAG: &[u8] = b"depin-rs/beacon-payload/v1";

/// The identity of a beacon, which binds the beaconer:
/// `SHA-256("depin-rs/beacon-id/v1" || beaconer (DeviceId binary form: key type tag ||
/// key bytes) || payload)`.
///
/// Two devices that send the same payload have two different beacons, so a device that
/// copies a payload it heard over the air cannot take the honest beacon's place: each
/// witness names the id of the beacon it heard ([`CoverageWitness::beacon_id`]).
pub fn beacon_id(beaconer: &DeviceId, payload: &[u8]) -> [u8; 32] {
    let (id, id_len) = beaconer.to_bytes();
    let mut h = Sha256::new();
    h.update(BEACON_ID_TAG);
    h.update(&id[..id_len]);
    h.update(payload);
    h.finalize().into()
}

/// The beacon payload a device must send when the network uses Helium-style entropy
/// ([`crate::coverage::CoveragePolicy::require_entropy`]): the first `len` bytes of
/// `B_0 || B_1 || ...` with
/// `B_i = SHA-256("depin-rs/beacon-payload/v1" || entropy (32 bytes) || beaconer
/// (DeviceId binary form) || i as u32 little-endian)`.
///
/// The payload is a function of the beaconer, so another device cannot replay it as its
/// own beacon. `len` is capped at [`MAX_BEACON_PAYLOAD`].
pub fn derive_beacon_payload(entropy: &[u8; 32], beaconer: &DeviceId, len: usize) -> Vec<u8> {
    let len = len.min(MAX_BEACON_PAYLOAD);
    let (id, id_len) = beaconer.to_bytes();
    let mut out = Vec::with_capacity(len + 32);
    let mut block = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(BEACON_PAYLOAD_TAG);
        h.update(entropy);
        h.update(&id[..id_len]);
        h.update(block.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        block += 1;
    }
    out.truncate(len);
    out
}

/// A proof-of-coverage witness: the gateway heard `beacon_payload` at `cell`. The
/// envelope timestamp is the reception time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageWitness {
    /// The id of the beacon that was heard ([`beacon_id`] of its beaconer and payload;
    /// the over-the-air beacon identifies its beaconer).
    pub beacon_id: [u8; 32],
    /// The payload that was heard (must equal the beacon's).
    pub beacon_payload: Vec<u8>,
    /// Where the witnessing gateway is.
    pub cell: H3Cell,
    /// Frequency it was heard on, Hz.
    pub frequency_hz: u64,
    /// Received signal strength, tenths of dBm.
    pub rssi_ddbm: i32,
    /// Signal to noise ratio, tenths of dB.
    pub snr_ddb: i32,
    /// Regional parameters of the witness.
    pub region: Region,
}

/// A storage commitment: the prover holds `chunk_count` chunks of `chunk_size` bytes
/// whose Merkle root (see [`crate::storage`]) is `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageCommitment {
    /// Merkle root over the chunks.
    pub root: [u8; 32],
    /// Chunk size in bytes (the last chunk is zero-padded).
    pub chunk_size: u32,
    /// Number of chunks.
    pub chunk_count: u64,
}

/// One challenged chunk and its Merkle path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkProof {
    /// Chunk index.
    pub index: u64,
    /// The chunk bytes (exactly the commitment's chunk size).
    pub chunk: Vec<u8>,
    /// Sibling hashes from the leaf up to the root.
    pub path: Vec<[u8; 32]>,
}

/// A proof of storage answering the challenge of `epoch` for the commitment `root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageProof {
    /// Root of the registered commitment being proven.
    pub root: [u8; 32],
    /// The epoch whose challenge this answers.
    pub epoch: Epoch,
    /// One response per challenged index, in challenge order.
    pub responses: Vec<ChunkProof>,
}

/// Which way energy flowed through a meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EnergyDirection {
    /// Produced (e.g. solar).
    Production,
    /// Consumed.
    Consumption,
}

/// A cumulative meter reading at the envelope timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyReading {
    /// Flow direction (each has its own counter).
    pub direction: EnergyDirection,
    /// Cumulative watt-hours since the meter was commissioned.
    pub cumulative_wh: u64,
}

/// An EV charging session delivered by the signing charger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargingSession {
    /// Charger-local session number.
    pub session_id: u64,
    /// Start of charging.
    pub started_at: Timestamp,
    /// End of charging (after the start, not after the envelope timestamp).
    pub ended_at: Timestamp,
    /// Energy delivered, Wh.
    pub energy_wh: u64,
}

/// A bandwidth speed test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthTest {
    /// Download throughput, bits per second.
    pub download_bps: u64,
    /// Upload throughput, bits per second.
    pub upload_bps: u64,
    /// Round-trip latency, milliseconds.
    pub latency_ms: u32,
    /// The network-issued challenge the test server handed out with this test (see
    /// [`crate::BandwidthPolicy::require_challenge`]).
    pub challenge: [u8; 32],
}

// ---- the built-in bodies as attestation kinds ----

const COVERAGE: Label = Label::new("coverage");

impl AttestationType for CoverageBeacon {
    const KIND: AttestationKind = AttestationKind::COVERAGE_BEACON;
    const NAME: Label = Label::new("coverage_beacon");
    const TOPIC: Label = COVERAGE;
    fn check(&self) -> Result<(), Rejection> {
        structure(
            (1..=MAX_BEACON_PAYLOAD).contains(&self.payload.len())
                && (1..=MAX_FREQUENCY_HZ).contains(&self.frequency_hz)
                && (-300..=600).contains(&self.tx_power_ddbm),
        )
    }
}

impl AttestationType for CoverageWitness {
    const KIND: AttestationKind = AttestationKind::COVERAGE_WITNESS;
    const NAME: Label = Label::new("coverage_witness");
    const TOPIC: Label = COVERAGE;
    fn check(&self) -> Result<(), Rejection> {
        structure(
            (1..=MAX_BEACON_PAYLOAD).contains(&self.beacon_payload.len())
                && (1..=MAX_FREQUENCY_HZ).contains(&self.frequency_hz)
                && (-2000..=600).contains(&self.rssi_ddbm)
                && (-1000..=1000).contains(&self.snr_ddb),
        )
    }
}

const STORAGE: Label = Label::new("storage");

impl AttestationType for StorageCommitment {
    const KIND: AttestationKind = AttestationKind::STORAGE_COMMITMENT;
    const NAME: Label = Label::new("storage_commitment");
    const TOPIC: Label = STORAGE;
    fn check(&self) -> Result<(), Rejection> {
        structure(
            (1..=MAX_CHUNK_SIZE).contains(&self.chunk_size)
                && (1..=MAX_CHUNK_COUNT).contains(&self.chunk_count),
        )
    }
}

impl AttestationType for StorageProof {
    const KIND: AttestationKind = AttestationKind::STORAGE_PROOF;
    const NAME: Label = Label::new("storage_proof");
    const TOPIC: Label = STORAGE;
    fn check(&self) -> Result<(), Rejection> {
        structure(
            (1..=MAX_CHALLENGES).contains(&self.responses.len())
                && self
                    .responses
                    .iter()
                    .all(|r| r.chunk.len() <= MAX_CHUNK_SIZE as usize && r.path.len() <= 64),
        )
    }
}

const ENERGY: Label = Label::new("energy");

impl AttestationType for EnergyReading {
    const KIND: AttestationKind = AttestationKind::ENERGY_READING;
    const NAME: Label = Label::new("energy_reading");
    const TOPIC: Label = ENERGY;
}

impl AttestationType for ChargingSession {
    const KIND: AttestationKind = AttestationKind::CHARGING_SESSION;
    const NAME: Label = Label::new("charging_session");
    const TOPIC: Label = ENERGY;
    fn check(&self) -> Result<(), Rejection> {
        structure(self.started_at < self.ended_at)
    }
}

impl AttestationType for BandwidthTest {
    const KIND: AttestationKind = AttestationKind::BANDWIDTH_TEST;
    const NAME: Label = Label::new("bandwidth_test");
    const TOPIC: Label = Label::new("bandwidth");
}

fn structure(ok: bool) -> Result<(), Rejection> {
    if ok {
        Ok(())
    } else {
        Err(Rejection::InvalidStructure)
    }
}
