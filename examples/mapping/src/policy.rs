//! The network's policies, written on depin-attest's public [`Policy`] trait exactly as a
//! built-in one is: [`MappingRules`] (declared routes, plausible speed, no reused images)
//! and [`CaptureRate`] (a rate limit that shows how policies compose).
//!
//! Both decide in [`Policy::check`], which is read-only, and record state in
//! [`Policy::apply`], which never rejects. With depin-attest's two passes (every applying
//! policy's `check` in order, then every `apply` in order) this means no policy ever records
//! an item that another policy refused: a capture refused by the rate limit leaves no trace
//! in [`MappingRules`] (its image hash is not remembered, it is not the device's last
//! capture), and the other way round.

use std::collections::HashMap;

use depin_attest::{AttestationKind, AttestationType, Item, Label, Outcome, Policy, Rejection};
use depin_core::{DeviceId, Epoch, Timestamp};
use h3o::{CellIndex, LatLng};

use crate::kinds::{cell_of, ImageCapture, RouteDeclaration, CAPTURE_RES, ROUTE_RES};

/// Name of [`MappingRules`]: its rejections are counted as `mapping/<code>`.
pub const MAPPING: Label = Label::new("mapping");
/// Name of [`CaptureRate`]: its rejections are counted as `capture_rate/<code>`.
pub const CAPTURE_RATE: Label = Label::new("capture_rate");

/// One hour, milliseconds.
const HOUR_MS: u64 = 3_600_000;

/// The rejections of the network's policies, as [`Rejection`]s (what epoch reports count
/// and gossip verdicts are derived from).
pub mod reason {
    use depin_attest::{Label, PolicyRejection, Rejection};

    use super::{CAPTURE_RATE, MAPPING};

    const fn mapping(code: &str) -> Rejection {
        Rejection::Policy(PolicyRejection::new(MAPPING, Label::new(code)))
    }

    /// `mapping/no_route`: a capture from a device with no current route (none declared,
    /// the latest one expired, or the capture is older than the declaration).
    pub const NO_ROUTE: Rejection = mapping("no_route");
    /// `mapping/off_route`: a capture outside every resolution-7 cell of the device's
    /// current route.
    pub const OFF_ROUTE: Rejection = mapping("off_route");
    /// `mapping/impossible_speed`: a capture whose distance from the device's last accepted
    /// capture, over the time between their signed timestamps, is faster than
    /// [`super::MappingParams::max_speed_kmh`] (or in another cell at the same time or
    /// earlier).
    pub const IMPOSSIBLE_SPEED: Rejection = mapping("impossible_speed");
    /// `mapping/duplicate_image`: an image hash already accepted from any device.
    pub const DUPLICATE_IMAGE: Rejection = mapping("duplicate_image");
    /// `mapping/route_window`: a route declaration whose validity ends before its own
    /// timestamp, or more than [`super::MappingParams::max_route_ms`] after it.
    pub const ROUTE_WINDOW: Rejection = mapping("route_window");
    /// `capture_rate/too_many_captures`: more captures from one device in one clock hour
    /// than [`super::CaptureRate`] allows. Without penalty: a camera that captures too
    /// often may be honest, so gossip ignores the item rather than punishing its sender.
    pub const TOO_MANY_CAPTURES: Rejection = Rejection::Policy(
        PolicyRejection::new(CAPTURE_RATE, Label::new("too_many_captures")).without_penalty(),
    );
}

/// Parameters of [`MappingRules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingParams {
    /// Policy version; change it whenever the rules or these parameters change (default 1).
    pub version: u32,
    /// Fastest plausible speed between two consecutive captures of a device, km/h
    /// (default 200).
    pub max_speed_kmh: u32,
    /// Distance forgiven before the speed check, metres: positions are cell centres, and a
    /// resolution-12 cell's centre may be some 10 m from the camera (default 30).
    pub speed_tolerance_m: u32,
    /// Longest validity of a route declaration after its timestamp, ms (default one day).
    pub max_route_ms: u64,
    /// Epochs an accepted image hash is remembered for the duplicate check (default 30).
    pub image_memory_epochs: u64,
}

impl Default for MappingParams {
    fn default() -> Self {
        MappingParams {
            version: 1,
            max_speed_kmh: 200,
            speed_tolerance_m: 30,
            max_route_ms: 24 * HOUR_MS,
            image_memory_epochs: 30,
        }
    }
}

/// A device's current route, as [`MappingRules`] recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRoute {
    /// The device's number for the drive.
    pub route_id: u64,
    /// Resolution-7 cells, strictly ascending.
    pub cells: Vec<u64>,
    /// The declaration's signed timestamp: the route holds from then on.
    pub declared_at: Timestamp,
    /// End of the route's validity.
    pub valid_until: Timestamp,
}

impl DeclaredRoute {
    /// Whether the route holds at `at`.
    pub fn is_current(&self, at: Timestamp) -> bool {
        self.declared_at <= at && at <= self.valid_until
    }

    /// Whether the route lists the resolution-7 cell `route_cell`.
    pub fn covers(&self, route_cell: u64) -> bool {
        self.cells.binary_search(&route_cell).is_ok()
    }
}

/// The mapping network's rules, for [`ImageCapture`]s and [`RouteDeclaration`]s.
///
/// State: per device its latest accepted route and its last accepted capture (cell and
/// signed time); for every device together the image hashes accepted in the last
/// [`MappingParams::image_memory_epochs`] epochs.
///
/// A route declaration is refused with [`reason::ROUTE_WINDOW`] if its validity is empty or
/// too long; else it replaces the device's route and its outcome is [`Outcome::Recorded`].
///
/// A capture is checked in this order, the first failure being the verdict:
///
/// 1. the device has a current route ([`DeclaredRoute::is_current`] at the capture's signed
///    timestamp), else [`reason::NO_ROUTE`];
/// 2. the capture cell's resolution-7 parent is one of the route's cells, else
///    [`reason::OFF_ROUTE`];
/// 3. no accepted capture (of any device) had the same image hash, else
///    [`reason::DUPLICATE_IMAGE`];
/// 4. from the device's last accepted capture to this one, the great-circle distance
///    between the two cell centres minus [`MappingParams::speed_tolerance_m`] (whole
///    metres, rounded down) over the time between the two signed timestamps is at most
///    [`MappingParams::max_speed_kmh`]; a capture in another cell at the same time or
///    earlier is impossible too. Else [`reason::IMPOSSIBLE_SPEED`].
///
/// An accepted capture becomes the device's last capture, its image hash is remembered,
/// and its outcome is [`Outcome::Credited`] with `policy: mapping` and `units: 1` (one
/// capture), which the application reads next to the decoded capture in
/// [`depin_attest::Accepted::payload`]. Rejected captures change nothing.
#[derive(Debug, Clone, Default)]
pub struct MappingRules {
    params: MappingParams,
    routes: HashMap<DeviceId, DeclaredRoute>,
    last: HashMap<DeviceId, (CellIndex, Timestamp)>,
    images: HashMap<[u8; 32], Epoch>,
}

impl MappingRules {
    /// The rules with `params` and no state.
    pub fn new(params: MappingParams) -> Self {
        MappingRules {
            params,
            routes: HashMap::new(),
            last: HashMap::new(),
            images: HashMap::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &MappingParams {
        &self.params
    }

    /// The latest accepted route of `device`, current or not.
    pub fn route(&self, device: &DeviceId) -> Option<&DeclaredRoute> {
        self.routes.get(device)
    }

    /// Devices with a recorded route.
    pub fn declared_routes(&self) -> usize {
        self.routes.len()
    }

    /// The last accepted capture of `device`: its cell and signed timestamp.
    pub fn last_capture(&self, device: &DeviceId) -> Option<(u64, Timestamp)> {
        self.last.get(device).map(|(c, t)| (u64::from(*c), *t))
    }

    /// Image hashes remembered for the duplicate check.
    pub fn remembered_images(&self) -> usize {
        self.images.len()
    }

    /// Whether the image hash `hash` was accepted (and is still remembered).
    pub fn knows_image(&self, hash: &[u8; 32]) -> bool {
        self.images.contains_key(hash)
    }

    fn check_route(&self, route: &RouteDeclaration, at: Timestamp) -> Result<(), Rejection> {
        match route.valid_until_ms.checked_sub(at.0) {
            Some(ms) if ms > 0 && ms <= self.params.max_route_ms => Ok(()),
            _ => Err(reason::ROUTE_WINDOW),
        }
    }

    fn check_capture(
        &self,
        device: &DeviceId,
        capture: &ImageCapture,
        at: Timestamp,
    ) -> Result<(), Rejection> {
        let cell = cell_of(capture.cell, CAPTURE_RES)?;
        let route = match self.routes.get(device) {
            Some(r) if r.is_current(at) => r,
            _ => return Err(reason::NO_ROUTE),
        };
        let parent = cell.parent(ROUTE_RES).ok_or(Rejection::InvalidStructure)?;
        if !route.covers(u64::from(parent)) {
            return Err(reason::OFF_ROUTE);
        }
        if self.images.contains_key(&capture.image_hash) {
            return Err(reason::DUPLICATE_IMAGE);
        }
        if let Some(&(last_cell, last_at)) = self.last.get(device) {
            if !self.plausible(last_cell, last_at, cell, at) {
                return Err(reason::IMPOSSIBLE_SPEED);
            }
        }
        Ok(())
    }

    /// Whether a camera can get from `from` at `from_at` to `to` at `to_at`.
    fn plausible(
        &self,
        from: CellIndex,
        from_at: Timestamp,
        to: CellIndex,
        to_at: Timestamp,
    ) -> bool {
        if from == to {
            return true;
        }
        let Some(dt_ms) = to_at.0.checked_sub(from_at.0).filter(|dt| *dt > 0) else {
            return false;
        };
        let metres = LatLng::from(from).distance_m(LatLng::from(to));
        // physics, not money: whole metres beyond the tolerance, rounded down
        let beyond = (metres - f64::from(self.params.speed_tolerance_m)).max(0.0) as u128;
        // km/h = metres × 3600 / ms
        beyond.saturating_mul(3_600)
            <= u128::from(self.params.max_speed_kmh).saturating_mul(u128::from(dt_ms))
    }
}

impl Policy for MappingRules {
    fn name(&self) -> Label {
        MAPPING
    }

    fn version(&self) -> u32 {
        self.params.version
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == ImageCapture::KIND || kind == RouteDeclaration::KIND
    }

    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        if item.kind == RouteDeclaration::KIND {
            let route = item.body::<RouteDeclaration>()?;
            return self.check_route(route, item.timestamp);
        }
        let capture = item.body::<ImageCapture>()?;
        self.check_capture(item.device, capture, item.timestamp)
    }

    fn apply(&mut self, item: &Item<'_>, outcome: &mut Outcome) -> Result<(), Rejection> {
        if item.kind == RouteDeclaration::KIND {
            let route = item.body::<RouteDeclaration>()?;
            self.routes.insert(
                *item.device,
                DeclaredRoute {
                    route_id: route.route_id,
                    cells: route.cells.clone(),
                    declared_at: item.timestamp,
                    valid_until: Timestamp(route.valid_until_ms),
                },
            );
            *outcome = Outcome::Recorded;
            return Ok(());
        }
        let capture = item.body::<ImageCapture>()?;
        let cell = cell_of(capture.cell, CAPTURE_RES)?;
        self.images.insert(capture.image_hash, item.epoch);
        self.last.insert(*item.device, (cell, item.timestamp));
        *outcome = Outcome::Credited {
            policy: MAPPING,
            units: 1,
        };
        Ok(())
    }

    fn begin_epoch(&mut self, epoch: Epoch) {
        let keep = self.params.image_memory_epochs;
        self.images
            .retain(|_, seen| epoch.0.saturating_sub(seen.0) < keep);
    }
}

/// At most `max_per_hour` [`ImageCapture`]s per device and clock hour of their signed
/// timestamps: [`reason::TOO_MANY_CAPTURES`] beyond, without gossip penalty, and for a
/// capture timestamped in an hour before the one counted (hours only move forward per
/// device). Name `capture_rate`, version 2.
///
/// Registered after [`MappingRules`], it shows composition: both decide in `check`, so a
/// capture refused here is not recorded by [`MappingRules`] (and a capture [`MappingRules`]
/// refuses does not count against the device's rate).
#[derive(Debug, Clone)]
pub struct CaptureRate {
    max_per_hour: u32,
    /// Per device: the clock hour counted and the captures accepted in it.
    counts: HashMap<DeviceId, (u64, u32)>,
}

impl CaptureRate {
    /// The policy's version (2: captures from an earlier hour are refused).
    pub const VERSION: u32 = 2;

    /// At most `max_per_hour` captures per device and clock hour.
    pub fn new(max_per_hour: u32) -> Self {
        CaptureRate {
            max_per_hour,
            counts: HashMap::new(),
        }
    }

    /// The limit.
    pub fn max_per_hour(&self) -> u32 {
        self.max_per_hour
    }
}

impl Policy for CaptureRate {
    fn name(&self) -> Label {
        CAPTURE_RATE
    }

    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn applies_to(&self, kind: AttestationKind) -> bool {
        kind == ImageCapture::KIND
    }

    fn check(&self, item: &Item<'_>) -> Result<(), Rejection> {
        let hour = item.timestamp.0 / HOUR_MS;
        match self.counts.get(item.device) {
            Some(&(h, n)) if h == hour && n >= self.max_per_hour => Err(reason::TOO_MANY_CAPTURES),
            // an earlier hour than the one counted is refused too: otherwise alternating
            // timestamps across an hour boundary (both inside the freshness window) would
            // reset the count every time
            Some(&(h, _)) if hour < h => Err(reason::TOO_MANY_CAPTURES),
            _ => Ok(()),
        }
    }

    fn apply(&mut self, item: &Item<'_>, _outcome: &mut Outcome) -> Result<(), Rejection> {
        let hour = item.timestamp.0 / HOUR_MS;
        let entry = self.counts.entry(*item.device).or_insert((hour, 0));
        if entry.0 != hour {
            *entry = (hour, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(())
    }
}
