//! KRPC (BEP 5): the DHT's bencoded query, response and error messages, decoded from and
//! encoded to datagrams.
//!
//! Every datagram is untrusted. Decoding goes through our bounded bencode decoder, then each
//! field is type- and size-checked: ids are 20 bytes, transaction ids and tokens are short,
//! compact `nodes` (BEP 5) and `nodes6` (BEP 32) must be whole 26- or 38-byte entries, and a
//! response's `values` holds at most [`MAX_VALUES`] compact peers of 6 or 18 bytes. A query
//! that cannot be understood still yields its transaction id where it has one, so the node
//! can answer it with a KRPC error rather than silence. Unknown keys are ignored, as the spec
//! asks, so newer clients' extra fields do no harm. A query from a read-only node (BEP 43)
//! carries `ro` = 1 in the top-level dictionary.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::id::NodeId;
use crate::bencode::{self, Dict, Value};
use crate::types::InfoHash;

/// Longest transaction id accepted (ours are 2 bytes; clients use up to 8 or so).
pub const MAX_TRANSACTION: usize = 32;
/// Longest token accepted (ours are 8 bytes).
pub const MAX_TOKEN: usize = 64;
/// Most peers taken from one response's `values`.
pub const MAX_VALUES: usize = 200;
/// Most nodes taken from one response's `nodes` or `nodes6`.
pub const MAX_NODES: usize = 64;

/// KRPC error codes (BEP 5).
pub mod code {
    /// Generic error.
    pub const GENERIC: i64 = 201;
    /// Server error.
    pub const SERVER: i64 = 202;
    /// Protocol error: a malformed packet, invalid arguments or a bad token.
    pub const PROTOCOL: i64 = 203;
    /// Method unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// A node's id and address, as in compact node info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The transaction id (`t`), echoed in the answer.
    pub transaction: Vec<u8>,
    /// What it says.
    pub body: Body,
}

/// The three kinds of message (`y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`: a code and a message.
    Error(i64, String),
}

/// A query and its sender's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The querying node's id.
    pub id: NodeId,
    /// The method and its arguments.
    pub method: Method,
    /// The address families the querier wants nodes of (`want`, BEP 32).
    pub want: Want,
    /// The querier is read-only (`ro`, BEP 43): it is not to be put in routing tables.
    pub read_only: bool,
}

/// A query's `want` list (BEP 32): which families of nodes to answer with. Neither set (no
/// list, or one naming neither) means the querier's own family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// `n4`: IPv4 nodes, in `nodes`.
    pub n4: bool,
    /// `n6`: IPv6 nodes, in `nodes6`.
    pub n6: bool,
}

impl Want {
    /// Whether to answer with IPv4 and IPv6 nodes, for a querier at `from`.
    pub fn families(self, from: &SocketAddr) -> (bool, bool) {
        if self.n4 || self.n6 { (self.n4, self.n6) } else { (from.is_ipv4(), from.is_ipv6()) }
    }
}

/// The four BEP 5 methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `ping`.
    Ping,
    /// `find_node`.
    FindNode {
        /// The id sought.
        target: NodeId,
    },
    /// `get_peers`.
    GetPeers {
        /// The torrent.
        info_hash: InfoHash,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// The torrent.
        info_hash: InfoHash,
        /// The announcer's peer port (ignored when `implied_port`).
        port: u16,
        /// Use the query's source port instead of `port`.
        implied_port: bool,
        /// The token from an earlier `get_peers` answer.
        token: Vec<u8>,
    },
}

/// A response's fields; which are present depends on the query answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The responding node's id.
    pub id: NodeId,
    /// Closer IPv4 nodes (`nodes`).
    pub nodes: Vec<NodeInfo>,
    /// Closer IPv6 nodes (`nodes6`, BEP 32).
    pub nodes6: Vec<NodeInfo>,
    /// Peers for the torrent (`values`).
    pub values: Vec<SocketAddr>,
    /// Token for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

/// Why a datagram is not a KRPC message we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The transaction id, when the message was a query that had one: it deserves an error
    /// reply.
    pub query_transaction: Option<Vec<u8>>,
    /// The KRPC error code to answer with.
    pub code: i64,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad krpc message: {}", self.reason)
    }
}

impl std::error::Error for DecodeError {}

fn bad(reason: &'static str) -> DecodeError {
    DecodeError { query_transaction: None, code: code::PROTOCOL, reason }
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(datagram: &[u8]) -> Result<Message, DecodeError> {
        let value = bencode::decode(datagram).map_err(|_| bad("not bencode"))?;
        let dict = value.as_dict().ok_or_else(|| bad("not a dictionary"))?;
        let transaction = dict
            .get(b"t")
            .and_then(Value::as_bytes)
            .filter(|t| t.len() <= MAX_TRANSACTION)
            .ok_or_else(|| bad("no transaction id"))?
            .to_vec();
        let kind = dict.get(b"y").and_then(Value::as_bytes).ok_or_else(|| bad("no y"))?;
        let body = match kind {
            b"q" => Body::Query(decode_query(dict).map_err(|mut e| {
                e.query_transaction = Some(transaction.clone());
                e
            })?),
            b"r" => Body::Response(decode_response(dict)?),
            b"e" => decode_error(dict)?,
            _ => return Err(bad("unknown message kind")),
        };
        Ok(Message { transaction, body })
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut entries = vec![("t", Value::bytes(&self.transaction))];
        match &self.body {
            Body::Query(query) => {
                let (name, mut args) = match &query.method {
                    Method::Ping => ("ping", Vec::new()),
                    Method::FindNode { target } => {
                        ("find_node", vec![("target", Value::bytes(target.0))])
                    }
                    Method::GetPeers { info_hash } => {
                        ("get_peers", vec![("info_hash", Value::bytes(info_hash.0))])
                    }
                    Method::AnnouncePeer { info_hash, port, implied_port, token } => (
                        "announce_peer",
                        vec![
                            ("implied_port", Value::Int(i64::from(*implied_port))),
                            ("info_hash", Value::bytes(info_hash.0)),
                            ("port", Value::Int(i64::from(*port))),
                            ("token", Value::bytes(token)),
                        ],
                    ),
                };
                args.push(("id", Value::bytes(query.id.0)));
                let want: Vec<Value> = [(query.want.n4, "n4"), (query.want.n6, "n6")]
                    .into_iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, name)| Value::bytes(name))
                    .collect();
                if !want.is_empty() {
                    args.push(("want", Value::List(want)));
                }
                entries.push(("y", Value::bytes("q")));
                entries.push(("q", Value::bytes(name)));
                entries.push(("a", bencode::dict(args)));
                if query.read_only {
                    entries.push(("ro", Value::Int(1)));
                }
            }
            Body::Response(response) => {
                let mut fields = vec![("id", Value::bytes(response.id.0))];
                if !response.nodes.is_empty() {
                    fields.push(("nodes", Value::Bytes(compact_nodes(&response.nodes))));
                }
                if !response.nodes6.is_empty() {
                    fields.push(("nodes6", Value::Bytes(compact_nodes(&response.nodes6))));
                }
                if !response.values.is_empty() {
                    let values = response.values.iter().map(|a| Value::Bytes(compact_peer(a)));
                    fields.push(("values", Value::List(values.collect())));
                }
                if let Some(token) = &response.token {
                    fields.push(("token", Value::bytes(token)));
                }
                entries.push(("y", Value::bytes("r")));
                entries.push(("r", bencode::dict(fields)));
            }
            Body::Error(code, message) => {
                entries.push(("y", Value::bytes("e")));
                let list = vec![Value::Int(*code), Value::bytes(message)];
                entries.push(("e", Value::List(list)));
            }
        }
        bencode::dict(entries).encode()
    }
}

fn id_field(dict: &Dict, key: &[u8]) -> Option<[u8; 20]> {
    dict.get(key).and_then(Value::as_bytes).and_then(|b| b.try_into().ok())
}

fn decode_query(dict: &Dict) -> Result<Query, DecodeError> {
    let name = dict.get(b"q").and_then(Value::as_bytes).ok_or_else(|| bad("query has no q"))?;
    let args = dict.get(b"a").and_then(Value::as_dict).ok_or_else(|| bad("query has no a"))?;
    let id = NodeId(id_field(args, b"id").ok_or_else(|| bad("query has no 20-byte id"))?);
    let hash = |key: &[u8]| id_field(args, key).ok_or_else(|| bad("argument is not 20 bytes"));
    let method = match name {
        b"ping" => Method::Ping,
        b"find_node" => Method::FindNode { target: NodeId(hash(b"target")?) },
        b"get_peers" => Method::GetPeers { info_hash: InfoHash(hash(b"info_hash")?) },
        b"announce_peer" => {
            let implied_port =
                args.get(b"implied_port").and_then(Value::as_int).is_some_and(|n| n != 0);
            let port = args.get(b"port").and_then(Value::as_int);
            let port = match (port.map(u16::try_from), implied_port) {
                (Some(Ok(port)), _) => port,
                (None, true) => 0,
                _ => return Err(bad("announce_peer has no valid port")),
            };
            let token = args
                .get(b"token")
                .and_then(Value::as_bytes)
                .filter(|t| t.len() <= MAX_TOKEN)
                .ok_or_else(|| bad("announce_peer has no token"))?
                .to_vec();
            Method::AnnouncePeer {
                info_hash: InfoHash(hash(b"info_hash")?),
                port,
                implied_port,
                token,
            }
        }
        _ => {
            return Err(DecodeError {
                query_transaction: None,
                code: code::METHOD_UNKNOWN,
                reason: "method unknown",
            });
        }
    };
    // Entries other than `n4` and `n6` are ignored; a huge list is read only so far.
    let mut want = Want::default();
    if let Some(list) = args.get(b"want").and_then(Value::as_list) {
        for entry in list.iter().take(16).filter_map(Value::as_bytes) {
            match entry {
                b"n4" => want.n4 = true,
                b"n6" => want.n6 = true,
                _ => {}
            }
        }
    }
    let read_only = dict.get(b"ro").and_then(Value::as_int) == Some(1);
    Ok(Query { id, method, want, read_only })
}

fn decode_response(dict: &Dict) -> Result<Response, DecodeError> {
    let fields = dict.get(b"r").and_then(Value::as_dict).ok_or_else(|| bad("response has no r"))?;
    let id = NodeId(id_field(fields, b"id").ok_or_else(|| bad("response has no 20-byte id"))?);
    let nodes = match fields.get(b"nodes") {
        None => Vec::new(),
        Some(value) => parse_nodes(value.as_bytes().ok_or_else(|| bad("nodes not bytes"))?, 4)?,
    };
    let nodes6 = match fields.get(b"nodes6") {
        None => Vec::new(),
        Some(value) => parse_nodes(value.as_bytes().ok_or_else(|| bad("nodes6 not bytes"))?, 16)?,
    };
    let values = match fields.get(b"values") {
        None => Vec::new(),
        Some(value) => {
            let list = value.as_list().ok_or_else(|| bad("values not a list"))?;
            // Entries of the wrong size are skipped, as other clients do; a huge list is cut.
            list.iter()
                .filter_map(Value::as_bytes)
                .filter_map(parse_peer)
                .take(MAX_VALUES)
                .collect()
        }
    };
    let token = match fields.get(b"token") {
        None => None,
        Some(value) => Some(
            value
                .as_bytes()
                .filter(|t| t.len() <= MAX_TOKEN)
                .ok_or_else(|| bad("bad token"))?
                .to_vec(),
        ),
    };
    Ok(Response { id, nodes, nodes6, values, token })
}

fn decode_error(dict: &Dict) -> Result<Body, DecodeError> {
    let list = dict.get(b"e").and_then(Value::as_list).ok_or_else(|| bad("error has no e"))?;
    let code = list.first().and_then(Value::as_int).ok_or_else(|| bad("error has no code"))?;
    let text = list.get(1).and_then(Value::as_bytes).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
    Ok(Body::Error(code, text))
}

/// Compact node info: 20-byte id then a compact address, for every node of one family.
pub fn compact_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * 38);
    for node in nodes {
        out.extend_from_slice(&node.id.0);
        out.extend_from_slice(&compact_peer(&node.addr));
    }
    out
}

/// Parses compact node info whose addresses are `ip_len` bytes (4 or 16).
pub fn parse_nodes(bytes: &[u8], ip_len: usize) -> Result<Vec<NodeInfo>, DecodeError> {
    let entry = 20 + ip_len + 2;
    if !bytes.len().is_multiple_of(entry) {
        return Err(bad("compact nodes are not whole entries"));
    }
    let nodes = bytes.chunks_exact(entry).take(MAX_NODES).filter_map(|chunk| {
        let id = NodeId(chunk[..20].try_into().ok()?);
        let addr = parse_peer(&chunk[20..])?;
        // A v4-mapped address in `nodes6` is an IPv4 node in the wrong list: dropped.
        let mapped = matches!(addr.ip(), IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some());
        (addr.port() != 0 && !mapped).then_some(NodeInfo { id, addr })
    });
    Ok(nodes.collect())
}

/// A compact peer address: 4 or 16 address bytes, then the port, big-endian.
pub fn compact_peer(addr: &SocketAddr) -> Vec<u8> {
    let mut out = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

/// Parses a compact peer address of 6 or 18 bytes.
pub fn parse_peer(bytes: &[u8]) -> Option<SocketAddr> {
    let port = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    match bytes.len() {
        6 => {
            let ip: [u8; 4] = bytes[..4].try_into().ok()?;
            Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port(4)))
        }
        18 => {
            let ip: [u8; 16] = bytes[..16].try_into().ok()?;
            Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port(16)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> NodeId {
        NodeId([byte; 20])
    }

    fn round_trip(message: Message) {
        let bytes = message.encode();
        assert_eq!(Message::decode(&bytes), Ok(message));
    }

    #[test]
    fn decodes_the_spec_examples() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let message = Message::decode(ping).expect("ping");
        assert_eq!(message.transaction, b"aa");
        assert_eq!(
            message.body,
            Body::Query(Query {
                id: NodeId(*b"abcdefghij0123456789"),
                method: Method::Ping,
                want: Want::default(),
                read_only: false,
            })
        );
        assert_eq!(message.encode(), ping);
        let error = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let message = Message::decode(error).expect("error");
        assert_eq!(message.body, Body::Error(201, "A Generic Error Ocurred".into()));
        assert_eq!(message.encode(), error);
        let announce = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        let message = Message::decode(announce).expect("announce");
        assert_eq!(message.encode(), announce);
    }

    #[test]
    fn every_kind_round_trips() {
        let node = |b, port| NodeInfo { id: id(b), addr: SocketAddr::from(([10, 0, 0, b], port)) };
        let node6 = NodeInfo { id: id(9), addr: "[2001:db8::1]:6881".parse().expect("addr") };
        for method in [
            Method::Ping,
            Method::FindNode { target: id(3) },
            Method::GetPeers { info_hash: InfoHash([4; 20]) },
            Method::AnnouncePeer {
                info_hash: InfoHash([5; 20]),
                port: 51413,
                implied_port: false,
                token: b"tok".to_vec(),
            },
        ] {
            for read_only in [false, true] {
                let want = Want::default();
                round_trip(Message {
                    transaction: b"xy".to_vec(),
                    body: Body::Query(Query { id: id(1), method: method.clone(), want, read_only }),
                });
            }
        }
        round_trip(Message {
            transaction: vec![0, 7],
            body: Body::Response(Response {
                id: id(2),
                nodes: vec![node(1, 1), node(2, 65535)],
                nodes6: vec![node6],
                values: vec![
                    SocketAddr::from(([1, 2, 3, 4], 5)),
                    "[::1]:80".parse().expect("addr"),
                ],
                token: Some(b"12345678".to_vec()),
            }),
        });
    }

    /// BEP 43's example: `ro` sits beside `a`, `q`, `t` and `y`.
    #[test]
    fn reads_the_read_only_flag() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe";
        let Body::Query(query) = Message::decode(ping).expect("ping").body else {
            panic!("not a query");
        };
        assert!(query.read_only);
    }

    #[test]
    fn a_bad_query_keeps_its_transaction_for_the_error_reply() {
        let short_id = b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe";
        let err = Message::decode(short_id).expect_err("short id");
        assert_eq!(err.query_transaction.as_deref(), Some(&b"aa"[..]));
        assert_eq!(err.code, code::PROTOCOL);
        let unknown = b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:aa1:y1:qe";
        let err = Message::decode(unknown).expect_err("unknown");
        assert_eq!(err.code, code::METHOD_UNKNOWN);
        assert_eq!(err.query_transaction.as_deref(), Some(&b"aa"[..]));
    }

    #[test]
    fn rejects_broken_fields() {
        for bad in [
            &b"le"[..],
            b"d1:y1:qe",
            b"d1:t2:aa1:y1:re",
            b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re",
            b"d1:ad2:id20:abcdefghij01234567894:porti70000e5:token1:x9:info_hash20:mnopqrstuvwxyz123456e1:q13:announce_peer1:t2:aa1:y1:qe",
        ] {
            assert!(Message::decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn long_values_lists_are_cut() {
        let values = vec![Value::Bytes(vec![1, 2, 3, 4, 0, 80]); MAX_VALUES * 3];
        let r = bencode::dict([("id", Value::bytes([1u8; 20])), ("values", Value::List(values))]);
        let bytes =
            bencode::dict([("t", Value::bytes("aa")), ("y", Value::bytes("r")), ("r", r)]).encode();
        let Body::Response(response) = Message::decode(&bytes).expect("response").body else {
            panic!("not a response");
        };
        assert_eq!(response.values.len(), MAX_VALUES);
    }
}
