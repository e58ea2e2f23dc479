//! Publishing epoch roots through a quorum of oracles.
//!
//! With [`EpochCloser::quorum`](super::EpochCloser::quorum) set, a closer does not publish its
//! root alone. It signs its [`RootStatement`] for the epoch with its oracle key and keeps that
//! vote in its store: [`stored_vote`] reads it, and the claims API serves it at
//! `GET /v1/epochs/{n}/vote`. It asks the other oracles for theirs ([`VoteSource`]), tallies
//! all of them with the [`OracleSet`], and submits the agreed quorum with
//! [`crate::DistributorBackend::publish_quorum_root`]; the distributor checks every signature
//! again. Every vote it saw is kept under the epoch for audit ([`stored_votes`],
//! `GET /v1/epochs/{n}/votes`), the dissenting ones marked.
//!
//! - Too few votes agree yet (the others have not closed, or one is unreachable):
//!   [`CloseError::QuorumPending`]; nothing is published
//!   and closing again retries.
//! - A quorum agrees on another statement than this oracle's: it is in dissent,
//!   [`CloseError::Dissent`], and publishes nothing (the majority
//!   publishes; this oracle's operator compares its inputs).

use std::sync::{Arc, Mutex, PoisonError};

use depin_attest::store::OracleStore;
use depin_core::{DeviceId, Domain, Epoch, Signature};
use serde::{Deserialize, Serialize};

use super::CloseError;
use crate::error::{Error, Result};
use crate::quorum::{OracleSet, RootStatement, RootVote};
use crate::types::DeviceSigner;

/// Where a closer gets another oracle's vote for an epoch: that oracle's claims API
/// (`GET /v1/epochs/{n}/vote`), or its store in the same process ([`StoreVotes`]).
#[async_trait::async_trait]
pub trait VoteSource: Send + Sync {
    /// The other oracle's signed vote for `epoch`; `None` if it has not voted yet.
    async fn vote(&self, epoch: Epoch) -> Result<Option<RootVote>>;
}

/// The votes an oracle keeps in its own store, as a [`VoteSource`] for oracles in the same
/// process (tests, or several oracles run by one operator for a rehearsal).
#[derive(Clone)]
pub struct StoreVotes(pub Arc<Mutex<Box<dyn OracleStore>>>);

#[async_trait::async_trait]
impl VoteSource for StoreVotes {
    async fn vote(&self, epoch: Epoch) -> Result<Option<RootVote>> {
        let mut store = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        stored_vote(&mut **store, epoch)
            .map_err(|e| Error::Storage(std::io::Error::other(e.to_string())))
    }
}

/// Another oracle's claims API as a [`VoteSource`] (feature `service`): `GET
/// {base}/v1/epochs/{n}/vote`. A 404 is "not voted yet"; any other failure is a
/// [`Error::Transport`] (the tally counts the vote as missing).
#[cfg(feature = "service")]
#[derive(Clone, Debug)]
pub struct HttpVotes {
    base: String,
    client: reqwest::Client,
}

#[cfg(feature = "service")]
impl HttpVotes {
    /// The oracle whose claims API is at `base` (`http://host:port`), asked with a
    /// `timeout` per request.
    pub fn new(base: impl Into<String>, timeout: std::time::Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(HttpVotes {
            base: base.into().trim_end_matches('/').to_string(),
            client,
        })
    }
}

#[cfg(feature = "service")]
#[async_trait::async_trait]
impl VoteSource for HttpVotes {
    async fn vote(&self, epoch: Epoch) -> Result<Option<RootVote>> {
        let url = format!("{}/v1/epochs/{}/vote", self.base, epoch.0);
        let transport = |e: String| Error::transient(format!("{url}: {e}"));
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(transport(format!("HTTP {}", response.status())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(e.to_string()))?;
        if body.len() > MAX_VOTE_JSON {
            return Err(Error::InvalidInput(format!(
                "{url}: a vote of {} bytes",
                body.len()
            )));
        }
        let json: VoteJson = serde_json::from_slice(&body)
            .map_err(|e| Error::InvalidInput(format!("{url}: not a vote: {e}")))?;
        json.to_vote().map(Some)
    }
}

/// The largest vote answer read (a vote is about 400 bytes of JSON).
#[cfg(feature = "service")]
const MAX_VOTE_JSON: usize = 16 * 1024;

/// What a closer needs to publish through a quorum.
#[derive(Clone)]
pub struct OracleQuorum {
    /// This oracle's key (one of [`OracleQuorum::set`]).
    pub signer: Arc<dyn DeviceSigner>,
    /// The oracle set in effect on the distributor.
    pub set: OracleSet,
    /// The domain the oracles sign in: the network and the distributor's chain id.
    pub domain: Domain,
    /// The distributor as a [`RootStatement`] names it (the EVM contract's 20-byte address,
    /// the local ledger's 32-byte id).
    pub distributor: Vec<u8>,
    /// The other oracles.
    pub peers: Vec<Arc<dyn VoteSource>>,
}

impl std::fmt::Debug for OracleQuorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleQuorum")
            .field("signer", &self.signer.device_id())
            .field("threshold", &self.set.threshold())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

/// A vote as JSON: what `GET /v1/epochs/{n}/vote` returns and the store keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteJson {
    /// The oracle's did:key.
    pub oracle: String,
    /// The distributor, hex.
    pub distributor: String,
    /// The epoch.
    pub epoch: u64,
    /// The root, hex.
    pub root: String,
    /// The total, decimal.
    pub total: String,
    /// The signature, hex.
    pub signature: String,
    /// In an audit record: whether the vote agreed with the published statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreed: Option<bool>,
}

impl VoteJson {
    /// The JSON form of `vote`.
    pub fn from_vote(vote: &RootVote) -> Self {
        VoteJson {
            oracle: vote.oracle.to_string(),
            distributor: hex::encode(&vote.statement.distributor),
            epoch: vote.statement.epoch.0,
            root: hex::encode(vote.statement.root),
            total: vote.statement.total.to_string(),
            signature: hex::encode(vote.signature.to_bytes()),
            agreed: None,
        }
    }

    /// The vote, parsed strictly (its signature is not checked here: the tally does).
    pub fn to_vote(&self) -> Result<RootVote> {
        let bad = |what: &str| Error::InvalidInput(format!("vote: {what}"));
        let oracle: DeviceId = self
            .oracle
            .parse()
            .map_err(|_| bad("oracle is not a did:key"))?;
        let distributor =
            hex::decode(&self.distributor).map_err(|_| bad("distributor is not hex"))?;
        let mut root = [0u8; 32];
        hex::decode_to_slice(&self.root, &mut root).map_err(|_| bad("root is not 32 hex bytes"))?;
        let total: u128 = self
            .total
            .parse()
            .map_err(|_| bad("total is not a decimal u128"))?;
        let signature = hex::decode(&self.signature).map_err(|_| bad("signature is not hex"))?;
        let signature = Signature::from_bytes(oracle.key_type(), &signature)?;
        Ok(RootVote {
            oracle,
            statement: RootStatement::new(distributor, Epoch(self.epoch), root, total),
            signature,
        })
    }
}

fn vote_key(epoch: Epoch) -> String {
    format!("quorum/vote/{}", epoch.0)
}

fn votes_key(epoch: Epoch) -> String {
    format!("quorum/votes/{}", epoch.0)
}

fn store_err(e: impl std::fmt::Display) -> CloseError {
    CloseError::Corrupt(format!("stored vote: {e}"))
}

/// This oracle's own vote for `epoch`, if it computed the epoch with a quorum configured.
pub fn stored_vote(
    store: &mut dyn OracleStore,
    epoch: Epoch,
) -> std::result::Result<Option<RootVote>, CloseError> {
    let Some(bytes) = store.meta(&vote_key(epoch))? else {
        return Ok(None);
    };
    let json: VoteJson = serde_json::from_slice(&bytes).map_err(store_err)?;
    Ok(Some(json.to_vote()?))
}

/// Every vote this oracle saw for `epoch` when it published, each marked `agreed` or not
/// (the dissent, kept for audit); empty before.
pub fn stored_votes(
    store: &mut dyn OracleStore,
    epoch: Epoch,
) -> std::result::Result<Vec<VoteJson>, CloseError> {
    match store.meta(&votes_key(epoch))? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(store_err),
    }
}

/// Sign and keep this oracle's vote, gather the others', tally. The agreed quorum, or why
/// there is none.
pub(super) fn gather(
    q: &OracleQuorum,
    store: &mut dyn OracleStore,
    statement: &RootStatement,
    rt: &tokio::runtime::Handle,
) -> std::result::Result<crate::quorum::Quorum, CloseError> {
    let epoch = statement.epoch;
    if !q.set.contains(&q.signer.device_id()) {
        return Err(Error::Config(format!(
            "this oracle's key {} is not in the oracle set",
            q.signer.device_id()
        ))
        .into());
    }
    let own = statement.sign(&q.domain, q.signer.as_ref())?;
    let own_json = serde_json::to_vec(&VoteJson::from_vote(&own)).map_err(store_err)?;
    store.set_meta(&vote_key(epoch), &own_json)?;
    let mut votes = vec![own];
    for peer in &q.peers {
        // an unreachable peer, or a malformed answer, is a missing vote: the tally decides
        if let Ok(Some(vote)) = rt.block_on(peer.vote(epoch)) {
            votes.push(vote);
        }
    }
    let quorum = match q.set.tally(&q.domain, &q.distributor, epoch, &votes) {
        Ok(quorum) => quorum,
        Err(_) => {
            return Err(CloseError::QuorumPending {
                epoch,
                votes: votes.len(),
                needed: q.set.threshold(),
            })
        }
    };
    let audit: Vec<VoteJson> = votes
        .iter()
        .map(|v| VoteJson {
            agreed: Some(v.statement == quorum.statement),
            ..VoteJson::from_vote(v)
        })
        .collect();
    let audit = serde_json::to_vec(&audit).map_err(store_err)?;
    store.set_meta(&votes_key(epoch), &audit)?;
    if quorum.statement != *statement {
        return Err(CloseError::Dissent {
            epoch,
            ours: statement.root,
            agreed: quorum.statement.root,
        });
    }
    Ok(quorum)
}
