//! Fragmentation of frames for constrained radios, and verified reassembly.
//!
//! A frame is at least 88 bytes (24-byte header + 64-byte signature), more than a
//! LoRaWAN EU868 DR0-2 uplink (51 bytes) or a US915 DR0 uplink (11 bytes) carries. The
//! [`Fragmenter`] splits a frame into fragments of at most `max_payload` bytes each; the
//! network-side [`Reassembler`] puts them back together, checks them strictly, and
//! hands out the frame **only after its signature verified**.
//!
//! # Fragment layout
//!
//! ```text
//! offset  size  field
//! 0       1     tag        frame tag, the same in every fragment of one frame
//!                          (the Fragmenter's caller picks it; use the low byte of the
//!                          frame's sequence number, see `Fragmenter::for_frame`)
//! 1       1     position   bit 7: LAST (set only on the final fragment)
//!                          bit 6: reserved, must be 0
//!                          bits 0-5: index, 0-based, consecutive
//! 2       n     chunk      the next n >= 1 frame bytes, n <= max_payload - 2
//! ```
//!
//! Two header bytes per fragment, so on an 11-byte US915 DR0 uplink each fragment
//! carries 9 frame bytes: a frame with an empty payload takes 10 uplinks, a full 288-byte
//! frame 32. On a 51-byte EU868 DR0 uplink each fragment carries 49 bytes (2 uplinks for
//! up to 10 payload bytes). At most [`MAX_FRAGMENTS`] (64) fragments, so the smallest
//! radio payload that carries every frame is 7 bytes.
//!
//! There is no total count: the frame header (bytes 0-23, in the first fragments) says
//! how long the frame is, and the LAST bit marks the end; the reassembler checks that
//! the two agree.

use depin_core::frame::{Frame, FRAME_OVERHEAD, HEADER_LEN, MAX_FRAME_LEN, MAX_PAYLOAD_LEN};
use depin_core::{Domain, PublicKey};

use crate::error::{Error, Result};

/// Bytes of fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 2;
/// Most fragments one frame may be split into (6-bit index).
pub const MAX_FRAGMENTS: usize = 64;
/// The LAST bit of the position byte.
pub const LAST_FLAG: u8 = 0x80;
/// The reserved bit of the position byte (must be zero).
pub const RESERVED_FLAG: u8 = 0x40;
/// The index bits of the position byte.
pub const INDEX_MASK: u8 = 0x3f;
/// Offset of the payload-length byte in a frame (tells the reassembler the frame length).
const PAYLOAD_LEN_OFFSET: usize = HEADER_LEN - 1;

/// Number of fragments a `frame_len`-byte frame needs with `max_payload`-byte radio
/// payloads.
pub fn fragment_count(frame_len: usize, max_payload: usize) -> Result<usize> {
    let chunk = max_payload
        .checked_sub(FRAGMENT_HEADER_LEN)
        .filter(|&c| c > 0)
        .ok_or(Error::FragmentSizeTooSmall { max_payload })?;
    let count = frame_len.div_ceil(chunk).max(1);
    if count > MAX_FRAGMENTS {
        return Err(Error::FragmentSizeTooSmall { max_payload });
    }
    Ok(count)
}

/// One fragment: a 2-byte header and a chunk borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    header: [u8; FRAGMENT_HEADER_LEN],
    chunk: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// The frame tag.
    pub fn tag(&self) -> u8 {
        self.header[0]
    }

    /// The 0-based index.
    pub fn index(&self) -> u8 {
        self.header[1] & INDEX_MASK
    }

    /// Whether this is the final fragment.
    pub fn is_last(&self) -> bool {
        self.header[1] & LAST_FLAG != 0
    }

    /// The frame bytes this fragment carries.
    pub fn chunk(&self) -> &'a [u8] {
        self.chunk
    }

    /// Encoded length (header + chunk).
    pub fn len(&self) -> usize {
        FRAGMENT_HEADER_LEN + self.chunk.len()
    }

    /// Always `false`: a fragment carries at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the fragment (header then chunk) into `out`; returns its length.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize> {
        let n = self.len();
        let dst = out
            .get_mut(..n)
            .ok_or(Error::BufferTooSmall { needed: n })?;
        let (head, body) = dst.split_at_mut(FRAGMENT_HEADER_LEN);
        head.copy_from_slice(&self.header);
        body.copy_from_slice(self.chunk);
        Ok(n)
    }
}

/// Splits a frame into fragments of at most `max_payload` bytes (header included).
///
/// It is an [`Iterator`] of [`Fragment`]s borrowing the frame, and
/// [`next_into`](Self::next_into) writes the next fragment straight into a radio buffer.
///
/// ```
/// use depin_device::fragment::{Fragmenter, Reassembler};
/// # use depin_core::{frame::{sign_frame, MAX_FRAME_LEN}, Domain, KeyType, NetworkId, SigningKey, Timestamp};
/// # let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[9; 32])?;
/// # let domain = Domain::new(NetworkId::new("demo-net")?);
/// # let mut buf = [0u8; MAX_FRAME_LEN];
/// # let n = sign_frame(&domain, &key, 1, 300, Timestamp(0), b"hello", &mut buf)?;
/// let frame = &buf[..n]; // a signed frame
/// let mut radio = [0u8; 11]; // US915 DR0
/// let mut fragments = Fragmenter::for_frame(frame, radio.len())?;
/// assert_eq!(fragments.len(), 11); // 93 bytes in chunks of 9
///
/// let mut network = Reassembler::new();
/// let mut verified = None;
/// while let Some(len) = fragments.next_into(&mut radio)? {
///     // ... radio transmits radio[..len] ...
///     if let Some(f) = network.push_verified(&radio[..len], &domain, &key.public_key())? {
///         verified = Some((f.header.seq, f.payload.len()));
///     }
/// }
/// assert_eq!(verified, Some((300, 5)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fragmenter<'a> {
    rest: &'a [u8],
    chunk: usize,
    tag: u8,
    index: u8,
    remaining: usize,
}

impl<'a> Fragmenter<'a> {
    /// Split `frame` into fragments of at most `max_payload` bytes, all tagged `tag`.
    /// Fails if `max_payload` leaves no room for data or the frame would need more than
    /// [`MAX_FRAGMENTS`] fragments. An empty `frame` yields no fragments.
    pub fn new(frame: &'a [u8], max_payload: usize, tag: u8) -> Result<Self> {
        let count = fragment_count(frame.len(), max_payload)?;
        Ok(Fragmenter {
            rest: frame,
            chunk: max_payload.saturating_sub(FRAGMENT_HEADER_LEN),
            tag,
            index: 0,
            remaining: if frame.is_empty() { 0 } else { count },
        })
    }

    /// Like [`new`](Self::new), tagged with the low byte of the frame's sequence number
    /// (so consecutive frames have different tags). Falls back to tag 0 when `frame` is
    /// too short to hold a sequence number.
    pub fn for_frame(frame: &'a [u8], max_payload: usize) -> Result<Self> {
        // seq is a little-endian u32 at offset 11: its low byte is frame[11]
        let tag = frame.get(11).copied().unwrap_or(0);
        Self::new(frame, max_payload, tag)
    }

    /// Write the next fragment into `out` and return its length, or `Ok(None)` when
    /// every fragment was written.
    ///
    /// If `out` is shorter than the next fragment this fails with
    /// [`Error::BufferTooSmall`] and **consumes nothing**: the same fragment is written by
    /// the next call with a large enough buffer.
    pub fn next_into(&mut self, out: &mut [u8]) -> Result<Option<usize>> {
        let Some(needed) = self.next_len() else {
            return Ok(None);
        };
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        match self.next() {
            Some(fragment) => fragment.write_to(out).map(Some),
            None => Ok(None),
        }
    }

    /// Length (header included) of the fragment [`next_into`](Self::next_into) writes
    /// next, or `None` when done.
    pub fn next_len(&self) -> Option<usize> {
        if self.rest.is_empty() {
            None
        } else {
            Some(FRAGMENT_HEADER_LEN + self.chunk.min(self.rest.len()))
        }
    }
}

impl<'a> Iterator for Fragmenter<'a> {
    type Item = Fragment<'a>;

    fn next(&mut self) -> Option<Fragment<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let take = self.chunk.min(self.rest.len());
        let (chunk, rest) = self.rest.split_at(take);
        self.rest = rest;
        let mut position = self.index & INDEX_MASK;
        if rest.is_empty() {
            position |= LAST_FLAG;
        }
        self.index = self.index.wrapping_add(1);
        self.remaining = self.remaining.saturating_sub(1);
        Some(Fragment {
            header: [self.tag, position],
            chunk,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Fragmenter<'_> {}

/// Parse a fragment's header: `(tag, index, last, chunk)`.
fn parse_fragment(bytes: &[u8]) -> Result<(u8, u8, bool, &[u8])> {
    match bytes {
        [tag, position, chunk @ ..] if !chunk.is_empty() && position & RESERVED_FLAG == 0 => Ok((
            *tag,
            position & INDEX_MASK,
            position & LAST_FLAG != 0,
            chunk,
        )),
        _ => Err(Error::MalformedFragment),
    }
}

/// Where the reassembler is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for fragment 0 of a frame.
    Idle,
    /// Collecting fragments of frame `tag`; `next` is the index expected next.
    Collecting { tag: u8, next: u8 },
}

/// Network-side reassembly into a fixed [`MAX_FRAME_LEN`]-byte buffer (no allocation).
///
/// Fragments must arrive in order, each exactly once (LoRaWAN uplinks from one device
/// arrive in order; a lost one cannot be recovered from what follows). Every deviation
/// is refused with a typed error and **discards the partial frame**; the reassembler
/// then waits for a fragment 0 again:
///
/// | what happened                                    | error                                |
/// |--------------------------------------------------|--------------------------------------|
/// | fragment too short / reserved bit set            | [`Error::MalformedFragment`]         |
/// | gap: index above the expected one (lost or reordered fragment), or a frame that does not start at 0 | [`Error::MissingFragment`] |
/// | index already received (retransmission, replay)  | [`Error::DuplicateFragment`]         |
/// | other tag while a frame is incomplete            | [`Error::MixedFragments`]            |
/// | more bytes than the frame declares, or LAST too early | [`Error::LengthMismatch`]       |
/// | frame does not parse or its signature fails      | [`Error::Rejected`]                  |
///
/// A complete frame is returned only after the caller's verification closure accepted
/// it ([`push`](Self::push)), typically [`Frame::verify`] with the device's registered
/// key ([`push_verified`](Self::push_verified)). There is no way to read unverified bytes.
#[derive(Debug, Clone)]
pub struct Reassembler {
    buf: [u8; MAX_FRAME_LEN],
    len: usize,
    state: State,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    /// An empty reassembler.
    pub const fn new() -> Self {
        Reassembler {
            buf: [0; MAX_FRAME_LEN],
            len: 0,
            state: State::Idle,
        }
    }

    /// Whether a frame is partly received.
    pub fn in_progress(&self) -> bool {
        self.state != State::Idle
    }

    /// Drop any partial frame (e.g. after a timeout).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.len = 0;
    }

    fn fail(&mut self, e: Error) -> Error {
        self.reset();
        e
    }

    /// The frame length declared by the header bytes received so far, if complete.
    fn declared_len(&self) -> Option<usize> {
        if self.len < HEADER_LEN {
            return None;
        }
        self.buf
            .get(PAYLOAD_LEN_OFFSET)
            .map(|&p| FRAME_OVERHEAD + usize::from(p).min(MAX_PAYLOAD_LEN + 1))
    }

    /// Take one fragment. Returns `Ok(None)` while the frame is incomplete, and
    /// `Ok(Some(frame))` once the last fragment arrived, the frame parsed, and
    /// `verify(&frame)` returned `Ok`. Errors are described on [`Reassembler`]; a
    /// verification failure is [`Error::Rejected`] with the closure's error.
    pub fn push<F>(&mut self, fragment: &[u8], verify: F) -> Result<Option<Frame<'_>>>
    where
        F: FnOnce(&Frame<'_>) -> depin_core::Result<()>,
    {
        let (tag, index, last, chunk) = match parse_fragment(fragment) {
            Ok(parts) => parts,
            Err(e) => return Err(self.fail(e)),
        };
        match self.state {
            State::Idle if index != 0 => {
                return Err(self.fail(Error::MissingFragment {
                    expected: 0,
                    got: index,
                }))
            }
            State::Idle => {
                self.len = 0;
            }
            State::Collecting { tag: t, .. } if t != tag => {
                return Err(self.fail(Error::MixedFragments {
                    expected_tag: t,
                    got_tag: tag,
                }))
            }
            State::Collecting { next, .. } if index < next => {
                return Err(self.fail(Error::DuplicateFragment { index }))
            }
            State::Collecting { next, .. } if index > next => {
                return Err(self.fail(Error::MissingFragment {
                    expected: next,
                    got: index,
                }))
            }
            State::Collecting { .. } => {}
        }
        // append the chunk
        let end = self.len.saturating_add(chunk.len());
        let Some(dst) = self.buf.get_mut(self.len..end) else {
            let declared = self.declared_len().unwrap_or(0);
            return Err(self.fail(Error::LengthMismatch {
                declared,
                received: end,
            }));
        };
        dst.copy_from_slice(chunk);
        self.len = end;
        match self.declared_len() {
            Some(declared) if self.len > declared || (last && self.len != declared) => {
                return Err(self.fail(Error::LengthMismatch {
                    declared,
                    received: self.len,
                }));
            }
            None if last => {
                // LAST before the frame header was even complete
                return Err(self.fail(Error::LengthMismatch {
                    declared: 0,
                    received: self.len,
                }));
            }
            _ => {}
        }
        if !last {
            if usize::from(index) + 1 >= MAX_FRAGMENTS {
                // the next index would not fit the 6-bit field
                let declared = self.declared_len().unwrap_or(0);
                return Err(self.fail(Error::LengthMismatch {
                    declared,
                    received: self.len,
                }));
            }
            self.state = State::Collecting {
                tag,
                next: index.saturating_add(1),
            };
            return Ok(None);
        }
        // complete: parse and verify before anything leaves
        let len = self.len;
        self.state = State::Idle;
        self.len = 0;
        let Some(bytes) = self.buf.get(..len) else {
            return Err(Error::LengthMismatch {
                declared: 0,
                received: len,
            });
        };
        let frame = Frame::parse(bytes).map_err(Error::Rejected)?;
        verify(&frame).map_err(Error::Rejected)?;
        Ok(Some(frame))
    }

    /// [`push`](Self::push) with depin-core's network verifier: the frame must name
    /// `key` (type and key hint) and carry a valid signature in `domain`.
    pub fn push_verified(
        &mut self,
        fragment: &[u8],
        domain: &Domain,
        key: &PublicKey,
    ) -> Result<Option<Frame<'_>>> {
        self.push(fragment, |f| f.verify(domain, key))
    }
}
