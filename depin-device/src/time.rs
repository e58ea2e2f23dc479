//! Unix time for devices without a real-time clock: the network signs the time in answer
//! to the device's nonce, and the device counts on from there with a monotonic timer.
//!
//! Frames carry unix-millisecond time, and the network accepts a frame only inside its
//! freshness window (depin-attest's defaults: at most 15 minutes old, at most 60 seconds
//! ahead). A device with no battery-backed clock must learn the time, and must not take
//! it from whoever answers on the radio: a clock set ahead makes the device sign readings
//! dated in the future, which the attacker holds and submits later inside the window.
//!
//! 1. The device makes a nonce that never repeats ([`request_nonce`]: its key hint and a
//!    number from its [`SequenceCounter`](crate::counter::SequenceCounter)) and sends it
//!    up, noting its uptime.
//! 2. The network answers with a [`grant_time`] grant: the nonce and its unix time,
//!    signed under [`MessageKind::TIME_GRANT`] with the network's time key (one the
//!    device received at provisioning).
//! 3. The device checks the grant ([`Clock::from_grant`]: the signature, the kind, the
//!    network and its own nonce) and from then on reads `Clock::now(uptime)`. The network
//!    only ever signs its present time, so a replayed or delayed grant can only set the
//!    clock *back* (frames then arrive stale and are dropped: a denial of service the
//!    radio attacker has anyway), never ahead.
//! 4. It syncs again before drift matters: a 20 ppm crystal drifts 1.7 s a day.
//!
//! # Byte layout of a grant
//!
//! ```text
//! offset  size  field
//! 0       1     version          = 0x01
//! 1       1     key type         of the network's time key: 0 Ed25519, 1 secp256k1, 2 P-256
//! 2       16    nonce            the device's, echoed
//! 18      8     unix time, ms    little-endian u64
//! 26      64    signature        over Domain::digest(TIME_GRANT = 0x0003, bytes[0..26])
//! ```
//!
//! 90 bytes: one LoRaWAN downlink from EU868 DR3 (115 bytes) or US915 DR9 (129 bytes) up.
//!
//! ```
//! use depin_device::signer::{Ed25519Signer, P256Signer, Signer};
//! use depin_device::time::{grant_time, request_nonce, Clock, GRANT_LEN};
//! use depin_device::{Domain, NetworkId, Timestamp};
//!
//! let domain = Domain::new(NetworkId::new("my-network")?);
//! let device = P256Signer::from_secret(&[7; 32])?;
//! let mut network_time_key = Ed25519Signer::from_secret(&[9; 32])?; // the network side
//! let network_public = network_time_key.public_key(); // provisioned into the device
//!
//! // device: a nonce that never repeats (seq from its SequenceCounter)
//! let nonce = request_nonce(&device.key_hint(), 41);
//! // network: sign its time for that nonce
//! let mut grant = [0u8; GRANT_LEN];
//! grant_time(&mut network_time_key, &domain, &nonce, Timestamp(1_796_083_200_000), &mut grant)?;
//! // device: check it, 1,200 ms of uptime after boot
//! let clock = Clock::from_grant(&grant, &domain, &network_public, &nonce, 1_200)?;
//! assert_eq!(clock.now(61_200), Timestamp(1_796_083_260_000));
//! // a grant for another nonce (a replay) is refused
//! let other = request_nonce(&device.key_hint(), 42);
//! assert!(Clock::from_grant(&grant, &domain, &network_public, &other, 1_200).is_err());
//! # Ok::<(), depin_device::Error>(())
//! ```

use depin_core::did::KEY_HINT_LEN;
use depin_core::SIGNATURE_LEN;
use depin_core::{Domain, KeyHint, KeyType, MessageKind, PublicKey, Signature, Timestamp};

use crate::challenge::{Nonce, NONCE_LEN};
use crate::error::{Error, Result};
use crate::signer::{Signer, SignerError as _};

/// Time grant format version.
pub const GRANT_VERSION: u8 = 1;
/// Bytes of a grant before its signature.
pub const GRANT_SIGNED_LEN: usize = 2 + NONCE_LEN + 8;
/// Bytes of a grant.
pub const GRANT_LEN: usize = GRANT_SIGNED_LEN + SIGNATURE_LEN;

/// A nonce that never repeats for this device: its 8-byte key hint, then `seq` (a number
/// from its [`SequenceCounter`](crate::counter::SequenceCounter), which never hands out
/// one twice, also across reboots) little-endian, then four zero bytes. Uniqueness is what
/// the protocol needs (a grant answers one nonce); a predictable nonce lets an attacker
/// ask the network ahead of time only for grants that are already in the past when used.
pub fn request_nonce(key_hint: &KeyHint, seq: u32) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    let (hint, rest) = nonce.split_at_mut(KEY_HINT_LEN);
    hint.copy_from_slice(key_hint);
    if let Some(counter) = rest.get_mut(..4) {
        counter.copy_from_slice(&seq.to_le_bytes());
    }
    nonce
}

/// Network side: sign `now` for the device's `nonce` with the network's time key, into
/// `out`.
pub fn grant_time<S: Signer + ?Sized>(
    time_key: &mut S,
    domain: &Domain,
    nonce: &Nonce,
    now: Timestamp,
    out: &mut [u8; GRANT_LEN],
) -> Result<()> {
    let (signed, signature_out) = out.split_at_mut(GRANT_SIGNED_LEN);
    let (head, rest) = signed.split_at_mut(2);
    head.copy_from_slice(&[GRANT_VERSION, time_key.key_type().tag()]);
    let (nonce_out, time_out) = rest.split_at_mut(NONCE_LEN);
    nonce_out.copy_from_slice(nonce);
    time_out.copy_from_slice(&now.0.to_le_bytes());
    let digest = domain.digest(MessageKind::TIME_GRANT, signed);
    let signature = time_key
        .sign_digest(&digest)
        .map_err(|e| Error::Signer(e.kind()))?;
    signature_out.copy_from_slice(&signature);
    Ok(())
}

/// Device side: check a grant and return the time it carries. Fails with
/// [`Error::Malformed`] if it is not a grant, [`Error::NonceMismatch`] if it answers
/// another nonce, and [`Error::Rejected`] if the signature is not the network time key's
/// in `domain`.
pub fn verify_grant(
    grant: &[u8],
    domain: &Domain,
    network_key: &PublicKey,
    nonce: &Nonce,
) -> Result<Timestamp> {
    let grant: &[u8; GRANT_LEN] = grant
        .try_into()
        .map_err(|_| Error::Malformed("a time grant is 90 bytes"))?;
    let (signed, signature) = grant.split_at(GRANT_SIGNED_LEN);
    let [version, key_type, rest @ ..] = signed else {
        return Err(Error::Malformed("time grant truncated"));
    };
    if *version != GRANT_VERSION {
        return Err(Error::Malformed("unsupported time grant version"));
    }
    let key_type = KeyType::from_tag(*key_type).map_err(Error::Rejected)?;
    let (got_nonce, time) = rest.split_at(NONCE_LEN.min(rest.len()));
    // a grant for another nonce costs no signature work
    if got_nonce != nonce {
        return Err(Error::NonceMismatch);
    }
    if key_type != network_key.key_type() {
        return Err(Error::Rejected(depin_core::Error::SignatureRejected));
    }
    let signature = Signature::from_bytes(key_type, signature).map_err(Error::Rejected)?;
    network_key
        .verify_prehash(&domain.digest(MessageKind::TIME_GRANT, signed), &signature)
        .map_err(Error::Rejected)?;
    let time: [u8; 8] = time
        .try_into()
        .map_err(|_| Error::Malformed("time grant truncated"))?;
    Ok(Timestamp(u64::from_le_bytes(time)))
}

/// Unix time from a synced reference and a monotonic uptime counter (milliseconds since
/// boot, from any timer that does not go backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    unix_ms_at_sync: u64,
    uptime_ms_at_sync: u64,
}

impl Clock {
    /// The clock after a sync: the time was `unix` when the uptime counter read
    /// `uptime_ms`.
    pub const fn synced(unix: Timestamp, uptime_ms: u64) -> Self {
        Clock {
            unix_ms_at_sync: unix.0,
            uptime_ms_at_sync: uptime_ms,
        }
    }

    /// Check a grant ([`verify_grant`]) that arrived when the uptime counter read
    /// `uptime_ms`, and sync to it. The time it carries is at most the round trip old, so
    /// the clock runs that much behind, never ahead.
    pub fn from_grant(
        grant: &[u8],
        domain: &Domain,
        network_key: &PublicKey,
        nonce: &Nonce,
        uptime_ms: u64,
    ) -> Result<Self> {
        let unix = verify_grant(grant, domain, network_key, nonce)?;
        Ok(Clock::synced(unix, uptime_ms))
    }

    /// The time now, given the uptime counter now (a reading before the sync gives the
    /// sync time).
    pub const fn now(&self, uptime_ms: u64) -> Timestamp {
        let elapsed = uptime_ms.saturating_sub(self.uptime_ms_at_sync);
        Timestamp(self.unix_ms_at_sync.saturating_add(elapsed))
    }
}
