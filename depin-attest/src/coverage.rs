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
//! 5. The collusion-ring policy runs over the epoch's graph of kept witness edges
//!    ([`find_rings`]): dense, mostly internal witness communities are rejected or
//!    flagged (see [`CollusionRingPolicy`]).
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use depin_core::{DeviceId, Epoch, Timestamp};
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::deny::DenyState;
use crate::kind::{AttestationKind, Label};
use crate::pipeline::Outcome;
use crate::policy::{Item, Policy};
use crate::reason::Rejection;
use crate::registry::DeviceRecord;
use crate::types::{CoverageBeacon, CoverageWitness};

/// Speed of light, m/s.
const C_M_PER_S: f64 = 299_792_458.0;

/// What to do with a detected collusion ring (Sybil witness community).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingAction {
    /// Reject every witness between members ([`Rejection::CollusionRing`]).
    Reject,
    /// Keep the witnesses but list the ring in the outcome.
    Flag,
}

/// Basis points in one (10 000 bp = 100 %).
pub const BP: u32 = 10_000;

/// The collusion-ring policy: dense, mostly internal witness communities (Sybil rings) in
/// an epoch's graph of kept witness edges (`witness -> beaconer`), and the reciprocity
/// decay reward code may apply ([`reciprocity_weights`]).
///
/// # The measure
///
/// For a group `S` of devices let `I` be the witness edges with both ends in `S`, `X` the
/// edges with exactly one end in `S` (either direction), `Wit` the members that witnessed
/// another member and `Bea` the members another member witnessed. `S` is a community when
/// `min_size <= |S| <= max_size` and all of:
///
/// * **density** `I / P >= min_density_bp` (default 70 %), where
///   `P = |Wit| * |Bea| - |Wit ∩ Bea|` is the number of ordered pairs (witness, beaconer) of
///   distinct members that could have been an edge. A reciprocal clique, a star (one
///   beaconer and its witnesses) and a complete bipartite group of beaconers and witnesses
///   all have density 100 %; a clique missing one of its 12 edges 92 %.
/// * **closure by edges** `X / (I + X) <= max_external_bp` (default 25 %): at most a quarter
///   of the edges touching the group leave it.
/// * **closure by members** `X / |S| <= max_boundary_per_member_bp` (default 50 %): at most
///   one edge to the outside per two members. Honest devices have links in every direction
///   around them; a town that is well connected to the rest of the network fails this.
/// * **support** one-way internal edges plus twice the reciprocated ones
///   `>= min_support` (default 4): a pair that witnessed each other (2 + 2), or four
///   one-way witness edges (a beaconer with four witnesses). A beaconer with three
///   witnesses and nothing else, or a single witness, is not enough evidence.
///
/// # Finding the groups
///
/// Deterministic local growth ([`find_rings`]): from every device (in [`DeviceId`]
/// order) a group is grown one neighbour at a time, always taking the neighbour with the
/// most edges into the group, then the fewest edges elsewhere, then the lowest id, up to
/// `max_size`; the first prefix that is a community is that device's candidate. Candidates
/// that strictly contain another candidate are dropped (so an honest device that only
/// touches a ring is not pulled into it), and overlapping candidates are merged into one
/// ring. The cost is bounded by devices x `max_size` x the group's frontier.
///
/// # Limits
///
/// Graph shape is all the detector sees. An honest group that is isolated (an island of a
/// few hotspots that only hear each other) or attached to the network by a thread looks
/// exactly like a Sybil ring and is flagged; see the measured rates in `docs/attest.md`.
/// Groups above `max_size`, a pair with an edge to an honest device, and a beaconer with
/// three witnesses are not flagged; the reciprocity decay bounds what such groups earn by
/// witnessing each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollusionRingPolicy {
    /// Policy version (2: dense communities; 1 was closed complete cliques only).
    pub version: u32,
    /// Whether the detector runs.
    pub enabled: bool,
    /// Smallest group considered (default 2; at least 2 whatever is set).
    pub min_size: usize,
    /// Largest group considered (default 16; a beacon keeps at most 14 witnesses, so a
    /// star of one beacon fits).
    pub max_size: usize,
    /// Reject or flag.
    pub action: RingAction,
    /// Smallest density, in basis points (default 7 000).
    pub min_density_bp: u32,
    /// Largest share of a group's edges that may leave it, in basis points (default 2 500).
    pub max_external_bp: u32,
    /// Largest number of edges leaving a group per member, in basis points of an edge
    /// (default 5 000).
    pub max_boundary_per_member_bp: u32,
    /// Smallest support: one-way internal edges plus twice the reciprocated ones (default
    /// 4).
    pub min_support: u32,
    /// Weight of a reciprocated witness edge of a device with one reciprocal partner, in
    /// basis points (default 10 000); see [`reciprocal_weight_bp`].
    pub reciprocal_weight_bp: u32,
    /// Decay per further reciprocal partner, in basis points (default 8 000, HIP-15's 0.8);
    /// see [`reciprocal_weight_bp`].
    pub reciprocal_decay_bp: u32,
}

impl CollusionRingPolicy {
    /// The policy's name.
    pub const NAME: &'static str = "collusion_ring";
}

impl Default for CollusionRingPolicy {
    fn default() -> Self {
        CollusionRingPolicy {
            version: 2,
            enabled: true,
            min_size: 2,
            max_size: 16,
            action: RingAction::Reject,
            min_density_bp: 7_000,
            max_external_bp: 2_500,
            max_boundary_per_member_bp: 5_000,
            min_support: 4,
            reciprocal_weight_bp: BP,
            reciprocal_decay_bp: 8_000,
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
    /// Most witness reports one device may have pending in a coverage round (default
    /// 1,024); beyond, [`Rejection::TooManyWitnesses`]. Bounds the memory one device can
    /// make the verifier hold until [`crate::Verifier::finalize_coverage`].
    pub max_pending_witnesses_per_device: usize,
    /// Choose among the witnesses at an oracle's epoch close, from its stored items, not
    /// in this verifier (`false`). See [Selection at close](CoverageRules#selection-at-close).
    #[serde(default)]
    pub select_at_close: bool,
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
            max_pending_witnesses_per_device: 1_024,
            select_at_close: false,
        }
    }
}

impl Default for CoveragePolicy {
    fn default() -> Self {
        Self::helium_iot()
    }
}

/// A beacon accepted at ingest, waiting for finalization (or restored from a store with
/// [`CoverageRules::restore_beacon`]).
#[derive(Debug, Clone)]
pub struct PendingBeacon {
    /// The beaconing gateway.
    pub beaconer: DeviceId,
    /// Its registry record (its asserted location).
    pub record: DeviceRecord,
    /// The beacon's signed timestamp.
    pub at: Timestamp,
    /// The beacon.
    pub beacon: Arc<CoverageBeacon>,
}

/// A witness accepted at ingest, waiting for finalization (or restored from a store with
/// [`CoverageRules::restore_witness`]).
#[derive(Debug, Clone)]
pub struct PendingWitness {
    /// The witnessing gateway.
    pub witness: DeviceId,
    /// Its registry record (its asserted location).
    pub record: DeviceRecord,
    /// The witness report's signed timestamp.
    pub at: Timestamp,
    /// Its arrival: the processing time of the batch that accepted it (a stored item's
    /// `LoggedItem::now` of the oracle store); witnesses are chosen in arrival order.
    pub arrival: Timestamp,
    /// Its signing digest (breaks ties of arrival).
    pub digest: [u8; 32],
    /// The epoch it is counted in.
    pub report_epoch: Epoch,
    /// The witness report.
    pub body: Arc<CoverageWitness>,
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
    /// Detected collusion rings (Sybil witness communities; sorted members, rings sorted,
    /// disjoint), rejected or flagged per policy.
    pub rings: Vec<Vec<DeviceId>>,
}

/// Per-beacon ingest state for the current coverage round.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoverageState {
    pub(crate) last_beacon: crate::FastMap<DeviceId, Timestamp>,
    pub(crate) beacons: BTreeMap<[u8; 32], PendingBeacon>,
    pub(crate) witnesses: Vec<PendingWitness>,
    pub(crate) pending_of: crate::FastMap<DeviceId, usize>,
    pub(crate) entropies: std::collections::VecDeque<BeaconEntropy>,
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
        crate::policy::push_capped(&mut self.entropies, entropy, MAX_ENTROPIES);
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

/// One neighbour of a device in the witness graph.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// Index of the neighbour.
    to: usize,
    /// The device witnessed the neighbour.
    out: bool,
    /// The neighbour witnessed the device.
    inn: bool,
}

impl Link {
    /// Directed edges between the two (1 or 2).
    fn count(self) -> u32 {
        u32::from(self.out) + u32::from(self.inn)
    }
}

/// The directed witness graph with devices numbered in [`DeviceId`] order.
struct WitnessGraph {
    ids: Vec<DeviceId>,
    /// Per device: its neighbours in index order.
    adj: Vec<Vec<Link>>,
    /// Per device: directed edges touching it.
    degree: Vec<u32>,
}

impl WitnessGraph {
    /// Builds the graph; self-loops are ignored.
    fn new(edges: &BTreeSet<(DeviceId, DeviceId)>) -> Self {
        let ids: Vec<DeviceId> = edges
            .iter()
            .filter(|(w, b)| w != b)
            .flat_map(|(w, b)| [*w, *b])
            .collect::<BTreeSet<DeviceId>>()
            .into_iter()
            .collect();
        let mut links: Vec<BTreeMap<usize, (bool, bool)>> = vec![BTreeMap::new(); ids.len()];
        for (w, b) in edges {
            if w == b {
                continue;
            }
            let (Ok(wi), Ok(bi)) = (ids.binary_search(w), ids.binary_search(b)) else {
                continue;
            };
            if let Some(m) = links.get_mut(wi) {
                m.entry(bi).or_insert((false, false)).0 = true;
            }
            if let Some(m) = links.get_mut(bi) {
                m.entry(wi).or_insert((false, false)).1 = true;
            }
        }
        let adj: Vec<Vec<Link>> = links
            .into_iter()
            .map(|m| {
                m.into_iter()
                    .map(|(to, (out, inn))| Link { to, out, inn })
                    .collect()
            })
            .collect();
        let degree: Vec<u32> = adj
            .iter()
            .map(|ls| ls.iter().map(|l| l.count()).sum::<u32>())
            .collect();
        WitnessGraph { ids, adj, degree }
    }

    fn size(&self) -> usize {
        self.ids.len()
    }

    fn links(&self, v: usize) -> &[Link] {
        self.adj.get(v).map(Vec::as_slice).unwrap_or(&[])
    }

    fn degree(&self, v: usize) -> u32 {
        self.degree.get(v).copied().unwrap_or(0)
    }
}

/// Scratch space reused across seeds: membership and edges into the group per device.
struct Scratch {
    in_group: Vec<bool>,
    conn: Vec<u32>,
}

impl Scratch {
    fn is_member(&self, v: usize) -> bool {
        self.in_group.get(v).copied().unwrap_or(false)
    }

    fn set_member(&mut self, v: usize, yes: bool) {
        if let Some(x) = self.in_group.get_mut(v) {
            *x = yes;
        }
    }

    fn conn(&self, v: usize) -> u32 {
        self.conn.get(v).copied().unwrap_or(0)
    }

    fn add_conn(&mut self, v: usize, n: u32) {
        if let Some(x) = self.conn.get_mut(v) {
            *x = x.saturating_add(n);
        }
    }

    fn clear_conn(&mut self, v: usize) {
        if let Some(x) = self.conn.get_mut(v) {
            *x = 0;
        }
    }
}

/// Whether `members` (marked in `scratch`) is a community under `policy` (see
/// [`CollusionRingPolicy`]), given its internal and boundary edge counts.
fn is_community(
    policy: &CollusionRingPolicy,
    graph: &WitnessGraph,
    scratch: &Scratch,
    members: &[usize],
    internal: u64,
    boundary: u64,
) -> bool {
    let bp = u128::from(BP);
    let (internal, boundary) = (u128::from(internal), u128::from(boundary));
    let size = members.len() as u128;
    if boundary * bp > u128::from(policy.max_external_bp) * (internal + boundary) {
        return false;
    }
    if boundary * bp > u128::from(policy.max_boundary_per_member_bp) * size {
        return false;
    }
    let (mut witnesses, mut beaconed, mut both, mut support) = (0u128, 0u128, 0u128, 0u128);
    for &m in members {
        let (mut w, mut b) = (false, false);
        for l in graph.links(m) {
            if !scratch.is_member(l.to) {
                continue;
            }
            if l.out {
                w = true;
                support += if l.inn { 2 } else { 1 };
            }
            if l.inn {
                b = true;
            }
        }
        witnesses += u128::from(w);
        beaconed += u128::from(b);
        both += u128::from(w && b);
    }
    let pairs = (witnesses * beaconed).saturating_sub(both);
    pairs > 0
        && internal * bp >= u128::from(policy.min_density_bp) * pairs
        && support >= u128::from(policy.min_support)
}

/// Grows a group from `seed` (see [`CollusionRingPolicy`]) and returns the first prefix
/// that is a community, sorted. Leaves `scratch` clean.
fn grow(
    policy: &CollusionRingPolicy,
    graph: &WitnessGraph,
    scratch: &mut Scratch,
    seed: usize,
    min_size: usize,
    max_size: usize,
) -> Option<Vec<usize>> {
    let mut members = vec![seed];
    scratch.set_member(seed, true);
    let mut frontier: Vec<usize> = Vec::new();
    for l in graph.links(seed) {
        if scratch.conn(l.to) == 0 {
            frontier.push(l.to);
        }
        scratch.add_conn(l.to, l.count());
    }
    let mut internal = 0u64;
    let mut boundary = u64::from(graph.degree(seed));
    let mut found = None;
    while members.len() < max_size {
        // the neighbour with the most edges into the group, then the fewest elsewhere,
        // then the lowest index
        let mut best: Option<(usize, usize, u32, u32)> = None; // (slot, node, conn, external)
        for (slot, &v) in frontier.iter().enumerate() {
            let c = scratch.conn(v);
            let ext = graph.degree(v).saturating_sub(c);
            let better = match best {
                None => true,
                Some((_, bv, bc, be)) => c > bc || (c == bc && (ext < be || (ext == be && v < bv))),
            };
            if better {
                best = Some((slot, v, c, ext));
            }
        }
        let Some((slot, u, c, ext)) = best else {
            break;
        };
        frontier.swap_remove(slot);
        scratch.clear_conn(u);
        scratch.set_member(u, true);
        members.push(u);
        internal += u64::from(c);
        boundary = boundary.saturating_sub(u64::from(c)) + u64::from(ext);
        for l in graph.links(u) {
            if scratch.is_member(l.to) {
                continue;
            }
            if scratch.conn(l.to) == 0 {
                frontier.push(l.to);
            }
            scratch.add_conn(l.to, l.count());
        }
        if members.len() >= min_size
            && is_community(policy, graph, scratch, &members, internal, boundary)
        {
            let mut group = members.clone();
            group.sort_unstable();
            found = Some(group);
            break;
        }
    }
    for &v in &frontier {
        scratch.clear_conn(v);
    }
    for &m in &members {
        scratch.set_member(m, false);
    }
    found
}

/// Root of `v` in a union-find forest (with path halving).
fn find_root(parent: &mut [usize], mut v: usize) -> usize {
    loop {
        let p = parent.get(v).copied().unwrap_or(v);
        if p == v {
            return v;
        }
        let gp = parent.get(p).copied().unwrap_or(p);
        if let Some(x) = parent.get_mut(v) {
            *x = gp;
        }
        v = gp;
    }
}

/// Sybil witness communities in the directed witness graph (`(witness, beaconer)` edges):
/// the groups [`CollusionRingPolicy`] describes, each as its sorted members, the list
/// sorted; rings are disjoint. Empty when the policy is disabled. Deterministic: the
/// result depends on the edge set only.
///
/// ```
/// use std::collections::BTreeSet;
/// use depin_attest::coverage::{find_rings, CollusionRingPolicy};
/// use depin_core::{DeviceId, KeyType};
///
/// let id = |i: u8| DeviceId::new(KeyType::Ed25519, &[i; 32]).unwrap();
/// // a pair that only witness each other, and a beaconer with two honest witnesses
/// let edges: BTreeSet<_> = [(1, 2), (2, 1), (3, 5), (4, 5)]
///     .into_iter()
///     .map(|(w, b)| (id(w), id(b)))
///     .collect();
/// assert_eq!(
///     find_rings(&CollusionRingPolicy::default(), &edges),
///     vec![vec![id(1), id(2)]]
/// );
/// ```
pub fn find_rings(
    policy: &CollusionRingPolicy,
    edges: &BTreeSet<(DeviceId, DeviceId)>,
) -> Vec<Vec<DeviceId>> {
    if !policy.enabled {
        return Vec::new();
    }
    let graph = WitnessGraph::new(edges);
    let n = graph.size();
    let min_size = policy.min_size.max(2);
    let max_size = policy.max_size.min(n);
    if max_size < min_size {
        return Vec::new();
    }
    let mut scratch = Scratch {
        in_group: vec![false; n],
        conn: vec![0; n],
    };
    let mut candidates: BTreeSet<Vec<usize>> = BTreeSet::new();
    for seed in 0..n {
        if let Some(group) = grow(policy, &graph, &mut scratch, seed, min_size, max_size) {
            candidates.insert(group);
        }
    }
    // drop candidates that strictly contain another one: a candidate inside `f` has its
    // lowest member in `f`
    let mut by_lowest: BTreeMap<usize, Vec<&Vec<usize>>> = BTreeMap::new();
    for c in &candidates {
        if let Some(&lowest) = c.first() {
            by_lowest.entry(lowest).or_default().push(c);
        }
    }
    let minimal: Vec<&Vec<usize>> = candidates
        .iter()
        .filter(|f| {
            !f.iter().any(|m| {
                by_lowest.get(m).is_some_and(|gs| {
                    gs.iter()
                        .any(|g| g.len() < f.len() && g.iter().all(|x| f.binary_search(x).is_ok()))
                })
            })
        })
        .collect();
    // merge overlapping ones
    let mut parent: Vec<usize> = (0..n).collect();
    for group in &minimal {
        if let Some((&first, rest)) = group.split_first() {
            for &m in rest {
                let (a, b) = (find_root(&mut parent, first), find_root(&mut parent, m));
                if a != b {
                    let (lo, hi) = (a.min(b), a.max(b));
                    if let Some(x) = parent.get_mut(hi) {
                        *x = lo;
                    }
                }
            }
        }
    }
    let flagged: BTreeSet<usize> = minimal.iter().flat_map(|g| g.iter().copied()).collect();
    let mut rings: BTreeMap<usize, Vec<DeviceId>> = BTreeMap::new();
    for v in flagged {
        let root = find_root(&mut parent, v);
        if let Some(id) = graph.ids.get(v) {
            rings.entry(root).or_default().push(*id);
        }
    }
    // members were pushed in index (= id) order; rings keyed by their lowest member
    rings.into_values().collect()
}

/// Weight, in basis points, of each reciprocated witness edge of a device that has
/// `partners` reciprocal partners (devices it witnessed that also witnessed it), under
/// `policy`'s `reciprocal_weight_bp` (`w`) and `reciprocal_decay_bp` (`d`).
///
/// The first partner counts `w`, each next one `d` times the one before, and the total is
/// shared equally among the partners (order-free):
/// `weight(r) = w * (1 + d + d^2 + ... + d^(r-1)) / r`, computed in integer basis points
/// with each term and the mean floored. So however many devices witness each other, a
/// device's reciprocated witnessing is worth at most `w / (1 - d)` one-way edges (5 at the
/// defaults). Defaults (`w` = 10 000, `d` = 8 000): 1 partner 10 000, 2: 9 000, 3: 8 133,
/// 4: 7 380, 8: 5 201, 13 (a 14-clique): 3 633. `partners = 0` gives 10 000 (there is no
/// reciprocated edge to weigh). Never above 10 000 when `w <= 10 000` and `d <= 10 000`.
///
/// ```
/// use depin_attest::coverage::{reciprocal_weight_bp, CollusionRingPolicy};
/// let p = CollusionRingPolicy::default();
/// assert_eq!(reciprocal_weight_bp(&p, 1), 10_000);
/// assert_eq!(reciprocal_weight_bp(&p, 2), 9_000);
/// assert_eq!(reciprocal_weight_bp(&p, 13), 3_633);
/// ```
pub fn reciprocal_weight_bp(policy: &CollusionRingPolicy, partners: usize) -> u32 {
    if partners == 0 {
        return BP;
    }
    let decay = u128::from(policy.reciprocal_decay_bp.min(BP));
    let mut term = u128::from(BP);
    let mut sum = 0u128;
    for _ in 0..partners {
        if term == 0 {
            break;
        }
        sum += term;
        term = term * decay / u128::from(BP);
    }
    let mean = sum / partners as u128;
    let weight = mean * u128::from(policy.reciprocal_weight_bp) / u128::from(BP);
    u32::try_from(weight).unwrap_or(u32::MAX)
}

/// Per witness edge `(witness, beaconer)` of `edges`, its reward weight in basis points:
/// 10 000 for an edge the beaconer did not return (the beaconer did not witness the
/// witness), else [`reciprocal_weight_bp`] of the witness's number of reciprocal partners.
/// Self-loops are left out. A pure function of the edge set: reward code multiplies a
/// witness's per-beacon units by the weight of that edge (and may use the sum of the
/// weights of a beacon's witnesses as its effective witness count).
///
/// ```
/// use std::collections::BTreeSet;
/// use depin_attest::coverage::{reciprocity_weights, CollusionRingPolicy};
/// use depin_core::{DeviceId, KeyType};
///
/// let id = |i: u8| DeviceId::new(KeyType::Ed25519, &[i; 32]).unwrap();
/// // 1 and 2 witness each other and 3; 3 witnesses 1 back
/// let edges: BTreeSet<_> = [(1, 2), (2, 1), (1, 3), (3, 1)]
///     .into_iter()
///     .map(|(w, b)| (id(w), id(b)))
///     .collect();
/// let w = reciprocity_weights(&CollusionRingPolicy::default(), &edges);
/// assert_eq!(w[&(id(1), id(2))], 9_000); // 1 has two reciprocal partners
/// assert_eq!(w[&(id(2), id(1))], 10_000); // 2 has one
/// ```
pub fn reciprocity_weights(
    policy: &CollusionRingPolicy,
    edges: &BTreeSet<(DeviceId, DeviceId)>,
) -> BTreeMap<(DeviceId, DeviceId), u32> {
    let mut partners: BTreeMap<DeviceId, usize> = BTreeMap::new();
    for (w, b) in edges {
        if w != b && edges.contains(&(*b, *w)) {
            *partners.entry(*w).or_insert(0) += 1;
        }
    }
    edges
        .iter()
        .filter(|(w, b)| w != b)
        .map(|(w, b)| {
            let weight = if edges.contains(&(*b, *w)) {
                reciprocal_weight_bp(policy, partners.get(w).copied().unwrap_or(0))
            } else {
                BP
            };
            ((*w, *b), weight)
        })
        .collect()
}

/// The built-in proof-of-coverage policy: [`CoveragePolicy`] and [`CollusionRingPolicy`]
/// with the state of the current round. Applies to beacons and witnesses; beacons are
/// decided at ingest ([`Outcome::Recorded`]), witnesses at
/// [`crate::Verifier::finalize_coverage`] ([`Outcome::PendingSelection`] until then).
///
/// # Selection at close
///
/// An oracle service verifies items as they arrive and stores them with their verdicts;
/// nothing calls [`crate::Verifier::finalize_coverage`] there. With
/// [`CoveragePolicy::select_at_close`] the verifier checks witnesses at ingest (location,
/// the pending limit per device) and answers [`Outcome::PendingSelection`] without keeping
/// them, keeps beacons only for the current epoch's duplicate checks, and drops the round
/// as each epoch begins (the beacon interval is remembered). The choice among witnesses is
/// then made by the network's scoring at the epoch's close, from the stored items: a fresh
/// `CoverageRules` with the same parameters, every accepted beacon and witness restored
/// ([`CoverageRules::restore_beacon`], [`CoverageRules::restore_witness`], each witness
/// with its batch's processing time as arrival), then [`CoverageRules::finalize`]. That is
/// the same decision, on the same items in the same order, as a verifier that finalizes
/// at the end of each epoch in process: the witnesses it refuses are the closer's
/// rejections at close.
#[derive(Debug, Clone, Default)]
pub struct CoverageRules {
    params: CoveragePolicy,
    rings: CollusionRingPolicy,
    state: CoverageState,
}

impl CoverageRules {
    /// The policy's name.
    pub const NAME: Label = Label::new("coverage");

    /// The rules with these parameters.
    pub fn new(params: CoveragePolicy, rings: CollusionRingPolicy) -> Self {
        CoverageRules {
            params,
            rings,
            state: CoverageState::default(),
        }
    }

    /// The coverage parameters.
    pub fn params(&self) -> &CoveragePolicy {
        &self.params
    }

    /// The collusion-ring parameters.
    pub fn ring_params(&self) -> &CollusionRingPolicy {
        &self.rings
    }

    /// Add Helium-style beacon entropy (see [`CoveragePolicy::require_entropy`]); at most
    /// [`MAX_ENTROPIES`] are kept, the oldest dropped first.
    pub fn add_entropy(&mut self, entropy: BeaconEntropy) {
        self.state.add_entropy(entropy);
    }

    /// Beacons and witnesses waiting for [`CoverageRules::finalize`].
    pub fn pending(&self) -> (usize, usize) {
        (self.state.beacons.len(), self.state.witnesses.len())
    }

    /// Add a beacon accepted earlier (read back from a store) to the round, without the
    /// ingest checks, which it passed when it was accepted. A second beacon with the same
    /// id ([`crate::types::beacon_id`] of its beaconer and payload) replaces nothing.
    pub fn restore_beacon(&mut self, beacon: PendingBeacon) {
        let id = beacon.beacon.id(&beacon.beaconer);
        self.state.beacons.entry(id).or_insert(beacon);
    }

    /// Add a witness accepted earlier (read back from a store) to the round, without the
    /// ingest checks or the pending limit, which it passed when it was accepted.
    pub fn restore_witness(&mut self, witness: PendingWitness) {
        self.state.witnesses.push(witness);
    }

    /// Restore one accepted item read back from an oracle store
    /// ([`crate::store::OracleStore::for_each_accepted`]): a coverage beacon or witness
    /// envelope goes into the round ([`CoverageRules::restore_beacon`],
    /// [`CoverageRules::restore_witness`], with the item's batch time as arrival) with its
    /// device's registry `record`; `Ok(false)` for any other item. An item that does not
    /// decode is [`Rejection::Malformed`] (the store holds what was verified, so that means
    /// the store is damaged).
    #[cfg(feature = "store")]
    pub fn restore_item(
        &mut self,
        item: &crate::store::LoggedItem,
        record: DeviceRecord,
    ) -> Result<bool, Rejection> {
        let coverage = item.kind == AttestationKind::COVERAGE_BEACON
            || item.kind == AttestationKind::COVERAGE_WITNESS;
        if !coverage || item.format != crate::store::ItemFormat::Envelope {
            return Ok(false);
        }
        let envelope = crate::Envelope::decode(&item.bytes, item.bytes.len())?;
        let body = envelope.body;
        if body.signer != item.device || body.kind != item.kind {
            return Err(Rejection::Malformed);
        }
        if item.kind == AttestationKind::COVERAGE_BEACON {
            let beacon: CoverageBeacon = body.decode()?;
            self.restore_beacon(PendingBeacon {
                beaconer: item.device,
                record,
                at: body.timestamp,
                beacon: Arc::new(beacon),
            });
        } else {
            let witness: CoverageWitness = body.decode()?;
            self.restore_witness(PendingWitness {
                witness: item.device,
                record,
                at: body.timestamp,
                arrival: item.now,
                digest: item.digest,
                report_epoch: item.epoch,
                body: Arc::new(witness),
            });
        }
        Ok(true)
    }

    /// Decide on every pending witness: match it to its beacon, choose one per gateway,
    /// apply the coverage checks and the witness limit, then the collusion-ring policy
    /// over the kept edges. Returns the outcome and every witness rejected here with the
    /// epoch it was reported (accepted) in, so the caller can move it in that epoch's
    /// report ([`crate::Verifier::finalize_coverage`] does). Clears the pending beacons
    /// and witnesses (beacon intervals are remembered).
    pub fn finalize(
        &mut self,
        deny: &DenyState,
    ) -> (CoverageOutcome, Vec<(WitnessRejection, Epoch)>) {
        let policy = &self.params;
        let beacons = std::mem::take(&mut self.state.beacons);
        let mut witnesses = std::mem::take(&mut self.state.witnesses);
        self.state.pending_of.clear();
        // in arrival order whatever order they were added in (restored from a store, say),
        // so every list of the outcome is too
        witnesses.sort_by_key(|w| (w.arrival, w.digest));
        let mut by_beacon: BTreeMap<[u8; 32], Vec<PendingWitness>> = BTreeMap::new();
        let mut rejected: Vec<(WitnessRejection, Epoch)> = Vec::new();
        for w in witnesses {
            // a witness names the beacon it heard by its id (which binds the beaconer), and
            // must echo that beacon's payload
            let id = w.body.beacon_id;
            if beacons
                .get(&id)
                .is_some_and(|b| b.beacon.payload == w.body.beacon_payload)
            {
                by_beacon.entry(id).or_default().push(w);
            } else {
                rejected.push((
                    WitnessRejection {
                        witness: w.witness,
                        beacon_id: id,
                        reason: Rejection::UnknownBeacon,
                    },
                    w.report_epoch,
                ));
            }
        }
        let mut results = Vec::new();
        // kept edges with the epoch they are reported under: (witness, beaconer)
        let mut kept: Vec<(DeviceId, DeviceId, [u8; 32], Epoch)> = Vec::new();
        for (id, b) in &beacons {
            let mut ws = by_beacon.remove(id).unwrap_or_default();
            ws.sort_by_key(|x| (x.arrival, x.digest));
            let mut seen = BTreeSet::new();
            let mut chosen = Vec::new();
            for w in ws {
                let verdict = if !seen.insert(w.witness) {
                    Err(Rejection::DuplicateWitness)
                } else if deny.key_denied(&w.witness) || deny.key_denied(&b.beaconer) {
                    // a key denied after ingest earns nothing in this round either
                    Err(Rejection::DeniedKey)
                } else {
                    check_witness(policy, deny, b, &w).and(
                        if chosen.len() >= policy.max_witnesses {
                            Err(Rejection::WitnessLimit)
                        } else {
                            Ok(())
                        },
                    )
                };
                match verdict {
                    Ok(()) => {
                        chosen.push(w.witness);
                        kept.push((w.witness, b.beaconer, *id, w.report_epoch));
                    }
                    Err(reason) => rejected.push((
                        WitnessRejection {
                            witness: w.witness,
                            beacon_id: *id,
                            reason,
                        },
                        w.report_epoch,
                    )),
                }
            }
            results.push(BeaconResult {
                beacon_id: *id,
                beaconer: b.beaconer,
                witnesses: chosen,
            });
        }
        let edges: BTreeSet<(DeviceId, DeviceId)> = kept.iter().map(|k| (k.0, k.1)).collect();
        let rings = find_rings(&self.rings, &edges);
        if self.rings.action == RingAction::Reject && !rings.is_empty() {
            let members: BTreeSet<DeviceId> = rings.iter().flatten().copied().collect();
            for (w, b, id, ep) in &kept {
                if members.contains(w) && members.contains(b) {
                    rejected.push((
                        WitnessRejection {
                            witness: *w,
                            beacon_id: *id,
                            reason: Rejection::CollusionRing,
                        },
                        *ep,
                    ));
                }
            }
            for r in &mut results {
                if members.contains(&r.beaconer) {
                    r.witnesses.retain(|w| !members.contains(w));
                }
            }
        }
        let outcome = CoverageOutcome {
            beacons: results,
            rejected: rejected.iter().map(|(r, _)| r.clone()).collect(),
            rings,
        };
        (outcome, rejected)
    }
}

impl Policy for CoverageRules {
    fn name(&self) -> Label {
        Self::NAME
    }

    fn version(&self) -> u32 {
        self.params.version
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == AttestationKind::COVERAGE_BEACON || kind == AttestationKind::COVERAGE_WITNESS
    }

    fn begin_epoch(&mut self, _epoch: Epoch) {
        if self.params.select_at_close {
            // the round is chosen at the close, from the store: keep nothing of the last
            // one but each beaconer's last beacon time
            self.state.beacons.clear();
            self.state.witnesses.clear();
            self.state.pending_of.clear();
        }
    }

    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        if let Some(b) = item.payload.get_arc::<CoverageBeacon>() {
            self.state.beacon(
                &self.params,
                PendingBeacon {
                    beaconer: *item.device,
                    record: *item.record,
                    at: item.timestamp,
                    beacon: b,
                },
            )?;
            *outcome = Outcome::Recorded;
            return Ok(());
        }
        let w = item
            .payload
            .get_arc::<CoverageWitness>()
            .ok_or(Rejection::UnknownKind)?;
        check_location(&self.params, item.record, w.cell.0)?;
        let pending = self.state.pending_of.entry(*item.device).or_insert(0);
        if *pending >= self.params.max_pending_witnesses_per_device {
            return Err(Rejection::TooManyWitnesses);
        }
        *pending += 1;
        if self.params.select_at_close {
            // chosen at the oracle's close, from the stored items
            *outcome = Outcome::PendingSelection;
            return Ok(());
        }
        self.state.witnesses.push(PendingWitness {
            witness: *item.device,
            record: *item.record,
            at: item.timestamp,
            arrival: item.now,
            digest: *item.digest,
            report_epoch: item.epoch,
            body: w,
        });
        *outcome = Outcome::PendingSelection;
        Ok(())
    }
}
