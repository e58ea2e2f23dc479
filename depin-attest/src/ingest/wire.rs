//! The request and response formats of the ingest endpoints.
//!
//! # Binary batch (`application/x-depin-batch`)
//!
//! ```text
//! "DPB1"                      4-byte magic
//! then, for each item:
//!   tag   u8                  1 = frame, 2 = envelope
//!   len   u16, big-endian     at most Limits::max_item_bytes
//!   bytes [u8; len]
//! ```
//!
//! Nothing follows the last item; a body of only the magic has no items (refused as
//! [`WireError::Empty`]). [`decode_binary`] checks every count and length before it copies
//! anything, and never panics, whatever the bytes.
//!
//! # JSON batch (`application/json`, with the `http` feature)
//!
//! ```json
//! {"items": [{"frame": "<base64>"}, {"envelope": "<base64>"}]}
//! ```
//!
//! Base64 with the standard alphabet and padding. Unknown top-level fields are ignored; an
//! item has exactly one key. [`decode_json`] counts items and checks each one's length
//! while it parses, so a body of many tiny items stops at the first one over the limit.
//!
//! # Responses
//!
//! [`OneResponse`] and [`BatchResponse`] carry verdicts (durable when sent);
//! [`ErrorBody`] explains a refused request.

use serde::{Deserialize, Serialize};

use super::{limits::Limits, ItemBytes, ItemResult};

/// The content type of a single raw frame or envelope.
pub const RAW_CONTENT_TYPE: &str = "application/octet-stream";
/// The content type of a JSON batch ([`JsonBatch`], with the `http` feature).
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The content type of a binary batch.
pub const BINARY_CONTENT_TYPE: &str = "application/x-depin-batch";
/// The first four bytes of a binary batch.
pub const MAGIC: &[u8; 4] = b"DPB1";
/// The tag of a frame in a binary batch.
pub const TAG_FRAME: u8 = 1;
/// The tag of an envelope in a binary batch.
pub const TAG_ENVELOPE: u8 = 2;
/// The longest item a binary batch can carry (its length is a `u16`).
pub const MAX_ENCODABLE_ITEM: usize = u16::MAX as usize;

/// Why a request body was refused before any item reached the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// More items than `Limits::max_items_per_request`.
    #[error("more than {max} items in one request")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// An item longer than `Limits::max_item_bytes` (or, when encoding, than a `u16`).
    #[error("an item is longer than {max} bytes")]
    ItemTooLarge {
        /// The limit.
        max: usize,
    },
    /// A body without items.
    #[error("the request has no items")]
    Empty,
    /// Bytes that are not of the format: bad magic, unknown tag, truncated item, bad JSON
    /// or base64.
    #[error("malformed request body: {0}")]
    Malformed(String),
}

impl WireError {
    /// A short stable code (`snake_case`), used as [`ErrorBody::error`].
    pub fn code(&self) -> &'static str {
        match self {
            WireError::TooManyItems { .. } => "too_many_items",
            WireError::ItemTooLarge { .. } => "item_too_large",
            WireError::Empty => "empty",
            WireError::Malformed(_) => "malformed",
        }
    }
}

/// Decodes a binary batch (the layout is in the module docs), within `limits`.
///
/// Refuses with [`WireError::TooManyItems`] on reaching item
/// `max_items_per_request + 1`, with [`WireError::ItemTooLarge`] on reading a length over
/// `max_item_bytes` (before copying it), and with [`WireError::Malformed`] on a bad magic,
/// an unknown tag or a truncated item. Never panics.
pub fn decode_binary(body: &[u8], limits: &Limits) -> Result<Vec<ItemBytes>, WireError> {
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    let Some(mut rest) = body.strip_prefix(MAGIC.as_slice()) else {
        return Err(WireError::Malformed(
            "a binary batch starts with the magic \"DPB1\"".into(),
        ));
    };
    if rest.is_empty() {
        return Err(WireError::Empty);
    }
    let max_items = limits.max_items_per_request;
    // Every item takes at least 3 bytes: the capacity is bounded by the body and the limit.
    let mut items = Vec::with_capacity(max_items.min(rest.len() / 3));
    while let Some((&tag, after_tag)) = rest.split_first() {
        let index = items.len();
        if index >= max_items {
            return Err(WireError::TooManyItems { max: max_items });
        }
        if tag != TAG_FRAME && tag != TAG_ENVELOPE {
            return Err(WireError::Malformed(format!(
                "item {index} has the unknown tag {tag} (1 frame, 2 envelope)"
            )));
        }
        let Some((len, after_len)) = after_tag.split_first_chunk::<2>() else {
            return Err(WireError::Malformed(format!(
                "item {index} ends inside its length"
            )));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if len > limits.max_item_bytes {
            return Err(WireError::ItemTooLarge {
                max: limits.max_item_bytes,
            });
        }
        let Some((bytes, after)) = after_len.split_at_checked(len) else {
            return Err(WireError::Malformed(format!(
                "item {index} is truncated: {len} bytes declared, {} left",
                after_len.len()
            )));
        };
        items.push(if tag == TAG_FRAME {
            ItemBytes::Frame(bytes.to_vec())
        } else {
            ItemBytes::Envelope(bytes.to_vec())
        });
        rest = after;
    }
    Ok(items)
}

/// Encodes a binary batch, refusing an item longer than [`MAX_ENCODABLE_ITEM`].
pub fn try_encode_binary(items: &[ItemBytes]) -> Result<Vec<u8>, WireError> {
    if items.iter().any(|i| i.len() > MAX_ENCODABLE_ITEM) {
        return Err(WireError::ItemTooLarge {
            max: MAX_ENCODABLE_ITEM,
        });
    }
    Ok(encode_binary(items))
}

/// Encodes a binary batch (the layout is in the module docs).
///
/// An item longer than [`MAX_ENCODABLE_ITEM`] (65 535 bytes, far above any
/// `max_item_bytes`) cannot be represented and is cut to that length, so it can only be
/// rejected where it arrives; use [`try_encode_binary`] to refuse it instead.
pub fn encode_binary(items: &[ItemBytes]) -> Vec<u8> {
    let total = items.iter().fold(MAGIC.len(), |n, i| {
        n.saturating_add(3 + i.len().min(MAX_ENCODABLE_ITEM))
    });
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    for item in items {
        let (tag, bytes) = match item {
            ItemBytes::Frame(b) => (TAG_FRAME, b.as_slice()),
            ItemBytes::Envelope(b) => (TAG_ENVELOPE, b.as_slice()),
        };
        let bytes = bytes.get(..MAX_ENCODABLE_ITEM).unwrap_or(bytes);
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        out.push(tag);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// The answer to a single frame or envelope: its verdict, durable.
#[derive(Serialize, Deserialize)]
pub struct OneResponse {
    /// The verdict.
    pub result: ItemResult,
}

/// The answer to a batch: one verdict per item, in the request's order, all durable.
#[derive(Serialize, Deserialize)]
pub struct BatchResponse {
    /// The verdicts.
    pub results: Vec<ItemResult>,
}

/// The body of a refused request (every status but 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short stable code: `unsupported_media_type`, `too_large`, `timeout`,
    /// `rate_limited`, a [`WireError::code`], `overloaded`, `unavailable`, `shutting_down`.
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
    /// When to try again, in whole seconds (the `Retry-After` header's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

#[cfg(feature = "http")]
pub use self::json::{decode_json, JsonBatch, JsonItem};

#[cfg(feature = "http")]
mod json {
    use std::{cell::Cell, fmt};

    use base64::{engine::general_purpose::STANDARD, Engine as _};
    use serde::{
        de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
        Deserialize, Deserializer, Serialize, Serializer,
    };

    use super::{ItemBytes, Limits, WireError};

    /// A batch as JSON: `{"items": [{"frame": "<base64>"}, ...]}`.
    ///
    /// For clients; the endpoint decodes with [`decode_json`], which enforces the limits
    /// while parsing.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct JsonBatch {
        /// The items, in order.
        pub items: Vec<JsonItem>,
    }

    impl JsonBatch {
        /// A batch of `items`.
        pub fn new(items: impl IntoIterator<Item = ItemBytes>) -> Self {
            JsonBatch {
                items: items.into_iter().map(JsonItem::from).collect(),
            }
        }
    }

    /// One item of a [`JsonBatch`]: the raw bytes, written `{"frame": "<base64>"}` or
    /// `{"envelope": "<base64>"}` (standard alphabet, padded).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum JsonItem {
        /// An encoded device frame.
        Frame(Vec<u8>),
        /// An encoded envelope.
        Envelope(Vec<u8>),
    }

    impl From<JsonItem> for ItemBytes {
        fn from(item: JsonItem) -> Self {
            match item {
                JsonItem::Frame(b) => ItemBytes::Frame(b),
                JsonItem::Envelope(b) => ItemBytes::Envelope(b),
            }
        }
    }

    impl From<ItemBytes> for JsonItem {
        fn from(item: ItemBytes) -> Self {
            match item {
                ItemBytes::Frame(b) => JsonItem::Frame(b),
                ItemBytes::Envelope(b) => JsonItem::Envelope(b),
            }
        }
    }

    impl Serialize for JsonItem {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                JsonItem::Frame(b) => {
                    s.serialize_newtype_variant("JsonItem", 0, "frame", &STANDARD.encode(b))
                }
                JsonItem::Envelope(b) => {
                    s.serialize_newtype_variant("JsonItem", 1, "envelope", &STANDARD.encode(b))
                }
            }
        }
    }

    impl<'de> Deserialize<'de> for JsonItem {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let violation = Cell::new(None);
            ItemSeed {
                max_item_bytes: usize::MAX,
                violation: &violation,
            }
            .deserialize(d)
        }
    }

    /// Decodes a JSON batch within `limits`, counting items and checking each one's length
    /// (its base64 length first) while parsing. The errors are those of
    /// [`decode_binary`](super::decode_binary); bad JSON or base64 is
    /// [`WireError::Malformed`]. Never panics (serde_json bounds nesting depth).
    pub fn decode_json(body: &[u8], limits: &Limits) -> Result<Vec<ItemBytes>, WireError> {
        if body.is_empty() {
            return Err(WireError::Empty);
        }
        let violation = Cell::new(None);
        let mut de = serde_json::Deserializer::from_slice(body);
        let seed = BatchSeed {
            limits,
            violation: &violation,
        };
        let items = match seed.deserialize(&mut de) {
            Ok(items) => items,
            Err(e) => {
                return Err(violation
                    .take()
                    .unwrap_or_else(|| WireError::Malformed(e.to_string())))
            }
        };
        de.end().map_err(|e| WireError::Malformed(e.to_string()))?;
        if items.is_empty() {
            return Err(WireError::Empty);
        }
        Ok(items)
    }

    /// The top-level object.
    #[derive(Clone, Copy)]
    struct BatchSeed<'a> {
        limits: &'a Limits,
        violation: &'a Cell<Option<WireError>>,
    }

    impl<'de> DeserializeSeed<'de> for BatchSeed<'_> {
        type Value = Vec<ItemBytes>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for BatchSeed<'_> {
        type Value = Vec<ItemBytes>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object with an \"items\" array")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut items = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "items" {
                    if items.is_some() {
                        return Err(de::Error::duplicate_field("items"));
                    }
                    items = Some(map.next_value_seed(ItemsSeed {
                        limits: self.limits,
                        violation: self.violation,
                    })?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            items.ok_or_else(|| de::Error::missing_field("items"))
        }
    }

    /// The `items` array.
    #[derive(Clone, Copy)]
    struct ItemsSeed<'a> {
        limits: &'a Limits,
        violation: &'a Cell<Option<WireError>>,
    }

    impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
        type Value = Vec<ItemBytes>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for ItemsSeed<'_> {
        type Value = Vec<ItemBytes>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of items")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let max = self.limits.max_items_per_request;
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max).min(1024));
            let item = ItemSeed {
                max_item_bytes: self.limits.max_item_bytes,
                violation: self.violation,
            };
            while let Some(next) = seq.next_element_seed(item)? {
                if items.len() >= max {
                    self.violation.set(Some(WireError::TooManyItems { max }));
                    return Err(de::Error::custom(format!("more than {max} items")));
                }
                items.push(ItemBytes::from(next));
            }
            Ok(items)
        }
    }

    /// One item: an object with one key.
    #[derive(Clone, Copy)]
    struct ItemSeed<'a> {
        max_item_bytes: usize,
        violation: &'a Cell<Option<WireError>>,
    }

    impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
        type Value = JsonItem;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for ItemSeed<'_> {
        type Value = JsonItem;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object {\"frame\": \"<base64>\"} or {\"envelope\": \"<base64>\"}")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let Some(tag) = map.next_key_seed(TagSeed)? else {
                return Err(de::Error::custom(
                    "an item needs a \"frame\" or \"envelope\" key",
                ));
            };
            let bytes = map.next_value_seed(Base64Seed {
                max: self.max_item_bytes,
                violation: self.violation,
            })?;
            if map.next_key::<IgnoredAny>()?.is_some() {
                return Err(de::Error::custom("an item has exactly one key"));
            }
            Ok(match tag {
                Tag::Frame => JsonItem::Frame(bytes),
                Tag::Envelope => JsonItem::Envelope(bytes),
            })
        }
    }

    /// The key of an item.
    #[derive(Clone, Copy)]
    enum Tag {
        Frame,
        Envelope,
    }

    #[derive(Clone, Copy)]
    struct TagSeed;

    impl<'de> DeserializeSeed<'de> for TagSeed {
        type Value = Tag;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_identifier(self)
        }
    }

    impl<'de> Visitor<'de> for TagSeed {
        type Value = Tag;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"frame\" or \"envelope\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "frame" => Ok(Tag::Frame),
                "envelope" => Ok(Tag::Envelope),
                other => Err(E::unknown_variant(other, &["frame", "envelope"])),
            }
        }
    }

    /// An item's base64 string, checked for length before and after decoding.
    #[derive(Clone, Copy)]
    struct Base64Seed<'a> {
        max: usize,
        violation: &'a Cell<Option<WireError>>,
    }

    impl Base64Seed<'_> {
        fn too_large<E: de::Error>(&self) -> E {
            self.violation
                .set(Some(WireError::ItemTooLarge { max: self.max }));
            E::custom(format!("an item is longer than {} bytes", self.max))
        }
    }

    impl<'de> DeserializeSeed<'de> for Base64Seed<'_> {
        type Value = Vec<u8>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for Base64Seed<'_> {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a base64 string (standard alphabet, padded)")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            // Padded base64 of `max` bytes is 4 * ceil(max / 3) characters; anything longer
            // decodes to more than `max` bytes (or is invalid): refuse before decoding.
            if v.len() > self.max.div_ceil(3).saturating_mul(4) {
                return Err(self.too_large());
            }
            let bytes = STANDARD
                .decode(v)
                .map_err(|e| E::custom(format!("bad base64: {e}")))?;
            if bytes.len() > self.max {
                return Err(self.too_large());
            }
            Ok(bytes)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(items: &[ItemBytes]) -> Vec<(u8, Vec<u8>)> {
        items
            .iter()
            .map(|i| match i {
                ItemBytes::Frame(b) => (TAG_FRAME, b.clone()),
                ItemBytes::Envelope(b) => (TAG_ENVELOPE, b.clone()),
            })
            .collect()
    }

    fn limits(max_items: usize, max_item_bytes: usize) -> Limits {
        Limits {
            max_items_per_request: max_items,
            max_item_bytes,
            ..Limits::default()
        }
    }

    fn item() -> impl Strategy<Value = ItemBytes> {
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..=2048),
        )
            .prop_map(|(frame, bytes)| {
                if frame {
                    ItemBytes::Frame(bytes)
                } else {
                    ItemBytes::Envelope(bytes)
                }
            })
    }

    #[test]
    fn binary_layout() {
        let items = [
            ItemBytes::Frame(vec![0xAA, 0xBB]),
            ItemBytes::Envelope(vec![]),
        ];
        let enc = encode_binary(&items);
        assert_eq!(enc, b"DPB1\x01\x00\x02\xAA\xBB\x02\x00\x00".to_vec());
        assert_eq!(try_encode_binary(&items).unwrap(), enc);
        let dec = decode_binary(&enc, &Limits::default()).unwrap();
        assert_eq!(parts(&dec), parts(&items));
    }

    #[test]
    fn binary_errors() {
        let l = Limits::default();
        assert_eq!(decode_binary(b"", &l).unwrap_err(), WireError::Empty);
        assert_eq!(decode_binary(b"DPB1", &l).unwrap_err(), WireError::Empty);
        for bad in [
            &b"DPB"[..],
            &b"DPB2\x01\x00\x00"[..],
            &b"{\"items\":[]}"[..],
        ] {
            assert_eq!(decode_binary(bad, &l).unwrap_err().code(), "malformed");
        }
        // Unknown tag, length cut short, data cut short.
        assert_eq!(
            decode_binary(b"DPB1\x03\x00\x00", &l).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            decode_binary(b"DPB1\x01\x00", &l).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            decode_binary(b"DPB1\x01", &l).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            decode_binary(b"DPB1\x01\x00\x03ab", &l).unwrap_err().code(),
            "malformed"
        );
        // A trailing partial item after a good one.
        assert_eq!(
            decode_binary(b"DPB1\x01\x00\x01a\x02", &l)
                .unwrap_err()
                .code(),
            "malformed"
        );
        // The length is checked before the data: no need to send it.
        assert_eq!(
            decode_binary(b"DPB1\x01\x08\x01", &l).unwrap_err(),
            WireError::ItemTooLarge { max: 2048 }
        );
        let exactly = encode_binary(&[ItemBytes::Frame(vec![7; 2048])]);
        assert_eq!(decode_binary(&exactly, &l).unwrap().len(), 1);
    }

    #[test]
    fn binary_item_count() {
        let l = limits(3, 16);
        let three = vec![ItemBytes::Frame(vec![1]); 3];
        assert_eq!(decode_binary(&encode_binary(&three), &l).unwrap().len(), 3);
        let four = vec![ItemBytes::Frame(vec![1]); 4];
        assert_eq!(
            decode_binary(&encode_binary(&four), &l).unwrap_err(),
            WireError::TooManyItems { max: 3 }
        );
        // The count is reached before the garbage after it is looked at.
        let mut body = encode_binary(&four);
        body.extend_from_slice(b"\xFF\xFF");
        assert_eq!(
            decode_binary(&body, &l).unwrap_err(),
            WireError::TooManyItems { max: 3 }
        );
    }

    #[test]
    fn oversized_items_are_cut_or_refused_when_encoding() {
        let big = [ItemBytes::Frame(vec![0; MAX_ENCODABLE_ITEM + 1])];
        assert_eq!(
            try_encode_binary(&big),
            Err(WireError::ItemTooLarge {
                max: MAX_ENCODABLE_ITEM
            })
        );
        let enc = encode_binary(&big);
        assert_eq!(enc.len(), 4 + 3 + MAX_ENCODABLE_ITEM);
        let l = limits(1, MAX_ENCODABLE_ITEM);
        assert_eq!(
            decode_binary(&enc, &l).unwrap().first().map(ItemBytes::len),
            Some(MAX_ENCODABLE_ITEM)
        );
    }

    #[test]
    fn codes() {
        assert_eq!(WireError::TooManyItems { max: 1 }.code(), "too_many_items");
        assert_eq!(WireError::ItemTooLarge { max: 1 }.code(), "item_too_large");
        assert_eq!(WireError::Empty.code(), "empty");
        assert_eq!(WireError::Malformed(String::new()).code(), "malformed");
    }

    #[test]
    fn error_body_json() {
        let body = ErrorBody {
            error: "rate_limited".into(),
            message: "slow down".into(),
            retry_after_secs: Some(3),
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"error":"rate_limited","message":"slow down","retry_after_secs":3}"#
        );
        let none: ErrorBody = serde_json::from_str(r#"{"error":"x","message":"y"}"#).unwrap();
        assert_eq!(none.retry_after_secs, None);
        assert!(!serde_json::to_string(&none)
            .unwrap()
            .contains("retry_after"));
    }

    #[cfg(feature = "http")]
    #[test]
    fn json_format_and_round_trip() {
        let batch = JsonBatch::new([
            ItemBytes::Frame(vec![0, 1]),
            ItemBytes::Envelope(vec![0xFF]),
        ]);
        let text = serde_json::to_string(&batch).unwrap();
        assert_eq!(text, r#"{"items":[{"frame":"AAE="},{"envelope":"/w=="}]}"#);
        let back: JsonBatch = serde_json::from_str(&text).unwrap();
        assert_eq!(back, batch);
        let items = decode_json(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            parts(&items),
            vec![(TAG_FRAME, vec![0, 1]), (TAG_ENVELOPE, vec![0xFF])]
        );
        // Unknown top-level fields are ignored; whitespace is fine.
        let items = decode_json(
            b" {\"v\": [1, {\"x\": null}], \"items\" : [ {\"frame\" : \"\"} ] } ",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(parts(&items), vec![(TAG_FRAME, vec![])]);
    }

    #[cfg(feature = "http")]
    #[test]
    fn json_errors() {
        let l = limits(2, 4);
        let code = |body: &str| decode_json(body.as_bytes(), &l).unwrap_err().code();
        assert_eq!(code(""), "empty");
        assert_eq!(code(r#"{"items":[]}"#), "empty");
        assert_eq!(
            decode_json(br#"{"items":[{"frame":""},{"frame":""},{"frame":""}]}"#, &l).unwrap_err(),
            WireError::TooManyItems { max: 2 }
        );
        // 5 bytes: 8 base64 characters, within the length bound, over the limit decoded.
        assert_eq!(
            decode_json(br#"{"items":[{"frame":"AAAAAAA="}]}"#, &l).unwrap_err(),
            WireError::ItemTooLarge { max: 4 }
        );
        // Far too long: refused on the string's length.
        let long = format!(r#"{{"items":[{{"envelope":"{}"}}]}}"#, "A".repeat(4000));
        assert_eq!(
            decode_json(long.as_bytes(), &l).unwrap_err(),
            WireError::ItemTooLarge { max: 4 }
        );
        assert_eq!(
            decode_json(br#"{"items":[{"frame":"AAAA"}]}"#, &l)
                .unwrap()
                .len(),
            1
        );
        for bad in [
            "{",
            "[]",
            "null",
            r#"{"items":{}}"#,
            r#"{"other":1}"#,
            r#"{"items":[{"frame":"!!"}]}"#,
            r#"{"items":[{"frame":"AA"}]}"#,
            r#"{"items":[{"blob":"AAAA"}]}"#,
            r#"{"items":[{}]}"#,
            r#"{"items":[{"frame":"AAAA","envelope":"AAAA"}]}"#,
            r#"{"items":[{"frame":5}]}"#,
            r#"{"items":[],"items":[]}"#,
            r#"{"items":[{"frame":""}]} trailing"#,
        ] {
            assert_eq!(code(bad), "malformed", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = decode_binary(&body, &Limits::default());
            let _ = decode_binary(&body, &limits(2, 3));
            #[cfg(feature = "http")]
            let _ = decode_json(&body, &Limits::default());
        }

        #[test]
        fn magic_then_arbitrary_bytes_never_panic(
            rest in proptest::collection::vec(any::<u8>(), 0..4096)
        ) {
            let mut body = MAGIC.to_vec();
            body.extend_from_slice(&rest);
            let _ = decode_binary(&body, &Limits::default());
            let _ = decode_binary(&body, &limits(2, 3));
        }

        #[test]
        fn binary_round_trips(items in proptest::collection::vec(item(), 1..40)) {
            let enc = encode_binary(&items);
            let dec = decode_binary(&enc, &Limits::default()).unwrap();
            prop_assert_eq!(parts(&dec), parts(&items));
        }

        #[cfg(feature = "http")]
        #[test]
        fn json_round_trips(items in proptest::collection::vec(item(), 1..40)) {
            let text = serde_json::to_vec(&JsonBatch::new(items.clone())).unwrap();
            let dec = decode_json(&text, &Limits::default()).unwrap();
            prop_assert_eq!(parts(&dec), parts(&items));
        }
    }
}
