//! Torn-tail repair is bounded by what a crash can do: each record is synced before the next
//! is written, so a crash tears at most the last record, at most one frame long. Zeroed pages,
//! zeroed ends longer than that and a file with nothing intact after the magic are `Corrupt`
//! and the file is left untouched; a genuinely torn last record is still repaired, visibly.

use std::path::Path;

use depin_chains::local::{log, Entry, LocalLedger};
use depin_chains::{ClaimFormat, Error};

use crate::common::*;

fn g() -> depin_chains::local::Genesis {
    genesis(ClaimFormat::OpenZeppelin)
}

/// A ledger holding `n` notes of `size` bytes; returns its bytes and every record's offset
/// (genesis first).
fn ledger_of_notes(path: &Path, n: usize, size: usize) -> (Vec<u8>, Vec<u64>) {
    let ledger = open(path, g());
    for i in 0..n {
        ledger.append_note(&vec![i as u8 + 1; size]).unwrap();
    }
    drop(ledger);
    let (ledger, report) = LocalLedger::open_with_report(path, g()).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.offsets.len(), n + 1);
    drop(ledger);
    (std::fs::read(path).unwrap(), report.offsets)
}

/// Write `damaged`, open it, and check the open is `Corrupt` and left the file as it was.
fn assert_refused(path: &Path, damaged: &[u8], what: &str) {
    std::fs::write(path, damaged).unwrap();
    match LocalLedger::open_with_report(path, g()) {
        Err(Error::Corrupt(_)) => {}
        Err(e) => panic!("{what}: unexpected error {e}"),
        Ok((l, report)) => panic!(
            "{what}: opened with {} entries after cutting {} bytes",
            l.len().unwrap(),
            report.truncated_bytes
        ),
    }
    assert!(
        std::fs::read(path).unwrap() == damaged,
        "{what}: a refused open changed the file"
    );
}

#[test]
fn a_zeroed_4k_page_in_the_middle_is_corrupt_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let (good, offsets) = ledger_of_notes(&path, 60, 500);
    let last = *offsets.last().unwrap() as usize;
    assert!(good.len() > 5 * 4096);
    // every page-aligned 4 KiB page that ends before the last record (so committed records
    // follow it), the page holding the magic and the genesis included
    let mut pages = 0;
    let mut page = 0;
    while page + 4096 <= last {
        let mut damaged = good.clone();
        damaged[page..page + 4096].fill(0);
        assert_refused(&path, &damaged, &format!("page at {page}"));
        pages += 1;
        page += 4096;
    }
    assert!(pages >= 4, "{pages} pages tested");
    // a page that is not page-aligned, too
    let mut damaged = good.clone();
    damaged[1000..1000 + 4096].fill(0);
    assert_refused(&path, &damaged, "page at 1000");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(open(&path, g()).len().unwrap(), 60);
}

#[test]
fn zeros_from_the_middle_of_a_record_to_the_end_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let (good, offsets) = ledger_of_notes(&path, 8, 300);
    let n = offsets.len();
    let end_of = |i: usize| {
        offsets
            .get(i + 1)
            .map(|&o| o as usize)
            .unwrap_or(good.len())
    };
    // every record but the last (genesis included): from its first payload byte, the middle
    // of its payload and its last byte to the end of the file
    for (k, &offset) in offsets.iter().enumerate().take(n - 1) {
        let start = offset as usize;
        let end = end_of(k);
        for from in [start + log::RECORD_HEADER_LEN, (start + end) / 2, end - 1] {
            let mut damaged = good.clone();
            damaged[from..].fill(0);
            assert_refused(
                &path,
                &damaged,
                &format!("record {k}, zeros from byte {from}"),
            );
        }
    }
    std::fs::write(&path, &good).unwrap();
    assert_eq!(open(&path, g()).len().unwrap(), 8);
}

#[test]
fn zeros_from_a_record_boundary_longer_than_one_frame_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    // three notes of 600 KiB: the end from record 1 on is longer than any one frame
    let (good, offsets) = ledger_of_notes(&path, 3, 600 * 1024);
    let from = offsets[1] as usize;
    assert!(good.len() - from > log::MAX_FRAME_LEN);
    let mut damaged = good.clone();
    damaged[from..].fill(0);
    assert_refused(&path, &damaged, "zeros from record 1");

    // a zero-filled extension: one frame of zeros is a torn record, one byte more is not
    let mut longer = good.clone();
    longer.resize(good.len() + log::MAX_FRAME_LEN + 1, 0);
    assert_refused(&path, &longer, "one frame and one byte of zeros");
    longer.pop();
    std::fs::write(&path, &longer).unwrap();
    let (l, report) = LocalLedger::open_with_report(&path, g()).unwrap();
    assert_eq!(report.truncated_bytes as usize, log::MAX_FRAME_LEN);
    assert_eq!(
        l.torn_bytes_repaired().unwrap() as usize,
        log::MAX_FRAME_LEN
    );
    assert_eq!(l.len().unwrap(), 3);
    drop(l);
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

#[test]
fn zeroing_everything_after_the_magic_is_corrupt_not_a_new_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    for n in [0usize, 1, 5] {
        let (good, _) = ledger_of_notes(&path, n, 40);
        let mut damaged = good.clone();
        damaged[log::MAGIC.len()..].fill(0);
        assert_refused(
            &path,
            &damaged,
            &format!("{n} notes zeroed after the magic"),
        );
        // and the message says why
        let err = LocalLedger::open(&path, g()).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("no intact record")),
            "{err}"
        );
        // an audit read says so too, rather than reporting an empty ledger
        assert!(matches!(
            LocalLedger::read_entries(&path),
            Err(Error::Corrupt(_))
        ));
        // a genesis record cut short (creation interrupted) is not replaced silently either
        let mut torn_genesis = good[..log::MAGIC.len() + 20].to_vec();
        assert_refused(&path, &torn_genesis, "a torn genesis");
        torn_genesis.truncate(log::MAGIC.len() + 3);
        assert_refused(&path, &torn_genesis, "three bytes of a genesis");
        std::fs::remove_file(&path).unwrap();
    }
    // the deliberate way to start again still works on such a file
    std::fs::write(&path, [log::MAGIC.as_slice(), &[0u8; 100]].concat()).unwrap();
    let fresh = LocalLedger::replace(&path, g()).unwrap();
    assert!(fresh.is_empty().unwrap());
    drop(fresh);
    // a file holding the magic only (a crash right after creating it) is still a new ledger
    std::fs::write(&path, log::MAGIC).unwrap();
    assert!(open(&path, g()).is_empty().unwrap());
}

#[test]
fn a_genuinely_torn_last_record_is_still_repaired_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.log");
    let (good, offsets) = ledger_of_notes(&path, 4, 200);
    let last = *offsets.last().unwrap() as usize;
    let prefix = good[..last].to_vec();
    let frame_len = good.len() - last;

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // cut short: inside the header, at the end of the header, inside the payload
    for cut in [
        last + 1,
        last + 9,
        last + log::RECORD_HEADER_LEN,
        good.len() - 1,
    ] {
        cases.push((format!("cut at {cut}"), good[..cut].to_vec()));
    }
    // full length, but the payload's second half never reached the disk
    let mut half = good.clone();
    half[last + log::RECORD_HEADER_LEN + 100..].fill(0);
    cases.push(("payload half zero".into(), half));
    // full length, nothing of the record reached the disk
    let mut zero = good.clone();
    zero[last..].fill(0);
    cases.push(("record all zero".into(), zero));
    // the first bytes of the header, then zeros to the end of the frame
    let mut header = good.clone();
    header[last + 6..].fill(0);
    cases.push(("header partly persisted".into(), header));

    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let (l, report) =
            LocalLedger::open_with_report(&path, g()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let torn = (bytes.len() - last) as u64;
        assert_eq!(report.truncated_bytes, torn, "{what}");
        assert_eq!(l.torn_bytes_repaired().unwrap(), torn, "{what}");
        assert_eq!(l.len().unwrap(), 3, "{what}");
        // the repaired ledger takes new writes, which survive a reopen
        l.append_note(b"after the repair").unwrap();
        drop(l);
        let l = open(&path, g());
        assert_eq!(l.len().unwrap(), 4, "{what}");
        assert_eq!(l.torn_bytes_repaired().unwrap(), 0, "{what}");
        drop(l);
        assert_eq!(
            &std::fs::read(&path).unwrap()[..last],
            &prefix[..],
            "{what}"
        );
        assert!(
            matches!(LocalLedger::read_entries(&path).unwrap().last(), Some((4, Entry::Note(b))) if b == b"after the repair"),
            "{what}"
        );
    }
    assert!(frame_len > log::RECORD_HEADER_LEN + 100);
}
