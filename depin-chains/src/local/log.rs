//! The append-only, checksummed record log under the local ledger.
//!
//! ```text
//! file   = MAGIC (8 bytes, "DPNLOG01") || record*
//! record = len (u32 little-endian, 1..=MAX_RECORD_LEN)
//!       || crc (u32 little-endian, CRC-32/ISO-HDLC of the 4 len bytes and the payload)
//!       || payload (len bytes)
//! ```
//!
//! A record is committed once `Log::append` returns: the bytes are written with one
//! `write_all` and `fdatasync`ed before the call returns. On open the log is scanned from the
//! start; the first record that is incomplete or fails its checksum ends the scan:
//!
//! * if it reaches the end of the file (a write cut short by a crash, including a partial
//!   header), or everything from it
//!   to the end of the file is zero bytes (a file extended but not written, as after a power
//!   cut), it is a **torn tail**: the file is truncated to the end of the last good record and
//!   synced;
//! * otherwise there are intact-looking bytes after a bad record, which a crash cannot cause
//!   in an append-only file: the open fails with [`Error::Corrupt`] rather than silently
//!   dropping committed records.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// File magic and format version.
pub const MAGIC: &[u8; 8] = b"DPNLOG01";
/// Length of a record header (`len || crc`).
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest accepted record payload: 1 MiB. Longer lengths are treated as damage.
pub const MAX_RECORD_LEN: usize = 1 << 20;

/// What `Log::open` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Payloads of every intact record, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes removed from a torn tail (0 if the file was clean).
    pub truncated_bytes: u64,
}

/// An open log file, holding an exclusive advisory lock on it.
#[derive(Debug)]
pub(crate) struct Log {
    file: File,
    /// Offset of the end of the last committed record.
    end: u64,
}

pub(crate) fn checksum(len_bytes: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

/// Encode one record frame (`len || crc || payload`) as the ledger appends it. Public so that
/// tools and tests can produce valid or deliberately partial records.
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
    let crc = checksum(&len, payload).to_le_bytes();
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Result of scanning log bytes (after the magic).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) records: Vec<Vec<u8>>,
    /// Length of the intact prefix (relative to the start of `bytes`).
    pub(crate) good_len: usize,
}

/// Scan record bytes; `Ok` with the intact prefix if the rest is a torn tail, `Err(Corrupt)` if
/// a bad record is followed by non-zero bytes.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            return Ok(Scan {
                records,
                good_len: pos,
            });
        }
        match parse_record(rest) {
            Some((payload, used)) => {
                records.push(payload.to_vec());
                pos += used;
            }
            None => {
                let torn = rest.len() < RECORD_HEADER_LEN
                    || match declared_end(rest) {
                        // the declared record runs past the end of the file: a cut-short write
                        Some(end) if end >= rest.len() => true,
                        // a complete but damaged record: torn only if nothing but zeros follows
                        _ => rest.iter().all(|&b| b == 0),
                    };
                if torn {
                    return Ok(Scan {
                        records,
                        good_len: pos,
                    });
                }
                return Err(Error::Corrupt(format!(
                    "record {} at byte {} fails its checksum and is followed by more data",
                    records.len(),
                    pos + MAGIC.len()
                )));
            }
        }
    }
}

/// End offset a record header declares, if the header is complete and the length plausible.
fn declared_end(rest: &[u8]) -> Option<usize> {
    let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_le_bytes(len_bytes)).ok()?;
    if len == 0 || len > MAX_RECORD_LEN {
        return None;
    }
    Some(RECORD_HEADER_LEN + len)
}

/// Parse one intact record at the start of `rest`: `(payload, bytes used)`.
fn parse_record(rest: &[u8]) -> Option<(&[u8], usize)> {
    let end = declared_end(rest)?;
    let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let crc_bytes: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
    let payload = rest.get(RECORD_HEADER_LEN..end)?;
    if checksum(&len_bytes, payload) != u32::from_le_bytes(crc_bytes) {
        return None;
    }
    Some((payload, end))
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

impl Log {
    /// Open (or create) the log at `path`, take an exclusive lock, replay it, and repair a torn
    /// tail.
    pub(crate) fn open(path: &Path) -> Result<(Log, OpenReport)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Config(format!(
                    "ledger {} is open in another process",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Storage(e)),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.len() < MAGIC.len() {
            // New file, or a crash while the magic was being written: nothing was committed.
            if !MAGIC.starts_with(&bytes) {
                return Err(Error::Corrupt("not a depin-chains ledger file".into()));
            }
            let truncated = bytes.len() as u64;
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(MAGIC)?;
            file.sync_all()?;
            sync_parent_dir(path)?;
            return Ok((
                Log {
                    file,
                    end: MAGIC.len() as u64,
                },
                OpenReport {
                    records: Vec::new(),
                    truncated_bytes: truncated,
                },
            ));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::Corrupt("not a depin-chains ledger file".into()));
        }
        let scan = scan(&bytes[MAGIC.len()..])?;
        let end = (MAGIC.len() + scan.good_len) as u64;
        let truncated_bytes = bytes.len() as u64 - end;
        if truncated_bytes > 0 {
            file.set_len(end)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(end))?;
        Ok((
            Log { file, end },
            OpenReport {
                records: scan.records,
                truncated_bytes,
            },
        ))
    }

    /// Append one record and fsync. On any failure the file is cut back to the previous end
    /// so that a half-written record can never be followed by a later one.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<()> {
        let bytes = frame(payload)?;
        let result = self
            .file
            .write_all(&bytes)
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

    #[test]
    fn scan_roundtrip() {
        let bytes = log_bytes(&[b"a", b"hello", &[7u8; 300]]);
        let s = scan(&bytes).unwrap_or_else(|_| Scan {
            records: vec![],
            good_len: 0,
        });
        assert_eq!(
            s.records,
            vec![b"a".to_vec(), b"hello".to_vec(), vec![7u8; 300]]
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
    fn flipped_byte_in_last_record_is_torn_and_in_middle_is_corrupt() {
        let full = log_bytes(&[b"first", b"second", b"third"]);
        let last_start = full.len() - frame(b"third").map(|f| f.len()).unwrap_or(0);
        let mut tail = full.clone();
        tail[last_start + 9] ^= 1;
        let s = scan(&tail);
        assert!(matches!(s, Ok(ref s) if s.records.len() == 2));

        let mut middle = full.clone();
        middle[RECORD_HEADER_LEN + 1] ^= 1; // inside "first"
        assert!(matches!(scan(&middle), Err(Error::Corrupt(_))));
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
        }
    }
}
