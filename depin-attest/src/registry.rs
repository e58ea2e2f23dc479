//! The device registry the pipeline consults: a trait networks implement (a chain, a
//! database snapshot) and an in-memory implementation.

use std::collections::HashMap;
use std::sync::Arc;

use depin_core::{DeviceId, KeyHint};

use crate::error::{Error, Result};
use crate::types::{AttestationKind, H3Cell};

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

/// A set of [`AttestationKind`]s a device may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u16);

impl KindSet {
    /// No kinds.
    pub const NONE: KindSet = KindSet(0);
    /// Every kind.
    pub const ALL: KindSet = KindSet(u16::MAX);

    /// The set of the given kinds.
    pub fn of(kinds: &[AttestationKind]) -> Self {
        kinds.iter().fold(KindSet::NONE, |s, k| s.with(*k))
    }

    /// This set plus `kind`.
    pub fn with(self, kind: AttestationKind) -> Self {
        KindSet(self.0 | kind.bit())
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: AttestationKind) -> bool {
        self.0 & kind.bit() != 0
    }
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
        }
    }
}

/// The registry the verifier consults. Implementations must be cheap to call (serve
/// from a snapshot or cache; the pipeline calls it once per item) and deterministic
/// for the duration of a batch.
pub trait Registry: Send + Sync {
    /// The record of `device`, or `None` if unknown.
    fn device(&self, device: &DeviceId) -> Option<DeviceRecord>;

    /// The registered device whose key has this 8-byte hint (report frames name their
    /// key by hint). Registries must refuse to register two keys with the same hint.
    fn resolve_hint(&self, hint: &KeyHint) -> Option<DeviceId>;
}

impl<R: Registry + ?Sized> Registry for Arc<R> {
    fn device(&self, device: &DeviceId) -> Option<DeviceRecord> {
        (**self).device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Option<DeviceId> {
        (**self).resolve_hint(hint)
    }
}

impl<R: Registry + ?Sized> Registry for &R {
    fn device(&self, device: &DeviceId) -> Option<DeviceRecord> {
        (**self).device(device)
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Option<DeviceId> {
        (**self).resolve_hint(hint)
    }
}

/// An in-memory registry (tests, simulators, small networks).
#[derive(Debug, Clone, Default)]
pub struct MemoryRegistry {
    devices: HashMap<DeviceId, DeviceRecord>,
    hints: HashMap<KeyHint, DeviceId>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register or update a device. Fails if another device's key has the same hint.
    pub fn insert(&mut self, device: DeviceId, record: DeviceRecord) -> Result<()> {
        let hint = device.key_hint();
        match self.hints.get(&hint) {
            Some(other) if *other != device => {
                return Err(Error::Registry("another device has the same key hint"))
            }
            _ => {}
        }
        self.hints.insert(hint, device);
        self.devices.insert(device, record);
        Ok(())
    }

    /// Change a registered device's status; returns `false` if it is unknown.
    pub fn set_status(&mut self, device: &DeviceId, status: DeviceStatus) -> bool {
        match self.devices.get_mut(device) {
            Some(r) => {
                r.status = status;
                true
            }
            None => false,
        }
    }

    /// Number of registered devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no device is registered.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

impl Registry for MemoryRegistry {
    fn device(&self, device: &DeviceId) -> Option<DeviceRecord> {
        self.devices.get(device).copied()
    }
    fn resolve_hint(&self, hint: &KeyHint) -> Option<DeviceId> {
        self.hints.get(hint).copied()
    }
}
