//! Canonical binary encoding for signed data.
//!
//! depin-rs encodes signed structures with [postcard](https://postcard.jamesmunns.com/)
//! (wire format 1.0): integers as LEB128 varints (signed ones zig-zag first), `u8`/`i8`
//! and fixed arrays as raw bytes, `bool` as `0x00`/`0x01`, byte strings and sequences
//! as `varint(len) || items`, `Option` as `0x00` or `0x01 || value`, enums as
//! `varint(variant index) || fields`, structs as their fields in declaration order.
//! See `docs/formats.md` for a worked example.
//!
//! Decoders here are strict: input over the caller's limit is refused *before* any
//! parsing, a value must consume the input exactly (trailing bytes are an error),
//! truncation is reported as such, and with `alloc` [`decode_canonical`] additionally
//! refuses encodings that are not the unique canonical form of the value (for example
//! over-long varints). No decoder panics on any input.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Default size limit for one decoded message: 64 KiB.
pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

fn map_err(e: postcard::Error) -> Error {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => Error::Truncated,
        postcard::Error::SerializeBufferFull => Error::BufferTooSmall { needed: 0 },
        postcard::Error::DeserializeBadVarint => Error::Malformed("bad varint"),
        postcard::Error::DeserializeBadBool => Error::Malformed("bad bool"),
        postcard::Error::DeserializeBadChar => Error::Malformed("bad char"),
        postcard::Error::DeserializeBadUtf8 => Error::Malformed("bad utf-8"),
        postcard::Error::DeserializeBadOption => Error::Malformed("bad option tag"),
        postcard::Error::DeserializeBadEnum => Error::Malformed("bad enum tag"),
        postcard::Error::DeserializeBadEncoding => Error::Malformed("bad encoding"),
        _ => Error::Malformed("invalid value"),
    }
}

/// Encode `value` into `buf`, returning the used prefix.
pub fn encode_to_slice<'b, T: Serialize + ?Sized>(
    value: &T,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8]> {
    postcard::to_slice(value, buf).map_err(map_err)
}

/// Encode `value` into a new vector.
#[cfg(feature = "alloc")]
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<alloc::vec::Vec<u8>> {
    postcard::to_allocvec(value).map_err(map_err)
}

/// Decode one value that must occupy all of `bytes`, which must not exceed `max_len`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T> {
    if bytes.len() > max_len {
        return Err(Error::TooLarge {
            len: bytes.len(),
            limit: max_len,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(map_err)?;
    if !rest.is_empty() {
        return Err(Error::TrailingBytes { extra: rest.len() });
    }
    Ok(value)
}

/// Like [`decode`], and also refuses any encoding that is not byte-for-byte the
/// canonical encoding of the decoded value.
#[cfg(feature = "alloc")]
pub fn decode_canonical<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T> {
    let value: T = decode(bytes, max_len)?;
    if encode(&value)? != bytes {
        return Err(Error::NonCanonical);
    }
    Ok(value)
}
