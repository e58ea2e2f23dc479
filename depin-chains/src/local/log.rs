//! The append-only, checksummed record log under the local ledger.
//!
//! ```text
//! file   = MAGIC (8 bytes, "DPNLOG02") || record*
//! record = tag      (4 bytes, "DPNR")
//!       || len      (u32 little-endian, 1..=MAX_RECORD_LEN)
//!       || body_crc (u32 little-endian, CRC-32/ISO-HDLC of the payload)
//!       || head_crc (u32 little-endian, CRC-32/ISO-HDLC of the 12 bytes tag || len || body_crc)
//!       || payload  (len bytes)
//! ```
//!
//! Version 2 of the format (version 1, `"DPNLOG01"`, had one CRC over length and payload and
//! no record tag) gives every record header its own checksum, so a damaged length field is
//! recognised as damage instead of being taken for a write cut short.
//!
//! A record is committed once `Log::append` returns: the bytes are written with one
//! `write_all` and `fdatasync`ed before the call returns, and only then is the next record
//! written. A crash can therefore tear at most the **last record**, and at most one record's
//! worth of bytes ([`MAX_FRAME_LEN`]). On open the log is scanned from the start. The first
//! record that is not intact ends the scan, and only a torn final record is repaired (the file
//! is truncated to the end of the last intact record and synced):
//!
//! * fewer bytes than a header remain, and they are a prefix of a record tag or all zero (a
//!   header cut short);
//! * the header is intact (tag and header checksum) and its payload runs to or past the end of
//!   the file (a payload cut short, or never flushed);
//! * the header is intact, the payload complete but failing its checksum, and **nothing**
//!   follows it (a payload partly persisted, for example with zeros where data never reached
//!   the disk);
//! * the header is damaged, no intact record starts anywhere after it, at most
//!   [`MAX_FRAME_LEN`] bytes remain, and everything after the first header bytes is zero (a
//!   header partly persisted when the power went), or everything from it to the end of the
//!   file is zero (a file extended but never written).
//!
//! Anything else is damage that a crash of an append-only writer cannot cause: a damaged
//! header followed by an intact record, a complete record failing its checksum followed by any
//! bytes, a zero-filled or damaged tail longer than one record can be, trailing bytes that
//! cannot begin a record, and a file with bytes after the magic but no intact record at all
//! (every committed record lost, including the genesis: the ledger is not silently started
//! again under a new ledger id). The open then fails with [`Error::Corrupt`] naming the byte
//! offset of the damaged record and leaves the file untouched, rather than dropping committed
//! records.
//!
//! What remains indistinguishable: a zero-filled end of at most [`MAX_FRAME_LEN`] bytes that
//! starts exactly at a record boundary looks like a last record that never reached the disk,
//! and is repaired as one.
//!
//! A repair is reported in [`OpenReport::truncated_bytes`]
//! (`super::LocalLedger::open_with_report`) and kept by the ledger
//! (`super::LocalLedger::torn_bytes_repaired`), so callers can log it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// File magic and format version.
pub const MAGIC: &[u8; 8] = b"DPNLOG02";
/// Magic of the previous format version, refused with a clear error.
pub const MAGIC_V1: &[u8; 8] = b"DPNLOG01";
/// The 4 bytes every record starts with.
pub const RECORD_TAG: &[u8; 4] = b"DPNR";
/// Length of a record header (`tag || len || body_crc || head_crc`).
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest accepted record payload: 1 MiB. Longer lengths are treated as damage.
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// Largest record frame (header and payload): the most a crash can tear, and so the longest
/// tail an open repairs. A longer damaged or zero-filled tail is [`Error::Corrupt`].
pub const MAX_FRAME_LEN: usize = RECORD_HEADER_LEN + MAX_RECORD_LEN;

/// What `Log::open` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Payloads of every intact record, in order.
    pub records: Vec<Vec<u8>>,
    /// File offset of each record in `records` (where its header starts).
    pub offsets: Vec<u64>,
    /// Bytes removed from a torn tail when the file was opened (0 if it was clean), at most
    /// [`MAX_FRAME_LEN`].
    /// [`super::LocalLedger::open`] does not log a repair; log a non-zero value here (or
    /// [`super::LocalLedger::torn_bytes_repaired`]) to make it visible.
    pub truncated_bytes: u64,
}

/// An open log file, holding an exclusive advisory lock on it.
#[derive(Debug)]
pub(crate) struct Log {
    file: File,
    /// Offset of the end of the last committed record.
    end: u64,
}

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Encode one record frame (`tag || len || body_crc || head_crc || payload`) as the ledger
/// appends it. Public so that tools and tests can produce valid or deliberately partial
/// records.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    if payload.is_empty() || payload.len() > MAX_RECORD_LEN {
        return Err(Error::InvalidInput(format!(
            "record payload of {} bytes (allowed 1..={MAX_RECORD_LEN})",
            payload.len()
        )));
    }
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::InvalidInput("record too long".into()))?
        .to_le_bytes();
    let body_crc = crc(&[payload]).to_le_bytes();
    let head_crc = crc(&[RECORD_TAG, &len, &body_crc]).to_le_bytes();
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(RECORD_TAG);
    out.extend_from_slice(&len);
    out.extend_from_slice(&body_crc);
    out.extend_from_slice(&head_crc);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Result of scanning log bytes (after the magic).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) records: Vec<Vec<u8>>,
    /// Start of each record, relative to the start of the scanned bytes.
    pub(crate) starts: Vec<usize>,
    /// Length of the intact prefix (relative to the start of `bytes`).
    pub(crate) good_len: usize,
}

/// Why the bytes at some position are not an intact record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// Fewer than [`RECORD_HEADER_LEN`] bytes remain.
    ShortHeader,
    /// The tag or the header checksum is wrong, or the length is out of range.
    Header,
    /// An intact header whose payload runs past the end of the bytes.
    ShortPayload,
    /// An intact header and a complete payload that fails its checksum; `end` is where the
    /// record ends (relative to its start).
    Payload { end: usize },
}

/// The intact header at the start of `rest`: `(payload length, body checksum)`.
fn parse_header(rest: &[u8]) -> core::result::Result<(usize, u32), Bad> {
    let header = rest.get(..RECORD_HEADER_LEN).ok_or(Bad::ShortHeader)?;
    let word = |i: usize| -> core::result::Result<[u8; 4], Bad> {
        header
            .get(i..i + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .ok_or(Bad::ShortHeader)
    };
    let (tag, len, body_crc, head_crc) = (word(0)?, word(4)?, word(8)?, word(12)?);
    if &tag != RECORD_TAG || crc(&[&tag, &len, &body_crc]) != u32::from_le_bytes(head_crc) {
        return Err(Bad::Header);
    }
    let len = usize::try_from(u32::from_le_bytes(len)).map_err(|_| Bad::Header)?;
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(Bad::Header);
    }
    Ok((len, u32::from_le_bytes(body_crc)))
}

/// Parse one intact record at the start of `rest`: `(payload, bytes used)`.
fn parse_record(rest: &[u8]) -> core::result::Result<(&[u8], usize), Bad> {
    let (len, body_crc) = parse_header(rest)?;
    let end = RECORD_HEADER_LEN + len;
    let payload = rest.get(RECORD_HEADER_LEN..end).ok_or(Bad::ShortPayload)?;
    if crc(&[payload]) != body_crc {
        return Err(Bad::Payload { end });
    }
    Ok((payload, end))
}

/// The first position after `from` (relative to `rest`) where an intact record starts.
fn next_intact_record(rest: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + RECORD_HEADER_LEN <= rest.len() {
        // cheap pre-filter on the tag before any checksum
        if rest.get(i..i + RECORD_TAG.len()) == Some(RECORD_TAG.as_slice()) {
            if let Some(candidate) = rest.get(i..) {
                if parse_record(candidate).is_ok() {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// `true` if `bytes` could be the first bytes of a record header: a prefix of the tag (as far
/// as the tag goes), or all zero.
fn looks_like_header_start(bytes: &[u8]) -> bool {
    let n = bytes.len().min(RECORD_TAG.len());
    bytes.get(..n) == RECORD_TAG.get(..n) || bytes.iter().all(|&b| b == 0)
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Decide what the non-intact bytes `rest` (starting at the first bad record) are:
/// `Ok(())` for a torn final record, `Err(reason)` for damage.
fn classify_tail(rest: &[u8], bad: Bad) -> core::result::Result<(), String> {
    match bad {
        Bad::ShortHeader => {
            if looks_like_header_start(rest) {
                Ok(())
            } else {
                Err(format!(
                    "{} trailing bytes that cannot begin a record",
                    rest.len()
                ))
            }
        }
        // an intact header vouches for the length: the record runs to the end of the file, so
        // nothing can follow it
        Bad::ShortPayload => Ok(()),
        // each record is synced before the next is written: a torn record is the last thing
        // in the file, so any byte after it (zero or not) means damage, not a torn write
        Bad::Payload { end } => {
            let after = rest.get(end..).unwrap_or_default();
            if after.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "payload checksum mismatch, and {} more bytes follow the record",
                    after.len()
                ))
            }
        }
        Bad::Header => {
            if rest.len() > MAX_FRAME_LEN {
                return Err(format!(
                    "damaged record header followed by {} more bytes, more than one record \
                     (at most {MAX_FRAME_LEN} bytes) a crash can tear",
                    rest.len().saturating_sub(RECORD_HEADER_LEN)
                ));
            }
            if let Some(next) = next_intact_record(rest, 1) {
                return Err(format!(
                    "damaged record header, and an intact record follows {next} bytes later"
                ));
            }
            if all_zero(rest) {
                return Ok(());
            }
            // a header persisted only in part: its first bytes, then zeros to the end
            let last_non_zero = rest.iter().rposition(|&b| b != 0).unwrap_or(0);
            if last_non_zero < RECORD_HEADER_LEN
                && looks_like_header_start(rest.get(..=last_non_zero).unwrap_or_default())
            {
                return Ok(());
            }
            Err(format!(
                "damaged record header followed by {} more bytes",
                rest.len().saturating_sub(RECORD_HEADER_LEN)
            ))
        }
    }
}

/// Scan record bytes (everything after the magic); `Ok` with the intact prefix if the rest is
/// a torn final record, `Err(Corrupt)` naming the file offset of the damaged record otherwise.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan> {
    let mut records = Vec::new();
    let mut starts = Vec::new();
    let mut pos = 0usize;
    while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
        match parse_record(rest) {
            Ok((payload, used)) => {
                records.push(payload.to_vec());
                starts.push(pos);
                pos += used;
            }
            Err(bad) => {
                return match classify_tail(rest, bad) {
                    Ok(()) => Ok(Scan {
                        records,
                        starts,
                        good_len: pos,
                    }),
                    Err(reason) => Err(Error::Corrupt(format!(
                        "record {} at byte {}: {reason}",
                        records.len(),
                        pos + MAGIC.len()
                    ))),
                };
            }
        }
    }
    Ok(Scan {
        records,
        starts,
        good_len: pos,
    })
}

fn sync_parent_dir(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        let dir = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // Directories can be opened and fsynced on Unix; elsewhere this is best effort.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Open (or create) the file at `path` without changing it and take its exclusive lock.
fn open_locked(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config(format!(
            "ledger {} is open in another process",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Storage(e)),
    }
}

/// Replace the whole content of a locked file with the magic, durably.
fn reset_to_magic(file: &mut File, path: &Path) -> Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(MAGIC)?;
    file.sync_all()?;
    sync_parent_dir(path)
}

impl Log {
    /// Open (or create) the log at `path`, take an exclusive lock, replay it, and repair a torn
    /// final record. Damage anywhere else is [`Error::Corrupt`] and the file is not modified.
    pub(crate) fn open(path: &Path) -> Result<(Log, OpenReport)> {
        let mut file = open_locked(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.len() < MAGIC.len() {
            // New file, or a crash while the magic was being written: nothing was committed.
            if !MAGIC.starts_with(&bytes) {
                return Err(Error::Corrupt(format!(
                    "{} is not a depin-chains ledger file",
                    path.display()
                )));
            }
            let truncated = bytes.len() as u64;
            reset_to_magic(&mut file, path)?;
            return Ok((
                Log {
                    file,
                    end: MAGIC.len() as u64,
                },
                OpenReport {
                    records: Vec::new(),
                    offsets: Vec::new(),
                    truncated_bytes: truncated,
                },
            ));
        }
        let (magic, body) = bytes.split_at(MAGIC.len());
        if magic == MAGIC_V1.as_slice() {
            return Err(Error::Config(format!(
                "ledger {} uses file format version 1 (DPNLOG01), which has no ledger id and \
                 cannot tell a damaged length field from a torn write; this version reads \
                 format 2 only: start a new ledger",
                path.display()
            )));
        }
        if magic != MAGIC.as_slice() {
            return Err(Error::Corrupt(format!(
                "{} is not a depin-chains ledger file",
                path.display()
            )));
        }
        let scan = scan(body)?;
        if scan.records.is_empty() && !body.is_empty() {
            // Not even the genesis record is intact. The genesis is synced before `open`
            // returns, so this is a ledger whose records were lost (zeroed, say) or one whose
            // creation was cut short; either way starting a new ledger (a new ledger id) in
            // its place would hide it.
            return Err(Error::Corrupt(format!(
                "{}: {} bytes after the magic but no intact record, not even the genesis: the \
                 ledger's records were lost or its creation was interrupted; refusing to start \
                 a new ledger in its place (LocalLedger::replace does that deliberately)",
                path.display(),
                body.len()
            )));
        }
        let end = (MAGIC.len() + scan.good_len) as u64;
        let truncated_bytes = bytes.len() as u64 - end;
        if truncated_bytes > 0 {
            file.set_len(end)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(end))?;
        let offsets = scan
            .starts
            .iter()
            .map(|s| (MAGIC.len() + s) as u64)
            .collect();
        Ok((
            Log { file, end },
            OpenReport {
                records: scan.records,
                offsets,
                truncated_bytes,
            },
        ))
    }

    /// Create an empty log at `path`, replacing the ledger the file held, but only once its
    /// exclusive lock is held: a ledger another process has open is never touched
    /// ([`Error::Config`]), and neither is a file that does not start like a ledger (either
    /// format version). The report's `truncated_bytes` is the length of the old content.
    pub(crate) fn create_replacing(path: &Path) -> Result<(Log, OpenReport)> {
        let mut file = open_locked(path)?;
        let mut head = Vec::with_capacity(MAGIC.len());
        (&file).take(MAGIC.len() as u64).read_to_end(&mut head)?;
        if !(MAGIC.starts_with(&head) || MAGIC_V1.starts_with(&head)) {
            return Err(Error::Config(format!(
                "{} is not a depin-chains ledger file; refusing to replace it",
                path.display()
            )));
        }
        let old_len = file.metadata()?.len();
        reset_to_magic(&mut file, path)?;
        Ok((
            Log {
                file,
                end: MAGIC.len() as u64,
            },
            OpenReport {
                records: Vec::new(),
                offsets: Vec::new(),
                truncated_bytes: old_len,
            },
        ))
    }

    /// Append one already framed record ([`frame`]) and fsync. On any failure the file is cut
    /// back to the previous end so that a half-written record can never be followed by a
    /// later one.
    pub(crate) fn append_frame(&mut self, bytes: &[u8]) -> Result<()> {
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.end += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort rollback; if even this fails, the next open treats the partial
                // record as a torn tail (it is the last thing in the file).
                let _ = self.file.set_len(self.end);
                let _ = self.file.seek(SeekFrom::Start(self.end));
                Err(Error::Storage(e))
            }
        }
    }

    /// Committed length of the file in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_bytes(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            out.extend_from_slice(&frame(p).unwrap_or_default());
        }
        out
    }

    fn empty_scan() -> Scan {
        Scan {
            records: vec![],
            starts: vec![],
            good_len: 0,
        }
    }

    #[test]
    fn scan_roundtrip() {
        let bytes = log_bytes(&[b"a", b"hello", &[7u8; 300]]);
        let s = scan(&bytes).unwrap_or_else(|_| empty_scan());
        assert_eq!(
            s.records,
            vec![b"a".to_vec(), b"hello".to_vec(), vec![7u8; 300]]
        );
        assert_eq!(
            s.starts,
            vec![0, RECORD_HEADER_LEN + 1, 2 * RECORD_HEADER_LEN + 6]
        );
        assert_eq!(s.good_len, bytes.len());
    }

    #[test]
    fn every_truncation_of_the_last_record_is_a_torn_tail() {
        let full = log_bytes(&[b"first", b"second record"]);
        let first_len = frame(b"first").map(|f| f.len()).unwrap_or(0);
        for cut in first_len..full.len() {
            let s = scan(&full[..cut]);
            assert!(s.is_ok(), "cut at {cut}");
            if let Ok(s) = s {
                assert_eq!(s.records, vec![b"first".to_vec()], "cut at {cut}");
                assert_eq!(s.good_len, first_len);
            }
        }
    }

    #[test]
    fn flipped_payload_byte_in_last_record_is_torn_and_in_middle_is_corrupt() {
        let full = log_bytes(&[b"first", b"second", b"third"]);
        let last_start = full.len() - frame(b"third").map(|f| f.len()).unwrap_or(0);
        let mut tail = full.clone();
        tail[last_start + RECORD_HEADER_LEN + 1] ^= 1;
        let s = scan(&tail);
        assert!(matches!(s, Ok(ref s) if s.records.len() == 2));

        let mut middle = full.clone();
        middle[RECORD_HEADER_LEN + 1] ^= 1; // inside "first"
        assert!(
            matches!(scan(&middle), Err(Error::Corrupt(ref m)) if m.contains(&format!("at byte {}", MAGIC.len())))
        );
    }

    #[test]
    fn damaged_length_of_a_middle_record_is_corrupt_even_when_it_points_past_the_end() {
        let full = log_bytes(&[b"first", b"second", b"third"]);
        let second = frame(b"first").map(|f| f.len()).unwrap_or(0);
        for value in [u32::MAX, 1 << 19, 4096, 200, 3, 0] {
            let mut bytes = full.clone();
            bytes[second + 4..second + 8].copy_from_slice(&value.to_le_bytes());
            let r = scan(&bytes);
            assert!(
                matches!(r, Err(Error::Corrupt(ref m)) if m.contains(&format!("record 1 at byte {}", second + MAGIC.len()))),
                "length {value}: {r:?}"
            );
        }
    }

    #[test]
    fn zero_filled_tail_is_torn() {
        let mut bytes = log_bytes(&[b"first"]);
        let good = bytes.len();
        bytes.extend_from_slice(&[0u8; 4096]);
        let s = scan(&bytes);
        assert!(matches!(s, Ok(ref s) if s.records.len() == 1 && s.good_len == good));
    }

    #[test]
    fn partly_persisted_header_then_zeros_is_torn_but_garbage_is_corrupt() {
        let mut bytes = log_bytes(&[b"first"]);
        let good = bytes.len();
        let next = frame(b"second").unwrap_or_default();
        bytes.extend_from_slice(&next[..7]);
        bytes.extend_from_slice(&[0u8; 64]);
        assert!(matches!(scan(&bytes), Ok(ref s) if s.good_len == good));

        let mut garbage = log_bytes(&[b"first"]);
        garbage.extend_from_slice(b"not a record");
        assert!(matches!(scan(&garbage), Err(Error::Corrupt(_))));
    }

    #[test]
    fn bad_payload_is_torn_only_when_nothing_follows_it() {
        let mut bytes = log_bytes(&[b"first", b"second"]);
        let good = frame(b"first").map(|f| f.len()).unwrap_or(0);
        let n = bytes.len();
        // the last payload half zero (never reached the disk), nothing after it: torn
        bytes[n - 3..].fill(0);
        assert!(matches!(scan(&bytes), Ok(ref s) if s.good_len == good && s.records.len() == 1));
        // the same record followed by zeros, or by anything else: damage
        for tail in [vec![0u8; 1], vec![0u8; 4096], b"x".to_vec()] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(&tail);
            assert!(
                matches!(scan(&longer), Err(Error::Corrupt(ref m)) if m.contains(&format!("record 1 at byte {}", good + MAGIC.len()))),
                "tail of {} bytes",
                tail.len()
            );
        }
    }

    #[test]
    fn zero_tail_is_torn_up_to_one_frame_and_corrupt_beyond() {
        let mut bytes = log_bytes(&[b"first"]);
        let good = bytes.len();
        bytes.resize(good + MAX_FRAME_LEN, 0);
        assert!(matches!(scan(&bytes), Ok(ref s) if s.good_len == good));
        bytes.push(0);
        assert!(
            matches!(scan(&bytes), Err(Error::Corrupt(ref m)) if m.contains("record 1 at byte"))
        );

        // a partly persisted header followed by more zeros than one record can hold
        let mut partial = log_bytes(&[b"first"]);
        let next = frame(b"second").unwrap_or_default();
        partial.extend_from_slice(&next[..6]);
        partial.resize(good + MAX_FRAME_LEN, 0);
        assert!(scan(&partial).is_ok());
        partial.push(0);
        assert!(matches!(scan(&partial), Err(Error::Corrupt(_))));
    }

    #[test]
    fn frame_refuses_empty_and_oversized() {
        assert!(frame(b"").is_err());
        assert!(frame(&vec![0u8; MAX_RECORD_LEN + 1]).is_err());
        assert!(frame(&vec![0u8; MAX_RECORD_LEN]).is_ok());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = scan(&bytes);
            }

            /// A valid log cut anywhere scans to exactly the records that are complete before
            /// the cut: never an error, never a partial record.
            #[test]
            fn any_prefix_of_a_valid_log_scans_to_its_complete_records(
                payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 1..8),
                cut_frac in 0u32..=1000,
            ) {
                let mut bytes = Vec::new();
                let mut ends = Vec::new();
                for p in &payloads {
                    bytes.extend_from_slice(&frame(p).unwrap_or_default());
                    ends.push(bytes.len());
                }
                let cut = bytes.len() * cut_frac as usize / 1000;
                let complete = ends.iter().filter(|&&e| e <= cut).count();
                let s = scan(&bytes[..cut]);
                prop_assert!(s.is_ok());
                if let Ok(s) = s {
                    prop_assert_eq!(s.records.len(), complete);
                    prop_assert_eq!(&s.records[..], &payloads[..complete]);
                    prop_assert_eq!(s.good_len, if complete == 0 { 0 } else { ends[complete - 1] });
                }
            }

            /// One flipped byte anywhere but in the last record is always `Corrupt` at the
            /// damaged record; in the last record it is `Corrupt` or drops exactly that record.
            #[test]
            fn one_flipped_byte_never_drops_an_earlier_record(
                payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 2..8),
                at in any::<usize>(),
                mask in 1u8..=255,
            ) {
                let mut bytes = Vec::new();
                let mut starts = Vec::new();
                for p in &payloads {
                    starts.push(bytes.len());
                    bytes.extend_from_slice(&frame(p).unwrap_or_default());
                }
                let at = at % bytes.len();
                bytes[at] ^= mask;
                let damaged = starts.iter().rposition(|&s| s <= at).unwrap_or(0);
                let last = payloads.len() - 1;
                match scan(&bytes) {
                    Ok(s) => {
                        prop_assert_eq!(damaged, last, "repaired damage in record {}", damaged);
                        prop_assert_eq!(&s.records[..], &payloads[..last]);
                    }
                    Err(Error::Corrupt(m)) => {
                        let needle = format!("record {damaged} at byte {}", starts[damaged] + MAGIC.len());
                        prop_assert!(m.contains(&needle), "{} does not name {}", m, needle);
                    }
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
        }
    }
}
