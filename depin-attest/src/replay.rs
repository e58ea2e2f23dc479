//! Replay protection: a per-device sequence high-water mark with a 128-wide
//! anti-replay bitmap (the sliding window of IPsec, RFC 4303 section 3.4.3), persisted
//! through the [`ReplayStore`] trait.
//!
//! A sequence number above the high-water mark is accepted and moves the window; one
//! within the 128 numbers at or below it is accepted once (reordering is tolerated);
//! anything older, or seen before, is a replay. Frames and envelopes of one device
//! have separate sequence spaces ([`Stream`]).

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
/// 128 numbers ending at it (bit `i` set = `top - i` seen). 24 bytes: an empty window is
/// the one with no bit set (accepting a number always sets bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "WindowRepr", into = "WindowRepr")]
pub struct ReplayWindow {
    top: u64,
    /// The bitmap as two words (low, high), so the window is 8-byte aligned.
    bits: [u64; 2],
}

/// The serialized form of a window (unchanged since the first file format).
#[derive(Serialize, Deserialize)]
struct WindowRepr {
    top: Option<u64>,
    bitmap: u128,
}

impl From<WindowRepr> for ReplayWindow {
    fn from(r: WindowRepr) -> Self {
        match r.top {
            // a stored window without a top has no bits
            None => ReplayWindow::default(),
            // a top was accepted, so its bit is set: a stored form without it (never written,
            // only forged or foreign) keeps its high-water mark instead of reading as empty
            Some(top) => ReplayWindow::from_parts(top, r.bitmap | 1),
        }
    }
}

impl From<ReplayWindow> for WindowRepr {
    fn from(w: ReplayWindow) -> Self {
        WindowRepr {
            top: w.high_water_mark(),
            bitmap: w.bitmap(),
        }
    }
}

impl ReplayWindow {
    fn from_parts(top: u64, bitmap: u128) -> Self {
        ReplayWindow {
            top,
            bits: [bitmap as u64, (bitmap >> 64) as u64],
        }
    }

    fn bitmap(&self) -> u128 {
        u128::from(self.bits[0]) | (u128::from(self.bits[1]) << 64)
    }

    /// The highest accepted sequence number, if any.
    pub fn high_water_mark(&self) -> Option<u64> {
        if self.bits == [0, 0] {
            None
        } else {
            Some(self.top)
        }
    }

    /// Whether `seq` would be accepted (no state change).
    pub fn would_accept(&self, seq: u64) -> bool {
        match self.high_water_mark() {
            None => true,
            Some(top) if seq > top => true,
            Some(top) => {
                let diff = top - seq;
                diff < REPLAY_WINDOW && self.bitmap() & (1u128 << diff) == 0
            }
        }
    }

    /// Accept `seq` and record it, or return `false` (replay or too old) and change nothing.
    pub fn accept(&mut self, seq: u64) -> bool {
        if !self.would_accept(seq) {
            return false;
        }
        let bitmap = self.bitmap();
        *self = match self.high_water_mark() {
            Some(top) if seq <= top => ReplayWindow::from_parts(top, bitmap | 1u128 << (top - seq)),
            Some(top) => {
                let shift = seq - top;
                let moved = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    bitmap << shift
                };
                ReplayWindow::from_parts(seq, moved | 1)
            }
            None => ReplayWindow::from_parts(seq, 1),
        };
        true
    }
}

/// Where replay windows (and the verifier's other security state, the active deny list)
/// live between batches and restarts.
///
/// The verifier calls [`ReplayStore::check_and_update`] for each item whose signature
/// verified, then [`ReplayStore::flush`] once per batch, **before** it accepts anything:
/// an implementation must make every update since the previous flush durable in `flush`
/// (or in `save` itself), and report any failure. If `flush` fails, the verifier calls
/// [`ReplayStore::rollback`], which must forget the updates since the last successful
/// flush, and refuses those items.
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
    /// [`ReplayStore::check_and_update`] for each item, in order: `result[i]` is what the
    /// `i`-th call would have returned after the calls before it (so a number repeated in
    /// the batch is accepted once, at its first place). The verifier calls this once per
    /// batch with the items whose signatures verified. The default makes the calls one by
    /// one; a store may do better as long as the results are the same, as
    /// [`MemoryReplayStore`] does by finding the windows of a large batch on every core
    /// first (with the `parallel` feature) and then updating them in order.
    fn check_and_update_batch(&mut self, items: &[(ReplayKey, u64)]) -> Vec<Result<bool>> {
        items
            .iter()
            .map(|(key, seq)| self.check_and_update(key, *seq))
            .collect()
    }
    /// Make every update since the previous flush durable (fsync where the medium needs
    /// it). The default does nothing, which is right only for stores whose `save` is
    /// durable on return.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// Forget every update since the last successful [`ReplayStore::flush`] (called after
    /// a failed flush). The default does nothing, which is right only for stores whose
    /// `save` is durable on return.
    fn rollback(&mut self) {}
    /// The signed deny list last stored with [`ReplayStore::store_deny_list`], if any.
    fn load_deny_list(&mut self) -> Result<Option<Vec<u8>>>;
    /// Durably store the signed deny list (replacing the previous one) before it takes
    /// effect. Required, not defaulted: a store that forgot it would let a restarted
    /// verifier re-admit denied keys or accept an older list.
    fn store_deny_list(&mut self, signed: &[u8]) -> Result<()>;
    /// Bytes of memory the store holds for its windows, if it knows (for
    /// [`crate::Verifier::memory`]). Default: `None`.
    fn memory_bytes(&self) -> Option<usize> {
        None
    }
}

/// Replay windows in memory (lost on restart; clones share nothing). Dense: 64 bytes per
/// window plus its index slot.
#[derive(Debug, Clone, Default)]
pub struct MemoryReplayStore {
    windows: crate::table::DenseMap<ReplayKey, ReplayWindow>,
    deny_list: Option<Vec<u8>>,
}

impl MemoryReplayStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with room for `windows` windows (one per device and stream in use)
    /// before it reallocates: an oracle that knows its fleet avoids growth pauses.
    pub fn with_capacity(windows: usize) -> Self {
        MemoryReplayStore {
            windows: crate::table::DenseMap::with_capacity(windows),
            deny_list: None,
        }
    }

    /// Number of windows held.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no window is held.
    pub fn is_empty(&self) -> bool {
        self.windows.len() == 0
    }
}

impl ReplayStore for MemoryReplayStore {
    fn load(&mut self, key: &ReplayKey) -> Result<Option<ReplayWindow>> {
        Ok(self.windows.get(key).copied())
    }
    fn save(&mut self, key: &ReplayKey, window: &ReplayWindow) -> Result<()> {
        if self.windows.insert(*key, *window) {
            Ok(())
        } else {
            Err(Error::Store("memory replay store is full".into()))
        }
    }
    fn check_and_update(&mut self, key: &ReplayKey, seq: u64) -> Result<bool> {
        match self.windows.get_or_insert_with(*key, ReplayWindow::default) {
            Some(w) => Ok(w.accept(seq)),
            None => Err(Error::Store("memory replay store is full".into())),
        }
    }
    fn check_and_update_batch(&mut self, items: &[(ReplayKey, u64)]) -> Vec<Result<bool>> {
        // Finding a window is a hash probe into a table larger than the caches; updating it
        // is a few instructions. The probes are read-only, so they run on every core; the
        // updates then run in order on the positions found. A key absent when probed (a new
        // device, possibly twice in the batch) is inserted in order, as one call would.
        // Positions stay valid: the table only ever appends.
        let positions = self.windows.positions(items.iter().map(|(key, _)| key));
        items
            .iter()
            .zip(positions)
            .map(|((key, seq), position)| {
                let window = match position {
                    Some(i) => self.windows.value_at_mut(i),
                    None => self.windows.get_or_insert_with(*key, ReplayWindow::default),
                };
                match window {
                    Some(w) => Ok(w.accept(*seq)),
                    None => Err(Error::Store("memory replay store is full".into())),
                }
            })
            .collect()
    }
    fn load_deny_list(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.deny_list.clone())
    }
    fn store_deny_list(&mut self, signed: &[u8]) -> Result<()> {
        self.deny_list = Some(signed.to_vec());
        Ok(())
    }
    fn memory_bytes(&self) -> Option<usize> {
        Some(self.windows.memory_bytes())
    }
}

/// Replay windows in memory, written to one file on [`ReplayStore::flush`], durably:
/// the new state goes to a temporary file, which is fsynced, renamed over the old one, and
/// the directory is fsynced, so a crash (even `kill -9` or power loss) leaves the old or
/// the new state, never a mix, and a flush that returned `Ok` survives it.
///
/// The store holds an exclusive lock (`<path>.lock`, an OS file lock released when the
/// store is dropped or the process dies): a second store on the same path, in this
/// process or another, is refused with [`Error::Locked`].
///
/// File format (all integers little-endian):
///
/// ```text
/// magic    b"DRRS"          4 bytes
/// version  1                1 byte
/// length   u64              8 bytes: length of the body
/// body     postcard((Vec<(ReplayKey, ReplayWindow)> sorted by key, Option<Vec<u8>> deny list))
/// checksum SHA-256(magic || version || length || body)   32 bytes
/// ```
///
/// A file that fails any of these checks is [`Error::Corrupt`] and is never loaded or
/// overwritten silently.
#[derive(Debug)]
pub struct FileReplayStore {
    path: PathBuf,
    windows: crate::FastMap<ReplayKey, ReplayWindow>,
    deny_list: Option<Vec<u8>>,
    /// Previous values of windows changed since the last successful flush.
    undo: crate::FastMap<ReplayKey, Option<ReplayWindow>>,
    dirty: bool,
    /// Set when a write failed after the rename: the file may hold state the memory does
    /// not, so the store refuses to write again until it is reopened.
    poisoned: bool,
    _lock: std::fs::File,
}

/// Largest replay file accepted when opening (256 MiB).
const MAX_REPLAY_FILE: usize = 256 << 20;
const FILE_MAGIC: &[u8; 4] = b"DRRS";
const FILE_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 8;
const CHECKSUM_LEN: usize = 32;

type FileBody = (Vec<(ReplayKey, ReplayWindow)>, Option<Vec<u8>>);

fn checksum(header_and_body: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(header_and_body).into()
}

use sha2::Digest as _;

impl FileReplayStore {
    /// Open (or start) the store at `path`, taking its lock.
    ///
    /// Errors: [`Error::Locked`] if another store holds it, [`Error::Corrupt`] if the file
    /// fails its integrity checks, [`Error::Io`] for file-system errors.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = canonical_store_path(path.as_ref())?;
        let lock_path = sibling(&path, ".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path,
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        let (entries, deny_list) = match std::fs::read(&path) {
            Ok(bytes) => decode_file(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(e) => return Err(Error::Io(e)),
        };
        Ok(FileReplayStore {
            path,
            windows: entries.into_iter().collect(),
            deny_list,
            undo: crate::FastMap::default(),
            dirty: false,
            poisoned: false,
            _lock: lock,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_durably(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Store(format!(
                "{}: an earlier write failed after its rename; reopen the store",
                self.path.display()
            )));
        }
        let mut entries: Vec<(ReplayKey, ReplayWindow)> =
            self.windows.iter().map(|(k, w)| (*k, *w)).collect();
        entries.sort_by_key(|e| e.0);
        let body: FileBody = (entries, self.deny_list.clone());
        let body = encoding::encode(&body)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + CHECKSUM_LEN);
        bytes.extend_from_slice(FILE_MAGIC);
        bytes.push(FILE_VERSION);
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        if bytes.len() > MAX_REPLAY_FILE {
            // refuse now rather than write a file `open` would reject
            return Err(Error::Store(format!(
                "{}: state of {} bytes exceeds the 256 MiB store limit",
                self.path.display(),
                bytes.len()
            )));
        }

        let tmp = sibling(&self.path, ".tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Err(e) = sync_dir(&self.path) {
            self.poisoned = true;
            return Err(e);
        }
        Ok(())
    }
}

/// The store path with its directory resolved (symlinks and `..` removed), so that two
/// spellings of one file share one lock. The file itself may not exist yet.
fn canonical_store_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or(Error::Config("store path has no file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir)?;
    let joined = dir.join(name);
    // a symlinked store file is resolved too
    Ok(std::fs::canonicalize(&joined).unwrap_or(joined))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.to_path_buf().into_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// fsync the directory holding `path`, so a rename into it is durable.
fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn decode_file(path: &Path, bytes: &[u8]) -> Result<FileBody> {
    let corrupt = |reason| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() > MAX_REPLAY_FILE {
        return Err(corrupt("larger than the 256 MiB limit"));
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(corrupt("shorter than its header and checksum"));
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    if &header[..4] != FILE_MAGIC {
        return Err(corrupt("bad magic (not a depin-rs replay store)"));
    }
    if header[4] != FILE_VERSION {
        return Err(corrupt("unknown format version"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[5..13]);
    let len = u64::from_le_bytes(len);
    if len != (rest.len() - CHECKSUM_LEN) as u64 {
        return Err(corrupt("length field does not match the file size"));
    }
    let (body, sum) = rest.split_at(rest.len() - CHECKSUM_LEN);
    if checksum(&bytes[..bytes.len() - CHECKSUM_LEN]) != sum {
        return Err(corrupt("checksum mismatch"));
    }
    let decoded: FileBody =
        encoding::decode(body, MAX_REPLAY_FILE).map_err(|_| corrupt("body does not decode"))?;
    if decoded.0.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(corrupt("entries not sorted or duplicated"));
    }
    Ok(decoded)
}

impl ReplayStore for FileReplayStore {
    fn load(&mut self, key: &ReplayKey) -> Result<Option<ReplayWindow>> {
        Ok(self.windows.get(key).copied())
    }
    fn save(&mut self, key: &ReplayKey, window: &ReplayWindow) -> Result<()> {
        let previous = self.windows.insert(*key, *window);
        self.undo.entry(*key).or_insert(previous);
        self.dirty = true;
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.write_durably()?;
        self.undo.clear();
        self.dirty = false;
        Ok(())
    }
    fn rollback(&mut self) {
        for (key, previous) in self.undo.drain() {
            match previous {
                Some(w) => self.windows.insert(key, w),
                None => self.windows.remove(&key),
            };
        }
        self.dirty = false;
    }
    fn load_deny_list(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(self.deny_list.clone())
    }
    fn store_deny_list(&mut self, signed: &[u8]) -> Result<()> {
        let previous = self.deny_list.replace(signed.to_vec());
        if let Err(e) = self.write_durably() {
            self.deny_list = previous;
            return Err(e);
        }
        // the write also made the pending windows durable
        self.undo.clear();
        self.dirty = false;
        Ok(())
    }
}
