//! The anti-replay window and the replay stores.

use std::collections::HashSet;

use depin_attest::replay::{ReplayKey, Stream, REPLAY_WINDOW};
use depin_attest::{
    FileReplayStore, Input, MemoryRegistry, Rejection, ReplayStore, ReplayWindow, Verifier,
};
use proptest::prelude::*;

use crate::common::*;

#[test]
fn window_basics() {
    let mut w = ReplayWindow::default();
    assert_eq!(w.high_water_mark(), None);
    assert!(w.accept(10));
    assert!(!w.accept(10));
    assert!(w.accept(9));
    assert!(w.accept(10 + REPLAY_WINDOW));
    // 10 is now exactly outside the window
    assert!(!w.would_accept(10));
    assert!(w.would_accept(11));
    assert!(w.accept(u64::MAX));
    assert!(!w.accept(0));
    assert_eq!(w.high_water_mark(), Some(u64::MAX));
}

proptest! {
    /// The window accepts exactly: unseen numbers above `top - 128`.
    #[test]
    fn window_matches_a_reference_model(seqs in proptest::collection::vec(0u64..400, 0..200)) {
        let mut w = ReplayWindow::default();
        let mut seen = HashSet::new();
        let mut top: Option<u64> = None;
        for s in seqs {
            let expect = !seen.contains(&s) && top.is_none_or(|t| s + REPLAY_WINDOW > t);
            prop_assert_eq!(w.accept(s), expect);
            if expect {
                seen.insert(s);
                top = Some(top.map_or(s, |t| t.max(s)));
            }
        }
    }
}

#[test]
fn file_store_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("depin-attest-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("replay.bin");
    let _ = std::fs::remove_file(&path);
    let net = Net::new(1);
    let f = frame(&net.keys[0], 3);
    {
        let store = FileReplayStore::open(&path).unwrap();
        let mut v = Verifier::new(net.config.clone(), net.registry.clone(), store).unwrap();
        assert!(v.verify_one(Input::Frame(&f), NOW).is_ok());
    }
    // a new process with the same file
    let store = FileReplayStore::open(&path).unwrap();
    let mut v: Verifier<MemoryRegistry, _> =
        Verifier::new(net.config.clone(), net.registry.clone(), store).unwrap();
    assert_eq!(
        v.verify_one(Input::Frame(&f), NOW),
        Err(Rejection::Replayed)
    );
    assert!(v
        .verify_one(Input::Frame(&frame(&net.keys[0], 2)), NOW)
        .is_ok());
    // direct store use (the verifier's store holds the lock until it is dropped)
    drop(v);
    let mut s = FileReplayStore::open(&path).unwrap();
    let key = ReplayKey {
        device: net.id(0),
        stream: Stream::Frame,
    };
    assert_eq!(
        s.load(&key).unwrap().and_then(|w| w.high_water_mark()),
        Some(3)
    );
    let key2 = ReplayKey {
        device: net.id(0),
        stream: Stream::Envelope,
    };
    assert_eq!(s.load(&key2).unwrap(), None);
    // a corrupt file is an error, not a panic
    drop(s);
    std::fs::write(&path, [0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(
        FileReplayStore::open(&path),
        Err(depin_attest::Error::Corrupt { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store that always fails: the pipeline fails closed.
struct Broken;
impl ReplayStore for Broken {
    fn load(&mut self, _: &ReplayKey) -> depin_attest::Result<Option<ReplayWindow>> {
        Err(depin_attest::Error::Store("down".into()))
    }
    fn save(&mut self, _: &ReplayKey, _: &ReplayWindow) -> depin_attest::Result<()> {
        Err(depin_attest::Error::Store("down".into()))
    }
    fn load_deny_list(&mut self) -> depin_attest::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn store_deny_list(&mut self, _: &[u8]) -> depin_attest::Result<()> {
        Err(depin_attest::Error::Store("down".into()))
    }
}

#[test]
fn failing_store_rejects() {
    let net = Net::new(1);
    let mut v = Verifier::new(net.config.clone(), net.registry.clone(), Broken).unwrap();
    assert_eq!(
        v.verify_one(Input::Frame(&frame(&net.keys[0], 1)), NOW),
        Err(Rejection::ReplayStoreUnavailable)
    );
}

/// The in-memory store's batch update (windows found on every core for a large batch, then
/// updated in order) gives exactly the answers of one `check_and_update` call after
/// another, whatever the mix of known and new devices and of numbers repeated in the batch.
#[test]
fn batch_updates_match_one_call_after_another() {
    use depin_attest::MemoryReplayStore;
    let devices: Vec<ReplayKey> = (0..40u8)
        .map(|i| ReplayKey {
            device: id(&key(i.wrapping_add(1))),
            stream: if i % 3 == 0 {
                Stream::Envelope
            } else {
                Stream::Frame
            },
        })
        .collect();
    let mut runner = proptest::test_runner::TestRunner::default();
    // batches both below and above the store's parallel threshold (256)
    let batch = proptest::collection::vec((0usize..40, 0u64..300), 0..700);
    runner
        .run(&proptest::collection::vec(batch, 1..4), |batches| {
            let (mut one_by_one, mut batched) =
                (MemoryReplayStore::new(), MemoryReplayStore::new());
            for items in batches {
                let items: Vec<(ReplayKey, u64)> =
                    items.into_iter().map(|(d, s)| (devices[d], s)).collect();
                let expect: Vec<bool> = items
                    .iter()
                    .map(|(k, s)| one_by_one.check_and_update(k, *s).unwrap())
                    .collect();
                let got: Vec<bool> = batched
                    .check_and_update_batch(&items)
                    .into_iter()
                    .map(|r| r.unwrap())
                    .collect();
                prop_assert_eq!(got, expect);
            }
            prop_assert_eq!(batched.len(), one_by_one.len());
            Ok(())
        })
        .unwrap();
}
