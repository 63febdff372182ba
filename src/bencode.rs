//! Bencode (BEP 3): a strict, bounded decoder and a canonical encoder.
//!
//! Used for `.torrent` files, tracker replies and the extension handshake. The decoder never
//! allocates more than the input justifies: a byte string's length prefix is checked against
//! the bytes that remain before anything is copied, nesting is capped at [`MAX_DEPTH`], and
//! the number of values at [`MAX_TOKENS`].
//! Integers follow the spec exactly (no `-0`, no leading zeros, must fit in an `i64`).
//! Dictionary keys may arrive out of order (many real torrents and trackers do that) but a key
//! may not repeat. [`decode_dict_spans`] also returns where each top-level value lies in the
//! input, so the info hash can be taken over the raw `info` bytes and never a re-encoding.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// Deepest nesting of lists and dictionaries the decoder accepts.
pub const MAX_DEPTH: usize = 32;

/// Most values (integers, strings, lists, dictionaries) one input may hold: libtorrent's
/// limit too, so every torrent other clients accept fits, while a file of millions of tiny
/// values cannot make us build a tree hundreds of times its size.
pub const MAX_TOKENS: usize = 2_000_000;

/// A decoded bencode value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i<digits>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys kept sorted for canonical encoding.
    Dict(Dict),
}

/// A dictionary's entries, sorted by key, each key once.
///
/// A sorted vector rather than a tree map: a one-entry dictionary costs one small allocation
/// instead of a whole B-tree node, which keeps decoded values within a small multiple of the
/// input's size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dict(Vec<(Vec<u8>, Value)>);

impl Dict {
    /// An empty dictionary.
    pub fn new() -> Dict {
        Dict(Vec::new())
    }

    fn position(&self, key: &[u8]) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_slice().cmp(key))
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.position(key).ok().map(|at| &self.0[at].1)
    }

    /// The value under `key`, to change it.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        self.position(key).ok().map(|at| &mut self.0[at].1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: Vec<u8>, value: Value) -> Option<Value> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.position(key).ok().map(|at| self.0.remove(at).1)
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Builds a dictionary from decoded entries, each with the offset of its key, in any
    /// order (sorting costs O(n log n) whatever the order); a repeated key is an error at its
    /// second occurrence.
    fn from_entries(mut entries: Vec<(Vec<u8>, Value, usize)>) -> Result<Dict, BencodeError> {
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(BencodeError { offset: pair[1].2, reason: "duplicate dictionary key" });
        }
        Ok(Dict(entries.into_iter().map(|(key, value, _)| (key, value)).collect()))
    }
}

impl FromIterator<(Vec<u8>, Value)> for Dict {
    /// Collects entries; a repeated key keeps its last value.
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Value)>>(iter: I) -> Dict {
        let mut dict = Dict::new();
        for (key, value) in iter {
            dict.insert(key, value);
        }
        dict
    }
}

impl From<BTreeMap<Vec<u8>, Value>> for Dict {
    fn from(map: BTreeMap<Vec<u8>, Value>) -> Dict {
        Dict(map.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Dict {
    type Item = (&'a Vec<u8>, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Vec<u8>, Value)>,
        fn(&'a (Vec<u8>, Value)) -> (&'a Vec<u8>, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// Why some bytes are not valid bencode, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BencodeError {
    /// Byte offset in the input where decoding failed.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for BencodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bencode at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for BencodeError {}

/// Decodes exactly one value that must fill the whole input.
pub fn decode(input: &[u8]) -> Result<Value, BencodeError> {
    let mut parser = Parser { input, pos: 0, tokens: 0 };
    let value = parser.value(0)?;
    parser.expect_end()?;
    Ok(value)
}

/// A top-level dictionary with the byte range of each of its values in the input.
pub type DictWithSpans = (BTreeMap<Vec<u8>, Value>, BTreeMap<Vec<u8>, Range<usize>>);

/// Decodes a top-level dictionary and records the raw byte range of each of its values.
pub fn decode_dict_spans(input: &[u8]) -> Result<DictWithSpans, BencodeError> {
    let mut parser = Parser { input, pos: 0, tokens: 0 };
    if parser.peek()? != b'd' {
        return Err(parser.error("expected a dictionary"));
    }
    parser.pos += 1;
    let mut dict = BTreeMap::new();
    let mut spans = BTreeMap::new();
    while parser.peek()? != b'e' {
        let key = parser.key()?;
        let start = parser.pos;
        let value = parser.value(1)?;
        spans.insert(key.clone(), start..parser.pos);
        if dict.insert(key, value).is_some() {
            return Err(BencodeError { offset: start, reason: "duplicate dictionary key" });
        }
    }
    parser.pos += 1;
    parser.expect_end()?;
    Ok((dict, spans))
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Values decoded so far, checked against [`MAX_TOKENS`].
    tokens: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> BencodeError {
        BencodeError { offset: self.pos, reason }
    }

    fn peek(&self) -> Result<u8, BencodeError> {
        self.input.get(self.pos).copied().ok_or_else(|| self.error("unexpected end of input"))
    }

    fn expect_end(&self) -> Result<(), BencodeError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(self.error("trailing bytes after the value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, BencodeError> {
        self.tokens += 1;
        if self.tokens > MAX_TOKENS {
            return Err(self.error("more than 2000000 values"));
        }
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' | b'd' if depth >= MAX_DEPTH => Err(self.error("nesting too deep")),
            b'l' => {
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                self.pos += 1;
                let mut entries = Vec::new();
                while self.peek()? != b'e' {
                    let at = self.pos;
                    let key = self.key()?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value, at));
                }
                self.pos += 1;
                Dict::from_entries(entries).map(Value::Dict)
            }
            _ => Err(self.error("expected i, l, d or a digit")),
        }
    }

    fn key(&mut self) -> Result<Vec<u8>, BencodeError> {
        match self.peek()? {
            b'0'..=b'9' => self.bytes(),
            _ => Err(self.error("dictionary key is not a byte string")),
        }
    }

    /// Reads digits up to `end`, returning them as text; rejects an empty run.
    fn digits(&mut self, end: u8) -> Result<&str, BencodeError> {
        let start = self.pos;
        let len = self.input[start..]
            .iter()
            .position(|&b| b == end)
            .ok_or_else(|| self.error("unterminated number"))?;
        // 20 digits are enough for any i64 or usize; longer runs are rejected before parsing.
        if len == 0 || len > 20 {
            return Err(self.error("number is empty or too long"));
        }
        let text = std::str::from_utf8(&self.input[start..start + len])
            .map_err(|_| self.error("number is not ascii"))?;
        self.pos = start + len + 1;
        Ok(text)
    }

    fn int(&mut self) -> Result<i64, BencodeError> {
        self.pos += 1;
        let at = self.pos;
        let text = self.digits(b'e')?;
        let bad = |reason| BencodeError { offset: at, reason };
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("integer has a non-digit"));
        }
        if (unsigned.len() > 1 && unsigned.starts_with('0')) || text == "-0" {
            return Err(bad("integer has a leading zero or is -0"));
        }
        text.parse().map_err(|_| bad("integer does not fit in 64 bits"))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, BencodeError> {
        let at = self.pos;
        let text = self.digits(b':')?;
        let bad = |reason| BencodeError { offset: at, reason };
        if !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
            return Err(bad("malformed string length"));
        }
        let len: usize = text.parse().map_err(|_| bad("string length too large"))?;
        let remaining = self.input.len() - self.pos;
        if len > remaining {
            return Err(bad("string length runs past the end of input"));
        }
        let bytes = self.input[self.pos..self.pos + len].to_vec();
        self.pos += len;
        Ok(bytes)
    }
}

impl Value {
    /// A byte-string value from anything byte-like.
    pub fn bytes(data: impl AsRef<[u8]>) -> Value {
        Value::Bytes(data.as_ref().to_vec())
    }

    /// The canonical encoding (dictionary keys sorted).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                items.iter().for_each(|item| item.encode_into(out));
                out.push(b'e');
            }
            Value::Dict(dict) => {
                out.push(b'd');
                for (key, value) in dict {
                    Value::Bytes(key.clone()).encode_into(out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The value under `key` when this is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(dict) => dict.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(dict) => Some(dict),
            _ => None,
        }
    }
}

/// Builds a dictionary value from `(key, value)` pairs.
pub fn dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Dict(entries.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let input = b"d3:agei-42e4:listl1:ai0ee4:name4:spame";
        let value = decode(input).expect("valid");
        assert_eq!(value.get("age").and_then(Value::as_int), Some(-42));
        assert_eq!(value.get("name").and_then(Value::as_str), Some("spam"));
        assert_eq!(value.encode(), input);
    }

    #[test]
    fn accepts_unsorted_keys_and_reencodes_sorted() {
        let value = decode(b"d1:bi1e1:ai2ee").expect("valid");
        assert_eq!(value.encode(), b"d1:ai2e1:bi1ee");
    }

    #[test]
    fn rejects_malformed_integers() {
        for bad in [&b"i-0e"[..], b"i01e", b"ie", b"i-e", b"i1x2e", b"i99999999999999999999e"] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rejects_length_past_end_without_allocating() {
        let err = decode(b"99999999999999999:abc").expect_err("too long");
        assert_eq!(err.reason, "string length runs past the end of input");
    }

    #[test]
    fn rejects_deep_nesting() {
        let deep = [vec![b'l'; 10_000], vec![b'e'; 10_000]].concat();
        assert_eq!(decode(&deep).expect_err("deep").reason, "nesting too deep");
    }

    #[test]
    fn rejects_more_values_than_the_limit() {
        let many = [&b"l"[..], &b"i0e".repeat(MAX_TOKENS), b"e"].concat();
        assert_eq!(decode(&many).expect_err("too many").reason, "more than 2000000 values");
        let enough = [&b"l"[..], &b"i0e".repeat(MAX_TOKENS - 1), b"e"].concat();
        assert!(decode(&enough).is_ok());
    }

    #[test]
    fn rejects_duplicate_keys_and_trailing_bytes() {
        assert!(decode(b"d1:ai1e1:ai2ee").is_err());
        assert!(decode(b"i1ei2e").is_err());
    }

    #[test]
    fn spans_point_at_raw_values() {
        let input = b"d4:infod1:xi1ee1:zi0ee";
        let (_, spans) = decode_dict_spans(input).expect("valid");
        assert_eq!(&input[spans[&b"info"[..]].clone()], b"d1:xi1ee");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let input = b"d4:infod6:lengthi5e4:name1:ae3:urll1:ue";
        for end in 0..input.len() {
            assert!(decode(&input[..end]).is_err());
        }
    }
}
