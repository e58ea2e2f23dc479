//! The network's own attestation kinds: [`ImageCapture`] and [`RouteDeclaration`].
//!
//! Both are plain serde structs implementing [`depin_attest::AttestationType`], so the
//! verifier decodes them strictly (canonical postcard, size limit first) and runs their
//! structural checks before any key or signature work. Their numbers are in the application
//! range depin-core reserves for a network's own kinds
//! ([`AttestationKind::application`]), so their signatures can never be confused with a
//! built-in kind's.
//!
//! | kind | number | name | gossip topic |
//! |---|---|---|---|
//! | [`ImageCapture`] | `application(0x0100)` = `0x8100` | `image_capture` | `mapping` |
//! | [`RouteDeclaration`] | `application(0x0101)` = `0x8101` | `route_declaration` | `mapping_routes` |
//!
//! A capture has no time field: its time is the envelope's timestamp, which the device
//! signs with everything else and the verifier checks for freshness.

use depin_attest::{AttestationKind, AttestationType, Label, Rejection};
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

/// H3 resolution of the cell an [`ImageCapture`] names (resolution 12: cells of about
/// 300 m², edges of about 10 m).
pub const CAPTURE_RESOLUTION: u8 = 12;
/// H3 resolution of the cells a [`RouteDeclaration`] lists (resolution 7: cells of about
/// 5 km², edges of about 1.2 km).
pub const ROUTE_RESOLUTION: u8 = 7;
/// Most cells one [`RouteDeclaration`] may list.
pub const MAX_ROUTE_CELLS: usize = 64;
/// Headings are `0..HEADING_LIMIT_DDEG` tenths of a degree.
pub const HEADING_LIMIT_DDEG: u16 = 3_600;

pub(crate) const CAPTURE_RES: Resolution = Resolution::Twelve;
pub(crate) const ROUTE_RES: Resolution = Resolution::Seven;

/// The H3 cell `raw` if it is a valid cell index of `resolution`: [`Rejection::Malformed`]
/// for a value that is not a cell index, [`Rejection::InvalidStructure`] for another
/// resolution.
pub(crate) fn cell_of(raw: u64, resolution: Resolution) -> Result<CellIndex, Rejection> {
    let cell = CellIndex::try_from(raw).map_err(|_| Rejection::Malformed)?;
    if cell.resolution() == resolution {
        Ok(cell)
    } else {
        Err(Rejection::InvalidStructure)
    }
}

/// The resolution-12 capture cell of a position in degrees (`None` if it is not a valid
/// coordinate).
pub fn capture_cell(lat: f64, lng: f64) -> Option<u64> {
    LatLng::new(lat, lng)
        .ok()
        .map(|p| u64::from(p.to_cell(CAPTURE_RES)))
}

/// The resolution-7 route cell a capture cell lies in (its H3 parent): the cell a route
/// must list for a capture in `cell` to be on the route. `None` for a value that is not a
/// cell index, or a cell coarser than resolution 7.
pub fn route_cell(cell: u64) -> Option<u64> {
    CellIndex::try_from(cell)
        .ok()?
        .parent(ROUTE_RES)
        .map(u64::from)
}

/// One dashcam image, attested by the camera that took it: where it was taken (a
/// resolution-12 H3 cell), which way the camera looked, and the hash of the image, which is
/// uploaded separately and checked against this hash. When it was taken is the envelope's
/// signed timestamp.
///
/// Structural checks ([`AttestationType::check`]): `cell` is a valid H3 cell index
/// ([`Rejection::Malformed`] otherwise) of resolution 12 and `heading_ddeg` is below 3600
/// ([`Rejection::InvalidStructure`] otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCapture {
    /// H3 cell index, resolution 12, of the camera's position.
    pub cell: u64,
    /// Heading of the camera, tenths of a degree clockwise from true north, `0..3600`.
    pub heading_ddeg: u16,
    /// SHA-256 of the image.
    pub image_hash: [u8; 32],
}

impl AttestationType for ImageCapture {
    const KIND: AttestationKind = AttestationKind::application(0x0100);
    const NAME: Label = Label::new("image_capture");
    const TOPIC: Label = Label::new("mapping");
    /// A capture encodes in at most 45 bytes (cell varint 10, heading varint 3, hash 32).
    const MAX_LEN: usize = 64;

    fn check(&self) -> Result<(), Rejection> {
        cell_of(self.cell, CAPTURE_RES)?;
        if self.heading_ddeg >= HEADING_LIMIT_DDEG {
            return Err(Rejection::InvalidStructure);
        }
        Ok(())
    }
}

/// A drive the device is about to make: the resolution-7 H3 cells it will cover, until when.
/// A device's latest accepted declaration is its current route; its captures must lie in
/// one of the route's cells (see [`crate::policy::MappingRules`]).
///
/// Structural checks ([`AttestationType::check`]): 1 to [`MAX_ROUTE_CELLS`] cells, each a
/// valid H3 cell index ([`Rejection::Malformed`] otherwise) of resolution 7, strictly
/// ascending (one canonical form, no repeats; [`Rejection::InvalidStructure`] otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDeclaration {
    /// The device's own number for the drive.
    pub route_id: u64,
    /// H3 cell indices, resolution 7, strictly ascending.
    pub cells: Vec<u64>,
    /// End of the route's validity, milliseconds since the Unix epoch.
    pub valid_until_ms: u64,
}

impl RouteDeclaration {
    /// Whether the route lists the resolution-7 cell `route_cell`.
    pub fn covers(&self, route_cell: u64) -> bool {
        self.cells.binary_search(&route_cell).is_ok()
    }
}

impl AttestationType for RouteDeclaration {
    const KIND: AttestationKind = AttestationKind::application(0x0101);
    const NAME: Label = Label::new("route_declaration");
    const TOPIC: Label = Label::new("mapping_routes");
    /// 64 cells of at most 10 bytes each, plus the id, the length and the validity.
    const MAX_LEN: usize = 1_024;

    fn check(&self) -> Result<(), Rejection> {
        if self.cells.is_empty() || self.cells.len() > MAX_ROUTE_CELLS {
            return Err(Rejection::InvalidStructure);
        }
        for c in &self.cells {
            cell_of(*c, ROUTE_RES)?;
        }
        if self.cells.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Rejection::InvalidStructure);
        }
        Ok(())
    }
}
