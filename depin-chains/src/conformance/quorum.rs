//! The quorum section: a distributor with an oracle set in effect publishes a root only with
//! the signatures of a threshold of its oracles, checks them itself, and refuses everything
//! else with the same errors on every backend.

use std::sync::Arc;

use depin_core::{DeviceId, Domain, Epoch, NetworkId};
use sha2::{Digest, Sha256};

use super::{expect_err, fail, ok, receipt_ok, Outcome, Report};
use crate::backend::ChainBackend;
use crate::error::Error;
use crate::quorum::{OracleSet, Quorum, RootStatement};
use crate::types::{DeviceSigner, EpochRoot, PublishOutcome};

/// A distributor whose oracle set is in effect, for the suite's quorum section
/// ([`super::Fixtures::quorum`]). Set it up with the backend's own admin operation (the local
/// ledger's `schedule_oracle_set`, the EVM backend's `schedule_oracle_set`) and let the delay
/// pass before running the suite.
#[derive(Clone)]
pub struct QuorumFixture {
    /// A handle on that distributor acting as an account with no role on it: anyone may
    /// submit a quorum.
    pub relayer: Arc<dyn ChainBackend>,
    /// The handle holding the single-oracle role on that distributor (refused once the set
    /// is in effect).
    pub single_oracle: Arc<dyn ChainBackend>,
    /// The keys of the oracle set in effect (at least three).
    pub oracles: Vec<Arc<dyn DeviceSigner>>,
    /// The set's threshold (a strict majority, at least two).
    pub threshold: usize,
    /// The domain the oracles sign in: the network and the chain id.
    pub domain: Domain,
    /// The distributor as a [`RootStatement`] names it (an EVM contract's 20-byte address,
    /// the local ledger's 32-byte id).
    pub distributor: Vec<u8>,
    /// The first epoch the section publishes (it uses this one and the next), above any
    /// epoch published on that distributor.
    pub first_epoch: Epoch,
    /// A key of the oracles' type that is not in the set.
    pub outsider: Arc<dyn DeviceSigner>,
}

impl core::fmt::Debug for QuorumFixture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuorumFixture")
            .field("oracles", &self.oracles.len())
            .field("threshold", &self.threshold)
            .field("first_epoch", &self.first_epoch)
            .finish_non_exhaustive()
    }
}

fn root_for(epoch: Epoch, salt: u8) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"depin-rs conformance quorum root");
    h.update(epoch.0.to_be_bytes());
    h.update([salt]);
    h.finalize().into()
}

/// A quorum as a distributor receives it: `statement`, signed by `signers` in `domain` (not
/// tallied, so that the section can hand the backend what a tally would refuse).
fn quorum_of(
    check: &'static str,
    statement: &RootStatement,
    domain: &Domain,
    signers: &[&Arc<dyn DeviceSigner>],
) -> Outcome<Quorum> {
    let mut quorum = Quorum {
        statement: statement.clone(),
        signers: Vec::new(),
        signatures: Vec::new(),
        dissent: Vec::new(),
        refused: Vec::new(),
    };
    for signer in signers {
        let vote = ok(check, statement.sign(domain, signer.as_ref()))?;
        quorum.signers.push(vote.oracle);
        quorum.signatures.push(vote.signature);
    }
    Ok(quorum)
}

/// Nothing was published for `epoch` by a refused quorum.
async fn still_unpublished(
    check: &'static str,
    relayer: &Arc<dyn ChainBackend>,
    epoch: Epoch,
) -> Outcome<()> {
    match ok(check, relayer.epoch_root(epoch).await)? {
        None => Ok(()),
        Some(r) => fail(check, format!("a refused quorum published {r:?}")),
    }
}

pub(super) async fn quorum(q: &QuorumFixture, report: &mut Report) -> Outcome<()> {
    const SETUP: &str =
        "quorum: the fixture has at least three oracles and a threshold of two or more";
    let t = q.threshold;
    if q.oracles.len() < 3 || t < 2 || t > q.oracles.len() {
        return fail(SETUP, format!("{} oracles, threshold {t}", q.oracles.len()));
    }
    let set = ok(
        SETUP,
        OracleSet::new(q.oracles.iter().map(|o| o.device_id()), t),
    )?;
    if set.contains(&q.outsider.device_id()) {
        return fail(SETUP, "the outsider key is in the oracle set");
    }
    report.checks.push(SETUP);

    let epoch = q.first_epoch;
    let root = EpochRoot {
        epoch,
        root: root_for(epoch, 0),
        total: 0,
    };
    let statement = RootStatement::new(q.distributor.clone(), epoch, root.root, root.total);
    let honest: Vec<&Arc<dyn DeviceSigner>> = q.oracles.iter().take(t).collect();

    const SINGLE: &str = "quorum: the single oracle is refused while a set is in effect";
    expect_err(
        SINGLE,
        q.single_oracle.publish_root(&root).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    still_unpublished(SINGLE, &q.relayer, epoch).await?;
    report.checks.push(SINGLE);

    const TOO_FEW: &str = "quorum: fewer signatures than the threshold are Unauthorized";
    let few = quorum_of(TOO_FEW, &statement, &q.domain, &honest[..t - 1])?;
    expect_err(
        TOO_FEW,
        q.relayer.publish_quorum_root(&few).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    still_unpublished(TOO_FEW, &q.relayer, epoch).await?;
    report.checks.push(TOO_FEW);

    const OUTSIDER: &str = "quorum: a signer outside the set is Unauthorized";
    let mut with_outsider: Vec<&Arc<dyn DeviceSigner>> = honest[..t - 1].to_vec();
    with_outsider.push(&q.outsider);
    let outsider = quorum_of(OUTSIDER, &statement, &q.domain, &with_outsider)?;
    expect_err(
        OUTSIDER,
        q.relayer.publish_quorum_root(&outsider).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    still_unpublished(OUTSIDER, &q.relayer, epoch).await?;
    report.checks.push(OUTSIDER);

    const TWICE: &str = "quorum: a signer listed twice counts once (too few: Unauthorized)";
    let mut twice: Vec<&Arc<dyn DeviceSigner>> = honest[..t - 1].to_vec();
    twice.push(honest[0]);
    let twice = quorum_of(TWICE, &statement, &q.domain, &twice)?;
    expect_err(
        TWICE,
        q.relayer.publish_quorum_root(&twice).await,
        "Unauthorized",
        |e| matches!(e, Error::Unauthorized(_)),
    )?;
    still_unpublished(TWICE, &q.relayer, epoch).await?;
    report.checks.push(TWICE);

    const OTHER_DOMAIN: &str =
        "quorum: signatures made in another network's domain are InvalidProof";
    let other = Domain::new(ok(
        OTHER_DOMAIN,
        NetworkId::new("depin-conformance-elsewhere").map_err(Error::from),
    )?);
    let foreign = quorum_of(OTHER_DOMAIN, &statement, &other, &honest)?;
    expect_err(
        OTHER_DOMAIN,
        q.relayer.publish_quorum_root(&foreign).await,
        "InvalidProof",
        |e| matches!(e, Error::InvalidProof),
    )?;
    still_unpublished(OTHER_DOMAIN, &q.relayer, epoch).await?;
    report.checks.push(OTHER_DOMAIN);

    const OTHER_DISTRIBUTOR: &str = "quorum: a statement for another distributor is InvalidProof";
    let mut elsewhere = statement.clone();
    match elsewhere.distributor.last_mut() {
        Some(b) => *b ^= 0x01,
        None => return fail(OTHER_DISTRIBUTOR, "the fixture names no distributor"),
    }
    let elsewhere = quorum_of(OTHER_DISTRIBUTOR, &elsewhere, &q.domain, &honest)?;
    expect_err(
        OTHER_DISTRIBUTOR,
        q.relayer.publish_quorum_root(&elsewhere).await,
        "InvalidProof",
        |e| matches!(e, Error::InvalidProof),
    )?;
    still_unpublished(OTHER_DISTRIBUTOR, &q.relayer, epoch).await?;
    report.checks.push(OTHER_DISTRIBUTOR);

    const EDITED: &str = "quorum: a statement edited after signing is InvalidProof";
    let mut edited = quorum_of(EDITED, &statement, &q.domain, &honest)?;
    edited.statement.total = edited.statement.total.saturating_add(1);
    expect_err(
        EDITED,
        q.relayer.publish_quorum_root(&edited).await,
        "InvalidProof",
        |e| matches!(e, Error::InvalidProof),
    )?;
    still_unpublished(EDITED, &q.relayer, epoch).await?;
    report.checks.push(EDITED);

    const PUBLISHES: &str =
        "quorum: the threshold of signatures publishes, relayed by an account with no role";
    let votes: Vec<_> = honest
        .iter()
        .map(|o| statement.sign(&q.domain, o.as_ref()))
        .collect::<crate::Result<_>>()
        .map_err(|e| super::Failure {
            check: PUBLISHES,
            key_type: None,
            detail: format!("signing: {e}"),
        })?;
    let agreed = ok(
        PUBLISHES,
        set.tally(&q.domain, &q.distributor, epoch, &votes),
    )?;
    match ok(PUBLISHES, q.relayer.publish_quorum_root(&agreed).await)? {
        PublishOutcome::Published(tx) => {
            receipt_ok(PUBLISHES, &q.relayer, tx).await?;
        }
        other => return fail(PUBLISHES, format!("expected a publication, got {other:?}")),
    }
    match ok(PUBLISHES, q.relayer.epoch_root(epoch).await)? {
        Some(r) if r == root => {}
        other => {
            return fail(
                PUBLISHES,
                format!("epoch root {other:?}, expected {root:?}"),
            )
        }
    }
    report.checks.push(PUBLISHES);

    const AGAIN: &str = "quorum: the same quorum again is AlreadyPublished";
    match ok(AGAIN, q.relayer.publish_quorum_root(&agreed).await)? {
        PublishOutcome::AlreadyPublished => {}
        other => return fail(AGAIN, format!("expected AlreadyPublished, got {other:?}")),
    }
    report.checks.push(AGAIN);

    const REOPEN: &str =
        "quorum: a quorum for another root of a published epoch is EpochAlreadyPublished";
    let other_root = RootStatement::new(q.distributor.clone(), epoch, root_for(epoch, 1), 0);
    let reopen = quorum_of(REOPEN, &other_root, &q.domain, &honest)?;
    expect_err(
        REOPEN,
        q.relayer.publish_quorum_root(&reopen).await,
        "EpochAlreadyPublished",
        |e| matches!(e, Error::EpochAlreadyPublished { .. }),
    )?;
    report.checks.push(REOPEN);

    const NEXT: &str = "quorum: another subset of the threshold publishes the next epoch";
    let next_epoch = Epoch(epoch.0.saturating_add(1));
    let next = RootStatement::new(
        q.distributor.clone(),
        next_epoch,
        root_for(next_epoch, 0),
        0,
    );
    let others: Vec<&Arc<dyn DeviceSigner>> = q.oracles.iter().rev().take(t).collect();
    let next_quorum = quorum_of(NEXT, &next, &q.domain, &others)?;
    let signers: std::collections::BTreeSet<DeviceId> =
        next_quorum.signers.iter().copied().collect();
    if signers.len() != t {
        return fail(NEXT, "the subset is not distinct");
    }
    match ok(NEXT, q.relayer.publish_quorum_root(&next_quorum).await)? {
        PublishOutcome::Published(tx) => {
            receipt_ok(NEXT, &q.relayer, tx).await?;
        }
        other => return fail(NEXT, format!("expected a publication, got {other:?}")),
    }
    report.checks.push(NEXT);
    Ok(())
}
