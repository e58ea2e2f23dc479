//! The ingest engine: durable answers, recovery by replay, store failures, overload.

use crate::Switchable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use depin_attest::ingest::{Channel, EngineConfig, IngestError, ItemBytes, ItemResult, Source};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::{LoggedItem, OracleStore};
use depin_attest::{Input, Rejection};
use depin_core::Epoch;

use crate::{id, sqlite, Net, NOW};

fn http() -> Source {
    Source::new(Channel::Http, "127.0.0.1")
}

fn reasons(results: &[ItemResult]) -> Vec<Option<Rejection>> {
    results
        .iter()
        .map(|r| match r {
            ItemResult::Accepted { .. } => None,
            ItemResult::Rejected { reason } => Some(*reason),
        })
        .collect()
}

fn epoch() -> Epoch {
    Net::new(1).config.schedule.epoch_of(NOW).unwrap()
}

fn accepted_in(path: &std::path::Path) -> Vec<LoggedItem> {
    let mut store = SqliteStore::open(path).unwrap();
    let mut out = Vec::new();
    store
        .for_each_accepted(epoch(), &mut |i| {
            out.push(i);
            Ok(())
        })
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_means_the_items_and_verdicts_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let net = Net::new(4);
    let engine = net.engine(sqlite(&path), EngineConfig::new("a"));
    let h = engine.handle();
    let items = vec![
        ItemBytes::Frame(net.frame(0, 1)),
        ItemBytes::Envelope(net.reading(1, 1, 500)),
        ItemBytes::Frame(b"garbage".to_vec()),
        ItemBytes::Frame(net.frame(0, 1)),
    ];
    let r = h.submit(http(), items).await.unwrap();
    assert_eq!(
        reasons(&r),
        vec![
            None,
            None,
            Some(Rejection::Truncated),
            Some(Rejection::Replayed)
        ]
    );
    match &r[0] {
        ItemResult::Accepted { epoch: e, .. } => assert_eq!(*e, epoch().0),
        other => panic!("{other:?}"),
    }
    // read back through another connection, while the engine still runs
    let stored = accepted_in(&path);
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .any(|i| i.device == id(&net.keys[0]) && i.seq == 1));
    assert!(stored
        .iter()
        .any(|i| i.device == id(&net.keys[1]) && i.seq == 1));
    let mut store = SqliteStore::open(&path).unwrap();
    let rej = store.rejections(epoch()).unwrap();
    assert!(rej.contains(&(Rejection::Truncated, 1)), "{rej:?}");
    assert!(rej.contains(&(Rejection::Replayed, 1)), "{rej:?}");
    engine.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_rebuilds_replay_windows_and_policy_state_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let net = Net::new(2);
    let first = net.engine(sqlite(&path), EngineConfig::new("a"));
    let h = first.handle();
    let r = h
        .submit(
            http(),
            vec![
                ItemBytes::Envelope(net.reading(0, 1, 1_000)),
                ItemBytes::Envelope(net.reading(0, 2, 1_010)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None, None]);
    let r = h
        .submit(http(), vec![ItemBytes::Frame(net.frame(1, 5))])
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None]);
    first.join();

    let second = net.engine(sqlite(&path), EngineConfig::new("a"));
    let rec = second.recovery();
    assert_eq!((rec.batches, rec.items, rec.divergences), (2, 3, 0));
    let h = second.handle();
    let again = vec![
        // the same items again: their sequence numbers are consumed
        ItemBytes::Envelope(net.reading(0, 2, 1_010)),
        ItemBytes::Frame(net.frame(1, 5)),
        // the energy policy remembers the counter at 1,010 Wh
        ItemBytes::Envelope(net.reading(0, 3, 1_005)),
        ItemBytes::Frame(net.frame(1, 6)),
    ];
    let r = h.submit(http(), again.clone()).await.unwrap();
    let expected = vec![
        Some(Rejection::Replayed),
        Some(Rejection::Replayed),
        Some(Rejection::CounterRollback),
        None,
    ];
    assert_eq!(reasons(&r), expected);
    second.join();

    // an uninterrupted verifier on the same inputs says the same
    let mut v = net.verifier();
    let a = [net.reading(0, 1, 1_000), net.reading(0, 2, 1_010)];
    v.verify_batch(&[Input::Envelope(&a[0]), Input::Envelope(&a[1])], NOW);
    let f = net.frame(1, 5);
    v.verify_batch(&[Input::Frame(&f)], NOW);
    let inputs: Vec<Input<'_>> = again
        .iter()
        .map(|i| match i {
            ItemBytes::Frame(b) => Input::Frame(b),
            ItemBytes::Envelope(b) => Input::Envelope(b),
        })
        .collect();
    let direct: Vec<Option<Rejection>> = v
        .verify_batch(&inputs, NOW)
        .iter()
        .map(|v| v.as_ref().err().copied())
        .collect();
    assert_eq!(direct, expected);

    // a third start of another origin replays nothing of "a"
    let other = net.engine(sqlite(&path), EngineConfig::new("b"));
    assert_eq!(other.recovery().batches, 0);
    other.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_gives_the_verdicts_of_the_in_process_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::new(6);
    let engine = net.engine(sqlite(&dir.path().join("o.db")), EngineConfig::new("a"));
    let mut bad_sig = net.frame(2, 1);
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    let other_net = {
        let mut n = net.clone();
        n.keys = Arc::new(vec![crate::key(999)]);
        n.frame(0, 1)
    };
    let items = vec![
        ItemBytes::Frame(net.frame(0, 1)),
        ItemBytes::Frame(net.frame(0, 1)),
        ItemBytes::Frame(bad_sig),
        ItemBytes::Frame(other_net),
        ItemBytes::Envelope(net.reading(3, 1, 5_000)),
        ItemBytes::Envelope(net.reading(3, 2, 4_000)),
        ItemBytes::Envelope(net.reading(4, 1, 4_000)),
        ItemBytes::Envelope(net.reading(4, 2, 4_010)),
        ItemBytes::Envelope(vec![0xff; 40]),
        ItemBytes::Frame(net.frame(5, 9)),
    ];
    let served = reasons(&engine.handle().submit(http(), items.clone()).await.unwrap());
    let inputs: Vec<Input<'_>> = items
        .iter()
        .map(|i| match i {
            ItemBytes::Frame(b) => Input::Frame(b),
            ItemBytes::Envelope(b) => Input::Envelope(b),
        })
        .collect();
    let direct: Vec<Option<Rejection>> = net
        .verifier()
        .verify_batch(&inputs, NOW)
        .iter()
        .map(|v| v.as_ref().err().copied())
        .collect();
    assert_eq!(served, direct);
    assert_eq!(served.iter().filter(|r| r.is_none()).count(), 5);
    engine.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_signed_by_another_device_than_the_transports_is_wrong_topic() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::new(2);
    let engine = net.engine(sqlite(&dir.path().join("o.db")), EngineConfig::new("a"));
    let source = Source::new(Channel::Mqtt, "device-1").with_device(id(&net.keys[1]));
    let r = engine
        .handle()
        .submit(
            source,
            vec![
                ItemBytes::Frame(net.frame(0, 1)),
                ItemBytes::Frame(net.frame(1, 1)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![Some(Rejection::WrongTopic), None]);
    // the refused item cost nothing: device 0 can still send sequence number 1
    let r = engine
        .handle()
        .submit(http(), vec![ItemBytes::Frame(net.frame(0, 1))])
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None]);
    engine.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_gets_unavailable_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let net = Net::new(2);
    let down = Arc::new(AtomicBool::new(false));
    let store = Switchable {
        inner: SqliteStore::open(&path).unwrap(),
        down: Arc::clone(&down),
    };
    let engine = net.engine(Box::new(store), EngineConfig::new("a"));
    let h = engine.handle();
    let r = h
        .submit(http(), vec![ItemBytes::Frame(net.frame(0, 1))])
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None]);

    down.store(true, Ordering::SeqCst);
    let b = vec![
        ItemBytes::Frame(net.frame(0, 2)),
        ItemBytes::Envelope(net.reading(1, 1, 100)),
    ];
    for _ in 0..3 {
        match h.submit(http(), b.clone()).await {
            Err(IngestError::Unavailable { retry_after, .. }) => {
                assert!(retry_after.as_millis() > 0)
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    down.store(false, Ordering::SeqCst);
    // the verifier had consumed the refused batch's sequence numbers; it was rebuilt from
    // the store, so the same items are accepted now, once
    let r = h.submit(http(), b.clone()).await.unwrap();
    assert_eq!(reasons(&r), vec![None, None]);
    let r = h.submit(http(), b).await.unwrap();
    assert_eq!(
        reasons(&r),
        vec![Some(Rejection::Replayed), Some(Rejection::Replayed)]
    );
    engine.join();
    assert_eq!(accepted_in(&path).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_an_answer_and_every_answer_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let net = Net::new(64);
    let mut config = EngineConfig::new("a");
    config.queue_items = 8;
    let engine = net.engine(sqlite(&path), config);
    let mut tasks = Vec::new();
    for d in 0..64 {
        let h = engine.handle();
        let item = ItemBytes::Frame(net.frame(d, 1));
        tasks.push(tokio::spawn(
            async move { h.submit(http(), vec![item]).await },
        ));
    }
    let (mut ok, mut overloaded) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                assert_eq!(reasons(&r), vec![None]);
                ok += 1;
            }
            Err(IngestError::Overloaded { .. }) => overloaded += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok + overloaded, 64);
    engine.join();
    assert_eq!(accepted_in(&path).len(), ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_is_queued_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::new(2);
    let engine = net.engine(sqlite(&dir.path().join("o.db")), EngineConfig::new("a"));
    let h = engine.handle();
    let r = h
        .submit(http(), vec![ItemBytes::Frame(net.frame(0, 1))])
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None]);
    h.shutdown();
    assert_eq!(
        h.submit(http(), vec![ItemBytes::Frame(net.frame(1, 1))])
            .await
            .unwrap_err(),
        IngestError::ShuttingDown
    );
    engine.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_admits_only_its_kinds_and_a_wrong_copy_uses_up_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let net = Net::new(2);
    let engine = net.engine(sqlite(&path), EngineConfig::new("a"));
    let h = engine.handle();
    let on = |t: &str| http().on_topic(depin_attest::Label::parse(t).unwrap());
    let reading = ItemBytes::Envelope(net.reading(1, 1, 500));
    let frame = ItemBytes::Frame(net.frame(0, 1));

    // an energy reading where storage items travel, a frame off the frame topic, and
    // anything on a topic the network does not have: refused before any signature work
    for (topic, item) in [
        ("storage", &reading),
        ("energy", &frame),
        ("no_such_topic", &reading),
    ] {
        let r = h.submit(on(topic), vec![item.clone()]).await.unwrap();
        assert_eq!(reasons(&r), vec![Some(Rejection::WrongTopic)], "{topic}");
    }
    assert!(accepted_in(&path).is_empty());

    // the same items on their own topics, and without a topic: the wrong copies used up
    // no sequence number
    let r = h.submit(on("energy"), vec![reading.clone()]).await.unwrap();
    assert_eq!(reasons(&r), vec![None]);
    let r = h.submit(on("report"), vec![frame.clone()]).await.unwrap();
    assert_eq!(reasons(&r), vec![None]);
    let r = h
        .submit(http(), vec![ItemBytes::Envelope(net.reading(1, 2, 505))])
        .await
        .unwrap();
    assert_eq!(reasons(&r), vec![None]);
    assert_eq!(accepted_in(&path).len(), 3);
    engine.join();

    // a restart replays the log (topics are not stored: only items that passed the topic
    // check are logged) and agrees: both copies are now replays
    let engine = net.engine(sqlite(&path), EngineConfig::new("a"));
    assert_eq!(engine.recovery().divergences, 0);
    let h = engine.handle();
    let r = h.submit(on("energy"), vec![reading]).await.unwrap();
    assert_eq!(reasons(&r), vec![Some(Rejection::Replayed)]);
    let r = h.submit(on("report"), vec![frame]).await.unwrap();
    assert_eq!(reasons(&r), vec![Some(Rejection::Replayed)]);
}
