//! Replay protection: a per-device sequence high-water mark with a 128-wide
//! anti-replay bitmap (the sliding window of IPsec, RFC 4303 section 3.4.3), persisted
//! through the [`ReplayStore`] trait.
//!
//! A sequence number above the high-water mark is accepted and moves the window; one
//! within the 128 numbers at or below it is accepted once (reordering is tolerated);
//! anything older, or seen before, is a replay. Frames and envelopes of one device
//! have separate sequence spaces ([`Stream`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use depin_core::{encoding, DeviceId};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Width of the anti-replay window.
pub const REPLAY_WINDOW: u64 = 128;

/// Which sequence space a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Stream {
    /// Report frames (32-bit sequence numbers from the device firmware).
    Frame,
    /// Envelopes (64-bit sequence numbers).
    Envelope,
}

/// Key of one replay window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplayKey {
    /// The device.
    pub device: DeviceId,
    /// Its sequence space.
    pub stream: Stream,
}

/// The state of one window: the highest accepted sequence number and a bitmap of the
/// 128 numbers ending at it (bit `i` set = `top - i` seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplayWindow {
    top: Option<u64>,
    bitmap: u128,
}

impl ReplayWindow {
    /// The highest accepted sequence number, if any.
    pub fn high_water_mark(&self) -> Option<u64> {
        self.top
    }

    /// Whether `seq` would be accepted (no state change).
    pub fn would_accept(&self, seq: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if seq > top => true,
            Some(top) => {
                let diff = top - seq;
                diff < REPLAY_WINDOW && self.bitmap & (1u128 << diff) == 0
            }
        }
    }

    /// Accept `seq` and record it, or return `false` (replay or too old) and change nothing.
    pub fn accept(&mut self, seq: u64) -> bool {
        if !self.would_accept(seq) {
            return false;
        }
        match self.top {
            Some(top) if seq <= top => self.bitmap |= 1u128 << (top - seq),
            Some(top) => {
                let shift = seq - top;
                self.bitmap = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.bitmap << shift
                } | 1;
                self.top = Some(seq);
            }
            None => {
                self.bitmap = 1;
                self.top = Some(seq);
            }
        }
        true
    }
}

/// Where replay windows live between batches and restarts.
///
/// The verifier loads a window, updates it, and saves it, for each item after its
/// signature verified; it calls [`ReplayStore::flush`] at the end of each batch.
pub trait ReplayStore: Send {
    /// The stored window for `key`, if any.
    fn load(&mut self, key: &ReplayKey) -> Result<Option<ReplayWindow>>;
    /// Store the window for `key`.
    fn save(&mut self, key: &ReplayKey, window: &ReplayWindow) -> Result<()>;
    /// Accept `seq` for `key` if the window allows it, recording it; `Ok(false)` for a
    /// replay. The default loads, updates and saves; stores may do it in one step.
    fn check_and_update(&mut self, key: &ReplayKey, seq: u64) -> Result<bool> {
        let mut window = self.load(key)?.unwrap_or_default();
        if !window.accept(seq) {
            return Ok(false);
        }
        self.save(key, &window)?;
        Ok(true)
    }
    /// Make saved windows durable. The default does nothing.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Replay windows in memory (lost on restart).
#[derive(Debug, Clone, Default)]
pub struct MemoryReplayStore {
    windows: HashMap<ReplayKey, ReplayWindow>,
}

impl MemoryReplayStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ReplayStore for MemoryReplayStore {
    fn load(&mut self, key: &ReplayKey) -> Result<Option<ReplayWindow>> {
        Ok(self.windows.get(key).copied())
    }
    fn save(&mut self, key: &ReplayKey, window: &ReplayWindow) -> Result<()> {
        self.windows.insert(*key, *window);
        Ok(())
    }
    fn check_and_update(&mut self, key: &ReplayKey, seq: u64) -> Result<bool> {
        Ok(self.windows.entry(*key).or_default().accept(seq))
    }
}

/// Replay windows in memory, written to one file on [`ReplayStore::flush`] (write to a
/// temporary file, then rename, so a crash leaves the old or the new state, never a mix).
///
/// File format: `postcard(Vec<(ReplayKey, ReplayWindow)>)` sorted by key.
#[derive(Debug, Clone)]
pub struct FileReplayStore {
    path: PathBuf,
    windows: HashMap<ReplayKey, ReplayWindow>,
    dirty: bool,
}

/// Largest replay file accepted when opening (256 MiB).
const MAX_REPLAY_FILE: usize = 256 << 20;

impl FileReplayStore {
    /// Open (or start) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let windows = match std::fs::read(&path) {
            Ok(bytes) => {
                let entries: Vec<(ReplayKey, ReplayWindow)> =
                    encoding::decode(&bytes, MAX_REPLAY_FILE)?;
                entries.into_iter().collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(Error::Io(e)),
        };
        Ok(FileReplayStore {
            path,
            windows,
            dirty: false,
        })
    }
}

impl ReplayStore for FileReplayStore {
    fn load(&mut self, key: &ReplayKey) -> Result<Option<ReplayWindow>> {
        Ok(self.windows.get(key).copied())
    }
    fn save(&mut self, key: &ReplayKey, window: &ReplayWindow) -> Result<()> {
        self.windows.insert(*key, *window);
        self.dirty = true;
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut entries: Vec<(ReplayKey, ReplayWindow)> =
            self.windows.iter().map(|(k, w)| (*k, *w)).collect();
        entries.sort_by_key(|e| e.0);
        let bytes = encoding::encode(&entries)?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}
