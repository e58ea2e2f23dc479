//! The device registry the pipeline consults: a trait networks implement (a chain, a
//! database snapshot) and an in-memory implementation.

use std::hash::BuildHasher;
use std::sync::Arc;

use depin_core::{DeviceId, KeyHint};

use crate::error::{Error, Result};
pub use crate::kind::KindSet;
use crate::types::H3Cell;

/// A device's registration state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceStatus {
    /// Registered and allowed to attest.
    Active,
    /// Registered but paused (e.g. not onboarded, not staked).
    Inactive,
    /// Revoked (compromised key, decommissioned). Never accepted again.
    Revoked,
}

/// What the registry knows about a device (keyed by its [`DeviceId`], i.e. its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Registration state.
    pub status: DeviceStatus,
    /// Kinds it may send.
    pub allowed: KindSet,
    /// Rated power in watts (energy devices; needed by the energy policy).
    pub rated_power_w: Option<u64>,
    /// Antenna gain in tenths of dBi (coverage devices; 0 when unknown).
    pub antenna_gain_ddbi: i32,
    /// Asserted location; when set, coverage reports must name this cell.
    pub location: Option<H3Cell>,
    /// When the device was registered, if the registry knows: energy data from before it is
    /// refused ([`crate::Rejection::SessionBeforeHistory`]).
    pub registered_at: Option<depin_core::Timestamp>,
    /// The registry validated the device's key strictly ([`DeviceId::public_key`]) when it
    /// registered it, and keeps that fact: the verifier then only decompresses the key on
    /// first sight ([`DeviceId::public_key_prechecked`]) instead of repeating the strict
    /// checks (a torsion check is a scalar multiplication, about 40 µs), also after a
    /// restart. Set it only after a successful [`DeviceId::public_key`]:
    /// [`MemoryRegistry::insert`] computes it itself.
    pub key_checked: bool,
    /// How far the registry trusts the device is real hardware (self-registered, through an
    /// approved maker, or with hardware evidence): policies and the reward rules may price
    /// it (`depin_rewards::policy::trust`). [`depin_core::TrustLevel::Untrusted`] unless the
    /// registry knows better.
    pub trust: depin_core::TrustLevel,
}

impl DeviceRecord {
    /// An active device allowed to send `allowed`, with no rated power, gain or location.
    pub fn active(allowed: KindSet) -> Self {
        DeviceRecord {
            status: DeviceStatus::Active,
            allowed,
            rated_power_w: None,
            antenna_gain_ddbi: 0,
            location: None,
            registered_at: None,
            key_checked: false,
            trust: depin_core::TrustLevel::Untrusted,
        }
    }
}

/// The answer of a [`Registry`] lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Known.
    Found(T),
    /// Not registered (the item is rejected with [`crate::Rejection::UnknownDevice`]).
    Unknown,
    /// The registry cannot answer now (chain or database unreachable, snapshot too old):
    /// the item is refused with [`crate::Rejection::RegistryUnavailable`], which neither
    /// accepts it nor penalises its sender, and touches no replay window or policy state.
    Unavailable,
}

impl<T> Lookup<T> {
    /// `Found` for `Some`, `Unknown` for `None`.
    pub fn from_option(value: Option<T>) -> Self {
        match value {
            Some(v) => Lookup::Found(v),
            None => Lookup::Unknown,
        }
    }

    /// The value, if found.
    pub fn found(self) -> Option<T> {
        match self {
            Lookup::Found(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> From<Option<T>> for Lookup<T> {
    fn from(value: Option<T>) -> Self {
        Lookup::from_option(value)
    }
}

/// The registry the verifier consults. Implementations must be cheap to call (serve
/// from a snapshot or cache; the pipeline calls it once per item, from several threads)
/// and deterministic for the duration of a batch. A registry backed by a chain or a
/// database answers [`Lookup::Unavailable`] when it cannot answer, never a guess.
pub trait Registry: Send + Sync {
    /// The record of `device`.
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord>;

    /// The registered device whose key has this 8-byte hint (report frames name their
    /// key by hint). Registries must refuse to register two keys with the same hint.
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId>;

    /// The device with this key hint and its record, in one lookup where the registry can
    /// (the verifier asks this for every frame). Default: [`Registry::resolve_hint`], then
    /// [`Registry::device`].
    fn device_by_hint(&self, hint: &KeyHint) -> Lookup<(DeviceId, DeviceRecord)> {
        match self.resolve_hint(hint) {
            Lookup::Found(d) => match self.device(&d) {
                Lookup::Found(r) => Lookup::Found((d, r)),
                Lookup::Unknown => Lookup::Unknown,
                Lookup::Unavailable => Lookup::Unavailable,
            },
            Lookup::Unknown => Lookup::Unknown,
            Lookup::Unavailable => Lookup::Unavailable,
        }
    }
}

impl<R: Registry + ?Sized> Registry for Arc<R> {
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord> {
        (**self).device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        (**self).resolve_hint(hint)
    }
    fn device_by_hint(&self, hint: &KeyHint) -> Lookup<(DeviceId, DeviceRecord)> {
        (**self).device_by_hint(hint)
    }
}

impl<R: Registry + ?Sized> Registry for &R {
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord> {
        (**self).device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        (**self).resolve_hint(hint)
    }
    fn device_by_hint(&self, hint: &KeyHint) -> Lookup<(DeviceId, DeviceRecord)> {
        (**self).device_by_hint(hint)
    }
}

impl<R: Registry + ?Sized> Registry for Box<R> {
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord> {
        (**self).device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        (**self).resolve_hint(hint)
    }
    fn device_by_hint(&self, hint: &KeyHint) -> Lookup<(DeviceId, DeviceRecord)> {
        (**self).device_by_hint(hint)
    }
}

/// One registered device.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hint: KeyHint,
    device: DeviceId,
    record: DeviceRecord,
}

/// An in-memory registry (tests, simulators, and networks whose fleet fits in memory: about
/// 120 bytes per device, one probe per lookup by id or by key hint).
///
/// Dense: the entries in one `Vec`, two hash indexes of `u32` positions beside it (by id and
/// by hint), seeded foldhash.
#[derive(Clone, Default)]
pub struct MemoryRegistry {
    entries: Vec<Entry>,
    by_id: hashbrown::HashTable<u32>,
    by_hint: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRegistry")
            .field("devices", &self.entries.len())
            .finish()
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry with room for `devices` devices before it reallocates (an oracle
    /// that knows its fleet size avoids rehashing pauses while it loads).
    pub fn with_capacity(devices: usize) -> Self {
        MemoryRegistry {
            entries: Vec::with_capacity(devices),
            by_id: hashbrown::HashTable::with_capacity(devices),
            by_hint: hashbrown::HashTable::with_capacity(devices),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn position(&self, device: &DeviceId) -> Option<usize> {
        let h = self.hasher.hash_one(device);
        self.by_id
            .find(h, |&i| self.entries[i as usize].device == *device)
            .map(|&i| i as usize)
    }

    fn position_of_hint(&self, hint: &KeyHint) -> Option<usize> {
        let h = self.hasher.hash_one(hint);
        self.by_hint
            .find(h, |&i| self.entries[i as usize].hint == *hint)
            .map(|&i| i as usize)
    }

    /// Remove a device (and its hint); returns its record if it was registered.
    pub fn remove(&mut self, device: &DeviceId) -> Option<DeviceRecord> {
        let i = self.position(device)?;
        let (hid, hhint) = (
            self.hasher.hash_one(device),
            self.hasher.hash_one(self.entries[i].hint),
        );
        let at = i as u32;
        if let Ok(e) = self.by_id.find_entry(hid, |&j| j == at) {
            e.remove();
        }
        if let Ok(e) = self.by_hint.find_entry(hhint, |&j| j == at) {
            e.remove();
        }
        let last = self.entries.len() - 1;
        if i != last {
            // the last entry moves to `i`: repoint its two index slots
            let moved = self.entries[last];
            let (mid, mhint) = (
                self.hasher.hash_one(moved.device),
                self.hasher.hash_one(moved.hint),
            );
            let from = last as u32;
            if let Some(p) = self.by_id.find_mut(mid, |&j| j == from) {
                *p = at;
            }
            if let Some(p) = self.by_hint.find_mut(mhint, |&j| j == from) {
                *p = at;
            }
        }
        Some(self.entries.swap_remove(i).record)
    }

    /// Every registered device and its record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&DeviceId, &DeviceRecord)> {
        self.entries.iter().map(|e| (&e.device, &e.record))
    }

    /// Register or update a device. Fails if another device's key has the same hint.
    ///
    /// The key is validated strictly here, once ([`DeviceId::public_key`]), and
    /// [`DeviceRecord::key_checked`] is set to the result (whatever the caller passed): a
    /// device with an invalid key is still registered, and the verifier refuses its items
    /// with [`crate::Rejection::InvalidKey`].
    pub fn insert(&mut self, device: DeviceId, mut record: DeviceRecord) -> Result<()> {
        record.key_checked = device.public_key().is_ok();
        self.insert_trusted(device, record)
    }

    /// Register or update a device with its record as given, [`DeviceRecord::key_checked`]
    /// included: for loading a registry snapshot whose keys were validated when the devices
    /// registered (so a restart does not validate a million keys again). The mark must come
    /// from a source this registry trusts (its own earlier [`MemoryRegistry::insert`], a
    /// database it wrote), never from devices or peers: the verifier skips the canonical and
    /// torsion checks of marked keys (small-order keys are refused either way). Fails if
    /// another device's key has the same hint, or if the registry holds `u32::MAX` devices.
    pub fn insert_trusted(&mut self, device: DeviceId, record: DeviceRecord) -> Result<()> {
        let hint = device.key_hint();
        if let Some(i) = self.position_of_hint(&hint) {
            if self.entries[i].device != device {
                return Err(Error::Registry("another device has the same key hint"));
            }
            self.entries[i].record = record;
            return Ok(());
        }
        let i = u32::try_from(self.entries.len())
            .map_err(|_| Error::Registry("the registry is full"))?;
        self.entries.push(Entry {
            hint,
            device,
            record,
        });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.by_id.insert_unique(hasher.hash_one(device), i, |&j| {
            hasher.hash_one(entries[j as usize].device)
        });
        self.by_hint.insert_unique(hasher.hash_one(hint), i, |&j| {
            hasher.hash_one(entries[j as usize].hint)
        });
        Ok(())
    }

    /// Change a registered device's status; returns `false` if it is unknown.
    pub fn set_status(&mut self, device: &DeviceId, status: DeviceStatus) -> bool {
        match self.position(device) {
            Some(i) => {
                self.entries[i].record.status = status;
                true
            }
            None => false,
        }
    }

    /// Number of registered devices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no device is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of memory held (entries and both indexes, capacity included).
    pub fn memory_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.by_id.allocation_size()
            + self.by_hint.allocation_size()
    }
}

impl Registry for MemoryRegistry {
    fn device(&self, device: &DeviceId) -> Lookup<DeviceRecord> {
        self.position(device).map(|i| self.entries[i].record).into()
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        self.position_of_hint(hint)
            .map(|i| self.entries[i].device)
            .into()
    }
    fn device_by_hint(&self, hint: &KeyHint) -> Lookup<(DeviceId, DeviceRecord)> {
        self.position_of_hint(hint)
            .map(|i| (self.entries[i].device, self.entries[i].record))
            .into()
    }
}
