//! Signed report frames, written into caller buffers with no allocation.
//!
//! The byte layout is depin-core's [`depin_core::frame`] (one definition shared with the
//! network verifier); this module only drives it with a [`Signer`] and a
//! [`SequenceCounter`]. See `docs/frame-format.md` for the layout and a worked example.

use depin_core::frame::{
    attach_signature, encode_unsigned, signing_digest, FrameHeader, HEADER_LEN, MAX_PAYLOAD_LEN,
};
use depin_core::{Domain, KeyHint, KeyType, Timestamp, SIGNATURE_LEN};

use crate::counter::{CounterStorage, SequenceCounter};
use crate::error::{Error, Result};
use crate::signer::{Signer, SignerError as _};

/// The header a `signer` would put on a frame (asks the signer for its key hint: one SHA-256
/// unless the signer caches it).
pub fn frame_header<S: Signer + ?Sized>(
    signer: &S,
    kind: u8,
    seq: u32,
    timestamp: Timestamp,
) -> FrameHeader {
    FrameHeader {
        kind,
        key_type: signer.key_type(),
        key_hint: signer.key_hint(),
        seq,
        timestamp,
    }
}

/// Bytes a frame with a `payload_len`-byte payload occupies (88 + `payload_len`;
/// saturates instead of overflowing).
pub const fn frame_len(payload_len: usize) -> usize {
    payload_len.saturating_add(HEADER_LEN + SIGNATURE_LEN)
}

fn check_sizes(payload: &[u8], out: &[u8]) -> Result<()> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::TooLong {
            len: payload.len(),
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let needed = frame_len(payload.len());
    if out.len() < needed {
        return Err(Error::BufferTooSmall { needed });
    }
    Ok(())
}

/// Encode `header` and `payload`, sign the depin-core signing digest with `signer` and
/// write the complete frame into `out`. Returns the frame length
/// ([`frame_len`]`(payload.len())`).
///
/// The caller chooses the sequence number; most firmware wants [`Reporter`], which
/// takes it from a reboot-safe [`SequenceCounter`]. `header.key_type` and
/// `header.key_hint` must be the signer's (see [`frame_header`]); the network rejects
/// the frame otherwise.
pub fn write_frame<S: Signer + ?Sized>(
    signer: &mut S,
    domain: &Domain,
    header: &FrameHeader,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    check_sizes(payload, out)?;
    let n = encode_unsigned(header, payload, out)?;
    let unsigned = out.get(..n).ok_or(Error::BufferTooSmall { needed: n })?;
    let digest = signing_digest(domain, unsigned);
    let signature = signer
        .sign_digest(&digest)
        .map_err(|e| Error::Signer(e.kind()))?;
    Ok(attach_signature(out, n, &signature)?)
}

/// What [`Reporter::report`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The sequence number the frame carries.
    pub seq: u32,
    /// Length of the frame written at the start of the output buffer.
    pub len: usize,
}

/// Makes signed report frames: a signer, a reboot-safe sequence counter and the
/// network's signing domain.
///
/// ```
/// use depin_core::{frame::{Frame, MAX_FRAME_LEN}, Domain, NetworkId, Timestamp};
/// use depin_device::{counter::{RamStorage, SequenceCounter}, signer::Ed25519Signer, Reporter};
///
/// let signer = Ed25519Signer::from_secret(&[1; 32])?;
/// let public = signer.public_key();
/// let counter = SequenceCounter::new(RamStorage::new(), 16)?;
/// let domain = Domain::new(NetworkId::new("demo-net")?);
/// let mut reporter = Reporter::new(signer, counter, domain);
///
/// let mut buf = [0u8; MAX_FRAME_LEN];
/// let report = reporter.report(0x01, Timestamp(1_700_000_000_000), b"\x01\x02", &mut buf)?;
/// let frame = Frame::parse(&buf[..report.len])?;
/// frame.verify(&domain, &public)?;
/// assert_eq!(frame.header.seq, report.seq);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Reporter<S, C> {
    signer: S,
    counter: SequenceCounter<C>,
    domain: Domain,
    key_type: KeyType,
    key_hint: KeyHint,
}

impl<S: Signer, C: CounterStorage> Reporter<S, C> {
    /// Build a reporter (computes the key hint once).
    pub fn new(signer: S, counter: SequenceCounter<C>, domain: Domain) -> Self {
        Reporter {
            key_type: signer.key_type(),
            key_hint: signer.key_hint(),
            signer,
            counter,
            domain,
        }
    }

    /// Sign one report of application `kind` made at `timestamp` and write the frame
    /// into `out`.
    ///
    /// Sizes are checked before a sequence number is taken, so a too-long payload or a
    /// too-small buffer costs no number. Once taken, a number is never used again,
    /// even if signing then fails (the network only needs numbers to increase).
    pub fn report(
        &mut self,
        kind: u8,
        timestamp: Timestamp,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<Report> {
        check_sizes(payload, out)?;
        let seq = self.counter.next_seq()?;
        let header = FrameHeader {
            kind,
            key_type: self.key_type,
            key_hint: self.key_hint,
            seq,
            timestamp,
        };
        let len = write_frame(&mut self.signer, &self.domain, &header, payload, out)?;
        Ok(Report { seq, len })
    }

    /// The signer.
    pub fn signer(&mut self) -> &mut S {
        &mut self.signer
    }

    /// The sequence counter.
    pub fn counter(&mut self) -> &mut SequenceCounter<C> {
        &mut self.counter
    }

    /// The signing domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Take the reporter apart.
    pub fn into_parts(self) -> (S, SequenceCounter<C>, Domain) {
        (self.signer, self.counter, self.domain)
    }
}
