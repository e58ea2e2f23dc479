//! Proof-of-coverage policy (defaults from Helium's iot_verifier) and the collusion-ring
//! policy.
//!
//! Beacons are checked when they arrive (minimum interval, duplicate payload, asserted
//! location). Witnesses are checked against their beacon when coverage is finalized
//! ([`crate::Verifier::finalize_coverage`]), because a witness may arrive before its
//! beacon and because choosing among witnesses needs all of them:
//!
//! 1. Witnesses of one beacon are ordered by arrival (the `now` of the batch that
//!    verified them) and then by the lowest envelope digest, so the order does not
//!    depend on the order inside a batch.
//! 2. One witness per gateway: the first in that order; later ones are
//!    [`Rejection::DuplicateWitness`].
//! 3. Each remaining witness is checked in this order: self-witness, denied edge, lag,
//!    region, frequency, minimum H3 grid distance, maximum distance, free-space path loss.
//! 4. At most `max_witnesses` valid witnesses are kept, in the same order.
//! 5. The collusion-ring policy runs over the epoch's graph of kept witness edges.
//!
//! # The physics check
//!
//! The received signal must not exceed what free space allows:
//! `rssi <= tx_power + gain_beaconer + gain_witness - FSPL(d, f) + margin`, with
//! `FSPL = 20 log10(4 pi d f / c)`, `c = 299_792_458 m/s`. This uses `f64` (it is not
//! reward arithmetic) and is made conservative: `d` is a lower bound of the true
//! distance (distance between cell centres minus twice the edge lengths of both cells),
//! at least 1 m, and FSPL is floored to 0.1 dB before an integer comparison in tenths
//! of dB, so float rounding can only make the check more lenient by under 0.1 dB.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use depin_core::{DeviceId, Epoch, Timestamp};
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::deny::DenyState;
use crate::reason::Rejection;
use crate::registry::DeviceRecord;
use crate::types::{CoverageBeacon, CoverageWitness};

/// Speed of light, m/s.
const C_M_PER_S: f64 = 299_792_458.0;

/// What to do with a detected collusion ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingAction {
    /// Reject every witness between members ([`Rejection::CollusionRing`]).
    Reject,
    /// Keep the witnesses but list the ring in the outcome.
    Flag,
}

/// The collusion-ring policy: in an epoch's witness graph, a connected group of
/// `min_size..=max_size` devices in which every member witnessed every other member and
/// no member witnessed, or was witnessed by, anyone outside is a closed reciprocal
/// clique: devices that only vouch for each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollusionRingPolicy {
    /// Policy version.
    pub version: u32,
    /// Whether the policy runs.
    pub enabled: bool,
    /// Smallest group considered (default 3).
    pub min_size: usize,
    /// Largest group considered (default 16).
    pub max_size: usize,
    /// Reject or flag.
    pub action: RingAction,
}

impl CollusionRingPolicy {
    /// The policy's name.
    pub const NAME: &'static str = "collusion_ring";
}

impl Default for CollusionRingPolicy {
    fn default() -> Self {
        CollusionRingPolicy {
            version: 1,
            enabled: true,
            min_size: 3,
            max_size: 16,
            action: RingAction::Reject,
        }
    }
}

/// Coverage policy parameters (defaults: Helium iot_verifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveragePolicy {
    /// Policy version.
    pub version: u32,
    /// Minimum time between two beacons of one gateway (6 h).
    pub min_beacon_interval_ms: u64,
    /// Longest delay from beacon to witness (4000 ms).
    pub max_witness_lag_ms: u64,
    /// Minimum grid distance between beaconer and witness (8 cells) ...
    pub min_cell_distance: u32,
    /// ... measured at this H3 resolution (11).
    pub distance_resolution: u8,
    /// Maximum distance, metres (100 km).
    pub max_distance_m: u64,
    /// Maximum frequency difference, Hz (100 kHz).
    pub frequency_tolerance_hz: u64,
    /// Valid witnesses kept per beacon (14).
    pub max_witnesses: usize,
    /// Extra allowance over the free-space bound, tenths of dB (0).
    pub signal_margin_ddb: i32,
    /// Accept beacons and witnesses from devices with no asserted location (`false`).
    ///
    /// By default an unlocated device is refused with [`Rejection::NoLocation`]: its
    /// report would name any cell it likes, one message at a time (a Paris witness and a
    /// New York witness 100 ms apart). Set this only when the network asserts location by
    /// other means and checks the reported cell itself.
    pub allow_unlocated: bool,
    /// Require Helium-style beacon payloads (`false`): a beacon's payload must equal
    /// [`crate::types::derive_beacon_payload`] of one of the entropies set with
    /// [`crate::Verifier::set_beacon_entropy`] whose window contains the beacon's
    /// timestamp, and of the beaconer, or it is refused with
    /// [`Rejection::BeaconPayloadMismatch`]. A copied payload then fails for every device
    /// but its beaconer.
    pub require_entropy: bool,
}

impl CoveragePolicy {
    /// The policy's name.
    pub const NAME: &'static str = "coverage";

    /// Helium iot_verifier numbers (see REFERENCE.md).
    pub fn helium_iot() -> Self {
        CoveragePolicy {
            version: 2,
            min_beacon_interval_ms: 6 * 3_600_000,
            max_witness_lag_ms: 4_000,
            min_cell_distance: 8,
            distance_resolution: 11,
            max_distance_m: 100_000,
            frequency_tolerance_hz: 100_000,
            max_witnesses: 14,
            signal_margin_ddb: 0,
            allow_unlocated: false,
            require_entropy: false,
        }
    }
}

impl Default for CoveragePolicy {
    fn default() -> Self {
        Self::helium_iot()
    }
}

/// A beacon accepted at ingest, waiting for finalization.
#[derive(Debug, Clone)]
pub(crate) struct PendingBeacon {
    pub(crate) beaconer: DeviceId,
    pub(crate) record: DeviceRecord,
    pub(crate) at: Timestamp,
    pub(crate) beacon: CoverageBeacon,
}

/// A witness accepted at ingest, waiting for finalization.
#[derive(Debug, Clone)]
pub(crate) struct PendingWitness {
    pub(crate) witness: DeviceId,
    pub(crate) record: DeviceRecord,
    pub(crate) at: Timestamp,
    pub(crate) arrival: Timestamp,
    pub(crate) digest: [u8; 32],
    pub(crate) report_epoch: Epoch,
    pub(crate) body: CoverageWitness,
}

/// Public randomness from which beacon payloads are derived (Helium's entropy), valid for
/// beacons timestamped in `valid_from..=valid_until` (Helium: a 180 s window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconEntropy {
    /// The entropy bytes.
    pub entropy: [u8; 32],
    /// First beacon timestamp it is valid for.
    pub valid_from: Timestamp,
    /// Last beacon timestamp it is valid for.
    pub valid_until: Timestamp,
}

/// Most entropies kept at once (older ones are dropped first).
pub const MAX_ENTROPIES: usize = 16;

/// The result for one beacon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconResult {
    /// Beacon id ([`crate::types::beacon_id`] of the beaconer and the payload).
    pub beacon_id: [u8; 32],
    /// The beaconing gateway.
    pub beaconer: DeviceId,
    /// Kept witnesses, in selection order.
    pub witnesses: Vec<DeviceId>,
}

/// A rejected witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRejection {
    /// The witnessing gateway.
    pub witness: DeviceId,
    /// The beacon id it referred to.
    pub beacon_id: [u8; 32],
    /// Why.
    pub reason: Rejection,
}

/// The outcome of finalizing coverage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageOutcome {
    /// Per beacon, ordered by beacon id.
    pub beacons: Vec<BeaconResult>,
    /// Rejected witnesses, ordered by beacon id then selection order.
    pub rejected: Vec<WitnessRejection>,
    /// Detected collusion rings (sorted members), rejected or flagged per policy.
    pub rings: Vec<Vec<DeviceId>>,
}

/// Per-beacon ingest state for the current coverage round.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoverageState {
    pub(crate) last_beacon: HashMap<DeviceId, Timestamp>,
    pub(crate) beacons: BTreeMap<[u8; 32], PendingBeacon>,
    pub(crate) witnesses: Vec<PendingWitness>,
    pub(crate) entropies: Vec<BeaconEntropy>,
}

/// The reported cell must be the asserted one; a device with no asserted location is
/// refused unless the policy allows it.
pub(crate) fn check_location(
    policy: &CoveragePolicy,
    record: &DeviceRecord,
    cell: CellIndex,
) -> Result<(), Rejection> {
    match record.location {
        Some(asserted) if asserted.0 != cell => Err(Rejection::LocationMismatch),
        Some(_) => Ok(()),
        None if policy.allow_unlocated => Ok(()),
        None => Err(Rejection::NoLocation),
    }
}

impl CoverageState {
    /// Ingest-time beacon checks; records the beacon on success.
    pub(crate) fn beacon(
        &mut self,
        policy: &CoveragePolicy,
        pending: PendingBeacon,
    ) -> Result<(), Rejection> {
        check_location(policy, &pending.record, pending.beacon.cell.0)?;
        if policy.require_entropy && !self.payload_is_derived(&pending) {
            return Err(Rejection::BeaconPayloadMismatch);
        }
        if let Some(last) = self.last_beacon.get(&pending.beaconer) {
            match pending.at.since(*last) {
                Some(dt) if dt >= policy.min_beacon_interval_ms => {}
                _ => return Err(Rejection::BeaconTooSoon),
            }
        }
        // The id binds the beaconer: a copy of another device's payload is a different
        // beacon and cannot displace the original; only the same device sending the same
        // payload again is a duplicate.
        let id = pending.beacon.id(&pending.beaconer);
        if self.beacons.contains_key(&id) {
            return Err(Rejection::DuplicateBeacon);
        }
        self.last_beacon.insert(pending.beaconer, pending.at);
        self.beacons.insert(id, pending);
        Ok(())
    }

    /// Whether the beacon's payload is derived from its beaconer and an entropy valid at
    /// its timestamp.
    fn payload_is_derived(&self, pending: &PendingBeacon) -> bool {
        let payload = &pending.beacon.payload;
        self.entropies
            .iter()
            .filter(|e| e.valid_from <= pending.at && pending.at <= e.valid_until)
            .any(|e| {
                crate::types::derive_beacon_payload(&e.entropy, &pending.beaconer, payload.len())
                    == *payload
            })
    }

    /// Add an entropy; the oldest is dropped beyond [`MAX_ENTROPIES`].
    pub(crate) fn add_entropy(&mut self, entropy: BeaconEntropy) {
        if !self.entropies.contains(&entropy) {
            self.entropies.push(entropy);
        }
        while self.entropies.len() > MAX_ENTROPIES {
            self.entropies.remove(0);
        }
    }
}

/// Grid distance at `res`, or `None` if it cannot be computed (cells too coarse, too
/// far apart or across a pentagon distortion).
fn grid_distance(a: CellIndex, b: CellIndex, res: Resolution) -> Option<u32> {
    let pa = a.parent(res)?;
    let pb = b.parent(res)?;
    pa.grid_distance(pb)
        .ok()
        .and_then(|d| u32::try_from(d).ok())
}

/// Lower bound of the distance in metres between two devices located by cell.
fn distance_lower_bound_m(a: CellIndex, b: CellIndex) -> f64 {
    let centre = LatLng::from(a).distance_m(LatLng::from(b));
    let slack = 2.0 * (a.resolution().edge_length_m() + b.resolution().edge_length_m());
    (centre - slack).max(1.0)
}

/// Free-space path loss in tenths of dB, floored.
fn fspl_ddb(distance_m: f64, frequency_hz: u64) -> i64 {
    let arg = 4.0 * std::f64::consts::PI * distance_m * (frequency_hz as f64) / C_M_PER_S;
    let fspl = 20.0 * arg.log10();
    if fspl.is_finite() {
        (fspl * 10.0).floor() as i64
    } else {
        0
    }
}

/// Checks of one witness against its beacon (steps 3 of the module docs).
pub(crate) fn check_witness(
    policy: &CoveragePolicy,
    deny: &DenyState,
    b: &PendingBeacon,
    w: &PendingWitness,
) -> Result<(), Rejection> {
    if w.witness == b.beaconer {
        return Err(Rejection::SelfWitness);
    }
    if deny.edge_denied(&b.beaconer, &w.witness) {
        return Err(Rejection::DeniedEdge);
    }
    match w.at.since(b.at) {
        Some(lag) if lag <= policy.max_witness_lag_ms => {}
        _ => return Err(Rejection::WitnessLag),
    }
    if w.body.region != b.beacon.region {
        return Err(Rejection::RegionMismatch);
    }
    if w.body.frequency_hz.abs_diff(b.beacon.frequency_hz) > policy.frequency_tolerance_hz {
        return Err(Rejection::FrequencyMismatch);
    }
    let (bc, wc) = (b.beacon.cell.0, w.body.cell.0);
    let d_lo = distance_lower_bound_m(bc, wc);
    let res = Resolution::try_from(policy.distance_resolution).unwrap_or(Resolution::Eleven);
    let too_close = match grid_distance(bc, wc, res) {
        Some(cells) => cells < policy.min_cell_distance,
        // Not computable: judge by metres, a cell step being about sqrt(3) edge lengths.
        None => d_lo < f64::from(policy.min_cell_distance) * 1.7 * res.edge_length_m(),
    };
    if too_close {
        return Err(Rejection::TooClose);
    }
    if d_lo > policy.max_distance_m as f64 {
        return Err(Rejection::TooFar);
    }
    let max_rssi = i64::from(b.beacon.tx_power_ddbm)
        + i64::from(b.record.antenna_gain_ddbi)
        + i64::from(w.record.antenna_gain_ddbi)
        + i64::from(policy.signal_margin_ddb)
        - fspl_ddb(d_lo, b.beacon.frequency_hz);
    if i64::from(w.body.rssi_ddbm) > max_rssi {
        return Err(Rejection::ImpossibleSignal);
    }
    Ok(())
}

/// Closed reciprocal cliques in the directed witness graph (`witness -> beaconer`).
pub(crate) fn find_rings(
    policy: &CollusionRingPolicy,
    edges: &BTreeSet<(DeviceId, DeviceId)>,
) -> Vec<Vec<DeviceId>> {
    if !policy.enabled {
        return Vec::new();
    }
    let mut adj: BTreeMap<DeviceId, BTreeSet<DeviceId>> = BTreeMap::new();
    for (w, b) in edges {
        adj.entry(*w).or_default().insert(*b);
        adj.entry(*b).or_default().insert(*w);
    }
    let mut seen = BTreeSet::new();
    let mut rings = Vec::new();
    for start in adj.keys() {
        if seen.contains(start) {
            continue;
        }
        let mut component = BTreeSet::new();
        let mut stack = vec![*start];
        while let Some(n) = stack.pop() {
            if component.insert(n) {
                if let Some(next) = adj.get(&n) {
                    stack.extend(next.iter().filter(|m| !component.contains(*m)));
                }
            }
        }
        seen.extend(component.iter().copied());
        let size = component.len();
        if size < policy.min_size.max(2) || size > policy.max_size {
            continue;
        }
        let reciprocal_clique = component.iter().all(|a| {
            component
                .iter()
                .all(|b| a == b || (edges.contains(&(*a, *b)) && edges.contains(&(*b, *a))))
        });
        if reciprocal_clique {
            rings.push(component.into_iter().collect());
        }
    }
    rings
}
