//! The pipeline as a gossip validator (feature `p2p`).

use depin_attest::gossip::SharedVerifier;
use depin_attest::p2p::{GossipValidator, GossipVerdict};
use depin_attest::Rejection;
use depin_core::Timestamp;

use crate::common::*;

#[test]
fn gossip_verdicts_follow_the_pipeline() {
    let net = Net::new(1);
    let shared = SharedVerifier::new(net.verifier());
    let now = Timestamp::now();
    let f = frame_with(&domain(), &net.keys[0], 1, now, b"x");
    assert_eq!(shared.validate("report", &f), GossipVerdict::Accept);
    // a replay is dropped without penalising the forwarding peer
    assert_eq!(shared.validate("report", &f), GossipVerdict::Ignore);
    assert_eq!(
        shared.validate("report", &f[..10]),
        GossipVerdict::reject("truncated")
    );
    let e = envelope_at(&net.keys[0], 1, now, reading(5));
    assert_eq!(
        shared.validate("coverage", &e),
        GossipVerdict::reject("wrong_topic")
    );
    // The wrong-topic copy changed no state: the same envelope on its own topic is still new
    // (its sequence number was not used up in the replay window).
    assert_eq!(shared.validate("energy", &e), GossipVerdict::Accept);
    assert_eq!(shared.validate("energy", &e), GossipVerdict::Ignore);
    {
        let v = shared.inner().lock().unwrap();
        let report = v
            .report(v.config().schedule.epoch_of(now).unwrap())
            .unwrap();
        assert_eq!(report.rejected_for(Rejection::WrongTopic), 1);
    }
    let e2 = envelope_at(&net.keys[0], 2, Timestamp(now.0 + 1_000), reading(6));
    let g = frame_with(&domain(), &net.keys[0], 2, now, b"y");
    let v = shared.validate_batch(&[("energy", &e2), ("report", &g), ("report", &[1, 2, 3])]);
    assert_eq!(
        v,
        vec![
            GossipVerdict::Accept,
            GossipVerdict::Accept,
            GossipVerdict::reject("truncated")
        ]
    );
}
