#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use depin_chains::makers::{
    DeviceTrust, HardwareEvidence, Maker, MakerAttestation, MakerRecord, OnMakerRevoked,
    OnboardingChallenge, TrustLevel,
};
use depin_chains::rules::{check_deadline, check_maker_may_onboard, check_publication};
use depin_chains::{
    async_trait, verify_claim, Account, BackendKind, Claim, ClaimFormat, DeviceRegistration,
    EpochRoot, Error, PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge,
    RegistrationProof, Result, TxHandle, TxStatus,
};
use depin_core::{DeviceId, Domain, Epoch, MessageKind, NetworkId};
use sha2::{Digest, Sha256};

/// The name this backend reports (`BackendKind::Custom`), also bound into its registration
/// messages.
pub const NAME: &str = "memory-chain";

/// One registered device.
#[derive(Debug, Clone)]
struct Device {
    owner: Account,
    metadata_hash: [u8; 32],
    active: bool,
    /// The maker that onboarded it, if one did.
    maker: Option<DeviceId>,
}

/// The whole chain state, behind one lock: every call is atomic.
#[derive(Debug, Default)]
struct State {
    devices: HashMap<DeviceId, Device>,
    nonces: HashMap<DeviceId, u64>,
    makers: HashMap<DeviceId, MakerRecord>,
    roots: BTreeMap<u64, EpochRoot>,
    claimed: HashMap<Account, u128>,
    balances: HashMap<Account, u128>,
    total_claimed: u128,
    pool: u128,
    txs: HashSet<[u8; 32]>,
    /// Transactions so far (the "block height" of a receipt).
    height: u64,
}

impl State {
    /// A new transaction's handle: distinct for every state change.
    fn tx(&mut self, what: &[u8]) -> TxHandle {
        self.height += 1;
        let mut h = Sha256::new();
        h.update(NAME.as_bytes());
        h.update(self.height.to_be_bytes());
        h.update(what);
        let id: [u8; 32] = h.finalize().into();
        self.txs.insert(id);
        TxHandle(id)
    }

    /// The device's registration nonce: 0 for a device never seen.
    fn nonce(&self, device: &DeviceId) -> u64 {
        self.nonces.get(device).copied().unwrap_or(0)
    }

    /// The checks every new device passes: the deadline, then no record yet.
    fn check_new_device(&self, registration: &DeviceRegistration) -> Result<()> {
        check_deadline(registration.deadline, self.now())?;
        if self.devices.contains_key(&registration.device) {
            return Err(Error::AlreadyRegistered(registration.device.to_string()));
        }
        Ok(())
    }

    /// Record a new device, moving its nonce on.
    fn add_device(&mut self, registration: &DeviceRegistration, maker: Option<DeviceId>) {
        let device = registration.device;
        let nonce = self.nonce(&device);
        self.nonces.insert(device, nonce + 1);
        self.devices.insert(
            device,
            Device {
                owner: registration.owner.clone(),
                metadata_hash: registration.metadata_hash(),
                active: true,
                maker,
            },
        );
    }

    /// The chain's clock: unix seconds (a clock before 1970 counts as 1970).
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A chain: its id, roles, claim format and state. Get handles acting as accounts with
/// [`MemoryChain::handle`].
#[derive(Debug, Clone)]
pub struct MemoryChain {
    id: [u8; 32],
    domain: Domain,
    admin: Account,
    oracle: Account,
    state: Arc<Mutex<State>>,
}

impl MemoryChain {
    /// A new chain for `network` (its registration signing domain) with these roles, and an
    /// id of its own drawn at random: registration proofs name that id, so a proof made for
    /// another chain of the same network does not register here.
    pub fn new(network: &str, admin: Account, oracle: Account) -> Result<Self> {
        let network = NetworkId::new(network).map_err(|e| Error::Config(e.to_string()))?;
        let id: [u8; 32] = Sha256::digest(
            [
                NAME.as_bytes(),
                network.as_bytes(),
                &rand::random::<[u8; 32]>(),
            ]
            .concat(),
        )
        .into();
        Ok(MemoryChain {
            id,
            domain: Domain::new(network),
            admin,
            oracle,
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    /// A handle acting as `account`.
    pub fn handle(&self, account: Account) -> MemoryBackend {
        MemoryBackend {
            chain: self.clone(),
            caller: account,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::Storage(std::io::Error::other("the chain's state lock is poisoned"))
        })
    }
}

/// A handle on a [`MemoryChain`] acting as one account.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    chain: MemoryChain,
    caller: Account,
}

impl MemoryBackend {
    /// The registration message for `registration` at `nonce`: the ledger-style message
    /// bound to this backend's kind and name, this chain's id and the nonce.
    fn message(&self, registration: &DeviceRegistration, nonce: u64) -> Vec<u8> {
        registration.ledger_signing_message(BackendKind::Custom(NAME), &self.chain.id, nonce)
    }

    /// What a maker signs to onboard `registration` at `nonce`: the SDK's onboarding message,
    /// bound like the device's own proof and to the maker.
    fn maker_message(
        &self,
        registration: &DeviceRegistration,
        nonce: u64,
        maker: &DeviceId,
    ) -> Vec<u8> {
        registration.onboarding_message(BackendKind::Custom(NAME), &self.chain.id, nonce, maker)
    }

    /// Check the device's own proof for `registration` at `nonce`: a domain signature by the
    /// device key over this registration, this chain and that nonce (anything else is
    /// `InvalidProof`). Returns the message it signed.
    fn check_device_proof(
        &self,
        registration: &DeviceRegistration,
        nonce: u64,
        proof: Option<&RegistrationProof>,
    ) -> Result<Vec<u8>> {
        let Some(RegistrationProof::Domain(signature)) = proof else {
            return Err(Error::InvalidProof);
        };
        let key = registration
            .device
            .public_key()
            .map_err(|_| Error::InvalidProof)?;
        let message = self.message(registration, nonce);
        self.chain
            .domain
            .verify(&key, MessageKind::DEVICE_REGISTRATION, &message, signature)
            .map_err(|_| Error::InvalidProof)?;
        Ok(message)
    }

    /// `Unauthorized` unless this handle is the admin.
    fn require_admin(&self) -> Result<()> {
        if self.caller != self.chain.admin {
            return Err(Error::Unauthorized(format!(
                "{} is not the admin",
                self.caller
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl depin_chains::ChainHandle for MemoryBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Custom(NAME)
    }

    fn account(&self) -> Option<Account> {
        Some(self.caller.clone())
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        let state = self.chain.lock()?;
        if !state.txs.contains(&tx.0) {
            return Err(Error::NotFound(format!("transaction {tx}")));
        }
        Ok(Receipt {
            tx: *tx,
            block: state.height,
            status: TxStatus::Success,
        })
    }
}

#[async_trait]
impl depin_chains::RegistryBackend for MemoryBackend {
    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        let nonce = self.chain.lock()?.nonce(&registration.device);
        Ok(RegistrationChallenge::Domain {
            domain: self.chain.domain,
            message: self.message(registration, nonce),
        })
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let mut state = self.chain.lock()?;
        state.check_new_device(registration)?;
        // the proof, for the device's current nonce
        let nonce = state.nonce(&registration.device);
        let message = self.check_device_proof(registration, nonce, Some(proof))?;
        state.add_device(registration, None);
        Ok(state.tx(&message))
    }

    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle> {
        let mut state = self.chain.lock()?;
        let record = state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        if self.caller != record.owner && self.caller != self.chain.admin {
            return Err(Error::Unauthorized(format!(
                "{} is neither the owner of {device} nor the admin",
                self.caller
            )));
        }
        if !record.active {
            return Err(Error::AlreadyRevoked(device.to_string()));
        }
        if let Some(d) = state.devices.get_mut(device) {
            d.active = false;
        }
        *state.nonces.entry(*device).or_insert(0) += 1;
        Ok(state.tx(&device.to_bytes().0))
    }

    async fn device(&self, device: &DeviceId) -> Result<RegisteredDevice> {
        let state = self.chain.lock()?;
        let d = state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        // a suspended maker's devices read as inactive
        let suspended = d
            .maker
            .and_then(|m| state.makers.get(&m))
            .is_some_and(|m| m.devices_suspended);
        Ok(RegisteredDevice {
            device: *device,
            owner: d.owner.clone(),
            key_type: device.key_type(),
            metadata_hash: d.metadata_hash,
            active: d.active && !suspended,
            trust: match d.maker {
                Some(maker) => DeviceTrust {
                    level: TrustLevel::Maker,
                    maker: Some(maker),
                    hardware: None,
                },
                None => DeviceTrust::default(),
            },
        })
    }

    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        self.require_admin()?;
        maker.validate()?;
        let mut state = self.chain.lock()?;
        if state.makers.contains_key(&maker.key) {
            return Err(Error::AlreadyRegistered(format!("maker {}", maker.key)));
        }
        state.makers.insert(
            maker.key,
            MakerRecord {
                maker: maker.clone(),
                onboarded: 0,
                active: true,
                devices_suspended: false,
            },
        );
        Ok(state.tx(&maker.key.to_bytes().0))
    }

    async fn revoke_maker(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        self.require_admin()?;
        let mut state = self.chain.lock()?;
        let record = state
            .makers
            .get_mut(maker)
            .ok_or_else(|| Error::NotFound(format!("maker {maker}")))?;
        if !record.active {
            return Err(Error::AlreadyRevoked(format!("maker {maker}")));
        }
        record.active = false;
        record.devices_suspended = on_revoked == OnMakerRevoked::SuspendDevices;
        Ok(state.tx(&maker.to_bytes().0))
    }

    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        self.chain
            .lock()?
            .makers
            .get(maker)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("maker {maker}")))
    }

    async fn onboarding_challenge(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        let nonce = self.chain.lock()?.nonce(&registration.device);
        let maker_message = self.maker_message(registration, nonce, maker);
        Ok(OnboardingChallenge {
            maker_digest: self
                .chain
                .domain
                .digest(MessageKind::MAKER_ONBOARDING, &maker_message),
            device: Some(RegistrationChallenge::Domain {
                domain: self.chain.domain,
                message: self.message(registration, nonce),
            }),
            evidence_nonce: Sha256::digest(&maker_message).into(),
        })
    }

    async fn onboard_device(
        &self,
        registration: &DeviceRegistration,
        attestation: &MakerAttestation,
        device_proof: Option<&RegistrationProof>,
        evidence: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        if evidence.is_some() {
            return Err(Error::Unsupported(
                "this chain checks no hardware evidence".into(),
            ));
        }
        let mut state = self.chain.lock()?;
        state.check_new_device(registration)?;
        // the maker: approved, not revoked, under its quota (the SDK's rule)
        check_maker_may_onboard(&attestation.maker, state.makers.get(&attestation.maker))?;
        // its attestation and the device's own proof, both for the nonce now
        let nonce = state.nonce(&registration.device);
        let maker_key = attestation
            .maker
            .public_key()
            .map_err(|_| Error::InvalidProof)?;
        self.chain
            .domain
            .verify(
                &maker_key,
                MessageKind::MAKER_ONBOARDING,
                &self.maker_message(registration, nonce, &attestation.maker),
                &attestation.signature,
            )
            .map_err(|_| Error::InvalidProof)?;
        let message = self.check_device_proof(registration, nonce, device_proof)?;
        if let Some(m) = state.makers.get_mut(&attestation.maker) {
            m.onboarded += 1;
        }
        state.add_device(registration, Some(attestation.maker));
        Ok(state.tx(&message))
    }
}

#[async_trait]
impl depin_chains::DistributorBackend for MemoryBackend {
    fn claim_format(&self) -> ClaimFormat {
        ClaimFormat::OpenZeppelin
    }

    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        let mut state = self.chain.lock()?;
        if self.caller != self.chain.oracle {
            return Err(Error::Unauthorized(format!(
                "{} is not the oracle",
                self.caller
            )));
        }
        // the rules every backend applies, in the same order
        if let Some(outcome) = check_publication(
            root,
            state.roots.get(&root.epoch.0),
            state.roots.values().next_back(),
            state.total_claimed,
        )? {
            return Ok(outcome);
        }
        state.roots.insert(root.epoch.0, *root);
        Ok(PublishOutcome::Published(state.tx(&root.root)))
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        Ok(self.chain.lock()?.roots.get(&epoch.0).copied())
    }

    async fn claim(&self, claim: &Claim) -> Result<TxHandle> {
        // one lock for the check and the payment: copies of a claim pay once
        let mut state = self.chain.lock()?;
        let latest = *state.roots.values().next_back().ok_or(Error::NoRoot)?;
        if !verify_claim(self.claim_format(), &latest.root, claim).unwrap_or(false) {
            return Err(Error::InvalidProof);
        }
        let claimed = state.claimed.get(&claim.account).copied().unwrap_or(0);
        if claim.cumulative_amount <= claimed {
            return Err(Error::AlreadyClaimed {
                account: claim.account.clone(),
                cumulative: claim.cumulative_amount,
                claimed,
            });
        }
        let amount = claim.cumulative_amount - claimed;
        let after = state
            .total_claimed
            .checked_add(amount)
            .ok_or_else(|| Error::InvalidInput("total claimed overflows".into()))?;
        if after > latest.total {
            return Err(Error::InvalidInput(format!(
                "the claim would bring the total claimed to {after}, above the published total {}",
                latest.total
            )));
        }
        if state.pool < amount {
            return Err(Error::InsufficientFunds {
                available: state.pool,
                required: amount,
            });
        }
        state.pool -= amount;
        state.total_claimed = after;
        state
            .claimed
            .insert(claim.account.clone(), claim.cumulative_amount);
        *state.balances.entry(claim.account.clone()).or_insert(0) += amount;
        Ok(state.tx(&claim.cumulative_amount.to_be_bytes()))
    }

    async fn claimed(&self, account: &Account) -> Result<u128> {
        Ok(self
            .chain
            .lock()?
            .claimed
            .get(account)
            .copied()
            .unwrap_or(0))
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        Ok(Some(self.chain.lock()?.pool))
    }

    async fn token_balance(&self, account: &Account) -> Result<Option<u128>> {
        Ok(Some(
            self.chain
                .lock()?
                .balances
                .get(account)
                .copied()
                .unwrap_or(0),
        ))
    }

    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        let mut state = self.chain.lock()?;
        if self.caller != self.chain.admin {
            return Err(Error::Unauthorized(format!(
                "{} may not fund the pool",
                self.caller
            )));
        }
        state.pool = state
            .pool
            .checked_add(amount)
            .ok_or_else(|| Error::InvalidInput("the pool overflows".into()))?;
        Ok(state.tx(&amount.to_be_bytes()))
    }
}

/// The code blocks of `docs/guide-integrator.md`, compiled as doc tests so the guide cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide-integrator.md")]
pub struct GuideIntegrator;
