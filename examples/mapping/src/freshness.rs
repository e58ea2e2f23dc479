//! Rewards by tile freshness, as a depin-rewards network-defined evidence rule.
//!
//! The map is made of **tiles**: resolution-10 H3 cells (about 15 000 m², edges of about
//! 66 m), the parents of the resolution-12 capture cells. A device *refreshes* a tile in an
//! epoch when at least one of its accepted captures lies in it. A tile is worth more the
//! longer nobody has refreshed it, and its worth is shared by everyone who refreshed it in
//! the epoch:
//!
//! ```text
//! value(device) = Σ over the tiles it refreshed   min(days, cap) / refreshers     (each term floor, 18 decimals)
//!   days        = epochs (days) since the tile's previous refresh; a never-mapped tile counts as the cap
//!   refreshers  = devices that refreshed the tile in this epoch
//!   cap         = 30 days (CAP_DAYS, published in the rule set)
//! ```
//!
//! For example, a drive through four tiles: one never mapped (30), one refreshed yesterday by
//! the same device (1), one last refreshed 10 days ago and refreshed today by two devices
//! (10 / 2 = 5 each) and one last refreshed 45 days ago and refreshed today by three devices
//! (min(45, 30) / 3 = 10 each): value 30 + 1 + 5 + 10 = 46. A device re-driving yesterday's
//! streets earns 1 per tile; one driving a street nobody mapped for a month earns 30.
//!
//! The epoch's pool is distributed over the devices' values (largest remainder: paid
//! exactly). Each device's receipt records its value as [`Evidence::Custom`] of the rule
//! [`TileFreshness`] (`tile_freshness`, version 1) with the per-tile data, and the network's
//! [`RuleSet`] publishes the rule with its parameter (the cap) as [`FactorKind::Custom`], so
//! anyone holding the receipt and the published rules recomputes the value with the
//! published cap ([`depin_rewards::verify_receipt_with`] and [`evidence_rules`]).
//!
//! # Byte layouts
//!
//! * **parameters**: the cap in days, `u32` little-endian (4 bytes, non-zero);
//! * **evidence**: one 8-byte record per tile, `days: u32 LE ‖ refreshers: u32 LE`
//!   ([`TileRefresh::encode`]), at most [`MAX_TILES`] records; `days` is uncapped
//!   ([`NEVER_REFRESHED`] = `u32::MAX` for a tile never refreshed before), `refreshers` is at
//!   least 1. Records may come in any order; [`TileMap::refresh`] writes them by tile.
//!
//! [`Evidence::Custom`]: depin_rewards::Evidence::Custom

use std::collections::{BTreeMap, BTreeSet, HashMap};

use depin_example_common::Result;
use depin_rewards::pools::PoolSplit;
use depin_rewards::score::{
    EpochWindow, EvidenceRule, EvidenceRules, Factor, FactorKind, FactorRule, ScoreBreakdown,
    ScoreRules,
};
use depin_rewards::{Error as RewardsError, Fixed, Mode, Rounding, RuleSet};
use h3o::{CellIndex, Resolution};

/// H3 resolution of a map tile (resolution 10).
pub const TILE_RESOLUTION: u8 = 10;
pub(crate) const TILE_RES: Resolution = Resolution::Ten;

/// Name of the evidence rule ([`EvidenceRule::name`]).
pub const RULE_NAME: &str = "tile_freshness";
/// Version of the evidence rule ([`EvidenceRule::version`]).
pub const RULE_VERSION: u32 = 1;
/// Name of the score's (only) factor.
pub const FACTOR: &str = "tile_freshness";
/// The reward pool category.
pub const CATEGORY: &str = "map_tiles";
/// The published cap: a tile earns at most this many days' worth.
pub const CAP_DAYS: u32 = 30;
/// `days` of a tile that was never refreshed before (counts as the cap).
pub const NEVER_REFRESHED: u32 = u32::MAX;
/// Most tile records one device's evidence may hold (bounds the work a receipt can ask of
/// a verifier).
pub const MAX_TILES: usize = 1 << 20;

/// The tile (resolution-10 parent) of a resolution-12 capture cell; `None` for a value that
/// is not a cell index or a cell coarser than resolution 10.
pub fn tile_of(cell: u64) -> Option<u64> {
    CellIndex::try_from(cell)
        .ok()?
        .parent(TILE_RES)
        .map(u64::from)
}

/// One tile a device refreshed in an epoch: the record of the [`TileFreshness`] evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileRefresh {
    /// Epochs (days) since the tile's previous refresh, uncapped; [`NEVER_REFRESHED`] if
    /// there was none.
    pub days: u32,
    /// Devices that refreshed the tile in the epoch (at least 1).
    pub refreshers: u32,
}

impl TileRefresh {
    /// Bytes of one encoded record.
    pub const ENCODED_LEN: usize = 8;

    /// `days: u32 LE ‖ refreshers: u32 LE`.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let (days, refreshers) = out.split_at_mut(4);
        days.copy_from_slice(&self.days.to_le_bytes());
        refreshers.copy_from_slice(&self.refreshers.to_le_bytes());
        out
    }

    /// The records one after the other: a device's evidence bytes.
    pub fn encode_all(tiles: &[TileRefresh]) -> Vec<u8> {
        let mut out = Vec::with_capacity(tiles.len().saturating_mul(Self::ENCODED_LEN));
        for t in tiles {
            out.extend_from_slice(&t.encode());
        }
        out
    }

    /// Decode evidence bytes: a whole number of records, at most [`MAX_TILES`], each with at
    /// least one refresher ([`depin_rewards::Error::InvalidParameter`] otherwise).
    pub fn decode_all(data: &[u8]) -> depin_rewards::Result<Vec<TileRefresh>> {
        if !data.len().is_multiple_of(Self::ENCODED_LEN) {
            return Err(RewardsError::InvalidParameter(
                "tile_freshness evidence: not a whole number of 8-byte records",
            ));
        }
        if data.len() / Self::ENCODED_LEN > MAX_TILES {
            return Err(RewardsError::InvalidParameter(
                "tile_freshness evidence: too many tiles",
            ));
        }
        let mut out = Vec::with_capacity(data.len() / Self::ENCODED_LEN);
        for record in data.chunks_exact(Self::ENCODED_LEN) {
            let (days, refreshers) = record.split_at(4);
            let t = TileRefresh {
                days: read_u32(days)?,
                refreshers: read_u32(refreshers)?,
            };
            if t.refreshers == 0 {
                return Err(RewardsError::InvalidParameter(
                    "tile_freshness evidence: a tile with no refresher",
                ));
            }
            out.push(t);
        }
        Ok(out)
    }

    /// The record's worth under `cap`: `min(days, cap) / refreshers`, rounded down to 18
    /// decimals.
    pub fn value(&self, cap: u32) -> depin_rewards::Result<Fixed> {
        if self.refreshers == 0 {
            return Err(RewardsError::InvalidParameter(
                "tile_freshness evidence: a tile with no refresher",
            ));
        }
        Fixed::from_ratio(
            u128::from(self.days.min(cap)),
            u128::from(self.refreshers),
            Rounding::Floor,
        )
    }
}

fn read_u32(bytes: &[u8]) -> depin_rewards::Result<u32> {
    let b: [u8; 4] = bytes
        .try_into()
        .map_err(|_| RewardsError::InvalidParameter("expected 4 bytes"))?;
    Ok(u32::from_le_bytes(b))
}

/// The evidence rule `tile_freshness`, version 1: the value of a device's refreshed tiles,
/// `Σ min(days, cap) / refreshers`, each term rounded down to 18 decimals and summed exactly
/// (see the [module docs](self) for the formula and the byte layouts). Pure integer and
/// [`Fixed`] arithmetic; malformed parameters or evidence are an error, never a panic. The
/// epoch window is not used.
///
/// ```
/// use depin_example_mapping::freshness::{TileFreshness, TileRefresh, CAP_DAYS, NEVER_REFRESHED};
/// use depin_rewards::EvidenceRule;
///
/// let tiles = [
///     TileRefresh { days: NEVER_REFRESHED, refreshers: 1 }, // never mapped: the cap, 30
///     TileRefresh { days: 1, refreshers: 1 },               // refreshed yesterday: 1
///     TileRefresh { days: 10, refreshers: 2 },              // 10 days, two drivers: 5 each
///     TileRefresh { days: 45, refreshers: 3 },              // capped at 30, three drivers: 10
/// ];
/// let params = TileFreshness::params(CAP_DAYS);
/// let value = TileFreshness.evaluate(&params, &TileRefresh::encode_all(&tiles), None).unwrap();
/// assert_eq!(value.to_string(), "46");
/// // one tile shared by three drivers a day after its last refresh: 1/3, rounded down
/// let third = TileRefresh { days: 1, refreshers: 3 }.encode();
/// assert_eq!(TileFreshness.evaluate(&params, &third, None).unwrap().to_string(), "0.333333333333333333");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileFreshness;

impl TileFreshness {
    /// The published parameters for a cap of `cap_days` days: `cap_days` as `u32` LE.
    pub fn params(cap_days: u32) -> Vec<u8> {
        cap_days.to_le_bytes().to_vec()
    }

    /// Decode published parameters: the cap in days (4 bytes, non-zero).
    pub fn cap(params: &[u8]) -> depin_rewards::Result<u32> {
        let cap = read_u32(params).map_err(|_| {
            RewardsError::InvalidParameter("tile_freshness parameters: the cap, u32 LE")
        })?;
        if cap == 0 {
            return Err(RewardsError::InvalidParameter(
                "tile_freshness parameters: a cap of 0 days",
            ));
        }
        Ok(cap)
    }
}

impl EvidenceRule for TileFreshness {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn version(&self) -> u32 {
        RULE_VERSION
    }

    fn evaluate(
        &self,
        params: &[u8],
        data: &[u8],
        _window: Option<EpochWindow>,
    ) -> depin_rewards::Result<Fixed> {
        let cap = Self::cap(params)?;
        let mut sum = Fixed::ZERO;
        for t in TileRefresh::decode_all(data)? {
            sum = sum.checked_add(t.value(cap)?)?;
        }
        Ok(sum)
    }
}

/// The network's memory of its map: for every tile, the epoch (day) it was last refreshed
/// in. Epoch numbers may be zero or negative for refreshes before the simulation's first
/// epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileMap {
    last: HashMap<u64, i64>,
}

impl TileMap {
    /// An empty map: every tile never refreshed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tiles refreshed at least once.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no tile was ever refreshed.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Record that `tile` was refreshed in epoch `day` (an older record never replaces a
    /// newer one).
    pub fn mark_refreshed(&mut self, tile: u64, day: i64) {
        let last = self.last.entry(tile).or_insert(day);
        if *last < day {
            *last = day;
        }
    }

    /// Add every refresh of `other` (the later of two records of a tile stays).
    pub fn merge(&mut self, other: &TileMap) {
        for (&tile, &day) in &other.last {
            self.mark_refreshed(tile, day);
        }
    }

    /// The epoch `tile` was last refreshed in.
    pub fn last_refreshed(&self, tile: u64) -> Option<i64> {
        self.last.get(&tile).copied()
    }

    /// Epochs from `tile`'s last refresh to `epoch` (0 if it was refreshed in `epoch` or
    /// later), [`NEVER_REFRESHED`] if it never was.
    pub fn days_since(&self, tile: u64, epoch: u64) -> u32 {
        match self.last.get(&tile) {
            None => NEVER_REFRESHED,
            Some(&day) => {
                let now = i64::try_from(epoch).unwrap_or(i64::MAX);
                u32::try_from(now.saturating_sub(day).max(0)).unwrap_or(NEVER_REFRESHED)
            }
        }
    }

    /// Close `epoch`: `visits` are `(device, tile)` pairs of accepted captures (repeats
    /// allowed). Returns each device's [`TileRefresh`] records, by ascending tile, with the
    /// days since each tile's previous refresh and its number of distinct refreshers in the
    /// epoch; then records every visited tile as refreshed in `epoch`.
    pub fn refresh<K: Ord + Clone>(
        &mut self,
        epoch: u64,
        visits: impl IntoIterator<Item = (K, u64)>,
    ) -> BTreeMap<K, Vec<TileRefresh>> {
        let mut by_tile: BTreeMap<u64, BTreeSet<K>> = BTreeMap::new();
        for (device, tile) in visits {
            by_tile.entry(tile).or_default().insert(device);
        }
        let mut out: BTreeMap<K, Vec<TileRefresh>> = BTreeMap::new();
        for (tile, refreshers) in &by_tile {
            let record = TileRefresh {
                days: self.days_since(*tile, epoch),
                refreshers: u32::try_from(refreshers.len()).unwrap_or(u32::MAX),
            };
            for device in refreshers {
                out.entry(device.clone()).or_default().push(record);
            }
        }
        let day = i64::try_from(epoch).unwrap_or(i64::MAX);
        for tile in by_tile.keys() {
            self.mark_refreshed(*tile, day);
        }
        out
    }
}

/// Each device's score from its records: one [`Factor::from_custom`] factor named
/// [`FACTOR`] under [`TileFreshness`] with the parameters of `cap_days` (devices without
/// records are left out). `window` must be what the rule set gives for the epoch
/// ([`RuleSet::window`]).
pub fn tile_scores<K: Ord + Clone>(
    refreshes: &BTreeMap<K, Vec<TileRefresh>>,
    cap_days: u32,
    window: Option<EpochWindow>,
) -> depin_rewards::Result<Vec<(K, ScoreBreakdown)>> {
    let params = TileFreshness::params(cap_days);
    let mut out = Vec::with_capacity(refreshes.len());
    for (device, tiles) in refreshes {
        if tiles.is_empty() {
            continue;
        }
        let factor = Factor::from_custom(
            FACTOR,
            &TileFreshness,
            &params,
            TileRefresh::encode_all(tiles),
            window,
        )?;
        out.push((device.clone(), ScoreBreakdown::new(factor)));
    }
    Ok(out)
}

/// The network's published reward rules: one category, [`CATEGORY`], whose score is the
/// [`TileFreshness`] factor with a cap of [`CAP_DAYS`] ([`FactorKind::Custom`]); pools from
/// `split`, paid with the largest-remainder mode.
pub fn reward_rules(split: &PoolSplit) -> RuleSet {
    RuleSet::new(crate::NETWORK, 1, Mode::LargestRemainder)
        .with_split(split.clone())
        .with_category(
            CATEGORY,
            ScoreRules::new(FactorRule::new(
                FACTOR,
                FactorKind::custom(&TileFreshness, TileFreshness::params(CAP_DAYS)),
            )),
        )
}

/// The evidence rules a verifier of this network's receipts registers: [`TileFreshness`].
pub fn evidence_rules() -> Result<EvidenceRules> {
    Ok(EvidenceRules::new().with(TileFreshness)?)
}
