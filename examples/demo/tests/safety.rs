//! The demo binary under misuse: concurrent runs on one output directory, a ledger another
//! process holds, absurd `--epochs`, an output directory or picture path that cannot be
//! written. Every failure must be a non-zero exit naming what failed; no run may destroy
//! another's ledgers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use depin_chains::local::{Entry, Genesis, LocalLedger};
use depin_chains::{Account, ClaimFormat};
use depin_core::EvmAddress;

fn demo(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depin-demo"))
        .args(["--short", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn publishes(ledger: &Path) -> usize {
    LocalLedger::read_entries(ledger)
        .unwrap()
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Publish { .. }))
        .count()
}

#[test]
fn epochs_out_of_range_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for (value, says) in [
        ("18446744073709551615", "maximum"),
        ("3651", "maximum"),
        ("18446744073709551616", "invalid value"),
        ("0", "at least 1"),
    ] {
        let o = demo(dir.path(), &["--epochs", value]);
        assert_eq!(o.status.code(), Some(2), "--epochs {value}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("--epochs") || err.contains(value), "{err}");
        assert!(err.contains(says), "--epochs {value}: {err}");
    }
    // nothing was run
    assert!(!dir.path().join("ledgers").exists());
}

#[test]
fn unwritable_out_dir_exits_non_zero_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // a directory below a regular file cannot be created, whoever runs the test
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("out");
    let o = demo(&out, &["--networks", "energy"]);
    assert!(!o.status.success());
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains(&out.display().to_string()), "{err}");

    // a read-only directory (only meaningful when permissions apply to this user)
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let writable_anyway = std::fs::write(ro.join("probe"), b"x").is_ok();
        if !writable_anyway {
            let o = demo(&ro, &["--networks", "energy"]);
            assert!(!o.status.success());
            let err = stderr(&o);
            assert!(err.contains(&ro.display().to_string()), "{err}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn failed_picture_write_exits_non_zero_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // a directory where the map picture should go: the write fails
    let blocked = dir.path().join("wireless-map.svg");
    std::fs::create_dir_all(blocked.join("occupied")).unwrap();
    let o = demo(dir.path(), &["--networks", "wireless"]);
    assert!(
        !o.status.success(),
        "exit 0 although {} could not be written",
        blocked.display()
    );
    let err = stderr(&o);
    assert!(err.contains(&blocked.display().to_string()), "{err}");
    // the other picture was still written, and the summary printed
    assert!(dir.path().join("reward-distribution.svg").exists());
    assert!(String::from_utf8_lossy(&o.stdout).contains("== wireless:"));
}

#[test]
fn a_ledger_another_process_holds_is_neither_deleted_nor_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let ledgers = dir.path().join("ledgers");
    std::fs::create_dir_all(&ledgers).unwrap();
    let path = ledgers.join("depin-demo-energy.ledger");
    let admin = Account::Evm(EvmAddress([0xaa; 20]));
    let genesis = Genesis {
        network: "someone-else".into(),
        admin: admin.clone(),
        oracle: admin.clone(),
        claim_format: ClaimFormat::OpenZeppelin,
    };
    let held = LocalLedger::open(&path, genesis.clone()).unwrap();
    held.fund(&admin, 77).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let o = demo(dir.path(), &["--networks", "energy"]);
    assert!(!o.status.success(), "the demo ran over a held ledger");
    let err = stderr(&o);
    assert!(err.contains(&path.display().to_string()), "{err}");
    // same file (not unlinked and recreated), same bytes, still writable by its holder
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    held.fund(&admin, 1).unwrap();
    drop(held);
    let reopened = LocalLedger::open(&path, genesis).unwrap();
    assert_eq!(reopened.len().unwrap(), 2);
}

#[test]
fn a_second_run_on_a_locked_out_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lock_path = dir.path().join("depin-demo.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.try_lock().unwrap();
    let o = demo(dir.path(), &["--networks", "energy"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains(&lock_path.display().to_string()), "{err}");
    assert!(
        !dir.path().join("ledgers").exists(),
        "the refused run touched the ledgers"
    );
    drop(lock);
    // once released, a run succeeds
    let o = demo(dir.path(), &["--networks", "energy"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn two_concurrent_runs_on_one_out_dir_never_destroy_each_others_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_depin-demo"))
            .args([
                "--short",
                "--quiet",
                "--networks",
                "energy,storage",
                "--out",
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    assert!(
        ok >= 1,
        "both runs failed: {:?}",
        outputs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outputs.iter().filter(|o| !o.status.success()) {
        // the loser was refused up front, naming the lock, before touching anything
        let err = stderr(o);
        assert!(
            err.contains(&dir.path().join("depin-demo.lock").display().to_string()),
            "{err}"
        );
        assert!(String::from_utf8_lossy(&o.stdout).trim().is_empty());
    }
    // whatever ran last left complete ledgers: every settled epoch is there
    for network in ["energy", "storage"] {
        let path = dir
            .path()
            .join("ledgers")
            .join(format!("depin-demo-{network}.ledger"));
        assert_eq!(publishes(&path), 2, "{network}");
    }
}
