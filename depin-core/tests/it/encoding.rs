//! Canonical encoding: strict decoders.

use depin_core::encoding::{decode, decode_canonical, encode};
use depin_core::Error;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Reading {
    seq: u64,
    wh: u32,
    note: Option<Vec<u8>>,
    ok: bool,
}

fn sample() -> Reading {
    Reading {
        seq: 300,
        wh: 5,
        note: Some(vec![1, 2]),
        ok: true,
    }
}

#[test]
fn documented_bytes() {
    // 300 = varint ac 02; 5 = 05; Some = 01, len 02, 01 02; true = 01
    assert_eq!(
        encode(&sample()).unwrap(),
        vec![0xac, 0x02, 0x05, 0x01, 0x02, 0x01, 0x02, 0x01]
    );
}

#[test]
fn trailing_truncated_oversized() {
    let mut bytes = encode(&sample()).unwrap();
    assert_eq!(decode::<Reading>(&bytes, 64).unwrap(), sample());
    assert_eq!(
        decode::<Reading>(&bytes[..bytes.len() - 1], 64).unwrap_err(),
        Error::Truncated
    );
    bytes.push(0);
    assert_eq!(
        decode::<Reading>(&bytes, 64).unwrap_err(),
        Error::TrailingBytes { extra: 1 }
    );
    assert_eq!(
        decode::<Reading>(&[0u8; 100], 64).unwrap_err(),
        Error::TooLarge {
            len: 100,
            limit: 64
        }
    );
}

#[test]
fn bad_bool_and_option_tags() {
    assert!(matches!(
        decode::<Reading>(&[1, 1, 0, 2], 64),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        decode::<Reading>(&[1, 1, 7, 0], 64),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn non_canonical_varint_refused_by_decode_canonical() {
    // seq = 1 written as an over-long varint 0x81 0x00
    let bytes = [0x81, 0x00, 0x05, 0x00, 0x01];
    // plain `decode` (postcard) accepts the over-long form; `decode_canonical` refuses it
    assert_eq!(decode::<Reading>(&bytes, 64).unwrap().seq, 1);
    assert_eq!(
        decode_canonical::<Reading>(&bytes, 64).unwrap_err(),
        Error::NonCanonical
    );
    let canonical = encode(&Reading {
        seq: 1,
        wh: 5,
        note: None,
        ok: true,
    })
    .unwrap();
    decode_canonical::<Reading>(&canonical, 64).unwrap();
}
