//! Crash test for the local ledger: a child process writes entries as fast as it can and is
//! killed with SIGKILL at a random moment; the reopened ledger must hold every entry the child
//! reported as committed, byte for byte, and nothing torn.
//!
//! The binary re-executes itself (`harness = false`): with `DEPIN_CRASH_CHILD=<ledger path>`
//! set it is the writer, otherwise it is the test driver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use depin_chains::prelude::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use depin_chains::local::{Entry, Genesis, LocalLedger};
use depin_chains::{Account, ClaimFormat};
use depin_core::EvmAddress;
use sha2::{Digest, Sha256};

const CHILD_ENV: &str = "DEPIN_CRASH_CHILD";
const RUNS: usize = 8;

fn genesis() -> Genesis {
    Genesis {
        network: "crash-test".into(),
        admin: Account::Evm(EvmAddress([0xaa; 20])),
        oracle: Account::Evm(EvmAddress([0xbb; 20])),
        claim_format: ClaimFormat::OpenZeppelin,
    }
}

/// Deterministic note payload for `(run, seq)`: 16 bytes to 64 KiB.
fn note_payload(run: u64, seq: u64) -> Vec<u8> {
    let seed: [u8; 32] = Sha256::digest([run.to_be_bytes(), seq.to_be_bytes()].concat()).into();
    let len =
        16 + (u32::from_be_bytes([seed[0], seed[1], seed[2], seed[3]]) % (64 * 1024)) as usize;
    seed.iter().copied().cycle().take(len).collect()
}

fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The writer: alternate notes and fundings; print `COMMITTED <seq> <kind> <value>` after
/// each durable commit.
fn child(path: &Path) {
    let run: u64 = std::env::var("DEPIN_CRASH_RUN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ledger = LocalLedger::open(path, genesis()).expect("child open");
    let admin = Account::Evm(EvmAddress([0xaa; 20]));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "READY {}", ledger.len().expect("len")).expect("stdout");
    out.flush().expect("flush");
    // In "slow" runs the child commits a few entries normally, then appends one more record
    // with many small raw writes (as a writer cut off by a power failure would leave it), and
    // is killed in the middle of that.
    let slow_after: Option<u64> = std::env::var("DEPIN_CRASH_SLOW_AFTER")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut done = 0u64;
    loop {
        if slow_after == Some(done) {
            let seq = ledger.len().expect("len") + 1;
            let payload = Entry::Note(note_payload(run, seq)).encode();
            let bytes = depin_chains::local::log::frame(&payload).expect("frame");
            writeln!(out, "SLOW {seq} {}", bytes.len()).expect("stdout");
            out.flush().expect("flush");
            let mut raw = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .expect("raw open");
            for chunk in bytes.chunks(97) {
                raw.write_all(chunk).expect("raw write");
                std::thread::sleep(Duration::from_micros(300));
            }
            writeln!(out, "SLOW-DONE").expect("stdout");
            out.flush().expect("flush");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        done += 1;
        let next = ledger.len().expect("len") + 1;
        let line = if next.is_multiple_of(4) {
            let amount = u128::from(next);
            ledger.fund(&admin, amount).expect("fund");
            format!("COMMITTED {next} fund {amount}")
        } else {
            let payload = note_payload(run, next);
            let seq = ledger.append_note(&payload).expect("note");
            assert_eq!(seq, next);
            format!("COMMITTED {seq} note {}", digest_hex(&payload))
        };
        writeln!(out, "{line}").expect("stdout");
        out.flush().expect("flush");
    }
}

/// Cheap randomness for kill delays (the test's correctness does not depend on it).
fn random_u64(i: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let h = Sha256::digest([u64::from(nanos).to_be_bytes(), i.to_be_bytes()].concat());
    u64::from_be_bytes(h[..8].try_into().unwrap())
}

struct RunStats {
    committed: usize,
    on_disk: usize,
    torn_bytes: u64,
}

fn one_run(path: &Path, run: u64) -> RunStats {
    let exe = std::env::current_exe().unwrap();
    let slow = run % 2 == 1;
    let mut cmd = Command::new(exe);
    if slow {
        cmd.env(
            "DEPIN_CRASH_SLOW_AFTER",
            (random_u64(run + 100) % 6).to_string(),
        );
    }
    let mut child = cmd
        .env(CHILD_ENV, path)
        .env("DEPIN_CRASH_RUN", run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(1 << 16);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    // wait until the child has opened the ledger (it replays and repairs first)
    let start = Instant::now();
    let ready_len: u64 = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child never got ready");
        if let Some(n) = line.strip_prefix("READY ") {
            break n.trim().parse().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(60));
    };
    let mut early_lines = Vec::new();
    if slow {
        // wait for the raw write to start, then kill somewhere inside it (a record of n bytes
        // takes about n / 97 * 0.3 ms to write)
        let slow_len: u64 = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("child never started the slow write");
            if let Some(rest) = line.strip_prefix("SLOW ") {
                let len = rest.split_whitespace().nth(1).unwrap().parse().unwrap();
                early_lines.push(line);
                break len;
            }
            early_lines.push(line);
        };
        let micros = slow_len * 300 / 97;
        std::thread::sleep(Duration::from_micros(random_u64(run) % micros.max(1)));
    } else {
        std::thread::sleep(Duration::from_millis(20 + random_u64(run) % 400));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
    reader.join().unwrap();

    let mut committed: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for line in early_lines.into_iter().chain(rx.try_iter()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["COMMITTED", seq, kind, value] = parts.as_slice() {
            committed.insert(seq.parse().unwrap(), (kind.to_string(), value.to_string()));
        }
    }

    let last_reported = committed.keys().next_back().copied().unwrap_or(0);
    if let Some(first) = committed.keys().next() {
        assert_eq!(
            *first,
            ready_len + 1,
            "run {run}: first commit numbered after the replayed ones"
        );
    }

    // reopen: repairs any torn tail, and must replay cleanly
    let (ledger, report) = LocalLedger::open_with_report(path, genesis()).unwrap();
    // a crash tears at most the one record being appended, and the repair is reported
    assert!(
        report.truncated_bytes as usize <= depin_chains::local::log::MAX_FRAME_LEN,
        "run {run}: {} bytes cut",
        report.truncated_bytes
    );
    assert_eq!(
        ledger.torn_bytes_repaired().unwrap(),
        report.truncated_bytes,
        "run {run}"
    );
    let on_disk = LocalLedger::read_entries(path).unwrap();
    assert_eq!(on_disk.len() as u64, ledger.len().unwrap());
    // sequence numbers are dense 1..=n: nothing missing in the middle
    for (i, (seq, _)) in on_disk.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
    }
    // every reported commit is present with the same content
    let by_seq: BTreeMap<u64, &Entry> = on_disk.iter().map(|(s, e)| (*s, e)).collect();
    for (seq, (kind, value)) in &committed {
        let entry = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("run {run}: committed entry {seq} lost"));
        match (kind.as_str(), entry) {
            ("note", Entry::Note(bytes)) => assert_eq!(&digest_hex(bytes), value, "seq {seq}"),
            ("fund", Entry::Fund { amount, .. }) => assert_eq!(&amount.to_string(), value),
            _ => panic!("run {run}: entry {seq} is {entry:?}, child reported {kind}"),
        }
    }
    // at most one entry beyond the last report (made durable, killed before printing)
    let floor = last_reported.max(ready_len);
    let n = on_disk.len() as u64;
    assert!(
        n >= floor && n <= floor + 1,
        "run {run}: {n} entries on disk, last reported {last_reported}, {ready_len} at start"
    );
    // every entry on disk, reported or not, is complete and exactly what the child wrote
    for (seq, entry) in &on_disk {
        match entry {
            Entry::Note(bytes) => {
                // notes are deterministic: any note must be exactly what the child wrote
                let expected = (0..=run).any(|r| note_payload(r, *seq) == *bytes);
                assert!(expected, "run {run}: note {seq} has unexpected content");
            }
            Entry::Fund { amount, .. } => assert_eq!(*amount, u128::from(*seq)),
            other => panic!("unexpected entry {other:?}"),
        }
    }
    // the pool is the sum of the fundings that survived
    let funded: u128 = on_disk
        .iter()
        .filter_map(|(_, e)| match e {
            Entry::Fund { amount, .. } => Some(*amount),
            _ => None,
        })
        .sum();
    let pool = pool_balance(&ledger);
    assert_eq!(pool, funded);
    RunStats {
        committed: committed.len(),
        on_disk: on_disk.len(),
        torn_bytes: report.truncated_bytes,
    }
}

/// The pool balance through the async trait.
fn pool_balance(ledger: &LocalLedger) -> u128 {
    let handle = ledger.handle(Account::Evm(EvmAddress([1; 20])));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(handle.pool_balance()).unwrap().unwrap_or(0)
}

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    // `cargo test -- --list` and filters: this binary has one test
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("crash_kill_mid_write: test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let mut total_committed = 0;
    let mut runs_with_torn_tail = 0;
    // the same file across runs: each run appends to what the previous ones left
    for run in 0..RUNS as u64 {
        let stats = one_run(&path, run);
        total_committed += stats.committed;
        if stats.torn_bytes > 0 {
            runs_with_torn_tail += 1;
        }
        println!(
            "run {run}: child reported {} commits, {} entries on disk, torn tail of {} bytes repaired",
            stats.committed, stats.on_disk, stats.torn_bytes
        );
    }
    assert!(total_committed > 0, "the child never committed anything");
    // the slow runs kill mid-write; at least one must leave a torn tail, or the repair path
    // went untested (every recorded run so far tore 4 of 8)
    assert!(
        runs_with_torn_tail > 0,
        "no kill landed mid-write: the torn-tail repair was not exercised"
    );
    println!(
        "crash_kill_mid_write: ok ({RUNS} kills, {total_committed} commits checked, {runs_with_torn_tail} torn tails repaired)"
    );
}
