//! `frame sign` and `frame verify`: the compact signed report frame of depin-core
//! (`docs/frame-format.md`), as hex.

use depin_core::frame::{sign_frame, Frame, MAX_FRAME_LEN, MAX_PAYLOAD_LEN};
use depin_core::{DeviceId, Domain, NetworkId, SigningKey, Timestamp};

use crate::error::Error;

/// The signing domain of network `id`.
pub(crate) fn domain(id: &str) -> Result<Domain, Error> {
    NetworkId::new(id)
        .map(Domain::new)
        .map_err(|e| Error::Input(format!("--network {id:?}: {e}")))
}

/// Sign a frame; its bytes.
pub(crate) fn sign(
    key: &SigningKey,
    network: &str,
    kind: u8,
    seq: u32,
    at: Option<u64>,
    payload: &[u8],
) -> Result<Vec<u8>, Error> {
    let domain = domain(network)?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::Input(format!(
            "--payload is {} bytes: a frame carries at most {MAX_PAYLOAD_LEN}",
            payload.len()
        )));
    }
    let timestamp = at.map_or_else(Timestamp::now, Timestamp);
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = sign_frame(&domain, key, kind, seq, timestamp, payload, &mut buf)
        .map_err(|e| Error::Input(format!("cannot sign the frame: {e}")))?;
    Ok(buf[..n].to_vec())
}

/// Parse `hex_text` as a frame, print its header, and check that `did`'s key signed it for
/// `network`.
pub(crate) fn verify(network: &str, did: &str, hex_text: &str) -> Result<(), Error> {
    let domain = domain(network)?;
    let device: DeviceId = did
        .parse()
        .map_err(|e| Error::Input(format!("--did {did:?}: {e}")))?;
    let key = device
        .public_key()
        .map_err(|e| Error::Input(format!("--did {did:?} is not a valid key: {e}")))?;
    let bytes = hex::decode(hex_text.trim())
        .map_err(|e| Error::Frame(format!("--frame is not hex: {e}")))?;
    let frame = Frame::parse(&bytes).map_err(|e| Error::Frame(e.to_string()))?;
    let h = &frame.header;
    println!("kind: {}", h.kind);
    println!("key_type: {}", h.key_type);
    println!("key_hint: {}", hex::encode(h.key_hint));
    println!("seq: {}", h.seq);
    println!("timestamp_ms: {}", h.timestamp.0);
    println!(
        "payload: {} bytes, hex {}",
        frame.payload.len(),
        hex::encode(frame.payload)
    );
    if let Ok(text) = std::str::from_utf8(frame.payload) {
        if !text.is_empty() && !text.chars().any(char::is_control) {
            println!("payload_text: {text}");
        }
    }
    frame.check_key(&key).map_err(|e| {
        Error::Frame(format!(
            "it was not signed by {device}'s key (the frame names another key: {e})"
        ))
    })?;
    frame.verify(&domain, &key).map_err(|_| {
        Error::Frame(format!(
            "the signature does not verify with {device}'s key for network {network:?} (signed \
             for another network, or the frame was altered)"
        ))
    })?;
    println!("valid: signed by {device} for network {network}");
    Ok(())
}
